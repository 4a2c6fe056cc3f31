"""Time a short slice of each bench-sized DP fine-tuning recipe on a GPU and project the full recipe's wall time.

The recipes are DPImageBench's DP-LDM fine-tuning shapes (logical batch 4,096; Fashion-MNIST 150 epochs, MNIST
200 epochs at 2,000, CIFAR-10 as Fashion-MNIST) on the shipped public models, run with the same `dpldm finetune`
code path as on the CPU: `--device cuda`, bf16 autocast, large physical batches. Each slice runs a few logical
steps of the real recipe (its sigma, q and clipping) and prints examples/s of the DP step, peak GPU memory and the
projected wall time of all the recipe's steps. The slices spend privacy on their private sets; their charges go to
a throw-away ledger in the output folder, not the user's.

    python tools/gpu_recipes.py                      # every recipe, 10 steps each, on cuda
    python tools/gpu_recipes.py --recipes mnist --steps 5 --json
Without a CUDA device it prints what it would run and exits 0 (a CPU cannot time a GPU recipe).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

# name -> (config, overrides making the bench-sized recipe)
RECIPES: dict[str, tuple[str, list[str]]] = {
    "fashion_mnist": ("fashion_mnist_finetune", ["dp.expected_batch_size=4096", "dp.epochs=150"]),
    "mnist": ("mnist_finetune", ["dp.expected_batch_size=2000", "dp.epochs=200"]),
    "cifar10": ("cifar10_finetune", ["dp.expected_batch_size=4096", "dp.epochs=150"]),
}
GPU = ["train.device=cuda", "train.precision=bf16", "dp.max_physical_batch=2048"]


def recipe_config(name: str, extra: list[str]):
    from dpldm.config import load_config, resolve_config_path
    from dpldm.finetune.stage import FinetuneConfig

    config, overrides = RECIPES[name]
    return load_config(FinetuneConfig, resolve_config_path(config), overrides + GPU + extra)


def full_plan(cfg, data_root: str | None) -> dict:
    """The whole recipe's plan (steps, sigma, q) on its private set: a dry run, nothing encoded or trained."""
    import dataclasses

    from dpldm.finetune.stage import prepare_finetune

    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, device="cpu"),
                              budget=dataclasses.replace(cfg.budget, ledger=False))
    return prepare_finetune(cfg, data_root=data_root, progress=False, encode=False).summary()


def time_slice(cfg, plan: dict, steps: int, out: Path, data_root: str | None) -> dict:
    """Run ``steps`` logical steps of the recipe (its sigma, q and clipping) on its device; -> seconds per step
    after the first, peak memory."""
    import dataclasses

    import torch

    from dpldm.finetune.stage import finetune

    sliced = dataclasses.replace(
        cfg, out_dir=str(out), dp=dataclasses.replace(cfg.dp, epochs=None, steps=steps, epsilon=None,
                                                  noise_multiplier=plan["noise_multiplier"]),
        train=dataclasses.replace(cfg.train, log_every=1, checkpoint_every=10 ** 9),
        budget=dataclasses.replace(cfg.budget, ledger_dir=str(out.parent / "ledger")))
    cuda = torch.device(sliced.train.device).type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.time()
    summary = finetune(sliced, data_root=data_root, progress=False)
    total = time.time() - start
    log = [json.loads(line) for line in (out / "private" / "log.jsonl").read_text().splitlines()]
    per_step = (log[-1]["wall_s"] - log[0]["wall_s"]) / max(1, len(log) - 1)  # the first step (warm-up) left out
    return {"slice_steps": steps, "s_per_step": round(per_step, 4), "stage_wall_s": round(total, 1),
            "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2 ** 30, 2) if cuda else None,
            "epsilon_of_slice": summary["epsilon_spent"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", nargs="+", choices=sorted(RECIPES), default=sorted(RECIPES))
    parser.add_argument("--steps", type=int, default=10, help="logical steps timed per recipe")
    parser.add_argument("--set", nargs="*", default=[], dest="extra", help="more config overrides for every recipe")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--device", default="cuda",
                        help="cuda (default), cuda:N, or cpu: a smoke test of this script with the CPU recipe settings")
    parser.add_argument("--json", action="store_true", help="print one JSON object per recipe")
    args = parser.parse_args(argv)

    import torch

    from dpldm.errors import DpldmError

    on_cpu = args.device == "cpu"
    if on_cpu:  # the script's own check: the same slices, on the CPU, in fp32
        args.extra = ["train.device=cpu", "train.precision=fp32", *args.extra]
    elif not torch.cuda.is_available():
        print("no CUDA device here: this script times GPU recipes and does nothing on a CPU. On a GPU it would run, "
              f"for each recipe, {args.steps} logical DP-SGD steps of `dpldm finetune` with {' '.join(GPU)}:")
        for name in args.recipes:
            config, overrides = RECIPES[name]
            print(f"  {name:14s} dpldm finetune --config {config} --set {' '.join(overrides + GPU + args.extra)}")
        print("and print examples/s of the DP step, peak GPU memory and the projected wall time of the full recipe.")
        return 0
    with tempfile.TemporaryDirectory(prefix="dpldm-gpu-recipes-") as tmp:
        for name in args.recipes:
            try:
                cfg = recipe_config(name, args.extra)
                plan = full_plan(cfg, args.data_root)
                timing = time_slice(cfg, plan, args.steps, Path(tmp) / name, args.data_root)
            except DpldmError as err:
                print(f"{name}: skipped: {err}", file=sys.stderr)
                continue
            row = {"recipe": name, "device": "cpu" if on_cpu else torch.cuda.get_device_name(), "batch": plan["expected_batch_size"],
                   "steps": plan["steps"], "noise_multiplier": plan["noise_multiplier"], **timing,
                   "examples_per_s": round(plan["expected_batch_size"] / timing["s_per_step"], 1),
                   "projected_h": round(plan["steps"] * timing["s_per_step"] / 3600, 2)}
            print(json.dumps(row) if args.json else
                  f"{name}: B {row['batch']}, {row['steps']} steps, {row['examples_per_s']} examples/s, "
                  f"peak {row['peak_gpu_gib']} GiB, full recipe ~{row['projected_h']} h")
    return 0


if __name__ == "__main__":
    sys.exit(main())
