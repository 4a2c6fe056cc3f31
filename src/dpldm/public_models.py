"""The public models that ship with dpldm (trained by this project's own commands on public data only).

Each lives in ``dpldm/checkpoints/<name>/``: a model folder (see ``dpldm.bundle``) plus ``manifest.json`` with the
config, the exact commands, the data, seed, steps, final loss, wall time and the sha256 of every file; loading
checks every sha256 against the manifest.
"""

from __future__ import annotations

import json
from pathlib import Path

from dpldm.bundle import PUBLIC_HASHES, LatentDiffusion, load_bundle, sha256_file, write_hashes
from dpldm.errors import DpldmError

CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"
CONFIGS = Path(__file__).resolve().parent / "configs"  # the bundled recipes, for a hint when a model is missing


def bundled_models() -> dict[str, Path]:
    """name -> folder of every shipped public model."""
    if not CHECKPOINTS.is_dir():
        return {}
    return {p.name: p for p in sorted(CHECKPOINTS.iterdir()) if (p / "manifest.json").is_file()}


def verify_manifest(folder: Path) -> dict:
    manifest = json.loads((folder / "manifest.json").read_text())
    for name, digest in manifest.get("sha256", {}).items():
        path = folder / name
        if not path.is_file():
            raise DpldmError(f"{folder.name}: file {name} listed in manifest.json is missing")
        if sha256_file(path) != digest:
            raise DpldmError(f"{path}: sha256 does not match manifest.json (file changed or corrupt)")
    return manifest


def resolve_model(name_or_path: str | Path) -> LatentDiffusion:
    """A model folder path (dpldm's own, or a Stable-Diffusion-format diffusers folder: ``dpldm.sd_folder``), or
    the name of a shipped public model (checked against its manifest)."""
    from dpldm.sd_folder import is_sd_folder, load_sd_folder

    path = Path(name_or_path)
    if (path / "model.json").is_file():
        return load_bundle(path)
    if is_sd_folder(path):
        return load_sd_folder(path)
    shipped = bundled_models()
    if str(name_or_path) in shipped:
        folder = shipped[str(name_or_path)]
        verify_manifest(folder)
        return load_bundle(folder)
    recipe = CONFIGS / f"{name_or_path}_ldm.yaml"  # a public model with a bundled recipe that is not shipped (yet)
    hint = (f"; '{name_or_path}' is not shipped in this version: train it with `dpldm train-autoencoder --config "
            f"{name_or_path}_autoencoder` and `dpldm pretrain --config {name_or_path}_ldm`, then give its model "
            f"folder" if path.name == str(name_or_path) and recipe.is_file() else "")
    raise DpldmError(f"no model at '{name_or_path}': give a folder with model.json, a Stable-Diffusion-format "
                     f"folder (model_index.json, unet/, vae/ ...), or one of the shipped public models: "
                     f"{', '.join(shipped) or '(none installed)'}{hint}")


def save_model(folder: str | Path, model: LatentDiffusion) -> Path:
    """Write ``model`` in the format it was loaded from: a dpldm folder, or a Stable-Diffusion-format folder."""
    from dpldm.sd_folder import FORMAT, save_sd_folder

    if model.format == FORMAT:
        return save_sd_folder(folder, model)
    from dpldm.bundle import save_bundle

    return save_bundle(folder, model)


def package(name: str, *, autoencoder_run: str | Path | None, ldm_run: str | Path, commands: list[str],
            dtype: str = "float16") -> Path:
    """Copy a pretrained model into ``dpldm/checkpoints/<name>`` (weights in ``dtype``) with its manifest. A model
    warm-started from a shipped one (``init:``) has no autoencoder run of its own: its autoencoder's record and
    the commands that made the init come from the init's manifest."""
    import time

    import torch
    import yaml

    from dpldm.bundle import save_bundle

    ldm_run = Path(ldm_run)
    pretrain_cfg = yaml.safe_load((ldm_run / "config.yaml").read_text())
    init = pretrain_cfg.get("init")
    if (autoencoder_run is None) == (init is None):
        raise DpldmError("give --autoencoder-run for a model trained from scratch, and none for one warm-started "
                         "from a shipped model (init:), whose autoencoder it is")

    def last_log(run: Path) -> dict:
        lines = (run / "log.jsonl").read_text().splitlines()
        return json.loads(lines[-1]) if lines else {}

    if init is not None:
        if init not in bundled_models():
            raise DpldmError(f"{ldm_run} was warm-started from {init}, which is not a shipped model: ship that first")
        parent = verify_manifest(bundled_models()[init])
        ae = {"config": parent["configs"]["autoencoder"], "step": parent["steps"]["autoencoder"],
              "loss": parent["final_loss"]["autoencoder"], "wall_s": parent["wall_s"]["autoencoder"],
              "metrics": parent["autoencoder_metrics"]}
        commands = [*parent["commands"], *commands]
    else:
        ae_log = last_log(Path(autoencoder_run))
        ae = {"config": yaml.safe_load((Path(autoencoder_run) / "config.yaml").read_text()),
              "step": ae_log.get("step"), "loss": ae_log.get("loss"), "wall_s": ae_log.get("wall_s"),
              "metrics": json.loads((Path(autoencoder_run) / "metrics.json").read_text())}
    model = load_bundle(ldm_run / "model")
    folder = CHECKPOINTS / name
    save_bundle(folder, model, dtype=getattr(torch, dtype))
    ldm_log = last_log(ldm_run)
    manifest = {
        "name": name,
        "created": time.strftime("%Y-%m-%d"),
        "commands": commands,
        **({"init": init} if init is not None else {}),
        "configs": {"autoencoder": ae["config"], "pretrain": pretrain_cfg},
        "public_data": model.facts.get("public_data"),
        "seed": pretrain_cfg["train"]["seed"],
        "steps": {"autoencoder": ae["step"], "pretrain": ldm_log.get("step")},
        "final_loss": {"autoencoder": ae["loss"], "pretrain": ldm_log.get("loss")},
        "wall_s": {"autoencoder": ae["wall_s"], "pretrain": ldm_log.get("wall_s")},
        "autoencoder_metrics": ae["metrics"],
        "weights_dtype": dtype,
        "sha256": {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.name != "manifest.json"},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return folder


def add_public_hashes(name: str, *, data_root: str | Path | None = None) -> Path:
    """Give a shipped model packaged before fingerprints the fingerprint of its public training data: the
    autoencoder's and the pretraining data its manifest's configs name, loaded again (``dpldm.data.fingerprint``).
    Writes ``public_hashes.npy`` and lists it in model.json and the manifest; the weights are untouched."""
    from dpldm.config import from_dict
    from dpldm.data.config import DataConfig, load_images
    from dpldm.data.fingerprint import fingerprint

    folder = bundled_models()[name]
    manifest = verify_manifest(folder)
    stages = {"train-autoencoder": "autoencoder", "pretrain": "pretrain"}
    sets = [load_images(from_dict(DataConfig, manifest["configs"][key]["data"], where=f"{key}.data"), root=data_root)
            for key in stages.values()]
    hashes = fingerprint(*(s.images for s in sets))
    facts = json.loads((folder / "model.json").read_text())
    facts["sha256"][PUBLIC_HASHES] = write_hashes(folder / PUBLIC_HASHES, hashes)
    facts["public_hashes"] = {"images": len(hashes), "stages": list(stages)}
    (folder / "model.json").write_text(json.dumps(facts, indent=2))
    command = f"python -m dpldm.public_models --name {name} --add-public-hashes"
    manifest["commands"] = [*manifest["commands"], *([command] if command not in manifest["commands"] else [])]
    manifest["sha256"] = {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.name != "manifest.json"}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return folder


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Ship a pretrained public model inside the package.")
    parser.add_argument("--name", required=True)
    parser.add_argument("--autoencoder-run", help="the autoencoder's run folder (none for a warm-started model)")
    parser.add_argument("--ldm-run")
    parser.add_argument("--command", dest="commands", action="append", default=[],
                        help="a command that trained it (repeat, in order)")
    parser.add_argument("--add-public-hashes", action="store_true",
                        help="only add the fingerprint of its public data to an already shipped model ($DPLDM_DATA)")
    args = parser.parse_args()
    if args.add_public_hashes:
        print(add_public_hashes(args.name))
    elif not args.ldm_run:
        parser.error("--ldm-run is required to package a model (and --autoencoder-run, unless it was warm-started)")
    else:
        print(package(args.name, autoencoder_run=args.autoencoder_run, ldm_run=args.ldm_run, commands=args.commands))
