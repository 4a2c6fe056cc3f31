"""The HTML report: what a full run folder shows, what an empty one says, and how Chromium renders it."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from dpldm.errors import DpldmError
from dpldm.evaluation.report import write_report
from dpldm.evaluation.report_figures import class_grid
from dpldm.evaluation.run_folder import read_run_folder


@pytest.fixture
def full_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("dp:\n  epsilon: 10.0\n  delta: 1.0e-05\n")
    (run / "log.jsonl").write_text("".join(json.dumps({"step": s, "loss": 1.0 / (1 + s), "epsilon": 0.1 * s})
                                           + "\n" for s in range(20)) + "not json\n")
    (run / "privacy.json").write_text(json.dumps({"accountant": "prv", "noise_multiplier": 1.1, "epsilon": 10.0,
                                                  "delta": 1e-5}))
    rng = np.random.default_rng(0)
    np.savez(run / "samples.npz", images=rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
             labels=np.repeat(np.arange(4), 10))
    (run / "metrics.json").write_text(json.dumps({"fid": {"metric": "fid", "fid": 12.5, "precision": 0.7}}))
    return run


def test_full_run_shows_every_section(full_run: Path) -> None:
    page = write_report(full_run).read_text()
    assert page.count("data:image/png;base64,") == 3  # samples, loss, epsilon
    for text in ("noise_multiplier", "12.5", "epsilon: 10.0", "1 line(s) were not JSON", "samples.png"):
        assert text in page


def test_empty_run_says_what_is_absent(tmp_path: Path) -> None:
    page = write_report(tmp_path, tmp_path / "out" / "r.html").read_text()
    for name in ("config.yaml", "log.jsonl", "privacy.json", "samples.npz", "metrics.json"):
        assert f"{name} (" in page
    assert "makes no DP claim" in page and "data:image" not in page


def test_missing_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(DpldmError, match="not found"):
        read_run_folder(tmp_path / "nope")


def test_class_grid_puts_one_class_per_row() -> None:
    images = np.stack([np.full((2, 2), v, np.uint8) for v in (10, 20, 30, 40)])
    canvas, names = class_grid(images, np.array([1, 0, 1, 0]), per_class=2)
    assert names == ["class 0", "class 1"]
    assert canvas.tolist() == [[20, 20, 40, 40]] * 2 + [[10, 10, 30, 30]] * 2


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_renders_in_headless_chromium(full_run: Path, tmp_path: Path) -> None:
    page = write_report(full_run)
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}", "--window-size=1000,1800",
                    f"--screenshot={shot}", page.resolve().as_uri()], check=True, capture_output=True, timeout=120)
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (1800, 1000)
    assert (pixels < 128).mean() > 0.01  # text and figures drawn, not a blank page


def test_report_reads_only_the_releasable_part_and_names_the_private_files(tmp_path: Path) -> None:
    from PIL import Image

    from dpldm.runlayout import private_dir

    run = tmp_path / "run"
    run.mkdir()
    (run / "privacy.json").write_text(json.dumps({"accountant": "prv", "epsilon": 9.9, "delta": 1e-5}))
    Image.new("L", (4, 4)).save(run / "epsilon.png")
    private = private_dir(run)
    (private / "log.jsonl").write_text(json.dumps({"step": 1, "epsilon": 0.123456789, "wall_s": 7.654321}) + "\n")
    (private / "summary.json").write_text(json.dumps({"private_examples": 424242}))
    page = write_report(run).read_text()
    assert "0.123456789" not in page and "424242" not in page and "7.654321" not in page  # content: never read
    assert "log.jsonl (training log) is private (private/log.jsonl): not shown" in page
    assert "data:image/png;base64," in page  # epsilon.png stands in for the private log's curve
    files = page[page.index("Files: releasable and private"):]
    for name in ("private/log.jsonl", "private/summary.json", "private/README.txt"):
        assert f"<td>{name}</td><td><b>PRIVATE</b></td>" in files
    assert "<td>privacy.json</td><td>releasable</td>" in files and "<td>epsilon.png</td><td>releasable</td>" in files
