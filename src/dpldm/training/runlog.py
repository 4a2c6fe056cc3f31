"""Opening a run folder (refusing other settings, saying where a resume starts), its JSONL log and curves."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


class RunLog:
    """Appends one JSON object per line to ``run_dir/log.jsonl``; on resume, drops lines past the resumed step."""

    def __init__(self, run_dir: str | Path, *, resume_step: int = 0):
        self.path = Path(run_dir) / "log.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = [r for r in self.read() if r.get("step", 0) <= resume_step] if resume_step else []
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def write(self, **record: Any) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


def plot_curves(records: list[dict[str, Any]], out: str | Path, keys: tuple[str, ...] = ("loss",),
                title: str = "") -> Path | None:
    """Line plot of ``keys`` against ``step`` (log-scale y for losses); returns the PNG path, or None if empty."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = [k for k in keys if any(k in r for r in records)]
    if not present:
        return None
    fig, axes = plt.subplots(1, len(present), figsize=(5 * len(present), 3.5), squeeze=False)
    for ax, key in zip(axes[0], present):
        pts = [(r["step"], r[key]) for r in records if key in r and math.isfinite(r[key])]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1)
        ax.set_xlabel("step")
        ax.set_ylabel(key)
        if "loss" in key and pts and min(p[1] for p in pts) > 0:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return Path(out)


# Settings that cannot change a training stage's result, so a resumed run may change them: the folder's own path
# (a moved folder resumes), CPU threads, the device (it changes only floating-point rounding), how often it logs or
# writes a checkpoint (resuming is exact), and the privacy budget's cap and ledger (they decide whether a run may
# start, not what it computes). train.precision is not among them: bf16 changes the result.
RESULT_NEUTRAL = ("out_dir", "train.threads", "train.device", "train.log_every", "train.checkpoint_every", "budget")

# Settings added after runs were made: a saved config without the key was made with this value.
OLDER_RUN_DEFAULTS = {"precision": "fp32", "gradient_checkpointing": False, "timestep_range": [0.0, 1.0]}
OLDER_DATA_DEFAULTS = {"classes": None}  # the same for the data: section


def open_run(config: Any, *, out_dir: str, threads: int) -> Path:
    """Start (or resume) a run: refuse a folder whose ``config.yaml`` holds other settings (naming the changed keys,
    writing nothing), set torch's CPU threads (0 keeps torch's default), and return the folder. The stage saves the
    config with ``record_config`` once its set-up has succeeded, before it writes any state."""
    import torch

    from dpldm.config import to_dict
    from dpldm.runsettings import check_folder, read_settings

    run = Path(out_dir)
    settings = to_dict(config)
    saved = read_settings(run / "config.yaml")
    ignore = list(RESULT_NEUTRAL)
    if saved is not None and isinstance(saved.get("train"), dict) and isinstance(settings.get("train"), dict):
        # A run made before a train key existed was made with that key's old default: it resumes with that value.
        ignore += [f"train.{key}" for key, old in OLDER_RUN_DEFAULTS.items()
                   if key not in saved["train"] and settings["train"].get(key) == old]
    if saved is not None and isinstance(saved.get("data"), dict) and isinstance(settings.get("data"), dict):
        ignore += [f"data.{key}" for key, old in OLDER_DATA_DEFAULTS.items()
                   if key not in saved["data"] and settings["data"].get(key) == old]
    check_folder(run, "config.yaml", settings, ignore=ignore)
    if threads:
        torch.set_num_threads(threads)
    return run


def record_config(config: Any, run: Path) -> None:
    """Write the resolved config into the run folder, once (a resumed run keeps the config it started with)."""
    from dpldm.config import to_dict
    from dpldm.runsettings import write_settings

    if not (run / "config.yaml").is_file():
        write_settings(run / "config.yaml", to_dict(config))


def say_resumed(step: int, epsilon: float | None = None) -> None:
    """Tell the user (on stderr) that a run continues from a checkpoint, and for a DP run how much it has spent."""
    import sys

    spent = f", epsilon {epsilon:.4f} already spent" if epsilon is not None else ""
    print(f"resuming from step {step}{spent}", file=sys.stderr)
