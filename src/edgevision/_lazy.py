"""Lazy re-exports for package ``__init__`` modules (PEP 562).

``__getattr__, __dir__ = lazy_exports(__name__, {"package.module": ("Name", ...), ...})``
makes ``package.Name`` import ``package.module`` on first access, so importing a package
stays cheap (no torch, no onnxruntime) until a name is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

#: what a package re-exports: ``{module: (name, ...)}``, grouped by module
Exports = Mapping[str, tuple[str, ...]]


def lazy_exports(
    package: str, exports: Exports, extra: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` re-exporting ``exports``.

    ``__dir__()`` lists the exported names and ``extra`` (eagerly defined public names),
    sorted: a package's ``__all__``.

    Raises:
        ValueError: a name exported from two modules.
    """
    where: dict[str, str] = {}
    for module, names in exports.items():
        for name in names:
            if where.setdefault(name, module) != module:
                raise ValueError(f"{package}: {name!r} exported from {where[name]} and {module}")
    public = sorted({*where, *extra})

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    def __dir__() -> list[str]:
        return list(public)

    return __getattr__, __dir__
