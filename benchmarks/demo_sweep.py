"""Demo sweep: fine-tune once (demo config + overrides), then sample variants; score each on the private
validation split (noise-free: the demo's digits are public sklearn digits) and on test. Usage:
python benchmarks/demo_sweep.py OUT 'set1 set2' 'sampler:steps:guidance[:clip[:n_per_class]]' ...
(clip '-' for none; n_per_class defaults to the demo's 100)"""
import json, sys, time
from dataclasses import replace
from pathlib import Path
import numpy as np
from dpldm.config import load_config
from dpldm.demo import DEMO_CONFIG
from dpldm.finetune.stage import FinetuneConfig, finetune
from dpldm.public_models import resolve_model
from dpldm.synthesis import SampleConfig, run_sampling
from dpldm.evaluation.accuracy import AccuracyConfig, make_splits, run_one
from dpldm.evaluation.classifiers import CLASSIFIERS
from dpldm.evaluation.split_binding import read_model_facts
import torch

out = Path(sys.argv[1]); overrides = sys.argv[2].split() if sys.argv[2] else []
t = time.time()
cfg = load_config(FinetuneConfig, DEMO_CONFIG, [f"out_dir={out/'finetune'}", *overrides])
summ = finetune(cfg, progress=False)
ft_s = time.time() - t
model = resolve_model(out / "finetune" / "model")
facts = read_model_facts(out / "finetune" / "model")
cnn = replace(CLASSIFIERS["cnn"], image_size=28)
for variant in sys.argv[3:]:
    parts = variant.split(":"); sampler, steps, g = parts[0], int(parts[1]), float(parts[2])
    clip = float(parts[3]) if len(parts) > 3 and parts[3] != "-" else None
    n_per_class = int(parts[4]) if len(parts) > 4 else 100
    t = time.time()
    sd = out / f"s_{variant.replace(':','_')}"
    sc = SampleConfig(model=str(out/'finetune'/'model'), out_dir=str(sd), n_per_class=n_per_class, sampler=sampler,
                      steps=steps, guidance_scale=g, clip_latents=clip, device="cpu")
    run_sampling(sc, model=model, progress=False)
    s_s = time.time() - t
    from dpldm.evaluation.split_binding import free_split_key
    acfg = AccuracyConfig(selection="private-val", epsilon=float("inf"))
    sk = free_split_key(synthetic=str(sd/'samples.npz'), dataset="digits", model=facts, requested=None)
    splits = make_splits(str(sd/'samples.npz'), "digits", acfg, 0, sk, None)
    rec, val = run_one(cnn, splits, acfg, 0, torch.device("cpu"), None)
    e = int(np.argmax(val))
    res = dict(overrides=overrides, variant=variant, finetune_s=round(ft_s), sample_s=round(s_s),
               val_acc=round(100*val[e]/len(splits.validation),1), n_val=len(splits.validation),
               test_at_val_epoch=rec["test_accuracy_by_epoch"][e], test_last=rec["test_accuracy_by_epoch"][-1],
               eps=summ["epsilon_spent"], steps=summ["steps"], sigma=summ["noise_multiplier"])
    print(json.dumps(res), flush=True)
    with open(out / "results.jsonl", "a") as f: f.write(json.dumps(res) + "\n")
