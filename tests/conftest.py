"""Session fixtures: a tiny public model (autoencoder + latent diffusion) trained once through the CLI."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tiny_configs import tiny

# The test models are tiny: one thread is faster than two, and it keeps timings sane when the cores are shared.
torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def _ledger_in_a_temporary_folder(tmp_path_factory):
    """Privacy-budget ledgers (``dpldm.privacy.budget``) of test runs go to a session folder, never ~/.cache; the
    environment carries it into subprocesses too. Tests of the ledger give their own folder."""
    previous = os.environ.get("DPLDM_LEDGER")
    os.environ["DPLDM_LEDGER"] = str(tmp_path_factory.mktemp("ledger"))
    yield
    if previous is None:
        os.environ.pop("DPLDM_LEDGER", None)
    else:
        os.environ["DPLDM_LEDGER"] = previous


@pytest.fixture(scope="session")
def tiny_autoencoder(tmp_path_factory) -> Path:
    """Folder of a seconds-trained 8x8 autoencoder (tests/configs/tiny_autoencoder.yaml)."""
    from dpldm.cli.main import main

    out = tmp_path_factory.mktemp("tiny_ae")
    assert main(["train-autoencoder", "--config", tiny("tiny_autoencoder"), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def tiny_public_model(tiny_autoencoder, tmp_path_factory) -> Path:
    """Model folder of a seconds-trained 8x8 latent diffusion model on public glyphs (tests/configs/tiny_ldm.yaml)."""
    from dpldm.cli.main import main

    out = tmp_path_factory.mktemp("tiny_ldm")
    assert main(["pretrain", "--config", tiny("tiny_ldm"), "--out", str(out),
                 "--set", f"autoencoder={tiny_autoencoder / 'autoencoder'}"]) == 0
    return out / "model"


# Runs the CLI in a subprocess that dies (os._exit, no clean-up) right after its first checkpoint is written. Every
# stage writes its checkpoints through the one training loop (dpldm.training.loop), so that is where it dies.
_CRASH_AFTER_FIRST_CHECKPOINT = """
import os, sys, importlib
importlib.import_module(sys.argv[1])  # the stage run
loop = importlib.import_module("dpldm.training.loop")
save = loop.save_checkpoint
def save_then_die(*args, **kwargs):
    save(*args, **kwargs)
    os._exit(9)
loop.save_checkpoint = save_then_die
from dpldm.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture
def run_killed_after_first_checkpoint():
    """f(stage_module, argv): ``dpldm argv`` (a run of ``stage_module``) in a subprocess killed after its first
    checkpoint, with this process's thread count, so the resumed run can be compared bit for bit."""
    return _run_killed


def _run_killed(stage_module: str, argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _CRASH_AFTER_FIRST_CHECKPOINT, stage_module, *argv],
                          capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())})


class SentinelCounts:
    """Makes every classifier run's per-epoch validation counts distinctive numbers, and finds them in outputs.

    The counts (and their accuracies, 100 * count / n) are what `dpldm evaluate accuracy` must keep in memory: for
    private-val they are noise-free counts of private records. The validation set is marked on its way into
    ``train_and_score``, and ``count_correct`` answers a sentinel for it, so a leak anywhere after the count is
    taken (a log line inside the training loop included) shows the sentinel's digits.
    """

    def __init__(self) -> None:
        self.runs: list[tuple[list[int], int]] = []  # (counts so far, validation size n) per classifier run

    def patch(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from dpldm.evaluation import accuracy, classifier_training

        runs = self.runs

        class Marked(classifier_training.LabelledTensors):
            """A validation set: count_correct answers sentinels for it."""

        real_train, real_count = accuracy.train_and_score, classifier_training.count_correct

        def train_and_score(model, recipe, train, validation, test, **kwargs):
            runs.append(([], len(validation)))
            return real_train(model, recipe, train, Marked(validation.x, validation.y), test, **kwargs)

        def count_correct(model, data, **kwargs):
            if not isinstance(data, Marked):
                return real_count(model, data, **kwargs)
            counts = runs[-1][0]
            counts.append(913_527 + 10_007 * (len(runs) - 1) + 1_013 * len(counts))
            return counts[-1]

        monkeypatch.setattr(accuracy, "train_and_score", train_and_score)
        monkeypatch.setattr(classifier_training, "count_correct", count_correct)

    def needles(self) -> set[str]:
        """Each count, the integer digits of its accuracy in percent and as a fraction (when 5 digits or more, so
        that it cannot turn up by chance), and the keys an older version wrote them under."""
        assert self.runs, "no classifier ran"
        numbers = {str(n) for counts, size in self.runs for c in counts
                   for n in (c, int(100 * c / size), int(c / size))}
        return {n for n in numbers if len(n) >= 5} | {"validation_correct", "validation_accuracy"}

    def assert_absent(self, *texts: str, folders: tuple[Path, ...] = ()) -> int:
        """No needle in ``texts`` nor in any file under ``folders``; returns how many files were scanned."""
        files = [p for folder in folders for p in folder.rglob("*") if p.is_file()]
        needles = self.needles()
        for where, content in [*((f"text {i}", t.encode()) for i, t in enumerate(texts)),
                               *((str(p), p.read_bytes()) for p in files)]:
            found = [n for n in needles if n.encode() in content]
            assert not found, f"{where} holds private validation counts: {found}"
        return len(files)


@pytest.fixture
def sentinel_counts(monkeypatch: pytest.MonkeyPatch) -> SentinelCounts:
    """Every accuracy evaluation in the test runs with sentinel validation counts (see SentinelCounts)."""
    sentinel = SentinelCounts()
    sentinel.patch(monkeypatch)
    return sentinel


# Colour: small stand-ins for the two colour archives, in their real format (JPEG bytes + offsets + split flag, as
# shared/data/README.md describes them), so the colour pipeline runs through the real readers without the shared data.
def colour_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 (N, 32, 32, 3): noise plus a square whose colour and place encode the label (learnable)."""
    hues = np.array([[255, 40, 40], [40, 255, 40], [40, 40, 255], [255, 255, 40], [255, 40, 255], [40, 255, 255],
                     [255, 150, 40], [150, 40, 255], [240, 240, 240], [120, 120, 60]], dtype=np.uint8)
    images = rng.integers(0, 90, (len(labels), 32, 32, 3)).astype(np.uint8)
    for i, label in enumerate(labels):
        top = 2 + 2 * (label // 10)
        images[i, top:top + 12, 8:20] = hues[label % 10]
    return images


def write_jpeg_archive(path: Path, images: np.ndarray, labels: np.ndarray, flag_key: str, flags: np.ndarray,
                       classes: list[str]) -> None:
    """``images`` as the shared archives store them: JPEG bytes, offsets, labels, a 0/1 split flag, class names."""
    blobs = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=90, subsampling=0)
        blobs.append(np.frombuffer(buffer.getvalue(), np.uint8))
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
    np.savez(path, jpeg_bytes=np.concatenate(blobs), offsets=offsets, y=labels.astype(np.int64),
             **{flag_key: flags.astype(np.uint8)}, classes=np.array(classes))


@pytest.fixture(scope="session")
def colour_data_root(tmp_path_factory) -> Path:
    """A data root holding a small tiny_imagenet32_jpeg.npz (20 classes, 320 train + 60 val; the public side) and
    cifar10_jpeg.npz (10 classes, 400 train + 200 test; the private side), drawn from different seeds."""
    root = tmp_path_factory.mktemp("colour_data")
    rng = np.random.default_rng(32)
    y = np.concatenate([np.arange(320) % 20, np.arange(60) % 20])
    write_jpeg_archive(root / "tiny_imagenet32_jpeg.npz", colour_images(y, rng), y, "is_val",
                       np.arange(380) >= 320, [f"scene {c}" for c in range(20)])
    rng = np.random.default_rng(10)
    y = np.concatenate([np.arange(400) % 10, np.arange(200) % 10])
    write_jpeg_archive(root / "cifar10_jpeg.npz", colour_images(y, rng), y, "is_test", np.arange(600) >= 400,
                       [f"class {c}" for c in range(10)])
    return root


@pytest.fixture(scope="session")
def tiny_colour_autoencoder(colour_data_root, tmp_path_factory) -> Path:
    """Folder of a seconds-trained 32x32x3 autoencoder (tests/configs/tiny_colour_autoencoder.yaml)."""
    from dpldm.cli.main import main

    out = tmp_path_factory.mktemp("tiny_colour_ae")
    assert main(["train-autoencoder", "--config", tiny("tiny_colour_autoencoder"), "--out", str(out),
                 "--data-root", str(colour_data_root)]) == 0
    return out


@pytest.fixture(scope="session")
def tiny_colour_public_model(colour_data_root, tiny_colour_autoencoder, tmp_path_factory) -> Path:
    """Model folder of a seconds-trained colour latent diffusion model (tests/configs/tiny_colour_ldm.yaml)."""
    from dpldm.cli.main import main

    out = tmp_path_factory.mktemp("tiny_colour_ldm")
    assert main(["pretrain", "--config", tiny("tiny_colour_ldm"), "--out", str(out),
                 "--data-root", str(colour_data_root),
                 "--set", f"autoencoder={tiny_colour_autoencoder / 'autoencoder'}"]) == 0
    return out / "model"


@pytest.fixture(scope="session")
def tiny_text_model(tiny_autoencoder, tmp_path_factory) -> Path:
    """Model folder of a seconds-trained 8x8 TEXT-conditional model on captioned public glyphs
    (tests/configs/tiny_text_ldm.yaml: the offline MiniLM encoder, frozen; captions made from the glyphs' labels)."""
    from dpldm.cli.main import main

    out = tmp_path_factory.mktemp("tiny_text_ldm")
    assert main(["pretrain", "--config", tiny("tiny_text_ldm"), "--out", str(out),
                 "--set", f"autoencoder={tiny_autoencoder / 'autoencoder'}"]) == 0
    return out / "model"
