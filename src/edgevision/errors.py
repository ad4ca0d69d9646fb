"""User-facing errors.

Every error a user can cause by bad input (a missing file, a malformed override, an unknown
model name ...) is an :class:`EdgeVisionError`. The CLI prints its message as one line and
exits non-zero; a traceback appears only with ``--debug``. Messages name the file or field
and say what is wrong.
"""

from __future__ import annotations


class EdgeVisionError(Exception):
    """Base class for errors caused by user input or environment; printed as one line."""

    exit_code: int = 2


class ConfigError(EdgeVisionError, ValueError):
    """A config value, YAML file or ``key=value`` override is malformed or of the wrong type."""


class DataError(EdgeVisionError):
    """A dataset file or folder is missing, unreadable, corrupt or inconsistent."""


class ModelNotFoundError(EdgeVisionError, KeyError):
    """A model name is not in the registry."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class CheckpointError(EdgeVisionError):
    """A checkpoint is missing, corrupt, or was saved for a different model."""


class BackendUnavailable(EdgeVisionError, ImportError):
    """An inference or export backend is not installed; the message carries the install hint."""


class ExportError(EdgeVisionError):
    """Export failed, or the exported model does not match PyTorch within tolerance."""


class ModelFileError(EdgeVisionError):
    """A model file (ONNX, engine) is missing, not of the expected format, or lacks metadata."""


def first_line(e: BaseException) -> str:
    """The first line of ``e``'s message (its type name when it has none), for one-line errors."""
    return (str(e).splitlines() or [type(e).__name__])[0]


def require_file(path: object, what: str = "file") -> None:
    """Raise :class:`DataError` naming ``path`` if it does not exist or is not a file."""
    _require(path, what, "file")


def require_dir(path: object, what: str = "folder") -> None:
    """Raise :class:`DataError` naming ``path`` if it does not exist or is not a directory."""
    _require(path, what, "folder")


def _require(path: object, what: str, kind: str) -> None:
    from pathlib import Path

    p = Path(str(path))
    if not p.exists():
        raise DataError(f"{what} not found: {p}")
    if not (p.is_file() if kind == "file" else p.is_dir()):
        raise DataError(f"{what} is not a {kind}: {p}")


class OutputError(EdgeVisionError):
    """An output path cannot be written: a folder where a file goes (or the reverse), a
    file where a parent folder goes, or a folder that is not writable."""


def require_writable_output(path: object, what: str = "output", *, folder: bool = False) -> None:
    """Check, before any work, that ``path`` can be written as a file (or, with ``folder``,
    as a folder); raise :class:`OutputError` naming ``what`` and the path otherwise.

    Missing parent folders are fine (the writers create them); a parent that is a file, an
    existing path of the other kind, or a folder this process cannot write is not.
    """
    import os
    from pathlib import Path

    p = Path(str(path))
    kind = "folder" if folder else "file"
    if p.exists():
        if folder and not p.is_dir():
            raise OutputError(f"{what}: {p} is a file, not a folder")
        if not folder and p.is_dir():
            raise OutputError(f"{what}: {p} is a folder, not a file")
    anchor = p if folder and p.is_dir() else p.parent
    while not anchor.exists() and not anchor.is_symlink() and anchor != anchor.parent:
        anchor = anchor.parent
    if anchor.exists() and not anchor.is_dir():
        raise OutputError(f"{what}: cannot write {kind} {p}: {anchor} is a file, not a folder")
    if not anchor.exists():  # a dangling symlink on the way
        raise OutputError(f"{what}: cannot write {kind} {p}: {anchor} is a broken link")
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise OutputError(f"{what}: cannot write {kind} {p}: folder {anchor} is not writable")
