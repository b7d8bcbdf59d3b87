"""Imports point down: each package of src/tlssim imports only the packages docs/architecture.md
("Layers") allows it, and no two modules import each other, directly or around a circle.

The graph is read from the source with `ast`: every `import` and `from ... import` naming a
tlssim module, at any depth (inside functions and under TYPE_CHECKING too: a circle of types
is a circle a reader has to follow).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

#: The packages (and single modules) under tlssim that sit at the bottom: any package may
#: import them, and they import nothing of tlssim but each other as listed in LAYERS.
FOUNDATION = frozenset({"clock", "health", "rpc", "rpcutil", "terminal", "topology", "web"})

#: What each part of tlssim may import besides itself and FOUNDATION (docs/architecture.md).
LAYERS: Mapping[str, frozenset[str]] = {
    # the foundation: the engine, the generated gRPC code and the small shared modules
    "tls": frozenset(),
    "clock": frozenset(),
    "health": frozenset(),
    "rpc": frozenset(),
    "rpcutil": frozenset({"rpc"}),
    "terminal": frozenset(),
    "topology": frozenset(),
    "web": frozenset(),
    # what the lab is made of
    "pki": frozenset(),
    "report": frozenset({"pki", "tls"}),
    "net": frozenset({"tls"}),
    "telemetry": frozenset(),
    "faults": frozenset({"tls"}),
    "harness": frozenset({"report"}),
    # the client, and the readers and runners of reports
    "client": frozenset({"tls", "pki", "report", "net", "telemetry"}),
    "diagrams": frozenset({"report"}),
    "load": frozenset({"report"}),
    "scenarios": frozenset({"pki", "report", "faults", "harness", "acme", "interop"}),
    "propagation": frozenset({"tls", "pki", "net", "client"}),
    "interop": frozenset({"tls", "pki"}),
    "acme": frozenset({"pki", "telemetry"}),
    "console": frozenset({"report", "diagrams", "faults", "telemetry"}),
    # the services, then what starts and measures them
    "services": frozenset(
        {"tls", "pki", "report", "net", "telemetry", "faults", "client", "console", "acme"}
    ),
    "bench": frozenset({"tls", "pki", "report", "net", "faults", "harness", "client", "load"}),
    "cli": frozenset(
        {
            "tls",
            "pki",
            "report",
            "net",
            "telemetry",
            "faults",
            "client",
            "diagrams",
            "load",
            "scenarios",
            "propagation",
            "interop",
            "services",
        }
    ),
    "__main__": frozenset({"cli"}),
    "__init__": frozenset(),
}


def modules(src: Path = SRC) -> dict[str, Path]:
    """Every module of the tlssim package under `src`, by dotted name."""
    found = {}
    for path in sorted((src / "tlssim").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(name: str, known: Mapping[str, Path]) -> str | None:
    """The module `name` is, or is in (`tlssim.report.model.Report` -> `tlssim.report.model`)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """module -> the tlssim modules it imports (itself left out)."""
    known = modules(src)
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                # `from tlssim.report import model` imports the submodule, not the package
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                    for alias in node.names
                ]
            for target in targets:
                found = _resolve(target, known) if target.split(".")[0] == "tlssim" else None
                if found is not None and found != name:
                    graph[name].add(found)
    return graph


def part(module: str) -> str:
    """The part of tlssim a module belongs to: its package, or the module itself at the top
    (`tlssim.report.model` -> `report`, `tlssim.web` -> `web`, `tlssim` -> `__init__`)."""
    names = module.split(".")
    return names[1] if len(names) > 1 else "__init__"


def upward_imports(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """Every import of a part that LAYERS does not allow, as "importer -> imported"."""
    wrong = []
    for importer, imported in sorted(graph.items()):
        mine = part(importer)
        allowed = LAYERS.get(mine)
        # the foundation imports only what its row names, even of the foundation
        below = (allowed or frozenset()) | (frozenset() if mine in FOUNDATION else FOUNDATION)
        for target in sorted(imported):
            theirs = part(target)
            if theirs != mine and (allowed is None or theirs not in below):
                wrong.append(f"{importer} -> {target}")
    return wrong


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The circles of the graph: each set of modules that reach one another (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            circle = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                circle.append(top)
                if top == node:
                    break
            if len(circle) > 1:
                found.append(sorted(circle))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_part_of_tlssim_has_a_layer() -> None:
    parts = {part(name) for name in modules()}
    assert parts - LAYERS.keys() == set(), "add the new part to LAYERS and the doc"
    assert LAYERS.keys() - parts == set(), "a part in LAYERS that no longer exists"


def test_no_import_points_up() -> None:
    assert upward_imports(import_graph()) == []


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_the_package_does_not_import_the_tests() -> None:
    offenders = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                named = [node.module or ""]
            elif isinstance(node, ast.Import):
                named = [alias.name for alias in node.names]
            else:
                continue
            if any(n == "tests" or n.startswith("tests.") for n in named):
                offenders.append(name)
    assert offenders == []


def test_the_layer_check_sees_an_upward_import_and_a_circle() -> None:
    graph = {
        "tlssim.report.model": {"tlssim.client.run"},  # the report reading the client: up
        "tlssim.client.run": {"tlssim.report.model"},  # allowed, but now a circle
    }
    assert upward_imports(graph) == ["tlssim.report.model -> tlssim.client.run"]
    assert cycles(graph) == [["tlssim.client.run", "tlssim.report.model"]]


def test_the_layers_are_documented() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text()
    for name, allowed in LAYERS.items():
        if name.startswith("__"):
            continue
        row = f"| `{name}` | "
        assert row in doc, f"docs/architecture.md has no row for {name}"
        line = doc[doc.index(row) :].splitlines()[0]
        cell = line.split("|")[2]
        named = {word.strip("` ") for word in cell.split(",") if word.strip("` -")}
        assert named == set(allowed), f"{name}: the doc says {sorted(named)}"
