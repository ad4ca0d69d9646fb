"""Street sequences of a split, and split selectors that hold whole sequences out.

A sample NAME of the form ``SEQUENCE_FRAME`` belongs to the sequence before the first ``_``
(CamVid: ``0016E5_07959`` -> ``0016E5``). Neighbouring frames of one sequence are near
copies, so a model validated on frames of a sequence it was trained on is measured on a
place it has seen. A **split selector**, accepted wherever a split name is read (semantic
folders, COCO-layout detection training and ``edgevision eval``), keeps or drops whole
sequences of a split::

    SPLIT                 the split as it is
    SPLIT:SEQ[+SEQ...]    only these sequences of SPLIT     (e.g. ``train:0006R0``)
    SPLIT-SEQ[+SEQ...]    SPLIT without these sequences     (e.g. ``train-0006R0``)

A split that exists under the literal name (a folder ``images/train-0006R0`` or a list
``train-0006R0.txt``) is read as it is. An unknown sequence, a selector that leaves no
image, and names without a ``SEQUENCE_`` prefix are one-line :class:`DataError`s.

:func:`sequence_folds` gives the leave-one-sequence-out folds of a split as selector pairs
(``train-0006R0`` to train, ``train:0006R0`` to validate), for comparing recipes on streets
the model has not seen. No torch, no OpenCV.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgevision.errors import ConfigError, DataError
from edgevision.io import IMAGE_SUFFIXES

__all__ = [
    "NO_SEQUENCE",
    "SequenceFold",
    "SplitSelector",
    "folder_split_exists",
    "format_sequences",
    "parse_split",
    "resolve_split",
    "sequence_counts",
    "sequence_folds",
    "sequence_of",
    "split_names",
    "split_sequences",
]

NO_SEQUENCE = ""
"""The sequence of a NAME without a ``SEQUENCE_`` prefix (listed, never selectable)."""

_SEQ = re.compile(r"[A-Za-z0-9]+")
_SPLIT = re.compile(r"[A-Za-z0-9_.]+")


def sequence_of(name: str) -> str:
    """The sequence of a sample NAME: its part before the first ``_``.

    ``"0016E5_07959"`` -> ``"0016E5"``; a directory or suffix is ignored
    (``"images/0001TP_006690.png"`` -> ``"0001TP"``). A NAME without a ``_`` (or starting
    with one) has no sequence: :data:`NO_SEQUENCE`.
    """
    stem = Path(name).stem if ("/" in name or "." in name) else name
    seq, sep, _ = stem.partition("_")
    return seq if sep and _SEQ.fullmatch(seq) else NO_SEQUENCE


def sequence_counts(names: Sequence[str]) -> dict[str, int]:
    """Images per sequence, sorted by sequence name (:data:`NO_SEQUENCE` for bare NAMEs)."""
    counts: dict[str, int] = {}
    for n in names:
        s = sequence_of(n)
        counts[s] = counts.get(s, 0) + 1
    return dict(sorted(counts.items()))


def format_sequences(counts: Mapping[str, int]) -> str:
    """``"0001TP 62, 0006R0 101"``: sequences with their image counts, for messages."""
    return ", ".join(f"{s or '(no SEQUENCE_ prefix)'} {n}" for s, n in counts.items())


@dataclass(frozen=True)
class SplitSelector:
    """A split, optionally restricted to some of its sequences (see the module docstring).

    Attributes:
        base: the split read from disk, e.g. ``"train"``.
        only: keep only these sequences (empty: no restriction).
        without: drop these sequences.
    """

    base: str
    only: tuple[str, ...] = ()
    without: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.only and self.without:
            raise ConfigError(f"split {self.base!r}: give sequences to keep or to drop, not both")

    def __str__(self) -> str:
        if self.only:
            return f"{self.base}:{'+'.join(self.only)}"
        if self.without:
            return f"{self.base}-{'+'.join(self.without)}"
        return self.base

    @property
    def filters(self) -> bool:
        """Whether the selector keeps only part of the base split."""
        return bool(self.only or self.without)

    def keeps(self, name: str) -> bool:
        """Whether the sample NAME is in the selection (no check of the sequence names)."""
        s = sequence_of(name)
        if self.only:
            return s in self.only
        return s not in self.without

    def select(self, names: Sequence[str], where: str = "") -> list[str]:
        """The NAMEs of ``names`` (the base split, in order) that the selector keeps.

        Raises:
            DataError: a named sequence is not in ``names``; a NAME has no ``SEQUENCE_``
                prefix while the selector filters; nothing is left.
        """
        if not self.filters:
            return list(names)
        at = f"{where}: " if where else ""
        counts = sequence_counts(names)
        if NO_SEQUENCE in counts:
            bare = next(n for n in names if sequence_of(n) == NO_SEQUENCE)
            raise DataError(
                f"{at}split {str(self)!r} selects sequences, but NAME {bare!r} of split "
                f"{self.base!r} has no SEQUENCE_ prefix"
            )
        unknown = [s for s in (*self.only, *self.without) if s not in counts]
        if unknown:
            raise DataError(
                f"{at}no sequence {unknown[0]!r} in split {self.base!r} "
                f"(its sequences: {format_sequences(counts) or 'none'})"
            )
        kept = [n for n in names if self.keeps(n)]
        if not kept:
            raise DataError(f"{at}split {str(self)!r} leaves no images")
        return kept


def parse_split(text: str) -> SplitSelector:
    """Parse ``SPLIT``, ``SPLIT:SEQ[+SEQ...]`` or ``SPLIT-SEQ[+SEQ...]``.

    Raises:
        ConfigError: an empty split, an empty or malformed sequence list, a repeated sequence.
    """
    t = text.strip()
    sep = ":" if ":" in t else ("-" if "-" in t else "")
    base, _, seqs = t.partition(sep) if sep else (t, "", "")
    if not _SPLIT.fullmatch(base):
        raise ConfigError(
            f"bad split {text!r}: expected SPLIT, SPLIT:SEQ[+SEQ...] or SPLIT-SEQ[+SEQ...]"
        )
    if not sep:
        return SplitSelector(base)
    names = tuple(seqs.split("+"))
    if not all(_SEQ.fullmatch(s) for s in names):
        raise ConfigError(
            f"bad split {text!r}: sequences after {sep!r} must be letters/digits joined by '+', "
            f"e.g. {base}{sep}0006R0 or {base}{sep}0001TP+0016E5"
        )
    if len(set(names)) != len(names):
        raise ConfigError(f"bad split {text!r}: a sequence is named twice")
    return SplitSelector(base, only=names) if sep == ":" else SplitSelector(base, without=names)


def resolve_split(text: str, exists: Callable[[str], bool]) -> SplitSelector:
    """The selector for ``text``: the split of that literal name when ``exists(text)``, else
    :func:`parse_split` of it."""
    return SplitSelector(text) if exists(text) else parse_split(text)


def folder_split_exists(root: str | os.PathLike[str]) -> Callable[[str], bool]:
    """``exists(split)`` for a folder in the edgevision layout: ``DIR/{split}.txt`` or
    ``DIR/images/{split}/`` is there."""
    r = Path(root)
    return lambda s: (r / f"{s}.txt").is_file() or (r / "images" / s).is_dir()


def split_names(root: str | os.PathLike[str], split: str) -> list[str]:
    """The NAMEs of a split of a folder in the edgevision layout, selector applied.

    NAMEs come from ``DIR/{base}.txt`` when present, else from the image files in
    ``DIR/images/{base}`` in name order (the semantic layout and the COCO layout of
    ``edgevision data camvid-boxes`` alike).

    Raises:
        DataError: no such split; a selector error (see :meth:`SplitSelector.select`).
    """
    r = Path(root)
    exists = folder_split_exists(r)
    sel = resolve_split(split, exists)
    if not exists(sel.base):
        raise DataError(
            f"split {sel.base!r} not found: no {r / f'{sel.base}.txt'} and no folder "
            f"{r / 'images' / sel.base}"
        )
    list_file = r / f"{sel.base}.txt"
    if list_file.is_file():
        names = [ln.strip() for ln in list_file.read_text().splitlines() if ln.strip()]
    else:
        names = sorted(
            f.stem
            for f in (r / "images" / sel.base).iterdir()
            if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()
        )
    return sel.select(names, str(r))


def split_sequences(root: str | os.PathLike[str], split: str) -> dict[str, int]:
    """Images per sequence of a split (selector applied): ``{"0016E5": 101}``."""
    return sequence_counts(split_names(root, split))


@dataclass(frozen=True)
class SequenceFold:
    """One leave-one-sequence-out fold.

    Attributes:
        held_out: the sequence held out.
        train_split: selector of the rest, e.g. ``"train-0006R0"``.
        val_split: selector of the held-out sequence, e.g. ``"train:0006R0"``.
        train_images: images in ``train_split``.
        val_images: images in ``val_split``.
    """

    held_out: str
    train_split: str
    val_split: str
    train_images: int
    val_images: int


def sequence_folds(counts: Mapping[str, int], split: str = "train") -> Iterator[SequenceFold]:
    """The leave-one-sequence-out folds of ``split``, one per sequence in name order.

    Args:
        counts: images per sequence of the split (:func:`split_sequences`).
        split: the split the counts are of (a plain split name).

    Raises:
        DataError: fewer than two sequences, or NAMEs without a ``SEQUENCE_`` prefix.
    """
    base = parse_split(split)
    if base.filters:
        raise ConfigError(f"folds are made over a plain split, got {split!r}")
    if NO_SEQUENCE in counts:
        raise DataError(f"split {split!r} has NAMEs without a SEQUENCE_ prefix: no folds")
    if len(counts) < 2:
        raise DataError(
            f"split {split!r} has {len(counts)} sequence(s) "
            f"({format_sequences(counts) or 'none'}): a fold needs at least two"
        )
    total = sum(counts.values())
    for seq, n in sorted(counts.items()):
        yield SequenceFold(
            held_out=seq,
            train_split=str(SplitSelector(split, without=(seq,))),
            val_split=str(SplitSelector(split, only=(seq,))),
            train_images=total - n,
            val_images=n,
        )
