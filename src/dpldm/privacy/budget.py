"""A privacy budget per private dataset: an append-only ledger of every DP release made from one private set.

Every DP fine-tuning run, and every private-validation selection of ``dpldm evaluate accuracy``, is one event in
the ledger of the private set it read. The set is named by a content hash (``dpldm.data.dataset_key``), so the same
records share one ledger whatever they are called. The ledger is one JSONL file per set, ``<ledger dir>/<hash>.jsonl``:
lines are only ever appended, under a file lock, so concurrent runs on one set see each other's events.

Composition (what ``compose`` reports):
- the DP-SGD events (Poisson-sampled Gaussian, each (sigma, q, steps)) and the Gaussian events (one Gaussian
  mechanism on the whole set, (sigma, 1, 1): the noisy histogram of ``dpldm select-public``) are composed inside ONE
  accountant, never by adding their epsilons: the accountant all of them were run with (opacus PRV or RDP, or
  dp-accounting PLD), or dp-accounting's PLD when they differ. With one event, the total is that run's own epsilon;
- a private-validation selection is one report-noisy-max with Laplace(1/epsilon) noise, an epsilon-DP (pure)
  mechanism but not a Laplace mechanism, and dp-accounting has no add/remove-one event for a generic pure-DP
  mechanism (its tight dominating pair, randomized response, is accepted only for replace-one neighbours). So pure
  events are composed by basic composition: (eps_G, delta) then (eps_1, 0), ... is (eps_G + eps_1 + ..., delta).
  This counts the selection sequentially, which is conservative: its validation records are disjoint from the
  generator's training records, where parallel composition would give a max instead of a sum;
- the total's delta: the events' common delta, or the SUM of the accounted events' deltas when they differ (by basic
  composition no smaller delta is promised); a caller may ask for another delta.

A run charges the ledger once, at its start, for its whole plan (all its planned steps): an interrupted run that is
never resumed is over-counted, never under-counted. A resumed run finds its event (by run id) and adds nothing.

The ledger holds DP parameters (public in each run's privacy.json), run folders and times, and the set's content
hash, which is NOT releasable: the ledger folder stays with the data holder, like a run's ``private/``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import re
import sys
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Literal

from dpldm.config import ConfigError
from dpldm.errors import DpldmError
from dpldm.privacy.accountant import ACCOUNTANTS, composed_epsilon

EventKind = Literal["dpsgd", "selection", "gaussian"]
ACCOUNTED = ("dpsgd", "gaussian")  # the kinds composed inside the accountant
KEY = re.compile(r"[0-9a-f]{64}")  # a sha256 in hex, as ``dpldm.data.dataset_key`` makes
RUN_RECORD = "ledger.json"  # in a run's private/: its run id and ledger (the key is private)
LEDGER_NOTICE = """\
PRIVATE: do not publish this folder.

Each <hash>.jsonl is the privacy ledger of one private dataset (dpldm.privacy.budget): every DP release made from it.
The file names are content hashes of the private datasets, which identify them. Keep this folder with the data.
"""
SELECTION_MECHANISM = "report-noisy-max, Laplace(1/epsilon) on counts: epsilon-DP"


@dataclass(frozen=True)
class BudgetConfig:
    """The ``budget:`` section of a fine-tuning config: the cap on the privacy spent on one private set."""

    epsilon: float | None = None  # cap on the total epsilon spent on this private set; None: no cap (still recorded)
    ledger: bool = True  # record the run in the set's ledger (and check the cap); false: neither
    ledger_dir: str | None = None  # None: $DPLDM_LEDGER, else $XDG_CACHE_HOME/dpldm/ledger, else ~/.cache/dpldm/ledger
    override: bool = False  # start a run that goes over the cap anyway (it is still recorded, marked override)

    def validate(self) -> None:
        if self.epsilon is not None and not (self.epsilon > 0 and math.isfinite(self.epsilon)):
            raise ConfigError(f"budget.epsilon must be a positive number or null, got {self.epsilon}")
        if self.epsilon is not None and not self.ledger:
            raise ConfigError("budget.epsilon needs the ledger to check it against: set budget.ledger=true")


def ledger_dir(configured: str | os.PathLike | None = None) -> Path:
    """``configured``, else $DPLDM_LEDGER, else $XDG_CACHE_HOME/dpldm/ledger, else ~/.cache/dpldm/ledger."""
    if configured:
        return Path(configured).expanduser()
    if os.environ.get("DPLDM_LEDGER"):
        return Path(os.environ["DPLDM_LEDGER"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "dpldm" / "ledger"


@dataclass(frozen=True)
class PrivacyEvent:
    """One DP release from the private set. dpsgd: ``steps`` Poisson-sampled Gaussian steps; gaussian: one Gaussian
    mechanism of L2-sensitivity 1 on the whole set (q 1, one step); selection: one epsilon-DP report-noisy-max
    (sigma, q and steps None, delta 0)."""

    kind: EventKind
    epsilon: float  # the event's own epsilon at its delta, as its run stated it (shown; not what composes)
    delta: float
    accountant: str | None = None  # dpsgd: the run's accountant
    noise_multiplier: float | None = None  # sigma
    sample_rate: float | None = None  # q
    steps: int | None = None
    run: str = ""  # the run folder (or what the selection evaluated)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    time: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    override: bool = False  # started over the budget with budget.override=true
    mechanism: str | None = None

    @staticmethod
    def dpsgd(*, noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str,
              epsilon: float, run: str | os.PathLike, run_id: str | None = None) -> PrivacyEvent:
        return PrivacyEvent(kind="dpsgd", epsilon=float(epsilon), delta=float(delta), accountant=accountant,
                            noise_multiplier=float(noise_multiplier), sample_rate=float(sample_rate),
                            steps=int(steps), run=str(Path(run).resolve()),
                            **({"run_id": run_id} if run_id else {}))

    @staticmethod
    def gaussian(*, noise_multiplier: float, delta: float, accountant: str, epsilon: float, run: str | os.PathLike,
                 mechanism: str) -> PrivacyEvent:
        return PrivacyEvent(kind="gaussian", epsilon=float(epsilon), delta=float(delta), accountant=accountant,
                            noise_multiplier=float(noise_multiplier), sample_rate=1.0, steps=1,
                            run=str(Path(run).resolve()), mechanism=mechanism)

    @staticmethod
    def selection(*, epsilon: float, run: str) -> PrivacyEvent:
        return PrivacyEvent(kind="selection", epsilon=float(epsilon), delta=0.0, run=run,
                            mechanism=SELECTION_MECHANISM)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if math.isinf(self.epsilon):
            data["epsilon"] = "inf"  # JSON has no infinity
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> PrivacyEvent:
        known = {f for f in PrivacyEvent.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        if values.get("epsilon") == "inf":
            values["epsilon"] = math.inf
        event = PrivacyEvent(**values)
        if event.kind not in ("dpsgd", "selection", "gaussian"):
            raise ValueError(f"unknown event kind {event.kind!r}")
        if event.kind in ACCOUNTED and (event.accountant not in ACCOUNTANTS or event.noise_multiplier is None
                                        or event.sample_rate is None or event.steps is None):
            raise ValueError(f"a {event.kind} event needs accountant, noise_multiplier, sample_rate and steps")
        return event


@dataclass(frozen=True)
class Total:
    """The privacy spent on one private set: ``epsilon`` at ``delta`` over ``events``, composed as the module says."""

    epsilon: float
    delta: float
    accountant: str | None  # the accountant that composed the DP-SGD and Gaussian events (None: there were none)
    dpsgd_epsilon: float  # the DP-SGD and Gaussian events composed in the accountant
    pure_epsilon: float  # the selections' epsilons, added (basic composition)
    events: int

    def to_dict(self) -> dict[str, Any]:
        return {k: ("inf" if isinstance(v, float) and math.isinf(v) else v) for k, v in asdict(self).items()}


def total_delta(events: list[PrivacyEvent]) -> float:
    """The delta a total is stated at: the accounted (DP-SGD, Gaussian) events' common delta, or their sum when they
    differ; 0 if none."""
    deltas = [e.delta for e in events if e.kind in ACCOUNTED]
    if not deltas:
        return 0.0
    return deltas[0] if len(set(deltas)) == 1 else math.fsum(deltas)


def compose(events: list[PrivacyEvent], *, delta: float | None = None) -> Total:
    """The total privacy spent by ``events`` (see the module docstring), at ``delta`` (default: ``total_delta``)."""
    dpsgd = [e for e in events if e.kind in ACCOUNTED]
    pure = math.fsum(e.epsilon for e in events if e.kind == "selection")
    delta = total_delta(events) if delta is None else float(delta)
    accountant = None
    spent = 0.0
    if dpsgd:
        accountants = {e.accountant for e in dpsgd}
        accountant = accountants.pop() if len(accountants) == 1 else "pld"
        spent = composed_epsilon([(e.noise_multiplier, e.sample_rate, e.steps) for e in dpsgd], delta=delta,
                                 accountant=accountant)  # type: ignore[arg-type]
    return Total(epsilon=spent + pure, delta=delta, accountant=accountant, dpsgd_epsilon=spent, pure_epsilon=pure,
                 events=len(events))


class DatasetLedger:
    """The append-only ledger of one private set: ``<folder>/<key>.jsonl``, one event a line."""

    def __init__(self, folder: str | os.PathLike, key: str) -> None:
        if not KEY.fullmatch(key):
            raise DpldmError(f"not a ledger key (a sha256 in hex, 64 characters): {key!r}")
        self.folder = Path(folder)
        self.key = key
        self.path = self.folder / f"{key}.jsonl"

    def events(self) -> list[PrivacyEvent]:
        if not self.path.is_file():
            return []
        events = []
        for number, line in enumerate(self.path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                events.append(PrivacyEvent.from_dict(json.loads(line)))
            except (ValueError, TypeError) as err:  # JSONDecodeError is a ValueError
                raise DpldmError(f"{self.path}:{number}: not a privacy event ({err}); the ledger is append-only, "
                                 f"repair that line by hand") from None
        return events

    def has_run(self, run_id: str) -> bool:
        return any(e.run_id == run_id for e in self.events())

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold an exclusive lock on the ledger (a check and its append are one step for concurrent runs)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / f"{self.key}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def append(self, event: PrivacyEvent) -> None:
        """Append one event and flush it to disk (call inside ``locked``)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        notice = self.folder / "README.txt"
        if not notice.is_file():
            notice.write_text(LEDGER_NOTICE)
        with open(self.path, "a") as handle:
            handle.write(json.dumps(event.to_dict()) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def over_budget_message(total: Total, budget: float) -> str:
    return (f"this run would spend epsilon {total.epsilon:.4g} in total on this private set (delta "
            f"{total.delta:g}, {total.events} events composed), over the budget {budget:g} by "
            f"{total.epsilon - budget:.4g}; set budget.override=true to run anyway, or lower dp.epsilon")


@dataclass(frozen=True)
class Charge:
    """A fine-tuning run's planned charge on its private set's ledger, checked against the budget."""

    ledger: DatasetLedger
    event: PrivacyEvent
    total: Total  # the ledger's events with this run's
    recorded: bool  # the ledger already holds this run (a resume)
    over: bool  # the total is over the budget (allowed only with budget.override)


def _run_record(run: Path) -> dict[str, Any] | None:
    path = run / "private" / RUN_RECORD
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        raise DpldmError(f"{path} is not JSON; it holds this run's ledger id: restore it or use another --out") \
            from None


def plan_charge(config: BudgetConfig, *, key: str, run: str | os.PathLike, plan: Any) -> Charge | None:
    """Compose the ledger's events with the planned run (``plan``: a ``dpldm.dp.DPPlan``, or anything with its
    noise_multiplier, sample_rate, steps, delta, accountant and epsilon); raise a one-line DpldmError when the total
    goes over ``config.epsilon`` (unless ``config.override``). None when ``config.ledger`` is off. Writes nothing."""
    if not config.ledger:
        return None
    run = Path(run)
    ledger = DatasetLedger(ledger_dir(config.ledger_dir), key)
    record = _run_record(run)
    run_id = record.get("run_id") if record else None
    event = PrivacyEvent.dpsgd(noise_multiplier=plan.noise_multiplier, sample_rate=plan.sample_rate,
                               steps=plan.steps, delta=plan.delta, accountant=plan.accountant, epsilon=plan.epsilon,
                               run=run, run_id=run_id)
    events = ledger.events()
    recorded = run_id is not None and any(e.run_id == run_id for e in events)
    total = compose(events if recorded else [*events, event])
    over = config.epsilon is not None and total.epsilon > config.epsilon
    if over and not recorded and not config.override:
        raise DpldmError(over_budget_message(total, config.epsilon))
    return Charge(ledger, event, total, recorded, over and not recorded)


def record_charge(charge: Charge, run: str | os.PathLike, config: BudgetConfig) -> Total:
    """Record a planned run in its ledger, once: its run id goes to ``run/private/ledger.json`` first, then the
    event is appended unless the ledger holds it already (a resumed or restarted run). The budget is checked again
    under the ledger's lock, so two runs started together cannot both slip under it."""
    from dpldm.runlayout import private_dir

    path = private_dir(run) / RUN_RECORD
    if not path.is_file():
        path.write_text(json.dumps({"run_id": charge.event.run_id, "ledger": str(charge.ledger.path.resolve()),
                                    "note": "PRIVATE: the ledger file is named by a hash of the private data"},
                                   indent=2) + "\n")
    run_id = json.loads(path.read_text())["run_id"]
    with charge.ledger.locked():
        events = charge.ledger.events()
        if any(e.run_id == run_id for e in events):
            return compose(events)
        event = PrivacyEvent(**{**asdict(charge.event), "run_id": run_id})
        total = compose([*events, event])
        over = config.epsilon is not None and total.epsilon > config.epsilon
        if over and not config.override:
            raise DpldmError(over_budget_message(total, config.epsilon))
        if over:
            event = PrivacyEvent(**{**asdict(event), "override": True})
            print(f"warning: budget.override: {over_budget_message(total, config.epsilon).split(';')[0]}",
                  file=sys.stderr)
        charge.ledger.append(event)
        return total


def record_selection(*, key: str, epsilon: float, run: str, folder: str | os.PathLike | None = None) -> Total:
    """Record one private-validation selection (epsilon-DP report-noisy-max) in the set's ledger; the new total."""
    ledger = DatasetLedger(ledger_dir(folder), key)
    with ledger.locked():
        ledger.append(PrivacyEvent.selection(epsilon=epsilon, run=run))
        return compose(ledger.events())


def record_release(config: BudgetConfig, *, key: str, event: PrivacyEvent) -> Total | None:
    """Record a one-shot release (a ``gaussian`` event: ``dpldm select-public``) in its set's ledger before it is
    made, checking the cap under the ledger's lock as ``record_charge`` does; the new total, or None when
    ``config.ledger`` is off."""
    if not config.ledger:
        return None
    ledger = DatasetLedger(ledger_dir(config.ledger_dir), key)
    with ledger.locked():
        total = compose([*ledger.events(), event])
        over = config.epsilon is not None and total.epsilon > config.epsilon
        if over and not config.override:
            raise DpldmError(over_budget_message(total, config.epsilon).replace("lower dp.epsilon", "lower epsilon"))
        ledger.append(PrivacyEvent(**{**asdict(event), "override": over}))
        return total
