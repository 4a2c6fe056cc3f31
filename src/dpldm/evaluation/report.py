"""One self-contained HTML page describing a run folder; PNGs are embedded as base64 data URIs (no server needed)."""

from __future__ import annotations

import base64
import html
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dpldm.evaluation.report_figures import curve_png, sample_grid_png
from dpldm.evaluation.run_folder import RunFolder, read_run_folder

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; font-size: .9em; } td, th { border: 1px solid #ccc; padding: .25em .6em; }
th { background: #f4f4f4; text-align: left; } pre { background: #f7f7f7; padding: .8em; overflow-x: auto; }
.absent { color: #888; font-style: italic; } .notes li { color: #8a5a00; } img { max-width: 100%; }
"""


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _absent(what: str) -> str:
    return f'<p class="absent">{html.escape(what)}</p>'


def _table(rows: list[tuple[str, Any]], header: tuple[str, str] = ("key", "value")) -> str:
    cells = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_fmt(v))}</td></tr>" for k, v in rows)
    return f"<table><tr><th>{header[0]}</th><th>{header[1]}</th></tr>{cells}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def samples_section(run: RunFolder) -> str:
    if run.sample_images is not None and len(run.sample_images):
        grid = sample_grid_png(run.sample_images, run.sample_labels)
        return f"<p>{len(run.sample_images)} samples in samples.npz, up to 10 per class:</p>{_img(grid, 'samples')}"
    if run.samples_png is not None:
        return f"<p>samples.png:</p>{_img(run.samples_png, 'samples.png')}"
    return _absent("No samples (samples.npz and samples.png are absent).")


def curves_section(run: RunFolder) -> str:
    parts = []
    for key, title, log_y in (("loss", "training loss", True), ("epsilon", "epsilon spent over steps", False)):
        steps, values = run.series(key)
        if len(steps):
            parts.append(_img(curve_png(steps, values, ylabel=key, title=title, log_y=log_y), title))
        elif key == "epsilon" and run.epsilon_png is not None:  # a DP run keeps its log private; the plot is not
            parts.append(f"<p>epsilon.png:</p>{_img(run.epsilon_png, title)}")
        elif key == "loss" and run.privacy is not None:
            parts.append(_absent("No training loss: a DP run's losses are statistics of the private data, never "
                                 "recorded."))
        else:
            parts.append(_absent(f"No '{key}' in log.jsonl." if run.log else f"No {title} (log.jsonl is absent)."))
    return "".join(parts)


def files_section(run: RunFolder) -> str:
    """Every file of the run folder: what may be published with this page, and what must stay private."""
    if not run.files:
        return _absent("The run folder is empty.")
    rows = "".join(f"<tr><td>{html.escape(path)}</td><td>{'releasable' if ok else '<b>PRIVATE</b>'}</td>"
                   f"<td>{html.escape(what)}</td></tr>" for path, ok, what in run.files)
    return ("<p>Files at the top level and in <code>model/</code> may be published; everything under "
            "<code>private/</code> is derived from the private data without DP and must never be.</p>"
            f"<table><tr><th>file</th><th>may be published</th><th>what</th></tr>{rows}</table>")


def metrics_section(run: RunFolder) -> str:
    if not run.metrics:
        return _absent("No metrics.json (run `dpldm evaluate ... --out RUN/metrics.json`).")
    parts = []
    for name, result in run.metrics.items():
        if not isinstance(result, dict):
            parts.append(_table([(name, result)]))
            continue
        scalars = [(k, v) for k, v in result.items() if not isinstance(v, (dict, list))]
        if isinstance(result.get("selection"), dict) and "statement" in result["selection"]:
            scalars.append(("selection", result["selection"]["statement"]))
        if isinstance(result.get("selected"), dict):
            chosen = result["selected"]
            scalars.append(("selected", f"{chosen.get('classifier')} seed {chosen.get('seed')} "
                                        f"epoch {chosen.get('epoch')}"))
        parts.append(f"<h3>{html.escape(name)}</h3>{_table(scalars)}"
                     f"<details><summary>full JSON</summary><pre>{html.escape(json.dumps(result, indent=2))}</pre>"
                     f"</details>")
    return "".join(parts)


def privacy_section(run: RunFolder) -> str:
    if not isinstance(run.privacy, dict):
        return _absent("No privacy ledger (privacy.json is absent): this run makes no DP claim.")
    return _table(list(run.privacy.items()))


def build_report(run: RunFolder) -> str:
    """The whole page as one HTML string."""
    title = f"dpldm run {run.path.name}"
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in run.notes)
    sections = [
        ("Samples", samples_section(run)),
        ("Training curves", curves_section(run)),
        ("Metrics", metrics_section(run)),
        ("Privacy ledger", privacy_section(run)),
        ("Files: releasable and private", files_section(run)),
        ("Resolved config", f"<pre>{html.escape(run.config_text)}</pre>" if run.config_text is not None
         else _absent("No config.yaml.")),
    ]
    body = "".join(f"<h2>{html.escape(h)}</h2>{content}" for h, content in sections)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p>{html.escape(str(run.path.resolve()))} &middot; generated {stamp}</p>"
            f"{'<ul class=notes>' + notes + '</ul>' if notes else ''}{body}</body></html>")


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of ``run_dir`` to ``out`` (default RUN_DIR/report.html); returns its path."""
    run = read_run_folder(run_dir)
    path = Path(out) if out is not None else run.path / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(build_report(run), encoding="utf-8")
    return path
