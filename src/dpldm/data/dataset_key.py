"""A content hash of a labelled image set: the key under which its privacy budget is kept (``privacy.budget``).

PRIVATE: the hash is a deterministic function of the private images, so it identifies the private set (and, for a
small set, could confirm a guess of it). It stays with the data holder: it names the set's ledger file and is
written into a run's ``private/`` folder only, never into a releasable file.
"""

from __future__ import annotations

import hashlib

import numpy as np

from dpldm.data.images import LabelledImages

SCHEME = b"dpldm-private-set/1"


def dataset_key(data: LabelledImages) -> str:
    """sha256 (hex) over the images' shape and bytes and the labels (int64 little-endian), in the set's own order
    (the order its loader reads from disk, which is fixed). The name is left out: the same records under two names
    share one budget."""
    digest = hashlib.sha256(SCHEME)
    images = np.ascontiguousarray(data.images, dtype=np.uint8)
    digest.update(repr(images.shape).encode())
    digest.update(images.tobytes())
    digest.update(np.ascontiguousarray(data.labels, dtype="<i8").tobytes())
    return digest.hexdigest()
