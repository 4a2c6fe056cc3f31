"""`dpldm audit membership`: membership inference and canaries on a real fine-tune, end to end.

Stages, each resumable (a finished stage leaves ``OUT/private/<stage>.json``; a rerun of the same command skips it,
and fine-tuning resumes from its checkpoint):

1. design    the public coins (``dpldm.audit.design``): which pool records and canaries are members;
             writes the fine-tuning set ``OUT/private/members.npz``
2. finetune  the fine-tuning config, on the members only, into ``OUT/finetune`` (its privacy.json: the claim)
3. score     the calibrated loss attack (``dpldm.audit.attack``) on every candidate, members or not
4. report    AUC [CI] and TPR at low FPR on the pool records and on the canaries, and the canaries' empirical
             epsilon lower bound (``dpldm.audit.bounds``) beside the accountant's epsilon

Everything the audit computes is a statistic of the private data without DP: it goes to ``OUT/private/``, and its
numbers may be published only when the "private" set is a public stand-in (as scikit-learn's digits are here).
An empirical bound above the accountant's epsilon fails the audit: either the DP-SGD implementation or the
accounting is wrong, and the result is flagged, never reported as a number.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from dpldm.audit.attack import AttackConfig, calibrated_scores, denoising_losses, loss_scores
from dpldm.audit.bounds import audit_epsilon
from dpldm.audit.design import AuditDesign, CanaryKind, design_audit
from dpldm.audit.membership import auc, membership_metrics
from dpldm.runlayout import private_dir
from dpldm.runsettings import run_stage, write_json
from dpldm.training.runlog import RESULT_NEUTRAL

# Fine-tuning keys that cannot change a finished stage's result (threads, logging, the folder).
STAGE_RESULT_NEUTRAL = tuple(f"finetune.config.{key}" for key in RESULT_NEUTRAL)


@dataclass
class AuditSettings:
    out: Path  # audit folder: OUT/finetune is the fine-tune, OUT/private the audit's (private) results
    config: Path  # fine-tuning config file (its data section names the private pool); the CLI's default: audit_digits
    overrides: list[str] = field(default_factory=list)  # --set for the fine-tuning config
    n_canaries: int = 64  # canaries drawn from the pool (about half members, about half choose the threshold)
    canary_kind: CanaryKind = "noise"  # see dpldm.audit.design
    seed: int = 0  # the audit's public seed: membership coins, canaries, threshold-selection coins
    attack: AttackConfig = field(default_factory=AttackConfig)
    alpha: float = 0.05  # confidence 1 - alpha for every interval and the epsilon bound
    label: str = ""  # the run's name in the table


def finetune_config(settings: AuditSettings, members: Path):
    """The fine-tuning config with the pool replaced by the audit's members (the audit decides who trains)."""
    from dpldm.config import load_config
    from dpldm.finetune.stage import FinetuneConfig

    cfg = load_config(FinetuneConfig, settings.config, [*settings.overrides, f"out_dir={settings.out / 'finetune'}"])
    pool = cfg.data
    cfg.data = replace(pool, name="npz", split="train", limit=None, options={"path": str(members.resolve())})
    cfg.holdout_validation = False
    return pool, cfg


def load_design(path: Path) -> AuditDesign:
    with np.load(path, allow_pickle=False) as f:
        return AuditDesign(**{k: f[k] for k in ("images", "labels", "canary", "member", "select")})


def run_audit(settings: AuditSettings, *, data_root: str | None = None, progress: bool = True,
              say: Callable[[str], None] = print, command: str = "", commit: str = "unknown") -> dict[str, Any]:
    """Run (or resume) every stage; returns the result (also in OUT/private/audit.json). command, commit: what ran,
    for the result's record."""
    from dpldm.config import to_dict
    from dpldm.data.config import load_images
    from dpldm.finetune.stage import finetune

    private = private_dir(settings.out)
    members_npz, design_npz, losses_npz = (private / name for name in ("members.npz", "design.npz", "losses.npz"))
    pool_cfg, cfg = finetune_config(settings, members_npz)

    def design() -> dict[str, Any]:
        pool = load_images(pool_cfg, root=data_root)
        d = design_audit(pool, n_canaries=settings.n_canaries, kind=settings.canary_kind, seed=settings.seed)
        np.savez(design_npz, images=d.images, labels=d.labels, canary=d.canary, member=d.member, select=d.select)
        x, y = d.members()
        np.savez(members_npz, x=x, y=y, classes=np.array(pool.class_names))
        return {"candidates": len(d.labels), "canaries": int(d.canary.sum()), "members": int(d.member.sum()),
                "member_canaries": int((d.member & d.canary).sum())}

    def score() -> dict[str, Any]:
        from dpldm.data.transforms import prepare
        from dpldm.finetune.stage import prepare_finetune
        from dpldm.models.autoencoder import encode_mean
        from dpldm.public_models import resolve_model

        d = load_design(design_npz)
        target = resolve_model(settings.out / "finetune" / "model")
        # The reference: fine-tuning's own starting point (public weights, new class rows as fine-tuning made them).
        reference = prepare_finetune(cfg, data_root=data_root, progress=False, encode=False).model
        x = prepare(d.images, size=cfg.data.image_size, channels=cfg.data.channels, fit=cfg.data.fit)
        with torch.no_grad():
            z = torch.cat([encode_mean(target.vae, part) for part in x.split(256)]) * target.scale_factor
        y = torch.from_numpy(d.labels)
        losses = {name: denoising_losses(model.denoiser, model.diffusion, z, y, settings.attack,
                                         progress=progress).numpy()
                  for name, model in (("target", target), ("reference", reference))}
        np.savez(losses_npz, **losses)
        return {"rows": len(y) * len(settings.attack.timesteps) * settings.attack.draws}

    def report() -> dict[str, Any]:
        d = load_design(design_npz)
        with np.load(losses_npz) as f:
            target, reference = f["target"], f["reference"]
        scores = calibrated_scores(target, reference)
        records = ~d.canary
        ft = json.loads((private / "finetune.json").read_text())
        bound = audit_epsilon(scores[d.canary], d.member[d.canary], d.select[d.canary], delta=ft["delta"],
                              alpha=settings.alpha)
        return {
            "records": membership_metrics(scores[records], d.member[records], alpha=settings.alpha).to_dict(),
            "canaries": membership_metrics(scores[d.canary], d.member[d.canary], alpha=settings.alpha).to_dict(),
            "epsilon_lower_bound": bound.to_dict(),
            "records_auc_loss_only": auc(loss_scores(target)[records & d.member],
                                         loss_scores(target)[records & ~d.member]),
            "records_auc_by_timestep": {
                str(t): auc(*(calibrated_scores(target[:, [j]], reference[:, [j]])[records & m]
                              for m in (d.member, ~d.member)))
                for j, t in enumerate(settings.attack.timesteps)},
        }

    stages = {"design": design,
              "finetune": lambda: finetune(cfg, data_root=data_root, progress=progress), "score": score,
              "report": report}
    inputs = {"design": {"pool": to_dict(pool_cfg), "n_canaries": settings.n_canaries,
                         "canary_kind": settings.canary_kind, "seed": settings.seed},
              "finetune": {"config": to_dict(cfg)},
              "score": {"attack": to_dict(settings.attack)},
              "report": {"alpha": settings.alpha}}
    results, upstream = {}, {}
    for name, fn in stages.items():
        upstream = {**upstream, name: inputs[name]}
        results[name] = run_stage(private, name, fn, say, ignore=STAGE_RESULT_NEUTRAL, inputs=json.loads(json.dumps(upstream, default=str)),
                                  commit=commit)

    ft, rep = results["finetune"], results["report"]
    bound = rep["epsilon_lower_bound"]["epsilon"]
    # Leakage: the attack tells members from non-members (records or canaries) with confidence, or the bound is > 0.
    leakage = bound > 0 or any(rep[group]["auc_interval"][0] > 0.5 for group in ("records", "canaries"))
    result = {
        "audit": "membership",
        "label": settings.label or settings.out.name,
        "accountant_epsilon": ft["epsilon_spent"],
        "delta": ft["delta"],
        "accountant": ft["accountant"],
        "noise_multiplier": ft["noise_multiplier"],
        "max_grad_norm": ft["max_grad_norm"],
        "sample_rate": ft["sample_rate"],
        "steps": ft["steps"],
        "design": results["design"],
        **{k: rep[k] for k in ("records", "canaries", "epsilon_lower_bound", "records_auc_loss_only",
                               "records_auc_by_timestep")},
        # The audit fails when it proves more privacy loss than the accountant allows: a bug, not a result.
        "bound_within_claim": bound <= ft["epsilon_spent"],
        "leakage_detected": bool(leakage),
        "finetune_wall_s": ft["stage_wall_s"],
        "commit": results["finetune"].get("commit", commit),
        "cores": os.cpu_count(),
        "command": command,
        "out": str(settings.out),
    }
    write_json(private / "audit.json", result)
    return result


def summary_lines(result: dict[str, Any]) -> list[str]:
    rec, can, bound = result["records"], result["canaries"], result["epsilon_lower_bound"]
    verdict = ("FAILED: the empirical bound exceeds the accountant's epsilon (a bug in DP-SGD or its accounting)"
               if not result["bound_within_claim"] else "bound within the claim")
    eps = result["accountant_epsilon"]
    return [
        f"records  (n={rec['n_members']} in, {rec['n_non_members']} out): AUC {rec['auc']:.3f} "
        f"[{rec['auc_interval'][0]:.3f}, {rec['auc_interval'][1]:.3f}], TPR "
        + ", ".join(f"{100 * r['tpr']:.1f}% at FPR {100 * r['max_fpr']:g}%" for r in rec["rates"]),
        f"canaries (n={can['n_members']} in, {can['n_non_members']} out): AUC {can['auc']:.3f} "
        f"[{can['auc_interval'][0]:.3f}, {can['auc_interval'][1]:.3f}]",
        f"epsilon: empirical lower bound {bound['epsilon']:.3f} ({100 * (1 - bound['alpha']):g}% confidence; the most "
        f"these {bound['n_in'] + bound['n_out']} evaluated canaries can show: {bound['max_attainable']:.3f}), "
        f"accountant {eps if math.isfinite(eps) else 'inf'}: {verdict}",
        f"leakage detected: {'yes' if result['leakage_detected'] else 'no'}; "
        f"PRIVATE (non-DP statistics of the private set): {result['out']}/private/audit.json",
    ]


