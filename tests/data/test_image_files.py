"""Image folders, CelebA and image+caption collections, decoded with Pillow."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from dpldm.data import DataError, load_dataset

from .files import one_line, random_images


def _save(path, array) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_class_folders_sorted_with_labels(tmp_path):
    gray = random_images(5, 10, 12)
    for i in range(3):
        _save(tmp_path / "imgs" / "b_cat" / f"{i}.png", gray[i])
    for i in range(3, 5):
        _save(tmp_path / "imgs" / "a_dog" / f"{i}.PNG", gray[i])
    data = load_dataset("folder", "all", path=str(tmp_path / "imgs"))
    assert data.class_names == ("a_dog", "b_cat") and data.labels.tolist() == [0, 0, 1, 1, 1]
    assert data.images.shape == (5, 10, 12)  # all grayscale -> (N, H, W)
    np.testing.assert_array_equal(data.images[0], gray[3])


def test_mixed_modes_become_rgb_and_size_option_resizes(tmp_path):
    _save(tmp_path / "imgs" / "train" / "x" / "a.png", random_images(1, 20, 30)[0])
    _save(tmp_path / "imgs" / "train" / "y" / "b.jpg", random_images(1, 16, 16, channels=3)[0])
    with pytest.raises(DataError, match="size=N"):
        load_dataset("folder", "train", path=str(tmp_path / "imgs"))
    data = load_dataset("folder", "train", path=str(tmp_path / "imgs"), size=8)
    assert data.images.shape == (2, 8, 8, 3)
    with pytest.raises(DataError, match="no 'test' sub-folder"):
        load_dataset("folder", "test", path=str(tmp_path / "imgs"))


def test_corrupt_and_truncated_images_are_named(tmp_path):
    _save(tmp_path / "imgs" / "c" / "good.png", random_images(1, 8, 8)[0])
    bad = tmp_path / "imgs" / "c" / "bad.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(DataError) as err:
        load_dataset("folder", "all", path=str(tmp_path / "imgs"))
    assert str(bad) in str(err.value) and one_line(str(err.value))
    _save(bad, random_images(1, 64, 64, channels=3)[0])
    bad.write_bytes(bad.read_bytes()[:200])
    with pytest.raises(DataError) as err:
        load_dataset("folder", "all", path=str(tmp_path / "imgs"))
    assert str(bad) in str(err.value)


def test_folder_needs_a_path_and_images(tmp_path):
    with pytest.raises(DataError, match="needs the option path="):
        load_dataset("folder", "all")
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(DataError, match="no images found"):
        load_dataset("folder", "all", path=str(tmp_path / "empty"))


def write_celeba(folder, n: int = 6) -> None:
    names = [f"{i:06d}.jpg" for i in range(1, n + 1)]
    for i, name in enumerate(names):
        _save(folder / "img_align_celeba" / name, np.full((24, 20, 3), 40 * i, np.uint8))
    attrs = ["Male", "Smiling", "Young"]
    lines = [str(n), " ".join(attrs)]
    lines += [f"{name} {' '.join(['1' if (i + k) % 2 else '-1' for k in range(3)])}" for i, name in enumerate(names)]
    (folder / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (folder / "list_eval_partition.txt").write_text("".join(f"{name} {i % 3}\n" for i, name in enumerate(names)))


def test_celeba_attribute_labels_and_splits(tmp_path):
    write_celeba(tmp_path / "celeba")
    everything = load_dataset("celeba", "all", root=tmp_path, size=None)
    assert everything.images.shape == (6, 24, 20, 3)
    assert everything.labels.tolist() == [0, 1, 0, 1, 0, 1] and everything.class_names == ("not Male", "Male")
    smiling = load_dataset("celeba", "all", root=tmp_path, attribute="Smiling", size=8)
    assert smiling.labels.tolist() == [1, 0, 1, 0, 1, 0] and smiling.images.shape == (6, 8, 8, 3)
    valid = load_dataset("celeba", "valid", root=tmp_path, size=None)
    assert len(valid) == 2 and valid.images[0].mean() == pytest.approx(40, abs=2)  # images 1 and 4
    assert len(load_dataset("celeba", "train", root=tmp_path, limit=1)) == 1


def test_celeba_errors_name_the_file(tmp_path):
    write_celeba(tmp_path / "celeba")
    with pytest.raises(DataError, match="no attribute 'Bald'; attributes: Male, Smiling, Young"):
        load_dataset("celeba", "all", root=tmp_path, attribute="Bald")
    attr = tmp_path / "celeba" / "list_attr_celeba.txt"
    attr.write_text(attr.read_text().replace("000003.jpg -1 1 -1", "000003.jpg -1 1"))
    with pytest.raises(DataError) as err:
        load_dataset("celeba", "all", root=tmp_path)
    assert str(attr) in str(err.value) and "line 5" in str(err.value)
    write_celeba(tmp_path / "celeba")
    (tmp_path / "celeba" / "list_eval_partition.txt").unlink()
    with pytest.raises(DataError, match="list_eval_partition.txt: missing"):
        load_dataset("celeba", "train", root=tmp_path)


def test_captions_from_csv_and_jsonl(tmp_path):
    folder = tmp_path / "caps"
    for i in range(3):
        _save(folder / f"im{i}.png", random_images(1, 8, 8, seed=i, channels=3)[0])
    (folder / "captions.csv").write_text('file,text\nim0.png,a red square\nim2.png,"two, with a comma"\n')
    data = load_dataset("captions", "all", path=str(folder))
    assert data.captions == ("a red square", "two, with a comma")
    assert data.class_names == ("image",) and data.labels.tolist() == [0, 0] and data.images.shape == (2, 8, 8, 3)
    table = folder / "captions.jsonl"
    table.write_text(json.dumps({"file_name": "im1.png", "text": "one"}) + "\n")
    assert load_dataset("captions", "all", path=str(table)).captions == ("one",)


def test_caption_errors_name_file_and_line(tmp_path):
    folder = tmp_path / "caps"
    folder.mkdir()
    (folder / "captions.jsonl").write_text('{"file": "a.png", "text": "x"}\n{broken\n')
    with pytest.raises(DataError) as err:
        load_dataset("captions", "all", path=str(folder))
    assert "captions.jsonl line 2" in str(err.value) and one_line(str(err.value))
    (folder / "captions.jsonl").write_text('{"file": "missing.png", "text": "x"}\n')
    with pytest.raises(DataError, match="lists missing.png"):
        load_dataset("captions", "all", path=str(folder))
    (folder / "captions.jsonl").unlink()
    with pytest.raises(DataError, match="no caption table"):
        load_dataset("captions", "all", path=str(folder))
