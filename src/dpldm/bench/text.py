"""The text-conditional benchmark (`dpldm bench text`): DP fine-tuning from a public TEXT model on captioned private
images, sampling from held-out prompts, and what the images are worth.

Stages, each resumable as in ``dpldm.bench.quality``: public (the shipped ``glyphs8_text`` by default; a public model
folder that is missing is pretrained first by ``pretrain_config``, on public data only) -> finetune (DP-SGD on the private set captioned from its labels: attention blocks and
the text projector) -> sample (``prompts_per_class`` prompts of each class from the HELD-OUT templates, which no
training caption used; ``n_per_prompt`` images each) -> accuracy (the downstream classifier trained on the images
labelled by their prompt's class, one epoch chosen on the private validation split: DP, as in the quality rows) ->
prompt_accuracy (a judge trained on real private data says whether each image shows its prompt's class: a non-DP
diagnostic like FID; the judge's own test accuracy goes to the run's private/ folder) -> fid (against the private
train split, converted to the samples' size as training converts it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dpldm.bench.quality import NON_PRIVATE, privacy_fields, run_stages, stage_facts
from dpldm.errors import DpldmError
from dpldm.provenance import git_commit
from dpldm.results import Table, regenerate, save_result
from dpldm.runlayout import private_dir
from dpldm.runsettings import write_json

DEFAULT_CONFIG = "digits_text_finetune"
DEFAULT_PRETRAIN = "glyphs8_text_ldm"
STAGES = ("public", "finetune", "sample", "accuracy", "prompt_accuracy", "fid")
TABLE_HEADER = ("| private data | epsilon (spent) | prompt accuracy % (judge) | downstream CNN accuracy % | FID "
                "| synthetic images (prompts x each) | wall time: public / fine-tune / sample / evaluate | commit "
                "| cores | command |\n"
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")


@dataclass
class TextSettings:
    epsilon: float | None  # target epsilon; None: the non-private twin (nothing in it is DP)
    out: Path
    config: str = DEFAULT_CONFIG  # fine-tuning config (captioned private data; names the public text model)
    overrides: list[str] = field(default_factory=list)  # --set for the fine-tuning config
    # Pretraining config that makes the public model when the fine-tuning config's public_model is a folder that is
    # missing (None: a missing public model is an error); a shipped model's name is never pretrained.
    pretrain_config: str | None = DEFAULT_PRETRAIN
    prompts_per_class: int = 3  # held-out prompts of each class (one per held-out template)
    n_per_prompt: int = 100
    sampler: str = "dpmpp"
    sample_steps: int = 20
    guidance: float = 2.0  # the demo's choice for the class-conditional digits model; not tuned for text
    classifier_epochs: int | None = None  # None: the CNN's recipe (downstream classifier and judge)
    fid_n: int = 1000
    features: str = "onnx"


def run_text(settings: TextSettings, *, data_root: str | None = None, download: bool = False, extractor=None,
             progress: bool = True, say: Callable[[str], None] = print, command: str = "") -> dict[str, Any]:
    """Run (or resume) every stage; returns the row's numbers. ``extractor``: FID features (default: Inception)."""
    from dpldm.config import load_config, resolve_config_path, to_dict
    from dpldm.data import load_dataset
    from dpldm.data.label_captions import heldout_prompts
    from dpldm.evaluation.accuracy import AccuracyConfig, evaluate_accuracy
    from dpldm.evaluation.backends import inception_backend
    from dpldm.evaluation.fid_eval import evaluate_fid
    from dpldm.evaluation.prompt_accuracy import evaluate_prompts
    from dpldm.evaluation.sources import load_image_set
    from dpldm.evaluation.split_binding import read_model_facts
    from dpldm.finetune.stage import FinetuneConfig, finetune
    from dpldm.public_models import bundled_models
    from dpldm.synthesis import SampleConfig, run_sampling
    from dpldm.training.pretrain import PretrainConfig, pretrain

    if settings.prompts_per_class < 1 or settings.n_per_prompt < 1:
        raise DpldmError("prompts per class and images per prompt must be at least 1")
    commit = git_commit()
    out = settings.out if settings.epsilon is not None else private_dir(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = load_config(FinetuneConfig, resolve_config_path(settings.config),
                      [*settings.overrides, f"out_dir={out / 'finetune'}",
                       *(NON_PRIVATE if settings.epsilon is None else [f"dp.epsilon={settings.epsilon}"])])
    if cfg.data.captions != "labels":
        raise DpldmError(f"{settings.config}: the text benchmark captions the private set from its labels "
                         f"(data.captions: labels), so that prompts of known classes can be judged")
    dataset = cfg.data.name

    def class_names() -> tuple[str, ...]:  # the private set's classes, which the prompts name (public: their names)
        return load_dataset(dataset, "test", root=data_root).class_names

    model_dir = out / "finetune" / "model"
    pretrain_cfg = None
    missing = not (Path(cfg.public_model) / "model.json").is_file() and str(cfg.public_model) not in bundled_models()
    if missing and settings.pretrain_config is not None:
        pretrain_cfg = load_config(PretrainConfig, resolve_config_path(settings.pretrain_config), [])
        if Path(pretrain_cfg.out_dir) / "model" != Path(cfg.public_model):
            raise DpldmError(f"{settings.pretrain_config} makes {pretrain_cfg.out_dir}/model, but the fine-tuning "
                             f"starts from {cfg.public_model}; set public_model to it")

    def public() -> dict[str, Any]:
        if pretrain_cfg is not None:
            pretrain(pretrain_cfg, data_root=data_root, download=download, progress=progress)
        facts = read_model_facts(cfg.public_model)
        if (facts.get("conditioning") or {}).get("kind") != "text":
            raise DpldmError(f"{cfg.public_model} is not text-conditional; the text benchmark needs a text model")
        return {"public_model": str(cfg.public_model), "pretrained_now": pretrain_cfg is not None,
                "public_data": facts.get("public_data"), "pretrain_steps": facts.get("pretrain_steps")}

    def prompt_pairs() -> list[tuple[int, str]]:
        return heldout_prompts(class_names(), settings.prompts_per_class)

    def sample() -> dict[str, Any]:
        pairs = prompt_pairs()
        sample_cfg = SampleConfig(model=str(model_dir), out_dir=str(out), prompts=[p for _, p in pairs],
                                  n_per_class=settings.n_per_prompt, sampler=settings.sampler,
                                  steps=settings.sample_steps, guidance_scale=settings.guidance, device="cpu")
        sampled = run_sampling(sample_cfg, parts_dir=out / "sample_parts", progress=progress)
        # The same images labelled by their prompt's class, for the classifier and FID.
        by_prompt = load_image_set(sampled["npz"])
        classes = np.array([y for y, _ in pairs], np.int64)
        np.savez_compressed(out / "samples_by_class.npz", images=by_prompt.images, labels=classes[by_prompt.labels],
                            class_names=np.array(class_names()))
        return {"images": sampled["images"], "prompts": [p for _, p in pairs], "prompt_classes": classes.tolist(),
                "sampler": settings.sampler, "steps": settings.sample_steps, "guidance": settings.guidance,
                "images_per_s": sampled["images_per_s"], "npz": sampled["npz"], "grid": sampled["grid"]}

    def accuracy() -> dict[str, Any]:
        acc_cfg = AccuracyConfig(epochs=settings.classifier_epochs, selection="private-val",
                                 epsilon=float("inf") if settings.epsilon is None else settings.epsilon)
        return evaluate_accuracy(str(out / "samples_by_class.npz"), dataset=dataset, config=acc_cfg,
                                 model=read_model_facts(model_dir), data_root=data_root,
                                 log=say if progress else None)

    def judged() -> dict[str, Any]:
        result, judge = evaluate_prompts(str(out / "samples.npz"), dataset=dataset, model=read_model_facts(model_dir),
                                         data_root=data_root, epochs=settings.classifier_epochs)
        write_json(private_dir(out) / "judge.json", judge)  # its test accuracy: a non-DP statistic, kept private
        if result["prompt_classes"] != [y for y, _ in prompt_pairs()]:
            raise DpldmError("the prompts' classes read from their words differ from the classes they were made for")
        return result

    def fid() -> dict[str, Any]:
        features = extractor or inception_backend(settings.features, progress=progress)
        return evaluate_fid(str(out / "samples_by_class.npz"), dataset=dataset, split="train", n=settings.fid_n,
                            extractor=features, data_root=data_root, match_synthetic=True)

    stages = {"public": public,
              "finetune": lambda: finetune(cfg, data_root=data_root, download=download, progress=progress),
              "sample": sample, "accuracy": accuracy, "prompt_accuracy": judged, "fid": fid}
    inputs = {"public": {"public_model": str(cfg.public_model)},
              "finetune": {"config": to_dict(cfg)},
              "sample": {"prompts_per_class": settings.prompts_per_class, "n_per_prompt": settings.n_per_prompt,
                         "sampler": settings.sampler, "steps": settings.sample_steps, "guidance": settings.guidance},
              "accuracy": {"classifiers": ["cnn"], "epochs": settings.classifier_epochs,
                           "selection": "one report-noisy-max over all candidates"},
              "prompt_accuracy": {"judge": "cnn", "epochs": settings.classifier_epochs},
              "fid": {"n": settings.fid_n, "features": getattr(extractor, "name", settings.features)}}
    results = run_stages(out, stages, inputs, say, commit=commit)

    sampled, acc, judge, fd = results["sample"], results["accuracy"], results["prompt_accuracy"], results["fid"]
    result = {
        "bench": "text",
        "dataset": dataset,
        "public_model": str(cfg.public_model),
        "target_epsilon": settings.epsilon,
        **privacy_fields(results["finetune"]),
        "prompt_accuracy": judge["prompt_accuracy"],
        "prompt_accuracy_by_template": judge["by_template"],
        "prompt_accuracy_privacy": judge["privacy"],
        "accuracy": acc["test_accuracy"],
        "accuracy_selected": acc["selected"],
        "selection": acc["selection"],
        "fid": fd["fid"],
        "fid_n_synthetic": fd["n_synthetic"],
        "fid_n_reference": fd["n_reference"],
        "n_synthetic": sampled["images"],
        "prompts": sampled["prompts"],
        "n_per_prompt": settings.n_per_prompt,
        "sampling": {k: sampled[k] for k in ("sampler", "steps", "guidance")},
        **stage_facts(results, commit),
        "cores": os.cpu_count(),
        "command": command,
        "grid": sampled["grid"],
        "out": str(out),
    }
    write_json(out / "result.json", result)
    return result


def format_row(result: dict[str, Any]) -> str:
    wall = result["stage_wall_s"]
    evaluate = sum(wall[name] for name in ("accuracy", "prompt_accuracy", "fid"))
    minutes = " / ".join(f"{s / 60:.0f}" for s in (wall["public"], wall["finetune"], wall["sample"], evaluate))
    privacy = ("non-private" if result["target_epsilon"] is None
               else f"{result['target_epsilon']:g} ({result['epsilon']:.3f})")
    return (f"| {result['dataset']} | {privacy} | {result['prompt_accuracy']:.1f} | {result['accuracy']:.1f} "
            f"| {result['fid']:.1f} ({result['fid_n_synthetic']:,} vs {result['fid_n_reference']:,}) "
            f"| {result['n_synthetic']:,} ({len(result['prompts'])} x {result['n_per_prompt']}) | {minutes} min "
            f"| {result['commit']} | {result['cores']} | `{result['command']}` |")


TEXT_TABLE = Table("text", "Text-conditional DP-LDM (`dpldm bench text`)", TABLE_HEADER, format_row)


def record_row(path: Path, result: dict[str, Any]) -> Path:
    """Save the result as its row's file under benchmarks/results/text/ and regenerate the text table of ``path``."""
    saved = save_result(path, TEXT_TABLE, {k: v for k, v in result.items() if k not in ("out", "grid")})
    regenerate(path, TEXT_TABLE)
    return saved


def summary_line(result: dict[str, Any]) -> str:
    privacy = "non-private" if result["target_epsilon"] is None else f"epsilon {result['epsilon']:.3f}"
    return (f"{result['dataset']} {privacy}: prompt accuracy {result['prompt_accuracy']:.1f}% (non-DP judge), "
            f"downstream accuracy {result['accuracy']:.1f}%, FID {result['fid']:.1f}; grid: {result['grid']}; "
            f"result: {result['out']}/result.json")

