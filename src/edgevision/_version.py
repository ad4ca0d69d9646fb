"""The package version, from the git tag it was built from.

setuptools-scm writes ``edgevision/_scm_version.py`` when the package is built or installed
(``v1.2.0`` -> ``1.2.0``; commits after a tag -> ``1.2.1.devN+gHASH``; no git metadata ->
the ``fallback_version`` of pyproject.toml). A source tree used without being installed has
no such file: the installed distribution's metadata is asked, and failing that
:data:`UNKNOWN` is used.
"""

from __future__ import annotations

__all__ = ["UNKNOWN", "__version__"]

UNKNOWN = "0.0.0+unknown"
"""The version of a source tree that was never built or installed."""


def _find_version() -> str:
    try:
        from edgevision._scm_version import version  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        return str(version)
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("edgevision")
    except PackageNotFoundError:
        return UNKNOWN


__version__: str = _find_version()
