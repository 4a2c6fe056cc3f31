"""Property tests of the readers: random bytes, truncations, flipped bytes and arrays of any dtype and shape in the
IDX, npz, CIFAR and image-folder formats either read as valid labelled images or raise DataError (one line
naming the file), never anything else (no struct.error, EOFError, KeyError, OverflowError, MemoryError ...)."""

from __future__ import annotations

import gzip
import io
import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from dpldm.data import DataError, LabelledImages, load_dataset
from dpldm.data.cifar import load_cifar10
from dpldm.data.folder import decode_files
from dpldm.data.idx import parse_idx, read_idx

from .files import idx_bytes, one_line, random_images

PROPERTY = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hostile")


def reads_or_refuses(read, where: Path | str | None = None):
    """Call ``read()``; a DataError must be one line naming ``where``; a result must be valid labelled images."""
    try:
        result = read()
    except DataError as err:
        assert one_line(str(err)), str(err)
        if where is not None:
            assert str(where) in str(err), str(err)
        return None
    if isinstance(result, LabelledImages):
        assert result.images.dtype == np.uint8 and len(result) >= 1
        assert result.labels.min() >= 0 and result.labels.max() < result.num_classes
    return result


@st.composite
def damaged(draw, valid: bytes) -> bytes:
    """``valid`` cut short, with bytes flipped, or with random bytes appended."""
    raw = bytearray(valid)
    kind = draw(st.sampled_from(["truncate", "flip", "append"]))
    if kind == "truncate":
        return bytes(raw[:draw(st.integers(0, len(raw) - 1))])
    if kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(raw) - 1))
            raw[i] ^= draw(st.integers(1, 255))
        return bytes(raw)
    return bytes(raw) + draw(st.binary(min_size=1, max_size=64))


# --- IDX -----------------------------------------------------------------------------------------------------

VALID_IDX = idx_bytes(random_images(3, 4, 5))


@PROPERTY
@given(raw=st.one_of(st.binary(max_size=300), damaged(VALID_IDX),
                     st.binary(max_size=40).map(lambda b: b"\x00\x00\x08\x03" + b)))
def test_idx_bytes_parse_or_raise_data_error(raw):
    try:
        array = parse_idx(raw, "x-idx3-ubyte", 3)
    except DataError as err:
        assert one_line(str(err)) and "x-idx3-ubyte" in str(err)
    else:
        assert array.dtype == np.uint8 and array.ndim == 3


@PROPERTY
@given(raw=st.one_of(damaged(gzip.compress(VALID_IDX)), st.binary(max_size=100).map(lambda b: b"\x1f\x8b" + b)))
def test_gzipped_idx_files_read_or_raise_data_error(scratch, raw):
    path = scratch / "train-images-idx3-ubyte.gz"
    path.write_bytes(raw)
    try:
        read_idx(path, 3)
    except DataError as err:
        assert one_line(str(err)) and str(path) in str(err)


# --- npz -----------------------------------------------------------------------------------------------------

def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


VALID_NPZ = npz_bytes(x=random_images(4, 6, 6), y=np.array([0, 1, 1, 0]))


@PROPERTY
@given(raw=st.one_of(st.binary(max_size=400), damaged(VALID_NPZ)))
def test_damaged_user_npz_reads_or_raises_data_error(scratch, raw):
    path = scratch / "mine.npz"
    path.write_bytes(raw)
    reads_or_refuses(lambda: load_dataset("npz", "all", path=str(path)), path)


any_array = hnp.arrays(dtype=st.one_of(hnp.scalar_dtypes(), hnp.unicode_string_dtypes(max_len=3)),
                       shape=hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=4))


@PROPERTY
@given(x=any_array, y=st.one_of(st.none(), any_array), classes=st.one_of(st.none(), any_array))
def test_user_npz_of_any_dtype_and_shape_reads_or_raises_data_error(scratch, x, y, classes):
    path = scratch / "arrays.npz"
    arrays = {"x": x, **({} if y is None else {"y": y}), **({} if classes is None else {"classes": classes})}
    path.write_bytes(npz_bytes(**arrays))
    reads_or_refuses(lambda: load_dataset("npz", "all", path=str(path)), path)


@PROPERTY
@given(raw=st.one_of(st.binary(max_size=400), damaged(npz_bytes(x_train=random_images(3), y_train=np.arange(3)))))
def test_damaged_shared_archive_reads_or_raises_data_error(scratch, raw):
    (scratch / "mnist.npz").write_bytes(raw)
    reads_or_refuses(lambda: load_dataset("mnist", "train", root=scratch, source="npz"), scratch / "mnist.npz")


# --- CIFAR python batches ------------------------------------------------------------------------------------

def cifar_batch(n: int = 2) -> dict:
    return {b"data": random_images(n, 1, 3072)[:, 0], b"labels": list(range(n))}


VALID_BATCH = pickle.dumps(cifar_batch(), protocol=2)
META = pickle.dumps({b"label_names": [f"c{i}".encode() for i in range(10)]}, protocol=2)

junk = st.recursive(st.one_of(st.none(), st.integers(), st.binary(max_size=8), st.text(max_size=4), st.floats()),
                    lambda inner: st.one_of(st.lists(inner, max_size=3),
                                            st.dictionaries(st.sampled_from([b"data", b"labels", b"x"]), inner,
                                                            max_size=3)),
                    max_leaves=6)


def write_cifar(folder: Path, batch: bytes, meta: bytes = META) -> None:
    folder.mkdir(exist_ok=True)
    for i in range(1, 6):
        (folder / f"data_batch_{i}").write_bytes(VALID_BATCH if i > 1 else batch)
    (folder / "batches.meta").write_bytes(meta)


@PROPERTY
@given(batch=st.one_of(st.binary(max_size=300), damaged(VALID_BATCH),
                       junk.map(lambda obj: pickle.dumps(obj, protocol=2)),
                       hnp.arrays(st.sampled_from([np.uint8, np.int64, np.float32]),
                                  hnp.array_shapes(max_dims=3, max_side=5))
                       .map(lambda a: pickle.dumps({b"data": a, b"labels": [0] * (len(a) if a.ndim else 1)}))),
       meta=st.one_of(st.just(META), damaged(META), junk.map(lambda obj: pickle.dumps(obj, protocol=2))))
def test_cifar_batches_read_or_raise_data_error(scratch, batch, meta):
    folder = scratch / "cifar-10-batches-py"
    write_cifar(folder, batch, meta)
    reads_or_refuses(lambda: load_cifar10(folder, "train"))


def test_cifar_pickle_that_would_run_code_is_refused(scratch):
    folder = scratch / "cifar-evil"

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    write_cifar(folder, pickle.dumps(Evil(), protocol=2))
    with pytest.raises(DataError, match="refusing to load .*print"):
        load_cifar10(folder, "train")


# --- image folders -------------------------------------------------------------------------------------------

def image_bytes(format: str, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    array = random_images(1, 12, 10, channels=3 if mode == "RGB" else None)[0]
    Image.fromarray(array).save(buffer, format=format)
    return buffer.getvalue()


@PROPERTY
@given(raw=st.one_of(st.binary(max_size=300), damaged(image_bytes("PNG")), damaged(image_bytes("JPEG")),
                     damaged(image_bytes("BMP", "L")), damaged(image_bytes("PNG", "L"))),
       suffix=st.sampled_from([".png", ".jpg", ".bmp"]))
def test_image_files_decode_or_raise_data_error(scratch, raw, suffix):
    path = scratch / f"image{suffix}"
    path.write_bytes(raw)
    try:
        array = decode_files([path])
    except DataError as err:
        assert one_line(str(err)) and str(path) in str(err)
    else:
        assert array.dtype == np.uint8 and array.ndim in (3, 4) and len(array) == 1


@PROPERTY
@given(raw=st.one_of(st.binary(max_size=200), damaged(image_bytes("PNG"))))
def test_image_folder_dataset_reads_or_raises_data_error(scratch, raw):
    root = scratch / "folder"
    (root / "a").mkdir(parents=True, exist_ok=True)
    (root / "b").mkdir(exist_ok=True)
    (root / "a" / "good.png").write_bytes(image_bytes("PNG"))
    (root / "b" / "maybe.png").write_bytes(raw)
    reads_or_refuses(lambda: load_dataset("folder", "all", path=str(root)))
