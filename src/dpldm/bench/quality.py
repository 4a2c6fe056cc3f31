"""One DPImageBench row, end to end, from the shipped public model (`dpldm bench quality`).

Stages, each resumable: DP fine-tuning (resumes from its checkpoint) -> class-balanced sampling (saved in parts)
-> downstream accuracy (one private-validation selection, the evaluation protocol) -> FID with precision/recall. Each
finished stage leaves ``OUT/<stage>.json``; a rerun of the same command skips finished stages and continues the
unfinished one. The result goes to ``OUT/result.json`` and, as one table row, to BENCHMARKS.md.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from dpldm.errors import DpldmError
from dpldm.provenance import git_commit
from dpldm.results import Table, regenerate, save_result
from dpldm.runlayout import private_dir
from dpldm.runsettings import run_stage, write_json
from dpldm.synthesis import TUNED_GUIDANCE
from dpldm.training.runlog import RESULT_NEUTRAL

# dataset -> its fine-tuning config (which names the public model it starts from).
DATASETS = {"mnist": "mnist_finetune", "fashion_mnist": "fashion_mnist_finetune", "cifar10": "cifar10_finetune"}
# dataset -> the stated downstream classifier on this CPU when --classifiers is not given (default: the CNN). The
# colour set gets the CPU-sized ResNet-20; DPImageBench's GPU-sized three stay available by name.
DEFAULT_CLASSIFIERS = {"cifar10": ("resnet20",)}
STAGES = ("finetune", "sample", "accuracy", "fid")
# The non-private twin of a row: the same steps, batch and sampling, with (almost) no noise and no clipping, so the
# gap to the DP row is what privacy costs at that compute. Its rows say "non-private"; nothing in it is DP.
# It is not a DP release, so the private set's ledger does not compose it (sigma 1e-4 would overflow the PLD
# composition of the set's other runs): its model and samples are as private as the data and must stay with it.
NON_PRIVATE = ["dp.epsilon=null", "dp.noise_multiplier=0.0001", "dp.max_grad_norm=10", "dp.accountant=rdp",
               "budget.ledger=false"]
TABLE_HEADER = ("| dataset | epsilon (spent) | CNN accuracy % | FID | precision / recall | synthetic images "
                "| wall time: fine-tune / sample / accuracy / FID | commit | cores | command |\n"
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")


@dataclass
class QualitySettings:
    dataset: str  # private dataset: mnist, fashion_mnist or cifar10 (or any dataset with a config)
    epsilon: float | None  # target epsilon; None: the non-private twin (NON_PRIVATE), for the quality ladder
    out: Path
    config: str | None = None  # fine-tuning config; None: DATASETS[dataset]
    overrides: list[str] = field(default_factory=list)  # --set for the fine-tuning config
    n_samples: int = 60_000  # class-balanced synthetic images (DPImageBench: 60,000)
    fid_n: int = 10_000  # images on each side of FID
    sample_steps: int = 50  # DDIM steps
    guidance: float = TUNED_GUIDANCE  # classifier-free guidance scale (chosen on the digits proxy, BENCHMARKS.md)
    clip_latents: float | None = None  # sampler's clip of the predicted clean latent (SampleConfig)
    classifiers: tuple[str, ...] = ("cnn",)
    classifier_epochs: int | None = None  # None: each classifier's recipe
    classifier_image_size: int | None = None  # resize classifier inputs to this; None: each classifier's own
    features: str = "onnx"  # TF-Inception backend
    part_size: int = 5000  # sampled images saved per part


def default_classifiers(dataset: str) -> tuple[str, ...]:
    return DEFAULT_CLASSIFIERS.get(dataset, ("cnn",))


def run_quality(settings: QualitySettings, *, data_root: str | None = None, download: bool = False,
                extractor=None, progress: bool = True, say: Callable[[str], None] = print,
                command: str = "") -> dict[str, Any]:
    """Run (or resume) every stage; returns the row's numbers. ``extractor``: FID features (default: Inception)."""
    from dpldm.config import load_config, resolve_config_path, to_dict
    from dpldm.evaluation.accuracy import AccuracyConfig, evaluate_accuracy
    from dpldm.evaluation.backends import inception_backend
    from dpldm.evaluation.classifiers import CLASSIFIERS
    from dpldm.evaluation.fid_eval import evaluate_fid
    from dpldm.evaluation.split_binding import read_model_facts
    from dpldm.finetune.stage import FinetuneConfig, finetune
    from dpldm.public_models import resolve_model
    from dpldm.synthesis import SampleConfig, run_sampling

    commit = git_commit()  # of the code this process runs, taken before it runs for hours
    # The non-private twin's model and samples are not covered by any privacy statement: its whole run lives in
    # the run folder's private/ part, never to be published (its row is a diagnostic of the ladder).
    out = settings.out if settings.epsilon is not None else private_dir(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = load_config(FinetuneConfig, resolve_config_path(settings.config or DATASETS[settings.dataset]),
                      [*settings.overrides, f"out_dir={out / 'finetune'}",
                       *(NON_PRIVATE if settings.epsilon is None else [f"dp.epsilon={settings.epsilon}"])])
    unknown = [name for name in settings.classifiers if name not in CLASSIFIERS]
    if unknown:
        raise DpldmError(f"unknown classifier(s) {', '.join(unknown)}; known: {', '.join(CLASSIFIERS)}")
    if cfg.data.name != settings.dataset:
        raise DpldmError(f"the config fine-tunes on {cfg.data.name!r}, not on --dataset {settings.dataset!r}")

    def sample() -> dict[str, Any]:
        model = resolve_model(out / "finetune" / "model")
        num_classes = len(model.class_names)
        per_class = -(-settings.n_samples // num_classes)
        sample_cfg = SampleConfig(model=str(out / "finetune" / "model"), out_dir=str(out), n_per_class=per_class,
                                  steps=settings.sample_steps, guidance_scale=settings.guidance,
                                  clip_latents=settings.clip_latents, device="cpu")
        sampled = run_sampling(sample_cfg, model=model, parts_dir=out / "sample_parts",
                               part_size=settings.part_size, progress=progress)
        return {"images": sampled["images"], "per_class": per_class, "steps": settings.sample_steps,
                "guidance": settings.guidance, "clip_latents": settings.clip_latents,
                "images_per_s": sampled["images_per_s"], "npz": sampled["npz"], "grid": sampled["grid"]}

    def accuracy() -> dict[str, Any]:
        # One candidate is chosen on the private validation split that fine-tuning held out (key from model.json).
        acc_cfg = AccuracyConfig(classifiers=settings.classifiers, epochs=settings.classifier_epochs,
                                 selection="private-val",
                                 epsilon=float("inf") if settings.epsilon is None else settings.epsilon)
        specs = [replace(CLASSIFIERS[name], image_size=settings.classifier_image_size or CLASSIFIERS[name].image_size)
                 for name in settings.classifiers]
        return evaluate_accuracy(str(out / "samples.npz"), dataset=settings.dataset, config=acc_cfg,
                                 model=read_model_facts(out / "finetune" / "model"), data_root=data_root,
                                 specs=specs, log=say if progress else None)

    def fid() -> dict[str, Any]:
        features = extractor or inception_backend(settings.features, progress=progress)
        return evaluate_fid(str(out / "samples.npz"), dataset=settings.dataset, split="train", n=settings.fid_n,
                            extractor=features, data_root=data_root)

    stages = {"finetune": lambda: finetune(cfg, data_root=data_root, download=download, progress=progress),
              "sample": sample, "accuracy": accuracy, "fid": fid}
    # What each stage's result depends on (with everything before it): a finished stage is reused only for the same.
    inputs = {"finetune": {"config": to_dict(cfg)},
              "sample": {"n_samples": settings.n_samples, "steps": settings.sample_steps,
                         "guidance": settings.guidance, "clip_latents": settings.clip_latents},
              "accuracy": {"classifiers": list(settings.classifiers), "epochs": settings.classifier_epochs,
                           "image_size": settings.classifier_image_size,
                           # Results of the per-run selections (with validation counts) are not reused.
                           "selection": "one report-noisy-max over all candidates"},
              "fid": {"n": settings.fid_n, "features": getattr(extractor, "name", settings.features)}}
    results = run_stages(out, stages, inputs, say, commit=commit)

    ft, acc, fd = results["finetune"], results["accuracy"], results["fid"]
    result = {
        "bench": "quality",
        "dataset": settings.dataset,
        "public_model": str(cfg.public_model),
        "target_epsilon": settings.epsilon,
        **privacy_fields(ft),
        "accuracy": acc["test_accuracy"],
        "accuracy_selected": acc["selected"],
        "selection": acc["selection"],
        "fid": fd["fid"],
        "precision": fd["precision"],
        "recall": fd["recall"],
        "fid_n_synthetic": fd["n_synthetic"],
        "fid_n_reference": fd["n_reference"],
        "n_synthetic": results["sample"]["images"],
        **stage_facts(results, commit),
        "cores": os.cpu_count(),
        "command": command,
        "out": str(out),
    }
    write_json(out / "result.json", result)
    return result


def run_stages(out: Path, stages: dict[str, Callable[[], dict[str, Any]]], inputs: dict[str, dict[str, Any]],
               say: Callable[[str], None], *, commit: str) -> dict[str, dict[str, Any]]:
    """Run (or reuse) each stage in order; a stage's saved result is reused only when its inputs and those of every
    stage before it are the same (``run_stage``)."""
    results, upstream = {}, {}
    for name, fn in stages.items():
        upstream = {**upstream, name: inputs[name]}
        results[name] = run_stage(out, name, fn, say, ignore=STAGE_RESULT_NEUTRAL,
                                  inputs=json.loads(json.dumps(upstream, default=str)), commit=commit)
    return results


def privacy_fields(finetuned: dict[str, Any]) -> dict[str, Any]:
    """What a row states of its DP fine-tuning, from the finetune stage's summary."""
    return {"epsilon": finetuned["epsilon_spent"],
            **{key: finetuned[key] for key in ("delta", "accountant", "noise_multiplier", "sample_rate", "steps",
                                               "trainable_params", "total_params")}}


def stage_facts(results: dict[str, dict[str, Any]], commit: str) -> dict[str, Any]:
    """Wall time of each stage, and the code each ran on (a stage done earlier keeps the commit it was computed
    at)."""
    return {"stage_wall_s": {name: results[name]["stage_wall_s"] for name in results},
            "commit": "/".join(dict.fromkeys(results[name].get("commit", commit) for name in results))}


# What may differ in a finished fine-tuning stage's config without changing its result (its folder, threads, how
# often it logs and checkpoints): the fine-tuning run itself allows the same (``dpldm.training.runlog``).
STAGE_RESULT_NEUTRAL = tuple(f"finetune.config.{key}" for key in RESULT_NEUTRAL)


def format_row(result: dict[str, Any]) -> str:
    wall = result["stage_wall_s"]
    minutes = " / ".join(f"{wall[name] / 60:.0f}" for name in STAGES) + " min"
    pr = (f"{result['precision']:.3f} / {result['recall']:.3f}" if result["precision"] is not None else "-")
    privacy = ("non-private" if result["target_epsilon"] is None
               else f"{result['target_epsilon']:g} ({result['epsilon']:.3f})")
    return (f"| {result['dataset']} | {privacy} "
            f"| {result['accuracy']:.1f}{classifier_note(result)} "
            f"| {result['fid']:.1f} ({result['fid_n_synthetic']:,} vs {result['fid_n_reference']:,}) | {pr} "
            f"| {result['n_synthetic']:,} | {minutes} | {result['commit']} | {result['cores']} "
            f"| `{result['command']}` |")


def classifier_note(result: dict[str, Any]) -> str:
    """' (resnet20)' after the accuracy when the selected classifier is not the CNN the table's header names."""
    name = result.get("accuracy_selected", {}).get("classifier", "cnn")
    return "" if name == "cnn" else f" ({name})"


def record_row(path: Path, result: dict[str, Any]) -> Path:
    """Save the result as its row's file under benchmarks/results/quality/ beside ``path`` (a rerun of the same
    command replaces it) and regenerate the quality table of ``path`` from those files; returns the row's file."""
    saved = save_result(path, QUALITY_TABLE, {k: v for k, v in result.items() if k != "out"})
    regenerate(path, QUALITY_TABLE)
    return saved


QUALITY_TABLE = Table("quality", "Quality against DPImageBench (`dpldm bench quality`)", TABLE_HEADER, format_row)
