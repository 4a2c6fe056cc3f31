"""`dpldm evaluate`: downstream accuracy (train on synthetic, test on real) and FID / precision / recall."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dpldm.cli.common import add_parser
from dpldm.errors import DpldmError

SYNTHETIC_HELP = ("synthetic set: a .npz from `dpldm sample` (images + labels, or x + y), "
                  "or a real split as real:NAME:SPLIT (e.g. real:fashion_mnist:train) for floors and ceilings")


def register(subparsers) -> None:
    parser = add_parser(subparsers, "evaluate", "Evaluate synthetic images: downstream accuracy, FID, prompts")
    metrics = parser.add_subparsers(dest="metric", metavar="METRIC")
    _register_accuracy(metrics)
    _register_fid(metrics)
    _register_prompts(metrics)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--synthetic", required=True, default=argparse.SUPPRESS, help=SYNTHETIC_HELP)
    parser.add_argument("--dataset", required=True, default=argparse.SUPPRESS,
                        help="the private dataset (reference / test set), e.g. mnist")
    parser.add_argument("--data-root", default=None, help="folder holding the datasets; None: $DPLDM_DATA, else ./data")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--out", default=None,
                        help="also write the metrics into this JSON file (merged by metric name, e.g. metrics.json)")


def _register_accuracy(metrics) -> None:
    from dpldm.evaluation.accuracy import SELECTIONS
    from dpldm.evaluation.classifiers import CLASSIFIERS

    parser = add_parser(metrics, "accuracy", "Train classifiers on the synthetic set, test them on the real test set",
                        description="Train classifiers on the synthetic set and test them on the real test set. One "
                        "(classifier, seed, epoch) of all runs is selected without the test set: by default on the "
                        "validation part of the PRIVATE train set that the generator's fine-tuning held out (read "
                        "from --model's model.json), by one report-noisy-max with Laplace(1/epsilon) noise from "
                        "secret OS entropy on the correct-counts (epsilon-DP), as DPImageBench. Only the selected "
                        "candidate, its test accuracy and test-set curves are output, never validation counts.")
    _common(parser)
    parser.add_argument("--model", default=None,
                        help="the generator of --synthetic: its model folder, its fine-tuning run folder or a shipped "
                        "model's name; private-val selection reads its model.json for the split fine-tuning held out")
    parser.add_argument("--classifier", default="cnn", choices=[*CLASSIFIERS, "all"],
                        help="cnn: DPDM's 3-conv CNN (CPU-friendly, 28x28 grey); resnet20: ResNet-20 (CPU-sized, "
                        "colour); resnet/wrn/resnext: DPImageBench's (GPU); all: resnet, wrn, resnext")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs; None: the classifier's own")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="one training run per seed")
    parser.add_argument("--selection", default="private-val", choices=SELECTIONS,
                        help="how the reported candidate is chosen: the private validation split with Laplace noise "
                        "(DP), or a held-out part of the synthetic set (free)")
    parser.add_argument("--epsilon", type=float, default=1.0,
                        help="privacy budget of the private-val selection (Laplace scale 1/epsilon); inf = no noise. "
                        "It composes in parallel with the generator's (disjoint records): free while <= its epsilon")
    parser.add_argument("--batch-size", type=int, default=None, help="training batch size; None: the classifier's own")
    parser.add_argument("--device", default=None, help="cpu, cuda, ...; None: cuda if available")
    parser.add_argument("--ledger-dir", default=None,
                        help="the privacy ledger folder a private-val selection is recorded in, as an event of the "
                        "private train set (default: $DPLDM_LEDGER, else ~/.cache/dpldm/ledger; see `dpldm privacy "
                        "ledger`)")
    parser.add_argument("--no-ledger", action="store_true", help="do not record the private-val selection")
    parser.set_defaults(func=_accuracy)


def _register_fid(metrics) -> None:
    from dpldm.evaluation.backends import BACKENDS

    parser = add_parser(metrics, "fid", "FID, precision and recall against a real split (TF-Inception pool3)")
    _common(parser)
    parser.add_argument("--split", default="train", help="reference split (DPImageBench: the private train set)")
    parser.add_argument("--n", type=int, default=10_000, help="images per side (seeded subsets when larger)")
    parser.add_argument("--backend", default="onnx", choices=BACKENDS,
                        help="onnx: exported once into the cache folder, ~2.5x faster on CPU; torchscript: reference")
    parser.add_argument("--k", type=int, default=4, help="neighbours for precision/recall (Kynkaanniemi et al.)")
    parser.add_argument("--batch-size", type=int, default=50, help="images per Inception forward")
    parser.add_argument("--seed", type=int, default=0, help="seed of the subsets")
    parser.add_argument("--match-synthetic", action="store_true",
                        help="convert the reference to the synthetic images' size and channels first (grey, "
                        "resized as for training): e.g. a public model's 28x28 grey samples against "
                        "--dataset tiny_imagenet32 --split val")
    parser.set_defaults(func=_fid)


def _register_prompts(metrics) -> None:
    parser = add_parser(metrics, "prompts", "Prompt accuracy of a text model's samples (a judge trained on real data)",
                        description="For samples drawn from prompts that name classes of a labelled dataset "
                        "(`dpldm sample --prompts`, e.g. 'a drawing of a bold handwritten seven'): a CNN judge "
                        "trained on the dataset's train split (minus the private validation split the generator "
                        "held out, read from --model) classifies every image; prompt accuracy is the share of "
                        "images showing their prompt's class, overall, per class and per held-out template. NOT "
                        "differentially private (the judge reads the private data): a diagnostic like FID.")
    _common(parser)
    parser.add_argument("--model", required=True, default=argparse.SUPPRESS,
                        help="the generator of --synthetic (model folder, fine-tuning run folder or shipped name)")
    parser.add_argument("--epochs", type=int, default=None, help="judge training epochs; None: the CNN's own")
    parser.set_defaults(func=_prompts)


def _prompts(args: argparse.Namespace) -> int:
    from dpldm.evaluation.prompt_accuracy import evaluate_prompts
    from dpldm.evaluation.split_binding import read_model_facts

    result, judge = evaluate_prompts(args.synthetic, dataset=args.dataset, model=read_model_facts(args.model),
                                     data_root=args.data_root, epochs=args.epochs)
    result = {**result, "judge": judge}
    worst = min(result["by_class"], key=result["by_class"].get)
    _emit(args, result, f"prompt accuracy {result['prompt_accuracy']:.2f}% of {result['n_images']} images "
                        f"(lowest class {worst}: {result['by_class'][worst]:.1f}%); judge test accuracy "
                        f"{judge['test_accuracy']:.2f}%\n{result['privacy']}")
    return 0


def _fid(args: argparse.Namespace) -> int:
    from dpldm.evaluation.backends import inception_backend
    from dpldm.evaluation.fid_eval import evaluate_fid

    if args.n < 2:
        raise DpldmError(f"--n must be at least 2, got {args.n}")
    extractor = inception_backend(args.backend, batch_size=args.batch_size, progress=sys.stderr.isatty())
    result = evaluate_fid(args.synthetic, dataset=args.dataset, split=args.split, n=args.n, extractor=extractor,
                          data_root=args.data_root, k=args.k, seed=args.seed,
                          match_synthetic=args.match_synthetic)
    result["backend"] = args.backend
    _emit(args, result, _fid_text(result))
    return 0


def _accuracy(args: argparse.Namespace) -> int:
    from dpldm.evaluation.accuracy import AccuracyConfig, evaluate_accuracy
    from dpldm.evaluation.classifiers import GPU_CLASSIFIERS
    from dpldm.evaluation.split_binding import read_model_facts

    if not (args.epsilon > 0):
        raise DpldmError(f"--epsilon must be positive (or inf), got {args.epsilon}")
    names = list(GPU_CLASSIFIERS) if args.classifier == "all" else [args.classifier]
    config = AccuracyConfig(classifiers=tuple(names), seeds=tuple(args.seeds), epochs=args.epochs,
                            selection=args.selection, epsilon=args.epsilon, batch_size=args.batch_size,
                            device=args.device)
    progress = (lambda line: print(line, file=sys.stderr)) if args.json else print  # JSON alone on stdout
    model = read_model_facts(args.model) if args.model is not None else None
    result = evaluate_accuracy(args.synthetic, dataset=args.dataset, config=config, model=model,
                               data_root=args.data_root, log=progress)
    _emit(args, result, _accuracy_text(result))
    if result["selection"]["kind"] == "private-val" and not args.no_ledger:
        _record_selection(args, result)
    return 0


def _record_selection(args: argparse.Namespace, result: dict[str, Any]) -> None:
    """The private-val selection is one epsilon-DP release from the private train set: an event in its ledger
    (``dpldm.privacy.budget``, keyed by the set's content hash). A ceiling (classifiers trained on the private set
    itself, labelled NOT DP) is a reference, not a release, and is not recorded."""
    from dpldm.data.dataset_key import dataset_key
    from dpldm.data.registry import load_dataset
    from dpldm.evaluation.accuracy import CEILING
    from dpldm.privacy.budget import record_selection

    if result["privacy"] == CEILING:
        return
    key = dataset_key(load_dataset(args.dataset, "train", root=args.data_root))
    total = record_selection(key=key, epsilon=args.epsilon, run=str(Path(args.out or args.synthetic).resolve()),
                             folder=args.ledger_dir)
    print(f"privacy ledger of {args.dataset}:train: selection recorded; epsilon {total.epsilon:.4g} spent on it in "
          f"total at delta {total.delta:g} (`dpldm privacy ledger {args.dataset}`)", file=sys.stderr)


def _emit(args: argparse.Namespace, result: dict[str, Any], text: str) -> None:
    if args.out:
        path = Path(args.out)
        merged = json.loads(path.read_text()) if path.is_file() else {}
        merged[result["metric"]] = result
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(merged, indent=2) + "\n")
    print(json.dumps(result, indent=2) if args.json else text)


def _fid_text(r: dict[str, Any]) -> str:
    pr = "n/a" if r["precision"] is None else f"{r['precision']:.4f} / {r['recall']:.4f} (k={r['k']})"
    return (f"FID {r['fid']:.3f}  ({r['synthetic']}: {r['n_synthetic']} images vs {r['reference']}: "
            f"{r['n_reference']}, {r['features']} via {r['backend']}, {r['seconds']} s)\n"
            f"precision / recall {pr}\n{r['privacy']}")


def _accuracy_text(r: dict[str, Any]) -> str:
    chosen = r["selected"]
    lines = [f"{run['classifier']:>8} seed {run['seed']}: test accuracy by epoch "
             f"{', '.join(f'{a:.2f}' for a in run['test_accuracy_by_epoch'])}" for run in r["runs"]]
    lines.append(f"selected: {chosen['classifier']} seed {chosen['seed']} epoch {chosen['epoch']}: "
                 f"test accuracy {r['test_accuracy']:.2f}%")
    lines.append(f"selection: {r['selection']['statement']}")
    if r["privacy"] != r["selection"]["statement"]:
        lines.append(f"privacy: {r['privacy']}")
    return "\n".join(lines)
