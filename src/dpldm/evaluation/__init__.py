"""Evaluation of synthetic images: downstream accuracy (one DP selection on a private validation split), FID,
precision/recall, and the HTML report of a run folder.

Kept import-light: the fine-tuning stage imports ``private_validation_split`` to exclude the validation records.
"""

from dpldm.evaluation.selection import private_validation_split, validation_size

__all__ = ["private_validation_split", "validation_size"]
