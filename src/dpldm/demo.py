"""The whole pipeline on the embedded default, offline: DP fine-tune -> sample -> downstream accuracy.

Public: the shipped glyphs8 model (font-rendered letters and digits, adapted to 8x8-style glyphs). Private:
scikit-learn's digits (train split, upscaled to 28x28); its test split is the real test set. The classifier trained
on real private digits is the ceiling: it is not differentially private, so its full result goes to the run's
private/ folder and its one number is labelled.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

from dpldm.runlayout import private_dir
from dpldm.synthesis import SampleConfig, run_sampling

DEMO_CONFIG = Path(__file__).resolve().parent / "configs" / "demo.yaml"
# Chosen on the private validation split of glyphs8 fine-tunes (BENCHMARKS.md, "Demo"): DPM-Solver++ 20 steps at
# guidance 2 scored as well as DDIM 50 at 3, in a third of the time; 300 digits per class rather than 100 raised the
# CNN's validation accuracy in both of two fine-tunes (80.0 -> 86.7% and 80.0 -> 83.7%).
DEMO_SAMPLER, DEMO_SAMPLE_STEPS, DEMO_GUIDANCE, DEMO_PER_CLASS = "dpmpp", 20, 2.0, 300


def run_demo(out_dir: str | Path, *, epsilon: float = 10.0, n_per_class: int = DEMO_PER_CLASS,
             sampler: str = DEMO_SAMPLER, sample_steps: int = DEMO_SAMPLE_STEPS, guidance: float = DEMO_GUIDANCE,
             overrides: list[str] | None = None, classifier_epochs: int | None = None, progress: bool = True,
             say=print) -> dict:
    """Run the demo into ``out_dir``; returns the numbers it printed, and writes them to out_dir/demo.json but for
    the real-data ceiling, a non-DP statistic of the private digits, which goes to out_dir/private/ceiling.json."""
    # Imported here, so that the CLI reads the defaults above without loading the training stack.
    from dpldm.config import load_config
    from dpldm.evaluation.accuracy import AccuracyConfig, evaluate_accuracy
    from dpldm.evaluation.classifiers import CLASSIFIERS
    from dpldm.evaluation.split_binding import read_model_facts
    from dpldm.finetune.stage import FinetuneConfig, finetune
    from dpldm.public_models import resolve_model

    out = Path(out_dir)
    timings = {}
    cfg = load_config(FinetuneConfig, DEMO_CONFIG,
                      [f"out_dir={out / 'finetune'}", f"dp.epsilon={epsilon}", *(overrides or [])])

    # 1. DP fine-tuning on the private digits.
    start = time.time()
    summary = finetune(cfg, progress=progress)
    timings["finetune_s"] = round(time.time() - start, 1)
    say(f"privacy spent: epsilon = {summary['epsilon_spent']:.4f} at delta = {summary['delta']:g} "
        f"({summary['accountant']} accountant, sigma = {summary['noise_multiplier']:.3f}, "
        f"q = {summary['sample_rate']:.4f}, {summary['steps']} steps); "
        f"{summary['trainable_params']:,} of {summary['total_params']:,} parameters trained")

    # 2. Class-balanced synthetic digits.
    start = time.time()
    model = resolve_model(out / "finetune" / "model")
    # The samples go beside privacy.json; on the CPU, as the demo's recorded numbers were.
    sample_cfg = SampleConfig(model=str(out / "finetune" / "model"), out_dir=str(out / "finetune"),
                              n_per_class=n_per_class, sampler=sampler, steps=sample_steps, guidance_scale=guidance,
                              device="cpu")
    sampled = run_sampling(sample_cfg, model=model, progress=progress)
    npz, grid, rate = Path(sampled["npz"]), Path(sampled["grid"]), sampled["images_per_s"]
    timings["sample_s"] = round(time.time() - start, 1)
    say(f"{sampled['images']} synthetic digits at {rate:.0f} images/s -> {npz}; grid: {grid}")

    # 3. Downstream accuracy on the held-out real digits: synthetic-trained vs real-trained (the ceiling).
    #    One (classifier, seed, epoch) is chosen on the private validation split that fine-tuning held out (its key
    #    read from model.json), by report-noisy-max with Laplace noise (epsilon).
    start = time.time()
    cnn = replace(CLASSIFIERS["cnn"], image_size=model.image_size)
    acc_cfg = AccuracyConfig(selection="private-val", epsilon=epsilon, epochs=classifier_epochs)
    facts = read_model_facts(out / "finetune" / "model")
    synthetic = evaluate_accuracy(str(npz), dataset="digits", config=acc_cfg, model=facts, specs=[cnn])
    real = evaluate_accuracy("real:digits:train", dataset="digits",
                             config=replace(acc_cfg, split_seed=synthetic["selection"]["split_key"]), specs=[cnn])
    timings["evaluate_s"] = round(time.time() - start, 1)
    syn_acc, real_acc = synthetic["test_accuracy"], real["test_accuracy"]
    say(f"downstream accuracy on {synthetic['n_test']} held-out real digits (CNN): trained on synthetic "
        f"{syn_acc:.1f}%; trained on the real private digits (ceiling, NOT differentially private) {real_acc:.1f}%")

    # The ceiling comes from a classifier trained on the private digits without DP: it goes to private/ only.
    result = {"epsilon": summary["epsilon_spent"], "delta": summary["delta"], "accountant": summary["accountant"],
              "accuracy_synthetic": syn_acc, "accuracy_synthetic_privacy": synthetic["privacy"],
              "n_synthetic": sampled["images"], "n_test": synthetic["n_test"], "grid": str(grid), "samples": str(npz),
              **timings}
    (out / "demo.json").write_text(json.dumps(result, indent=2))
    (out / "finetune" / "metrics.json").write_text(json.dumps({"accuracy": synthetic}, indent=2))
    (private_dir(out) / "ceiling.json").write_text(json.dumps({"accuracy_real_ceiling_non_dp": real_acc,
                                                               "accuracy": real}, indent=2))
    say(f"report: dpldm report {out / 'finetune'}")
    return {**result, "accuracy_real_ceiling": real_acc}
