"""BENCHMARKS.md's generated tables, regenerated from benchmarks/results/ (`dpldm bench tables`)."""

from __future__ import annotations

from pathlib import Path


def regenerate_tables(path: Path) -> dict[str, bool]:
    """Rewrite every generated table of the markdown file ``path`` from the result files beside it; returns each
    table's name and whether its block changed."""
    from dpldm.audit.table import MEMBERSHIP, WHITEBOX
    from dpldm.bench.ablation import ABLATION_TABLE
    from dpldm.bench.quality import QUALITY_TABLE
    from dpldm.bench.text import TEXT_TABLE
    from dpldm.results import regenerate

    return {table.name: regenerate(path, table) for table in (QUALITY_TABLE, TEXT_TABLE, ABLATION_TABLE, MEMBERSHIP,
                                                                  WHITEBOX)}
