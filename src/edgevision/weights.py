"""Shipped weights by name: ``weights/index.json`` maps a name to its file, sha256 and card.

``edgevision ship`` writes ``weights/NAME/`` (the ``.safetensors`` file, ``card.json``,
``README.md``) and rebuilds the index; every command and :func:`edgevision.load` that takes
a model accepts such a name (``edgevision eval ddrnet23_slim_camvid``), which
:func:`resolve_weights` turns into the file's path. A name is exact: no fuzzy matching.

An entry may carry a download ``url`` (a release asset). Nothing here downloads: a missing
file is a one-line error saying where to get it and where to put it.

The folder is ``$EDGEVISION_WEIGHTS`` when set, else the ``weights/`` folder of the source
checkout. Imports neither torch nor onnxruntime.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgevision.errors import ConfigError, ModelFileError
from edgevision.io import file_sha256, write_json_atomic

__all__ = [
    "INDEX_NAME",
    "WeightsEntry",
    "build_index",
    "find_weights",
    "list_weights",
    "resolve_weights",
    "weights_dir",
    "weights_path",
    "write_index",
]

INDEX_NAME = "index.json"
"""The index file inside the weights folder."""

ENV_VAR = "EDGEVISION_WEIGHTS"


@dataclass(frozen=True)
class WeightsEntry:
    """One shipped checkpoint.

    Attributes:
        name: the name (``weights/NAME/``), e.g. ``"ddrnet23_slim_camvid"``.
        model: its registry architecture, e.g. ``"ddrnet23_slim"``.
        task: ``"semantic"``, ``"detect"`` or ``"instance"``.
        file: the checkpoint path (may not exist when only the index was installed).
        sha256: hex SHA-256 of the file.
        card: the model card (``README.md``) path.
        url: where to download the file from (a release asset), or ``None``.
    """

    name: str
    model: str
    task: str
    file: Path
    sha256: str
    card: Path
    url: str | None = None


def weights_dir() -> Path:
    """The weights folder: ``$EDGEVISION_WEIGHTS``, else the source checkout's ``weights/``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "weights"


def build_index(folder: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The index of ``folder``: one entry per ``NAME/card.json``, sorted by name.

    Paths are relative to ``folder``; an existing index's ``url`` fields are kept.

    Raises:
        ConfigError: a card without ``name``/``model``/``task``/``file``/``sha256``, or a
            card whose ``name`` differs from its folder.
    """
    root = Path(folder)
    old = _read_index(root) if (root / INDEX_NAME).is_file() else {}
    index: dict[str, dict[str, Any]] = {}
    for card_path in sorted(root.glob("*/card.json")):
        card = json.loads(card_path.read_text())
        missing = [k for k in ("name", "model", "task", "file", "sha256") if not card.get(k)]
        if missing:
            raise ConfigError(f"{card_path}: card lacks {', '.join(missing)}")
        name = card["name"]
        if name != card_path.parent.name:
            raise ConfigError(f"{card_path}: name {name!r} differs from its folder")
        index[name] = {
            "model": card["model"],
            "task": card["task"],
            "file": f"{name}/{card['file']}",
            "sha256": card["sha256"],
            "card": f"{name}/README.md",
            "url": (old.get(name) or {}).get("url"),
        }
    return index


def write_index(folder: str | os.PathLike[str]) -> Path:
    """Rebuild ``folder/index.json`` from the cards (``edgevision ship`` calls this)."""
    path = Path(folder) / INDEX_NAME
    write_json_atomic(path, {"weights": build_index(folder)})
    return path


def _read_index(root: Path) -> dict[str, dict[str, Any]]:
    path = root / INDEX_NAME
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read the weights index {path}: {e}") from None
    entries = data.get("weights") if isinstance(data, Mapping) else None
    if not isinstance(entries, Mapping):
        raise ConfigError(f"{path}: expected {{'weights': {{NAME: entry}}}}")
    return {str(k): dict(v) for k, v in entries.items()}


def list_weights(folder: str | os.PathLike[str] | None = None) -> dict[str, WeightsEntry]:
    """Name -> :class:`WeightsEntry` of every shipped checkpoint (empty without an index)."""
    root = Path(folder) if folder is not None else weights_dir()
    if not (root / INDEX_NAME).is_file():
        return {}
    return {
        name: WeightsEntry(
            name=name,
            model=str(e["model"]),
            task=str(e["task"]),
            file=root / str(e["file"]),
            sha256=str(e["sha256"]),
            card=root / str(e["card"]),
            url=e.get("url") or None,
        )
        for name, e in _read_index(root).items()
    }


def find_weights(name: str, folder: str | os.PathLike[str] | None = None) -> WeightsEntry | None:
    """The entry called exactly ``name``, or ``None``."""
    return list_weights(folder).get(name)


_VERIFIED: dict[tuple[str, int, int], str] = {}
"""(path, size, mtime_ns) -> sha256 of files already hashed in this process."""


def weights_path(
    name: str, *, verify: bool = True, folder: str | os.PathLike[str] | None = None
) -> Path:
    """The checkpoint file of shipped weights ``name``, checked against the index.

    Args:
        name: a name from :func:`list_weights`.
        verify: check the file's SHA-256 (once per process and file version).
        folder: the weights folder (default :func:`weights_dir`).

    Raises:
        ModelFileError: unknown name, a missing file (with the download URL when the index
            has one), or a file whose SHA-256 differs from the index.
    """
    entry = find_weights(name, folder)
    if entry is None:
        raise ModelFileError(f"no shipped weights called {name!r} (see 'edgevision models')")
    p = entry.file
    if not p.is_file():
        where = f"download {entry.url} to {p}" if entry.url else f"expected at {p}"
        raise ModelFileError(f"weights {name!r} are not here: {where}")
    if verify:
        st = p.stat()
        key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
        digest = _VERIFIED.get(key) or file_sha256(p)
        if digest != entry.sha256:
            raise ModelFileError(
                f"weights {name!r}: {p} has sha256 {digest[:16]}…, the index says "
                f"{entry.sha256[:16]}… (a partial download or a changed file)"
            )
        _VERIFIED[key] = digest
    return p


def resolve_weights(target: Any) -> Any:
    """``target`` with a shipped-weights name replaced by its checkpoint path (a ``str``).

    Anything else (a path, a registry name, a module, an array) comes back unchanged.

    Raises:
        ModelFileError: a shipped name whose file is missing or corrupt.
    """
    if not isinstance(target, str) or not target or "/" in target or os.sep in target:
        return target
    if Path(target).suffix or Path(target).exists():
        return target
    if find_weights(target) is None:
        return target
    return str(weights_path(target))
