"""`dpldm data list` and `dpldm data show` through the entry point, on built-in, small and (if present) real data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dpldm.cli.main import main
from dpldm.data.grid import image_grid

from .files import write_mnist_like

DPLDM = Path(sys.executable).parent / "dpldm"
REAL = ["fashion_mnist", "mnist", "cifar10", "omniglot", "tiny_imagenet32"]
REAL_FILES = {"fashion_mnist": "fashion_mnist.npz", "mnist": "mnist.npz", "cifar10": "cifar10_jpeg.npz",
              "omniglot": "omniglot.npz", "tiny_imagenet32": "tiny_imagenet32_jpeg.npz"}


def test_list_shows_every_dataset_with_status(tmp_path, capsys):
    np.savez(tmp_path / "omniglot.npz", x=np.zeros((1, 28, 28), np.uint8))
    assert main(["data", "list", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    for name in ("mnist", "emnist_letters", "cifar100", "celeba", "imagenet64", "glyphs", "digits"):
        assert name in lines
    assert "present (npz)" in lines["omniglot"] and "missing" in lines["mnist"]
    assert "built-in" in lines["glyphs"] and "train, test" in lines["mnist"]
    assert str(tmp_path.resolve()) in out


def _grid_ok(path: Path, min_side: int = 300) -> np.ndarray:
    image = np.asarray(Image.open(path))
    assert image.ndim == 3 and image.shape[2] == 3 and min(image.shape[:2]) >= min_side
    assert image.std() > 10  # not blank
    return image


@pytest.mark.parametrize("name", ["digits", "glyphs"])
def test_show_builtin_writes_a_grid(tmp_path, capsys, name):
    grid = tmp_path / "out" / f"{name}.png"
    assert main(["data", "show", name, "--grid", str(grid), "--n", "16", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {grid}" in out and "16 samples" in out
    _grid_ok(grid)


def test_show_passes_dataset_options(tmp_path, capsys):
    assert main(["data", "show", "glyphs", "--split", "test", "--option", "include_digits=true", "size=20"]) == 0
    out = capsys.readouterr().out
    assert "glyphs test: 64 samples" in out and "20x20 grayscale" in out and "36 classes" in out


def test_show_errors_are_one_line(tmp_path, capsys):
    assert main(["data", "show", "mnist", "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dpldm data: error: dataset 'mnist' not found") and "\n" not in err
    assert main(["data", "show", "nosuch"]) == 2
    assert "unknown dataset 'nosuch'" in capsys.readouterr().err
    assert main(["data", "show", "glyphs", "--option", "oops"]) == 2
    assert "must look like key=value" in capsys.readouterr().err


def test_truncated_gz_through_the_installed_command(tmp_path):
    write_mnist_like(tmp_path / "mnist")
    path = tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100])
    result = subprocess.run([str(DPLDM), "data", "show", "mnist", "--split", "test", "--data-root", str(tmp_path)],
                            capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "truncated" in lines[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize("name", REAL)
def test_show_real_dataset(shared_data, tmp_path, capsys, name):
    if not (shared_data / REAL_FILES[name]).is_file():
        pytest.skip(f"{REAL_FILES[name]} not in {shared_data}")
    grid = tmp_path / f"{name}.png"
    assert main(["data", "show", name, "--data-root", str(shared_data), "--grid", str(grid), "--n", "36"]) == 0
    assert "36 samples" in capsys.readouterr().out
    _grid_ok(grid)


def test_grid_upscales_small_images_and_labels_them():
    grid = image_grid(np.zeros((3, 8, 8), np.uint8), ["a", "b", "a very long class name indeed"], columns=3)
    assert grid.width >= 3 * 96 and grid.height >= 96
    with pytest.raises(ValueError):
        image_grid(np.zeros((2, 8, 8), np.uint8), ["only one"])
