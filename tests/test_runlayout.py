"""Which files of a run folder may be published: the classification, and README's table of them."""

from __future__ import annotations

import re
from pathlib import Path

from dpldm.runlayout import FILES, describe, is_private, private_dir

README = Path(__file__).resolve().parent.parent / "README.md"


def test_describe_classifies_by_place_and_names_every_file(tmp_path):
    run = tmp_path / "run"
    for name in ("config.yaml", "privacy.json", "model/model.json", "model/denoiser.safetensors",
                 "private/latents.safetensors", "private/log.jsonl", "finetune/privacy.json",
                 "finetune/private/checkpoint.safetensors", "finetune/model/model.json", "notes.txt"):
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text("x")
    private_dir(run)
    rows = {path: (releasable, what) for path, releasable, what in describe(run)}
    assert set(rows) == {"config.yaml", "privacy.json", "model/", "private/README.txt", "private/latents.safetensors",
                         "private/log.jsonl", "finetune/privacy.json", "finetune/private/checkpoint.safetensors",
                         "finetune/model/", "notes.txt"}
    assert [p for p, (releasable, _) in rows.items() if not releasable] == [
        "finetune/private/checkpoint.safetensors", "private/README.txt", "private/latents.safetensors",
        "private/log.jsonl"]
    assert rows["private/latents.safetensors"][1] == FILES["private/latents.safetensors"]
    assert rows["finetune/private/checkpoint.safetensors"][1] == FILES["private/checkpoint.safetensors"]
    assert rows["notes.txt"][1] == "not a file dpldm writes"
    assert not is_private(run, run / "private.txt") and is_private(run, run / "private" / "x")


def test_readme_table_lists_every_run_folder_file():
    table = README.read_text().split("### Run folders: what may be published", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `([^`]+)` \| (releasable|private) \|", table, flags=re.M)
    assert {path for path, _ in listed} == set(FILES)
    assert all((status == "private") == path.startswith("private/") for path, status in listed)
