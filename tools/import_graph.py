"""Print the import graph of ``src/dpldm`` between its parts, and fail (exit 1) on a cycle.

A part is a subpackage (``dpldm.dp``, ``dpldm.data``, ...) or a top-level module (``dpldm.bundle``, ...). Every
``import`` counts, including those inside functions: an import made lazy to dodge a cycle is still a cycle in the
design. Usage: ``python tools/import_graph.py [--dot]``.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent / "src" / "dpldm"


def part_of(module: str) -> str | None:
    """``dpldm.dp.engine`` -> ``dp``; ``dpldm.bundle`` -> ``bundle``; ``dpldm`` itself and other packages -> None."""
    names = module.split(".")
    if names[0] != "dpldm" or len(names) < 2:
        return None
    return names[1]


def module_name(path: Path, root: Path = ROOT) -> str:
    """``root/dp/engine.py`` -> ``dpldm.dp.engine`` (``root`` is the ``dpldm`` package folder)."""
    relative = path.relative_to(root.parent).with_suffix("")
    names = list(relative.parts)
    if names[-1] == "__init__":
        names.pop()
    return ".".join(names)


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module_name(path, root).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return found


def part_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """part -> the other parts it imports."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in sorted(root.rglob("*.py")):
        source = part_of(module_name(path, root))
        if source is None:
            continue
        graph[source]
        for module in imported_modules(path, root):
            target = part_of(module)
            is_part = target is not None and ((root / target).is_dir() or (root / f"{target}.py").is_file())
            if is_part and target != source:
                graph[source].add(target)
    return dict(graph)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one part (each holds at least one cycle), sorted."""
    digraph = nx.DiGraph([(a, b) for a, targets in graph.items() for b in targets])
    digraph.add_nodes_from(graph)
    return sorted(sorted(group) for group in nx.strongly_connected_components(digraph) if len(group) > 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dot", action="store_true", help="print the graph in Graphviz dot format")
    args = parser.parse_args(argv)
    graph = part_graph()
    if args.dot:
        print("digraph dpldm {")
        for source in sorted(graph):
            for target in sorted(graph[source]):
                print(f'  "{source}" -> "{target}";')
        print("}")
    else:
        for source in sorted(graph):
            print(f"{source:14s} -> {', '.join(sorted(graph[source])) or '(nothing)'}")
    found = cycles(graph)
    for group in found:
        print(f"cycle between: {', '.join(group)}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
