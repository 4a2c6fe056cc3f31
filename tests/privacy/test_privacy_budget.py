"""The privacy budget per private dataset: composition of a ledger's events against slow twins (each run's own
accountant), the ledger file, a second fine-tune refused over the budget, a resume never counted twice, the CLI."""

from __future__ import annotations

import json
import math

import pytest

from dpldm.cli.main import main
from dpldm.data.dataset_key import dataset_key
from dpldm.data.registry import load_dataset
from dpldm.dp import DPSGDEngine
from dpldm.errors import DpldmError
from dpldm.privacy.accountant import composed_epsilon, epsilon
from dpldm.privacy.budget import DatasetLedger, PrivacyEvent, compose, ledger_dir, record_selection, total_delta
from tiny_configs import tiny

RUN = dict(noise_multiplier=0.8, sample_rate=0.05, steps=40, delta=1e-5)


def dpsgd(accountant: str = "rdp", **change) -> PrivacyEvent:
    mechanism = {**RUN, **change}
    return PrivacyEvent.dpsgd(accountant=accountant, epsilon=epsilon(accountant=accountant, **mechanism), run="r",
                              **mechanism)


@pytest.mark.parametrize("accountant", ["rdp", "prv", "pld"])
def test_one_run_totals_its_own_epsilon_and_two_compose_like_one_twice_as_long(accountant):
    one = dpsgd(accountant)
    assert compose([one]).epsilon == one.epsilon  # the run's own accountant, the run's own number
    assert compose([one]).accountant == accountant and compose([one]).delta == RUN["delta"]
    # Slow twin: two identical runs are one run of twice the steps (exactly so for RDP, which adds curves).
    twice = epsilon(accountant=accountant, **{**RUN, "steps": 2 * RUN["steps"]})
    total = compose([one, dpsgd(accountant)]).epsilon
    assert total == pytest.approx(twice, rel=1e-9 if accountant == "rdp" else 2e-3)
    assert one.epsilon < total < 2 * one.epsilon  # composed by the accountant, not by adding epsilons


def test_runs_of_different_accountants_compose_in_pld():
    total = compose([dpsgd("rdp"), dpsgd("prv")])
    assert total.accountant == "pld"
    assert total.epsilon == pytest.approx(epsilon(accountant="pld", **{**RUN, "steps": 2 * RUN["steps"]}), rel=2e-3)


def test_different_mechanisms_compose_in_one_accountant():
    a, b = dpsgd(noise_multiplier=0.8), dpsgd(noise_multiplier=1.5, steps=100)
    total = compose([a, b]).epsilon
    # Slow twin for RDP: the epsilon of the sum of the two runs' RDP curves, through opacus's own history.
    from opacus.accountants import RDPAccountant

    twin = RDPAccountant()
    twin.history = [(0.8, 0.05, 40), (1.5, 0.05, 100)]
    assert total == pytest.approx(twin.get_epsilon(delta=1e-5), rel=1e-12)
    assert max(a.epsilon, b.epsilon) < total < a.epsilon + b.epsilon


def test_selections_add_their_pure_epsilon_and_deltas_are_explicit():
    run = dpsgd()
    total = compose([run, PrivacyEvent.selection(epsilon=1.0, run="a"), PrivacyEvent.selection(epsilon=0.5, run="b")])
    assert total.dpsgd_epsilon == run.epsilon and total.pure_epsilon == 1.5
    assert total.epsilon == run.epsilon + 1.5  # basic composition of (eps, delta) with pure (1, 0) and (0.5, 0)
    assert compose([PrivacyEvent.selection(epsilon=1.0, run="a")]).epsilon == 1.0
    # Deltas: the common one; their sum when they differ; the total is then the accountant's at that sum.
    other = dpsgd(delta=1e-6)
    assert total_delta([run, run]) == 1e-5 and total_delta([run, other]) == pytest.approx(1.1e-5)
    mixed = compose([run, other])
    assert mixed.delta == pytest.approx(1.1e-5)
    assert mixed.epsilon == composed_epsilon([(0.8, 0.05, 40)] * 2, delta=1.1e-5, accountant="rdp")
    assert compose([run], delta=1e-7).epsilon == epsilon(accountant="rdp", **{**RUN, "delta": 1e-7})
    assert math.isinf(compose([run, PrivacyEvent.selection(epsilon=math.inf, run="no noise")]).epsilon)


def test_ledger_file_is_append_only_jsonl_and_refuses_a_bad_line(tmp_path):
    ledger = DatasetLedger(tmp_path, "ab" * 32)
    assert ledger.events() == [] and not tmp_path.joinpath(f"{'ab' * 32}.jsonl").exists()
    first = dpsgd()
    with ledger.locked():
        ledger.append(first)
    total = record_selection(key="ab" * 32, epsilon=math.inf, run="x", folder=tmp_path)
    assert ledger.events() == [first, ledger.events()[1]] and math.isinf(ledger.events()[1].epsilon)
    assert math.isinf(total.epsilon)
    lines = ledger.path.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["epsilon"] == "inf"
    assert "PRIVATE" in (tmp_path / "README.txt").read_text()
    ledger.path.write_text(ledger.path.read_text() + "{not json\n")
    with pytest.raises(DpldmError, match=r"\.jsonl:3: not a privacy event"):
        ledger.events()
    with pytest.raises(DpldmError, match="not a ledger key"):
        DatasetLedger(tmp_path, "../escape")


def test_ledger_folder_comes_from_config_then_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DPLDM_LEDGER", str(tmp_path / "env"))
    assert ledger_dir(str(tmp_path / "cfg")) == tmp_path / "cfg"
    assert ledger_dir(None) == tmp_path / "env"
    monkeypatch.delenv("DPLDM_LEDGER")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert ledger_dir(None) == tmp_path / "xdg" / "dpldm" / "ledger"


def test_dataset_key_depends_on_the_records_only():
    digits = load_dataset("digits", "train")
    again = load_dataset("digits", "train")
    assert dataset_key(digits) == dataset_key(again) and len(dataset_key(digits)) == 64
    assert dataset_key(digits.subset(range(len(digits) - 1))) != dataset_key(digits)
    relabelled = digits.subset(range(len(digits)))
    relabelled.labels[0] = (relabelled.labels[0] + 1) % 10
    assert dataset_key(relabelled) != dataset_key(digits)


def finetune_args(model, out, ledger, *extra: str) -> list[str]:
    return ["finetune", "--config", tiny("tiny_finetune"), "--out", str(out), "--set", f"public_model={model}",
            f"budget.ledger_dir={ledger}", *extra]


def digits_ledger(folder) -> DatasetLedger:
    return DatasetLedger(folder, dataset_key(load_dataset("digits", "train")))


def test_a_second_finetune_over_the_budget_is_refused(tiny_public_model, tmp_path, capsys):
    ledger = tmp_path / "ledger"
    # Two tiny runs at epsilon 10 compose (prv) to about 11.87, not 20: a budget of 11 admits one run, not two.
    assert main(finetune_args(tiny_public_model, tmp_path / "a", ledger, "budget.epsilon=11")) == 0
    (first,) = digits_ledger(ledger).events()
    spent = json.loads((tmp_path / "a" / "privacy.json").read_text())
    assert (first.noise_multiplier, first.sample_rate, first.steps, first.delta, first.accountant) == (
        spent["noise_multiplier"], spent["sample_rate"], spent["steps"], spent["delta"], spent["accountant"])
    assert first.epsilon == pytest.approx(spent["epsilon"]) and first.run == str((tmp_path / "a").resolve())
    capsys.readouterr()

    assert main(finetune_args(tiny_public_model, tmp_path / "b", ledger, "budget.epsilon=11")) == 2
    err = capsys.readouterr().err
    total = composed_epsilon([(first.noise_multiplier, first.sample_rate, first.steps)] * 2, delta=first.delta,
                             accountant="prv")
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert (f"would spend epsilon {total:.4g} in total on this private set" in err
            and f"over the budget 11 by {total - 11:.4g}" in err and "budget.override=true" in err), err
    assert not (tmp_path / "b" / "private" / "latents.safetensors").exists()  # refused before encoding anything
    assert len(digits_ledger(ledger).events()) == 1

    # The explicit override runs, and is recorded as such; the dry run of a third is refused too.
    assert main(finetune_args(tiny_public_model, tmp_path / "b", ledger, "budget.epsilon=11",
                              "budget.override=true")) == 0
    assert "warning: budget.override" in capsys.readouterr().err
    events = digits_ledger(ledger).events()
    assert [e.override for e in events] == [False, True]
    assert main(finetune_args(tiny_public_model, tmp_path / "c", ledger, "budget.epsilon=13", "--dry-run")) == 2
    # No cap: recorded, never refused.
    assert main(finetune_args(tiny_public_model, tmp_path / "c", ledger)) == 0
    assert len(digits_ledger(ledger).events()) == 3


def test_a_resumed_or_restarted_run_is_counted_once(tiny_public_model, tmp_path, capsys, monkeypatch):
    ledger = tmp_path / "ledger"
    out = tmp_path / "ft"
    original = DPSGDEngine.step

    def interrupt_at(step_number):
        def step(engine):
            done = original(engine)
            if done == step_number:
                raise KeyboardInterrupt
            return done
        return step

    # Interrupted at step 1, before any checkpoint: the rerun starts afresh in the same folder.
    monkeypatch.setattr(DPSGDEngine, "step", interrupt_at(1))
    assert main(finetune_args(tiny_public_model, out, ledger, "budget.epsilon=11")) == 130
    assert not (out / "private" / "checkpoint.safetensors").exists() and len(digits_ledger(ledger).events()) == 1
    # Interrupted at step 3, after the checkpoint of step 2: the rerun resumes.
    monkeypatch.setattr(DPSGDEngine, "step", interrupt_at(3))
    assert main(finetune_args(tiny_public_model, out, ledger, "budget.epsilon=11")) == 130
    monkeypatch.setattr(DPSGDEngine, "step", original)
    capsys.readouterr()
    assert main(finetune_args(tiny_public_model, out, ledger, "budget.epsilon=11")) == 0
    assert "resuming from step 2" in capsys.readouterr().err
    (event,) = digits_ledger(ledger).events()
    assert json.loads((out / "private" / "ledger.json").read_text())["run_id"] == event.run_id
    # The finished run run again (it resumes at its end) adds nothing either, even in a moved folder.
    moved = tmp_path / "moved"
    out.rename(moved)
    assert main(finetune_args(tiny_public_model, moved, ledger, "budget.epsilon=11")) == 0
    assert len(digits_ledger(ledger).events()) == 1
    # The run folder's releasable part never names the ledger's key (a hash of the private data).
    key = digits_ledger(ledger).key
    assert not any(key in p.read_text(errors="ignore") for p in moved.rglob("*")
                   if p.is_file() and "private" not in p.parts)


def test_ledger_cli_prints_events_and_the_composed_total(tmp_path, capsys):
    ledger = digits_ledger(tmp_path)
    events = [dpsgd("prv"), dpsgd("prv"), PrivacyEvent.selection(epsilon=1.0, run="metrics.json")]
    with ledger.locked():
        for event in events:
            ledger.append(event)
    expected = compose(events)
    args = ["privacy", "ledger", "digits", "--split", "train", "--ledger-dir", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "3 event(s)" in out and out.count("DP-SGD sigma 0.8, q 0.05, 40 steps") == 2 and "selection" in out
    assert f"total: epsilon {expected.epsilon:.4g} at delta 1e-05" in out and "prv accountant" in out
    assert ledger.key not in out  # the hash of the private set is not printed
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total"]["epsilon"] == expected.epsilon and len(data["events"]) == 3
    assert main(["privacy", "ledger", ledger.key, "--ledger-dir", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == data["total"]
    # The accounting form is unchanged, and a stray positional says what was meant.
    assert main(["privacy", "--noise-multiplier", "1", "--sample-rate", "0.01", "--steps", "10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["delta"] == 1e-5
    assert main(["privacy", "ledger"]) == 2
