"""Lazy re-exports for package ``__init__`` modules (PEP 562).

``__getattr__, __dir__ = lazy_exports(__name__, {"Name": "package.module", ...})`` makes
``package.Name`` import ``package.module`` on first access, so importing a package stays
cheap (no torch, no onnxruntime) until a name is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any


def lazy_exports(
    package: str, exports: dict[str, str], extra: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` re-exporting ``exports`` (name -> module).

    ``extra`` lists eagerly defined public names to include in ``dir()``.
    """
    public = sorted({*exports, *extra})

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    def __dir__() -> list[str]:
        return public

    return __getattr__, __dir__
