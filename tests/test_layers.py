"""The package's layers (docs/architecture.md): no import cycles, no upward imports.

Every ``import``/``from ... import`` of an ``edgevision`` module counts, also those inside
functions (a lazy import still couples the two packages); only imports under
``if TYPE_CHECKING:`` are left out. Lazy ``"module:attr"`` strings (tasks.py, _lazy.py) are
not imports.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "edgevision"

LAYERS: list[set[str]] = [
    {
        "__init__",
        "_lazy",
        "_version",
        "_scm_version",
        "errors",
        "results",
        "config",
        "io",
        "host",
        "tasks",
        "classnames",
        "weights",
        "progress",
    },
    {"registry", "preprocess"},
    {"data", "checkpoint", "postprocess", "track"},
    {"models"},
    {"export", "evaluate", "losses"},
    {"runtime"},
    {"bench", "video", "train"},
    {"quantize"},
    {"stream", "api"},
    {"reports"},
    {"cli", "__main__"},
]
"""Lowest first. A unit (top-level module or package of edgevision) may import its own
layer and the layers below; units of one layer must not import each other in a cycle."""

ALLOWED_UPWARD: dict[tuple[str, str], str] = {}
"""Upward imports that stay, each with its reason (also in docs/architecture.md)."""


def _layer_of(unit: str) -> int:
    for i, layer in enumerate(LAYERS):
        if unit in layer:
            return i
    raise AssertionError(f"edgevision.{unit} is in no layer: add it to LAYERS and the doc")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for b in node.body for n in ast.walk(b))
    return skip


def _imports() -> dict[str, set[str]]:
    """module -> edgevision modules it imports (``from pkg import name`` resolved to
    ``pkg.name`` when that is a module)."""
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    edges: dict[str, set[str]] = defaultdict(set)
    for mod, path in modules.items():
        tree = ast.parse(path.read_text())
        skip = _type_checking_nodes(tree)
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                targets = [
                    f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target
                    for a in node.names
                ]
            else:
                continue
            for t in targets:
                if t.split(".")[0] == "edgevision" and t != mod:
                    edges[mod].add(t)
    return edges


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def test_every_unit_has_a_layer():
    units = {_unit(_module_name(p)) for p in SRC.rglob("*.py")}
    for u in units:
        _layer_of(u)


def test_no_module_import_cycles():
    assert _cycles(_imports()) == []


def test_no_package_import_cycles():
    units: dict[str, set[str]] = defaultdict(set)
    for a, bs in _imports().items():
        units[_unit(a)].update(_unit(b) for b in bs if _unit(b) != _unit(a))
    assert _cycles(units) == []


def test_no_upward_imports_except_the_listed_ones():
    upward = {}
    for a, bs in _imports().items():
        for b in bs:
            ua, ub = _unit(a), _unit(b)
            if _layer_of(ub) > _layer_of(ua) and (ua, ub) not in ALLOWED_UPWARD:
                upward.setdefault(f"{ua} -> {ub}", []).append(f"{a} imports {b}")
    assert upward == {}, "upward imports (see docs/architecture.md):\n" + "\n".join(
        f"  {k}: {v}" for k, v in sorted(upward.items())
    )
    assert len(ALLOWED_UPWARD) <= 6


def test_the_allowed_upward_imports_still_exist():
    pairs = {(_unit(a), _unit(b)) for a, bs in _imports().items() for b in bs}
    assert set(ALLOWED_UPWARD) <= pairs, "drop allowances that are no longer needed"
