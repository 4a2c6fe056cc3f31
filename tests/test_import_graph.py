"""The parts of src/dpldm import one another one way only: tools/import_graph.py finds no cycle."""

from __future__ import annotations

import importlib.util
from pathlib import Path

TOOL = Path(__file__).resolve().parent.parent / "tools" / "import_graph.py"


def load_tool():
    spec = importlib.util.spec_from_file_location("import_graph", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_src_has_no_import_cycle_between_parts(capsys):
    tool = load_tool()
    assert tool.main([]) == 0, capsys.readouterr().err
    graph = tool.part_graph()
    assert "dp" in graph and "models" in graph
    assert not graph["models"] & {"dp", "privacy", "finetune", "training", "data"}  # a model never knows about DP
    assert not graph["dp"] & {"finetune", "training", "evaluation", "cli"}
    assert "cli" not in graph["bench"]  # the benchmarks are a library; their flags and printing are the CLI's


def test_a_cycle_is_found_even_through_a_lazy_import(tmp_path):
    tool = load_tool()
    root = tmp_path / "dpldm"
    (root / "a").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "a" / "__init__.py").write_text("from dpldm.b import thing\n")
    (root / "b.py").write_text("def thing():\n    from .a import other\n    return other\n")
    (root / "c.py").write_text("import dpldm.b\n")
    graph = tool.part_graph(root)
    assert graph == {"a": {"b"}, "b": {"a"}, "c": {"b"}}
    assert tool.cycles(graph) == [["a", "b"]]
