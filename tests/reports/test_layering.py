"""The page writers sit on top of the library: only the CLI imports ``edgevision.reports``,
and no library module names a ``docs/`` page."""

from __future__ import annotations

import ast
from pathlib import Path

import edgevision

PACKAGE = Path(edgevision.__file__).resolve().parent
ALLOWED = ("reports", "cli")  # the page writers and the commands that call them


def _library_modules() -> list[Path]:
    return [
        p for p in sorted(PACKAGE.rglob("*.py")) if p.relative_to(PACKAGE).parts[0] not in ALLOWED
    ]


def _imports(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    return names


def test_library_does_not_import_reports():
    bad = [
        f"{p.relative_to(PACKAGE)}: {name}"
        for p in _library_modules()
        for name in _imports(ast.parse(p.read_text()))
        if name == "edgevision.reports" or name.startswith("edgevision.reports.")
    ]
    assert not bad, bad


def test_library_names_no_docs_page():
    bad = [
        f"{p.relative_to(PACKAGE)}:{node.lineno}"
        for p in _library_modules()
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "docs/" in node.value
    ]
    assert not bad, bad
