"""Private fine-tuning on the tiny public model: what is trained, what stays frozen, resume, the dry-run plan,
and the per-example gradients of the real denoiser against a loop of single-example backward passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from dpldm.bundle import build_denoiser, load_bundle
from dpldm.cli.main import main
from dpldm.diffusion.loss import eps_loss
from dpldm.diffusion.schedule import DiffusionConfig, train_scheduler
from dpldm.dp import DPSGDEngine
from dpldm.dp.gradient import PrivateGradient
from dpldm.finetune.trainable import ATTENTION_PROJECTIONS, TrainableSpec, select_trainable
from dpldm.models import UNetConfig
from dpldm.training.resume_state import load_checkpoint
from tiny_configs import tiny


def finetune_args(model: Path, out: Path, *extra: str) -> list[str]:
    return ["finetune", "--config", tiny("tiny_finetune"), "--out", str(out), "--set", f"public_model={model}", *extra]


def tiny_unet() -> UNetConfig:
    return UNetConfig(sample_size=4, latent_channels=3, block_out_channels=(16, 32), layers_per_block=1,
                      attention_head_dim=8, cross_attention_dim=16, norm_num_groups=8)


def test_spec_selects_blocks_attention_and_all():
    den = build_denoiser(tiny_unet(), 5)
    names = select_trainable(den, TrainableSpec(modules="transformer_blocks", from_block=4))
    # 1 layer per level: blocks 1-2 down, 3 mid, 4-7 up (2 levels x 2 layers).
    assert names == ["unet.up_blocks.0.attentions.0", "unet.up_blocks.0.attentions.1",
                     "unet.up_blocks.1.attentions.0", "unet.up_blocks.1.attentions.1", "conditioner"]
    trained = {n for n, p in den.named_parameters() if p.requires_grad}
    assert all(n.startswith(("unet.up_blocks", "conditioner")) and ("attentions" in n or "conditioner" in n)
               for n in trained)
    assert any("ff.net" in n for n in trained) and any("attn2.to_k" in n for n in trained)

    select_trainable(den, TrainableSpec(modules="attention", from_block=1, class_embedder=False))
    trained = [n for n, p in den.named_parameters() if p.requires_grad]
    assert trained and all(n.split(".")[-2] in ATTENTION_PROJECTIONS or n.split(".")[-3] == "to_out"
                           for n in trained)
    assert not any("ff." in n or "norm" in n or "conditioner" in n for n in trained)

    select_trainable(den, TrainableSpec(modules="all"))
    assert all(p.requires_grad for p in den.parameters())
    with pytest.raises(ValueError, match="from_block"):
        select_trainable(den, TrainableSpec(from_block=99))


def test_per_example_gradients_of_the_denoiser_match_single_example_loop():
    torch.manual_seed(0)
    den = build_denoiser(tiny_unet(), 5).double().train()
    select_trainable(den, TrainableSpec(from_block=3))
    schedule = train_scheduler(DiffusionConfig())
    b = 4
    z0, y = torch.randn(b, 3, 4, 4, dtype=torch.float64), torch.tensor([0, 1, 5, 2])
    t, noise = torch.tensor([3, 500, 999, 42]), torch.randn(b, 3, 4, 4, dtype=torch.float64)

    def loss_fn(module, batch, generator):
        idx = batch["i"]
        return eps_loss(module, batch["z"], batch["y"], t=t[idx], noise=noise[idx], schedule=schedule)

    pg = PrivateGradient(den, loss_fn, max_grad_norm=1e9, noise_multiplier=0.0, expected_batch_size=b,
                         max_physical_batch=b)
    fast = pg.per_example({"z": z0, "y": y, "i": torch.arange(b)}, torch.Generator())
    pg.close()
    params = [p for p in den.parameters() if p.requires_grad]
    for i in range(b):  # obviously correct: one backward pass per example
        den.zero_grad()
        loss_fn(den, {"z": z0[i:i + 1], "y": y[i:i + 1], "i": torch.tensor([i])}, None).sum().backward()
        for p, g in zip(params, fast):
            torch.testing.assert_close(g[i], p.grad, rtol=1e-10, atol=1e-12)


def test_finetune_trains_only_the_spec_and_writes_the_guarantee(tiny_public_model, tmp_path, capsys):
    out = tmp_path / "ft"
    assert main(finetune_args(tiny_public_model, out)) == 0
    before = load_file(str(tiny_public_model / "denoiser.safetensors"))
    after = load_file(str(out / "model" / "denoiser.safetensors"))
    trained = json.loads((out / "private" / "summary.json").read_text())["trainable_modules"]
    prefixes = tuple(n + "." for n in trained)
    changed = {k for k in before if k in after and not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(prefixes) for k in changed)
    frozen = [k for k in before if not k.startswith(prefixes)]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)  # bit-identical
    assert after["conditioner.embedding.weight"].shape[0] == 11  # 10 private digits + null
    ae_before = load_file(str(tiny_public_model / "autoencoder.safetensors"))
    ae_after = load_file(str(out / "model" / "autoencoder.safetensors"))
    assert ae_before.keys() == ae_after.keys() and all(torch.equal(ae_before[k], ae_after[k]) for k in ae_before)
    privacy = json.loads((out / "privacy.json").read_text())
    assert privacy["steps"] == 4 and 0 < privacy["epsilon"] <= 10.0
    assert privacy["neighbouring_relation"] == "add/remove one" and privacy["sampling"] == "Poisson"
    model = load_bundle(out / "model")
    assert model.facts["privacy"]["epsilon"] == privacy["epsilon"] and model.class_names[3] == "3"
    log = [json.loads(line) for line in (out / "private" / "log.jsonl").read_text().splitlines()]
    assert all("loss" not in r for r in log) and log[-1]["epsilon"] == pytest.approx(privacy["epsilon"])
    # The layout (dpldm.runlayout): what may be published at the top, what derives from private data in private/.
    top = {p.name for p in out.iterdir()}
    assert top == {"config.yaml", "privacy.json", "epsilon.png", "model", "private"}, top
    assert {p.name for p in (out / "private").iterdir()} == {"README.txt", "latents.safetensors", "log.jsonl",
                                                             "checkpoint.safetensors", "checkpoint.json",
                                                             "summary.json", "ledger.json"}


def test_dry_run_json_plan(tiny_public_model, tmp_path, capsys):
    assert main(finetune_args(tiny_public_model, tmp_path / "dry", "--dry-run", "--json")) == 0
    plan = json.loads(capsys.readouterr().out)
    for key in ("trainable_params", "total_params", "trainable_modules", "noise_multiplier", "sample_rate", "steps",
                "epsilon", "delta", "accountant"):
        assert key in plan
    assert plan["trainable_params"] < plan["total_params"] and plan["steps"] == 4
    assert plan["sample_rate"] == pytest.approx(64 / plan["private_examples"])
    assert not (tmp_path / "dry").exists()  # a plan writes nothing


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder``: its bytes and modification time."""
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_interrupted_runs_resume_to_the_uninterrupted_result(tiny_public_model, tmp_path, capsys, monkeypatch,
                                                              run_killed_after_first_checkpoint):
    # An explicit dp.seed makes a run reproducible, so a resumed run can be compared bit for bit.
    args = lambda out: finetune_args(tiny_public_model, out, "dp.seed=3")  # noqa: E731
    straight, killed, interrupted = tmp_path / "straight", tmp_path / "killed", tmp_path / "interrupted"
    assert main(args(straight)) == 0

    # kill -9 right after the first checkpoint (step 2 of 4).
    crash = run_killed_after_first_checkpoint("dpldm.finetune.stage", args(killed))
    assert crash.returncode == 9, crash.stderr
    assert json.loads((killed / "private" / "checkpoint.json").read_text())["step"] == 2

    # Ctrl-C inside the loop, at step 3: one step past the checkpoint, never saved.
    original = DPSGDEngine.step

    def step_then_interrupt(engine):
        done = original(engine)
        if done == 3:
            raise KeyboardInterrupt
        return done

    monkeypatch.setattr(DPSGDEngine, "step", step_then_interrupt)
    assert main(args(interrupted)) == 130
    monkeypatch.setattr(DPSGDEngine, "step", original)
    assert not (interrupted / "privacy.json").exists()

    for out in (killed, interrupted):
        spent = json.loads((out / "private" / "checkpoint.json").read_text())["epsilon"]
        assert spent > 0
        capsys.readouterr()
        assert main(args(out)) == 0
        # The resume says where it starts and what was already spent: the accountant never restarts at zero.
        assert f"resuming from step 2, epsilon {spent:.4f} already spent" in capsys.readouterr().err
        a = load_file(str(straight / "model" / "denoiser.safetensors"))
        b = load_file(str(out / "model" / "denoiser.safetensors"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        assert json.loads((straight / "privacy.json").read_text()) == json.loads((out / "privacy.json").read_text())
        steps = [json.loads(line)["step"] for line in (out / "private" / "log.jsonl").read_text().splitlines()]
        assert steps == [2, 4]  # the lines past the checkpoint were dropped, none written twice


def test_a_rerun_with_other_settings_is_refused_and_touches_nothing(tiny_public_model, tmp_path, capsys):
    out = tmp_path / "ft"
    assert main(finetune_args(tiny_public_model, out, "train.lr=0.005")) == 0
    before = snapshot(out)
    for change, keys in ((["train.lr=0.01"], "train.lr 0.005 -> 0.01"),
                         (["train.lr=0.005", "trainable.from_block=4", "dp.epsilon=5"],
                          "(changed: dp.epsilon 10.0 -> 5.0, trainable.from_block 3 -> 4)")):
        capsys.readouterr()
        assert main(finetune_args(tiny_public_model, out, *change)) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and keys in err and "Traceback" not in err, err
        assert snapshot(out) == before  # config.yaml not rewritten, nothing else written
    # Settings that cannot change the result may differ: threads, log and checkpoint intervals, the folder's path.
    moved = tmp_path / "moved"
    out.rename(moved)
    assert main(finetune_args(tiny_public_model, moved, "train.lr=0.005", "train.threads=1", "train.log_every=1",
                              "train.checkpoint_every=3")) == 0
    assert "resuming from step 4" in capsys.readouterr().err
    assert (moved / "config.yaml").read_bytes() == before["config.yaml"][0]


def test_a_finished_run_without_its_checkpoint_is_not_started_again(tiny_public_model, tmp_path, capsys):
    out = tmp_path / "ft"
    assert main(finetune_args(tiny_public_model, out)) == 0
    (out / "private" / "checkpoint.safetensors").unlink()
    assert main(finetune_args(tiny_public_model, out)) == 2
    assert "spend epsilon again" in capsys.readouterr().err


def test_lora_trains_only_adapters_and_merges_exactly():
    torch.manual_seed(0)
    den = build_denoiser(tiny_unet(), 5).double()
    keys = set(den.state_dict())
    z, t, y = torch.randn(3, 3, 4, 4, dtype=torch.float64), torch.tensor([1, 400, 900]), torch.tensor([0, 2, 5])
    before = den(z, t, y)
    names = select_trainable(den, TrainableSpec(modules="attention", from_block=4, lora_rank=2))
    trained = [n for n, p in den.named_parameters() if p.requires_grad]
    assert trained and all(".lora_A." in n or ".lora_B." in n or n.startswith("conditioner") for n in trained)
    assert any("up_blocks.1.attentions.1" in n for n in names) and not any("down_blocks" in n for n in names)
    torch.testing.assert_close(den(z, t, y), before)  # B = 0: the adapters start as the identity
    with torch.no_grad():
        for n, p in den.named_parameters():
            if ".lora_B." in n:
                p.normal_()
    adapted = den(z, t, y)
    assert not torch.allclose(adapted, before)

    # Per-example gradients of the adapters against a loop of single-example passes.
    schedule = train_scheduler(DiffusionConfig())
    noise = torch.randn_like(z)

    def loss_fn(module, batch, generator):
        i = batch["i"]
        return eps_loss(module, batch["z"], batch["y"], t=t[i], noise=noise[i], schedule=schedule)

    den.train()
    pg = PrivateGradient(den, loss_fn, max_grad_norm=1e9, noise_multiplier=0.0, expected_batch_size=3,
                         max_physical_batch=3)
    fast = pg.per_example({"z": z, "y": y, "i": torch.arange(3)}, torch.Generator())
    pg.close()
    params = [p for p in den.parameters() if p.requires_grad]
    for i in range(3):
        den.zero_grad()
        loss_fn(den, {"z": z[i:i + 1], "y": y[i:i + 1], "i": torch.tensor([i])}, None).sum().backward()
        for p, g in zip(params, fast):
            torch.testing.assert_close(g[i], p.grad, rtol=1e-10, atol=1e-12)

    # Merging folds the adapters into plain weights: same outputs, the public model's parameter names.
    from dpldm.finetune.trainable import merge_lora

    den.eval()
    assert merge_lora(den) > 0
    assert set(den.state_dict()) == keys
    torch.testing.assert_close(den(z, t, y), adapted)


def test_lora_run_reports_the_adapters_it_trained(tiny_public_model, tmp_path, capsys):
    # The summary counts what was trained: the LoRA adapters, not what is left after they are merged at export.
    args = finetune_args(tiny_public_model, tmp_path / "lora", "trainable.lora_rank=2")  # joins --set
    assert main([*args, "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    summary = json.loads((tmp_path / "lora" / "private" / "summary.json").read_text())
    embedder = load_file(str(tmp_path / "lora" / "model" / "denoiser.safetensors"))["conditioner.embedding.weight"]
    assert summary["trainable_params"] == plan["trainable_params"] > embedder.numel()


def test_lora_initialisation_depends_on_its_seed_alone():
    def adapters(seed: int, draws_before: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        den = build_denoiser(tiny_unet(), 5)
        torch.randn(draws_before)  # whatever ran before in the process
        state = torch.random.get_rng_state()
        select_trainable(den, TrainableSpec(modules="attention", from_block=4, lora_rank=2), seed=seed)
        assert torch.equal(torch.random.get_rng_state(), state)  # the caller's generator is left as it was
        return {n: p.detach().clone() for n, p in den.named_parameters() if ".lora_A." in n}

    a, b, c = adapters(7, 0), adapters(7, 1000), adapters(8, 0)
    assert a and a.keys() == b.keys() and all(torch.equal(a[n], b[n]) for n in a)
    assert any(not torch.equal(a[n], c[n]) for n in a)


def test_a_default_run_writes_nothing_that_regenerates_its_noise(tiny_public_model, tmp_path):
    runs = [tmp_path / "a", tmp_path / "b"]
    for run in runs:
        assert main(finetune_args(tiny_public_model, run)) == 0
    for run in runs:
        assert yaml.safe_load((run / "config.yaml").read_text())["dp"]["seed"] is None
        privacy = json.loads((run / "privacy.json").read_text())
        assert privacy["secret_randomness"] is True and privacy["note"] is None
        assert json.loads((run / "model" / "model.json").read_text())["privacy"]["secret_randomness"] is True
        (checkpoint,) = run.rglob("checkpoint.safetensors")
        engine = load_checkpoint(checkpoint)[0]["engine"]
        assert engine["noise"] == {"secret": True} and engine["sampler"]["random"] == {"secret": True}
    # Same data, same config, same public model: different noise and batches, so different weights.
    a, b = (load_file(str(run / "model" / "denoiser.safetensors")) for run in runs)
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_a_seeded_run_says_it_is_not_private_against_the_seed(tiny_public_model, tmp_path):
    assert main(finetune_args(tiny_public_model, tmp_path, "dp.seed=0")) == 0
    privacy = json.loads((tmp_path / "privacy.json").read_text())
    assert privacy["secret_randomness"] is False and "NOT private" in privacy["note"]
    assert "NOT private" in json.loads((tmp_path / "model" / "model.json").read_text())["privacy"]["note"]
