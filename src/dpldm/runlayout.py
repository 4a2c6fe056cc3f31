"""Which files of a run folder may be published, and which must stay with the data holder.

Every run folder has one rule: the files at its top level (and in its ``model/`` folder) are releasable; everything
under ``private/`` is derived from private data without differential privacy and must never be published. ``private/``
holds the cached private latents (they decode to the private images), resumable checkpoints (optimizer state and
random-generator states), logs and summaries with exact counts. A file goes to ``private/`` unless its content is
covered by the run's privacy statement (the DP model, its samples, ``privacy.json``) or depends on public data only.
"""

from __future__ import annotations

from pathlib import Path

PRIVATE = "private"  # the subfolder of a run folder for files that must never be published

_NOTICE = """\
PRIVATE: do not publish anything in this folder.

These files are derived from the private data without differential privacy: cached private latents (they decode
to the private images), checkpoints with optimizer and random-generator states, logs and summaries with exact counts.
The files outside this folder are the releasable part of the run.
"""


def private_dir(run: str | Path) -> Path:
    """``run/private``, created with a notice inside that says what it holds and that it stays private."""
    folder = Path(run) / PRIVATE
    folder.mkdir(parents=True, exist_ok=True)
    notice = folder / "README.txt"
    if not notice.is_file():
        notice.write_text(_NOTICE)
    return folder


def is_private(run: str | Path, path: str | Path) -> bool:
    """Whether ``path`` (inside ``run``) lies in the run's private part, or in that of a run folder inside it (the
    demo's ``finetune/``)."""
    relative = Path(path).resolve().relative_to(Path(run).resolve())
    return PRIVATE in relative.parts[:-1]


# What each file dpldm writes into a run folder is, by its path there ("model/" stands for the folder and everything
# in it). Whether it may be published follows from where it is (``is_private``); README.md's table of run-folder
# files says the same, with the reason (a test keeps the two together).
FILES = {
    "config.yaml": "the resolved config: settings, no data",
    "privacy.json": "the (epsilon, delta) guarantee of the fine-tuning, and how it was accounted",
    "model/": "the model; a fine-tuned one is covered by privacy.json (its model.json says so)",
    "autoencoder/": "the autoencoder, trained on public images only",
    "samples.npz": "synthetic images drawn from the model: post-processing of the DP model",
    "samples.png": "a grid of those synthetic images",
    "samples.yaml": "the settings the samples were drawn with",
    "epsilon.png": "epsilon over the steps: a function of the DP plan alone",
    "metrics.json": ("evaluation of the synthetic images (accuracy with its DP selection statement; FID against a "
                     "private split is a non-DP diagnostic, labelled so inside, as in DPImageBench); of public "
                     "held-out images for the autoencoder"),
    "report.html": "`dpldm report`'s page, built from the releasable files only",
    "log.jsonl": "a public stage's training log (losses on public data)",
    "loss.png": "a public stage's loss curve",
    "reconstructions.png": "public held-out images beside the autoencoder's reconstructions",
    "summary.json": "a public stage's summary (steps, final loss)",
    "latents.safetensors": "a public stage's cached latents of public images",
    "checkpoint.safetensors": "a public stage's resumable state (public data only)",
    "checkpoint.json": "that checkpoint's step and sha256",
    f"{PRIVATE}/README.txt": "the notice that this folder stays private",
    f"{PRIVATE}/latents.safetensors": "the private images' latents: they decode to the private images",
    f"{PRIVATE}/checkpoint.safetensors": "resumable state: weights between DP releases, optimizer and generator states",
    f"{PRIVATE}/checkpoint.json": "that checkpoint's step, epsilon and sha256",
    f"{PRIVATE}/log.jsonl": "the fine-tuning log (step, epsilon, LR, wall time), kept with the checkpoint it resumes",
    f"{PRIVATE}/summary.json": "the fine-tuning summary with exact counts of private examples",
    f"{PRIVATE}/ledger.json": ("the run's id in its private set's privacy ledger, whose file name is a hash of the "
                               "private data"),
    f"{PRIVATE}/metrics.json": "the autoencoder's reconstruction error on private images, without DP",
    f"{PRIVATE}/ceiling.json": "the demo's accuracy of a classifier trained on the private digits without DP",
    f"{PRIVATE}/members.npz": "`dpldm audit membership`'s fine-tuning set: the member records and canaries",
    f"{PRIVATE}/design.npz": "the audit's candidates (records and canaries) and their membership coins",
    f"{PRIVATE}/losses.npz": "the audit attack's denoising losses of every candidate, fine-tuned and reference model",
    f"{PRIVATE}/audit.json": "the audit's result: membership statistics of the private set, without DP",
    f"{PRIVATE}/design.json": "an audit stage's record (inputs, counts, wall time), for resuming",
    f"{PRIVATE}/finetune.json": "an audit stage's record: the fine-tuning summary, with exact counts",
    f"{PRIVATE}/score.json": "an audit stage's record (inputs, wall time), for resuming",
    f"{PRIVATE}/report.json": "an audit stage's record: the membership statistics, without DP",
}


def describe(run: str | Path) -> list[tuple[str, bool, str]]:
    """Every file in ``run`` as (path inside it, releasable, what it is). A folder ``FILES`` names (``model/``) is one
    row; a run folder inside ``run`` (the demo's ``finetune/``) is described by the same table."""
    run = Path(run)
    rows: dict[str, tuple[str, bool, str]] = {}
    for path in sorted(p for p in run.rglob("*") if p.is_file()):
        parts = path.relative_to(run).parts
        key, what = "/".join(parts), "not a file dpldm writes"
        for i in range(len(parts)):
            if "/".join(parts[i:]) in FILES:
                what = FILES["/".join(parts[i:])]
                break
            if i + 1 < len(parts) and parts[i] + "/" in FILES:
                key, what = "/".join(parts[:i + 1]) + "/", FILES[parts[i] + "/"]
                break
        rows.setdefault(key, (key, not is_private(run, path), what))
    return list(rows.values())
