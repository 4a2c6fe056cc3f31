"""Evaluation of synthetic images: downstream accuracy (one DP selection on a private validation split), FID,
precision/recall, and the HTML report of a run folder.

The private validation split the selection scores on is ``dpldm.data.validation_split``, shared with fine-tuning.
"""
