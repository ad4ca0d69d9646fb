"""The machinery behind pretrained-weight import: sources, mapping rules, the report.

A :class:`Source` is one published checkpoint family (torchvision's ImageNet MobileNetV2, the
official DDRNet-23-slim ImageNet file ...). It holds **one mapping table**: :class:`Rule` s
tried in order on every tensor name of the file; the first whose pattern matches the whole
name gives the name in our model. A target written ``"backbone:<name>"`` is a name *inside
the backbone module* (e.g. ``"backbone:stem.0.weight"`` of a
:class:`~edgevision.models.backbones.mobilenetv2.MobileNetV2`); :class:`Site` resolves it to
wherever that backbone lives in the model being filled (``backbone.``,
``backbone_lower.0.`` ...). Any other target is a name of the model's own ``state_dict``.

:func:`map_state` applies a source to a model and returns the tensors to load and an
:class:`ImportReport` (matched / missing / shape-mismatched / unused tensors). Callers refuse
an import where fewer than :data:`MIN_BACKBONE_MATCH` of the backbone's tensors match.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edgevision.errors import CheckpointError, ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

__all__ = [
    "BACKBONE",
    "MIN_BACKBONE_MATCH",
    "ImportReport",
    "Rule",
    "Site",
    "Source",
    "get_source",
    "list_sources",
    "map_state",
    "register_source",
    "staged_site",
]

MIN_BACKBONE_MATCH = 0.95
"""Least fraction of the backbone's tensors a source must fill (name and shape) to be used."""

BACKBONE = "backbone:"
"""Prefix of a rule target that names a tensor inside the backbone module (see :class:`Site`)."""

IGNORED_SUFFIXES = ("num_batches_tracked",)
"""Tensors neither copied nor counted: BatchNorm's step counter carries no learned value."""


@dataclass(frozen=True)
class Rule:
    """One row of a mapping table.

    Attributes:
        pattern: regular expression matched against the *whole* source tensor name.
        target: the name in our model: a template expanded with the match's groups
            (``r"backbone:stem.\\1"``), or a function of the match returning the name;
            ``None`` (or a function returning ``None``) means the tensor is not used.
    """

    pattern: str
    target: str | Callable[[re.Match[str]], str | None] | None

    def apply(self, key: str) -> tuple[bool, str | None]:
        """``(matched, target name or None)`` for the source name ``key``."""
        m = re.fullmatch(self.pattern, key)
        if m is None:
            return False, None
        if self.target is None:
            return True, None
        if callable(self.target):
            return True, self.target(m)
        return True, m.expand(self.target)


@dataclass(frozen=True)
class Site:
    """Where a source's backbone lives in a model.

    Attributes:
        prefixes: backbone-local name prefix -> model name prefix, e.g. ``{"": "backbone."}``
            for a model holding the backbone as ``model.backbone``, or YOLACT's
            ``{"stem.": "backbone_lower.0.", "stages.c4.": "backbone_upper.0.", ...}``. The
            model names under these prefixes are "the backbone" of the 95 % rule.
    """

    prefixes: Mapping[str, str]

    def resolve(self, local: str) -> str | None:
        """The model name of the backbone-local name ``local`` (``None``: no such part)."""
        best = max((p for p in self.prefixes if local.startswith(p)), key=len, default=None)
        return None if best is None else self.prefixes[best] + local[len(best) :]

    def owns(self, name: str) -> bool:
        """Whether the model tensor ``name`` belongs to the backbone."""
        return any(name.startswith(p) for p in self.prefixes.values())


def staged_site(cls: type[nn.Module]) -> Callable[[nn.Module], Site | None]:
    """A site finder for a backbone class: the model's submodule of that class, or, for a model
    that split its backbone into parts (YOLACT), its ``backbone_type`` and ``backbone_layout``.
    """

    def find(model: nn.Module) -> Site | None:
        for name, module in model.named_modules():
            if isinstance(module, cls):
                return Site({"": f"{name}." if name else ""})
        kind = getattr(model, "backbone_type", None)
        layout = getattr(model, "backbone_layout", None)
        if isinstance(kind, type) and issubclass(kind, cls) and isinstance(layout, dict):
            return Site(dict(layout))
        return None

    return find


@dataclass(frozen=True)
class Source:
    """A family of published checkpoints and how its tensors map onto our models.

    Attributes:
        name: the name users give (``--from``), e.g. ``"torchvision-mobilenetv2"``.
        title: what it is, one line.
        where: where a user with internet gets the file (and how to turn it into a state
            dict where it is not one).
        backbone: what the source's backbone is in our package (shown in errors).
        signature: tensor names every file of this source holds (used to recognise a file).
        rules: the mapping table (first match wins; an unmatched name is unused).
        site: finds the source's backbone in a model (``None``: the model has none).
        bias_folds: ``(source conv bias, model BatchNorm prefix)`` pairs: a conv bias that our
            bias-free conv cannot hold, folded exactly into the following BatchNorm's running
            mean (``BN(conv(x) + b)`` = ``BN'(conv(x))`` with ``mean' = mean - b``).
    """

    name: str
    title: str
    where: str
    backbone: str
    signature: tuple[str, ...]
    rules: tuple[Rule, ...]
    site: Callable[[nn.Module], Site | None]
    bias_folds: tuple[tuple[str, str], ...] = ()

    def target(self, key: str) -> str | None:
        """The (possibly backbone-local) target name of source tensor ``key``; ``None``: unused."""
        for rule in self.rules:
            hit, target = rule.apply(key)
            if hit:
                return target
        return None

    def recognises(self, keys: Sequence[str] | set[str]) -> bool:
        """Whether a file with these tensor names looks like this source."""
        have = set(keys)
        return all(k in have for k in self.signature)


_SOURCES: dict[str, Source] = {}


def register_source(source: Source) -> Source:
    """Add ``source`` to the registry of converters.

    Raises:
        ValueError: the name is taken.
    """
    if source.name in _SOURCES:
        raise ValueError(f"pretrained source {source.name!r} is already registered")
    _SOURCES[source.name] = source
    return source


def list_sources() -> list[str]:
    """Names of the registered sources, sorted."""
    return sorted(_SOURCES)


def get_source(name: str) -> Source:
    """The source called ``name``.

    Raises:
        ConfigError: unknown name (listing the known ones).
    """
    try:
        return _SOURCES[name]
    except KeyError:
        raise ConfigError(
            f"unknown pretrained source {name!r} (known: {', '.join(list_sources())})"
        ) from None


@dataclass
class ImportReport:
    """What an import filled in a model.

    Attributes:
        source: the source's name.
        file: the file read.
        model: the registry name of the model filled.
        matched: model tensor names filled from the file (name and shape fit).
        missing: model tensors the file does not fill (they keep their initialisation).
        mismatched: ``(source name, model name, source shape, model shape)`` of tensors whose
            names map but whose shapes differ (e.g. a 1000-class classifier, a narrower width).
        unused: source tensors with no place in the model (classifier, flow network ...).
        folded: source conv biases folded into a BatchNorm.
        backbone_total: tensors of the model's backbone (BatchNorm step counters excluded).
        backbone_matched: how many of them were filled.
    """

    source: str
    file: str
    model: str
    matched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, str, tuple[int, ...], tuple[int, ...]]] = field(
        default_factory=list
    )
    unused: list[str] = field(default_factory=list)
    folded: list[str] = field(default_factory=list)
    backbone_total: int = 0
    backbone_matched: int = 0

    @property
    def backbone_fraction(self) -> float:
        """Filled fraction of the backbone's tensors (0–1; 0 when it has none)."""
        return self.backbone_matched / self.backbone_total if self.backbone_total else 0.0

    def check(self, minimum: float = MIN_BACKBONE_MATCH) -> None:
        """Refuse an import that fills less than ``minimum`` of the backbone.

        Raises:
            CheckpointError: one line with the counts and the first mismatches.
        """
        if self.backbone_total and self.backbone_fraction >= minimum:
            return
        why = ""
        if self.mismatched:
            s, t, ss, ts = self.mismatched[0]
            why = (
                f"; {len(self.mismatched)} shape mismatch(es), e.g. {s} {list(ss)} vs {t} "
                f"{list(ts)}"
            )
        elif self.missing:
            why = f"; e.g. nothing for {self.missing[0]}"
        raise CheckpointError(
            f"{self.file} ({self.source}) fills only {self.backbone_matched}/"
            f"{self.backbone_total} ({100 * self.backbone_fraction:.0f}%) of {self.model}'s "
            f"backbone tensors, need >= {100 * minimum:.0f}%{why}"
        )

    def lines(self) -> list[str]:
        """A short human-readable summary (a few lines, examples abbreviated)."""

        def some(names: Sequence[str], k: int = 3) -> str:
            head = ", ".join(names[:k])
            return f" ({head}{', ...' if len(names) > k else ''})" if names else ""

        out = [
            f"{self.source} -> {self.model}: backbone {self.backbone_matched}/"
            f"{self.backbone_total} tensors ({100 * self.backbone_fraction:.1f}%)",
            f"  matched {len(self.matched)}, missing {len(self.missing)}"
            f"{some(self.missing)}, shape-mismatched {len(self.mismatched)}"
            f"{some([f'{t} {list(ss)} vs {list(ts)}' for _, t, ss, ts in self.mismatched], 2)}",
            f"  unused from the file {len(self.unused)}{some(self.unused)}",
        ]
        if self.folded:
            out.append(f"  conv biases folded into BatchNorm: {', '.join(self.folded)}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """Counts and a few examples, JSON-serialisable (for a checkpoint's metadata)."""
        return {
            "source": self.source,
            "file": self.file,
            "backbone_matched": self.backbone_matched,
            "backbone_total": self.backbone_total,
            "matched": len(self.matched),
            "missing": len(self.missing),
            "mismatched": len(self.mismatched),
            "unused": len(self.unused),
            "missing_examples": self.missing[:5],
            "mismatched_examples": [
                [s, t, list(ss), list(ts)] for s, t, ss, ts in self.mismatched[:5]
            ],
        }


def _ignored(name: str) -> bool:
    return name.endswith(IGNORED_SUFFIXES)


def map_state(
    source: Source,
    state: Mapping[str, torch.Tensor],
    model: nn.Module,
    *,
    file: str = "",
    model_name: str = "",
) -> tuple[dict[str, torch.Tensor], ImportReport]:
    """Map a source ``state`` onto ``model``'s tensor names and shapes.

    Args:
        source: the source the file comes from.
        state: the file's tensors by name.
        model: the model to fill (only read here).
        file: the file's name, for the report.
        model_name: the model's registry name, for the report.

    Returns:
        ``(tensors to load, report)``: the tensors carry the model's names and dtypes;
        load them with ``model.load_state_dict(tensors, strict=False)``.

    Raises:
        CheckpointError: the model has no backbone of the source's kind.
    """
    name = model_name or type(model).__name__
    site = source.site(model)
    if site is None:
        raise CheckpointError(
            f"{file or source.name}: {source.title} weights have no place in {name} "
            f"(it has no {source.backbone})"
        )
    own = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    report = ImportReport(source=source.name, file=file, model=name)
    for key, value in state.items():
        if _ignored(key):
            continue
        target = source.target(key)
        if target is not None and target.startswith(BACKBONE):
            target = site.resolve(target[len(BACKBONE) :])
        if target is None or target not in own:
            report.unused.append(key)
            continue
        want = own[target]
        if tuple(value.shape) != tuple(want.shape):
            report.mismatched.append((key, target, tuple(value.shape), tuple(want.shape)))
            continue
        out[target] = value.detach().to(dtype=want.dtype).clone()
    for bias_key, bn in source.bias_folds:
        mean_key = site.resolve(bn[len(BACKBONE) :]) if bn.startswith(BACKBONE) else bn
        mean_key = f"{mean_key}.running_mean" if mean_key else None
        bias = state.get(bias_key)
        if bias is None or mean_key is None or mean_key not in out:
            continue
        if tuple(bias.shape) == tuple(out[mean_key].shape):
            out[mean_key] = out[mean_key] - bias.to(out[mean_key].dtype)
            report.folded.append(bias_key)
            if bias_key in report.unused:
                report.unused.remove(bias_key)
    counted = [k for k in own if not _ignored(k)]
    report.matched = [k for k in counted if k in out]
    report.missing = [k for k in counted if k not in out]
    backbone = [k for k in counted if site.owns(k)]
    report.backbone_total = len(backbone)
    report.backbone_matched = sum(k in out for k in backbone)
    return out, report
