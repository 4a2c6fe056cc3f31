"""`dpldm privacy`: epsilon from a noise multiplier, or the noise multiplier for a target epsilon."""

from __future__ import annotations

import argparse
import json

from dpldm.cli.common import add_parser
from dpldm.errors import DpldmError
from dpldm.privacy.accountant import ACCOUNTANTS, calibrate_noise, epsilon, library_versions, steps_for_epochs
from dpldm.privacy.facts import PrivacyFacts

DESCRIPTION = """\
Privacy accounting of DP-SGD with Poisson sampling (add/remove-one neighbours).

Give exactly one of --noise-multiplier (prints epsilon) or --epsilon (prints the smallest noise multiplier whose
epsilon is at most the target). Give the sampling rate as --sample-rate, or as --batch-size and --dataset-size
(q = batch / dataset); the length as --steps, or as --epochs (steps = ceil(epochs / q)).

Accountants: prv (default; opacus PRV, as DP-LDM's official code), rdp (opacus RDP, looser), pld (dp-accounting
PLD, tight but slower; needs the dp-accounting package).

example: dpldm privacy --noise-multiplier 1.0 --sample-rate 0.01 --steps 1000 --delta 1e-5 --accountant rdp

`dpldm privacy ledger DATA` prints the privacy ledger of a private dataset instead: every DP release made from it
(fine-tuning runs, private-validation selections) and the total spent, composed by the accountant. DATA is a
dataset name (with --split and --data-root; its content hash finds the ledger) or the ledger's key (the hash).
The ledger folder is --ledger-dir, else $DPLDM_LEDGER, else ~/.cache/dpldm/ledger; it stays with the data holder.

example: dpldm privacy ledger mnist --split train
"""


def register(subparsers) -> None:
    parser = add_parser(subparsers, "privacy", "Privacy accounting: epsilon from a noise multiplier, or the reverse",
                        description=DESCRIPTION)
    parser.add_argument("action", nargs="?", choices=("ledger",), default=None,
                        help="ledger: print a private dataset's privacy ledger and total (see below)")
    parser.add_argument("data", nargs="?", metavar="DATA", default=None,
                        help="with ledger: a dataset name, or a ledger key (64 hex characters)")
    parser.add_argument("--split", default="train", help="with ledger: the dataset's split (default train)")
    parser.add_argument("--data-root", default=None,
                        help="with ledger: folder holding the datasets (default: $DPLDM_DATA, else ./data)")
    parser.add_argument("--ledger-dir", default=None,
                        help="with ledger: the ledger folder (default: $DPLDM_LEDGER, else ~/.cache/dpldm/ledger)")
    parser.add_argument("--noise-multiplier", type=float, default=None,
                        help="sigma: Gaussian noise std divided by the clipping norm C")
    parser.add_argument("--epsilon", type=float, default=None, help="target epsilon to calibrate sigma for")
    parser.add_argument("--sample-rate", type=float, default=None, help="q: expected batch size / dataset size")
    parser.add_argument("--batch-size", type=int, default=None, help="expected batch size (with --dataset-size)")
    parser.add_argument("--dataset-size", type=int, default=None, help="number of private examples")
    parser.add_argument("--steps", type=int, default=None, help="logical (optimizer) steps")
    parser.add_argument("--epochs", type=float, default=None, help="expected passes over the data")
    parser.add_argument("--delta", type=float, default=None,
                        help="delta of (epsilon, delta)-DP (default 1e-5; with ledger: the ledger's own)")
    parser.add_argument("--allow-large-delta", action="store_true",
                        help="accept a delta of at least 1/dataset size (refused by default: it promises nothing)")
    parser.add_argument("--accountant", choices=ACCOUNTANTS, default="prv", help="privacy accountant")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def _sample_rate(args: argparse.Namespace) -> float:
    if args.batch_size is None and args.dataset_size is None:
        if args.sample_rate is None:
            raise DpldmError("give --sample-rate, or --batch-size with --dataset-size")
        return args.sample_rate
    if args.batch_size is None or args.dataset_size is None:
        raise DpldmError("--batch-size and --dataset-size go together (q = batch size / dataset size)")
    if args.sample_rate is not None:
        raise DpldmError("give --sample-rate or --batch-size with --dataset-size, not both")
    if args.dataset_size <= 0 or args.batch_size <= 0:
        raise DpldmError(f"--batch-size and --dataset-size must be positive, got {args.batch_size} "
                         f"and {args.dataset_size}")
    if args.batch_size > args.dataset_size:
        raise DpldmError(f"--batch-size {args.batch_size} exceeds --dataset-size {args.dataset_size}")
    return args.batch_size / args.dataset_size


def _steps(args: argparse.Namespace, sample_rate: float) -> int:
    if (args.steps is None) == (args.epochs is None):
        raise DpldmError("give exactly one of --steps or --epochs")
    if args.steps is not None:
        return args.steps
    return steps_for_epochs(epochs=args.epochs, sample_rate=sample_rate)


def _check_delta(args: argparse.Namespace, sample_rate: float) -> None:
    """Refuse delta >= 1/N: with --dataset-size N is known; otherwise delta >= q already means delta >= 1/N, since
    q = B/N with an expected batch size B of at least one example."""
    if args.allow_large_delta or not 0 < args.delta < 1:
        return  # (0, 1) itself is checked by the accountant
    if args.dataset_size is not None and args.delta * args.dataset_size >= 1:
        raise DpldmError(f"--delta {args.delta:g} is not below 1/dataset size = {1 / args.dataset_size:.3g}, so it "
                         f"promises nothing; lower it, or pass --allow-large-delta")
    if args.delta >= sample_rate:
        raise DpldmError(f"--delta {args.delta:g} is at least the sample rate {sample_rate:g}, so at least "
                         f"1/dataset size, and promises nothing; lower it, or pass --allow-large-delta")


def run(args: argparse.Namespace) -> int:
    if args.action == "ledger":
        return _ledger(args)
    if args.data is not None:
        raise DpldmError(f"unexpected argument {args.data!r}; did you mean `dpldm privacy ledger {args.data}`?")
    if args.delta is None:
        args.delta = 1e-5
    if (args.noise_multiplier is None) == (args.epsilon is None):
        raise DpldmError("give exactly one of --noise-multiplier (to get epsilon) or --epsilon (to get sigma)")
    sample_rate = _sample_rate(args)
    steps = _steps(args, sample_rate)
    _check_delta(args, sample_rate)
    common = dict(sample_rate=sample_rate, steps=steps, delta=args.delta, accountant=args.accountant)
    sigma = args.noise_multiplier
    if sigma is None:
        sigma = calibrate_noise(target_epsilon=args.epsilon, **common)
    facts = PrivacyFacts(noise_multiplier=sigma, epsilon=epsilon(noise_multiplier=sigma, **common),
                         target_epsilon=args.epsilon, libraries=tuple(library_versions(args.accountant).items()),
                         **common)
    if args.json:
        print(json.dumps(facts.to_dict()))
        return 0
    verb = "calibrated for" if args.epsilon is not None else "gives"
    print(f"noise multiplier {facts.noise_multiplier:.6g} {verb} epsilon {facts.epsilon:.4f} at delta {facts.delta:g}")
    print(f"  sample rate {facts.sample_rate:.6g} ({facts.sampling} sampling), {facts.steps} steps, "
          f"{facts.neighbouring_relation} neighbours")
    if facts.target_epsilon is not None:
        print(f"  target epsilon {facts.target_epsilon:g}")
    libraries = ", ".join(f"{name} {version}" for name, version in facts.libraries)
    print(f"  accountant {facts.accountant} ({libraries})")
    return 0


def _ledger(args: argparse.Namespace) -> int:
    """The ledger of DATA: its events and the total, composed (``dpldm.privacy.budget``). The key (a hash of the
    private data) is never printed: the data holder names the set, or already holds the key."""
    from dpldm.privacy.budget import KEY, DatasetLedger, compose, ledger_dir

    if args.data is None:
        raise DpldmError("give the private dataset: dpldm privacy ledger DATA (a dataset name or a ledger key)")
    if KEY.fullmatch(args.data):
        key, what = args.data, "the given key"
    else:
        from dpldm.data.dataset_key import dataset_key
        from dpldm.data.registry import load_dataset

        key, what = dataset_key(load_dataset(args.data, args.split, root=args.data_root)), f"{args.data}:{args.split}"
    ledger = DatasetLedger(ledger_dir(args.ledger_dir), key)
    events = ledger.events()
    total = compose(events, delta=args.delta if events else None)
    if args.json:
        print(json.dumps({"dataset": what, "ledger_dir": str(ledger.folder), "events": [e.to_dict() for e in events],
                          "total": total.to_dict()}, indent=2))
        return 0
    print(f"privacy ledger of {what} in {ledger.folder}: {len(events)} event(s)")
    for number, e in enumerate(events, 1):
        if e.kind == "dpsgd":
            what_ = (f"DP-SGD sigma {e.noise_multiplier:.6g}, q {e.sample_rate:.6g}, {e.steps} steps: epsilon "
                     f"{e.epsilon:.4g} at delta {e.delta:g} ({e.accountant})")
        elif e.kind == "gaussian":
            what_ = (f"Gaussian sigma {e.noise_multiplier:.6g} ({e.mechanism}): epsilon {e.epsilon:.4g} at delta "
                     f"{e.delta:g} ({e.accountant})")
        else:
            what_ = f"selection ({e.mechanism}): epsilon {e.epsilon:g}"
        flag = " [budget.override]" if e.override else ""
        print(f"  {number}. {e.time}  {what_}{flag}  {e.run}")
    if not events:
        return 0
    how = []
    if total.accountant is not None:
        how.append(f"DP-SGD and Gaussian events composed in the {total.accountant} accountant: "
                   f"{total.dpsgd_epsilon:.4g}")
    if total.pure_epsilon:
        how.append(f"selections added: {total.pure_epsilon:g}")
    print(f"total: epsilon {total.epsilon:.4g} at delta {total.delta:g} ({'; '.join(how)})")
    return 0
