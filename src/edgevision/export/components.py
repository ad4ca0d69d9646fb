"""Components -> ONNX nodes, and per-component precision.

``torch.onnx.export`` names every node after the chain of modules that were *called* to
produce it, e.g. ``/backbone/c2/c2.1/conv/conv.0/conv.0.0/Conv``. Each path segment is the
module's qualified name cut back to its last non-numeric atom (``c2.1`` for
``backbone.c2.1``; see ``_unqualified_variable_name`` in torch's exporter), and containers
that are indexed but never called (``nn.ModuleDict``) leave no segment at all. So the
qualified module name cannot be read off the name alone: ``low["layer3"]`` and
``high["layer3"]`` of DDRNet both export as ``/layer3/...``. Torch makes the names unique by
suffixing the innermost scope of the second call with ``_1`` (``conv1.0_1``), in call order.
So the real model is run once with forward hooks that record, for every scope path, which
module was called in which order; a node's path and suffix then name its module exactly.
Names the hooks did not see fall back to a segment-by-segment walk over
``named_modules()``. A component (a prefix declared with
``register_model(components=...)``) owns the nodes whose module is the prefix or lies under
it. Nodes created outside any submodule (top-level resize, concat ...) belong to no component
and take the default precision.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edgevision.config import ModelSpec
from edgevision.errors import ConfigError

OTHER = "(other)"
"""Pseudo-component of nodes outside every declared component (the glue between and after
them: e.g. YOLACT's output Concat/Softmax). ``--precision other=fp32`` sets it."""

OTHER_NAME = "other"
"""The name :data:`OTHER` goes by in ``--precision`` and in the sensitivity analysis."""


def _index(qualnames: Iterable[str]) -> dict[str, list[str]]:
    by_seg: dict[str, list[str]] = defaultdict(list)
    for q in qualnames:
        atoms = q.split(".")
        for i, atom in reversed(list(enumerate(atoms))):
            if not atom.isnumeric():
                by_seg[".".join(atoms[i:])].append(q)
                break
    for v in by_seg.values():
        v.sort(key=len)
    return by_seg


def _unqualified(q: str) -> str:
    atoms = q.split(".")
    for i, atom in reversed(list(enumerate(atoms))):
        if not atom.isnumeric():
            return ".".join(atoms[i:])
    return q


def call_scopes(model: Any, example: Any) -> dict[str, list[str]]:
    """Scope path (as torch.onnx names it) -> qualified module names in call order.

    Runs ``model(example)`` once with forward hooks (no gradients).
    """
    import torch

    names = {m: n for n, m in model.named_modules()}
    stack: list[str] = []
    order: dict[str, list[str]] = defaultdict(list)

    def pre(mod: Any, _inp: Any) -> None:
        q = names.get(mod, "")
        stack.append(_unqualified(q) if q else "")
        if q:
            order["/".join(s for s in stack if s)].append(q)

    def post(_mod: Any, _inp: Any, _out: Any) -> None:
        stack.pop()

    handles = []
    for m in model.modules():
        handles.append(m.register_forward_pre_hook(pre))
        handles.append(m.register_forward_hook(post))
    try:
        with torch.no_grad():
            model.eval()(example)
    finally:
        for h in handles:
            h.remove()
    return dict(order)


_SUFFIX = re.compile(r"^(.*)_(\d+)$")


def node_module(
    node_name: str,
    index: Mapping[str, Sequence[str]],
    scopes: Mapping[str, Sequence[str]] | None = None,
) -> str | None:
    """The qualified module name that produced ``node_name`` (``None`` if top-level/unknown).

    ``scopes`` (from :func:`call_scopes`) resolves repeated scope paths exactly; without it,
    or for paths it lacks, each segment picks the shortest matching qualified name.
    """
    if not node_name.startswith("/"):
        return None
    segs = node_name.strip("/").split("/")[:-1]
    if scopes and segs:
        path = "/".join(segs)
        if path in scopes:
            return scopes[path][0]
        m = _SUFFIX.match(segs[-1])
        if m:
            base = "/".join([*segs[:-1], m.group(1)])
            k = int(m.group(2))
            if base in scopes and k < len(scopes[base]):
                return scopes[base][k]
    q = ""
    for seg in segs:
        nxt = next(
            (c for c in index.get(seg, ()) if not q or c.startswith(q + ".")),
            None,
        )
        if nxt is None:
            break
        q = nxt
    return q or None


def component_of(module: str | None, components: Sequence[str]) -> str:
    """The longest declared component that is ``module`` or a prefix of it, else :data:`OTHER`."""
    if module is None:
        return OTHER
    best = ""
    for c in components:
        if (module == c or module.startswith(c + ".")) and len(c) > len(best):
            best = c
    return best or OTHER


@dataclass
class NodeMap:
    """Which component and module each ONNX node belongs to.

    Attributes:
        components: declared component names of the model, in declaration order.
        node_component: node name -> component (or :data:`OTHER`).
        node_module: node name -> qualified module name (or ``None``).
        node_op: node name -> ONNX op type.
    """

    components: tuple[str, ...]
    node_component: dict[str, str]
    node_module: dict[str, str | None]
    node_op: dict[str, str]

    def nodes(self, component: str, op_types: Iterable[str] | None = None) -> list[str]:
        """Node names of ``component`` (optionally only those of ``op_types``)."""
        ops = set(op_types) if op_types is not None else None
        return [
            n
            for n, c in self.node_component.items()
            if c == component and (ops is None or self.node_op[n] in ops)
        ]

    def counts(self) -> dict[str, int]:
        """Number of nodes per component (including :data:`OTHER` when non-empty)."""
        out: dict[str, int] = defaultdict(int)
        for c in self.node_component.values():
            out[c] += 1
        return dict(out)


def model_components(spec: ModelSpec) -> tuple[str, ...]:
    """The components the registry declares for ``spec.name`` (may be empty)."""
    from edgevision.registry import get_entry

    return get_entry(spec.name).components


def build_node_map(proto: Any, spec: ModelSpec) -> NodeMap:
    """Map every node of ``proto`` (an ``onnx.ModelProto``) to its module and component.

    The module tree comes from instantiating the registered architecture of ``spec`` (random
    weights; only the names are used).
    """
    from edgevision.registry import model_from_spec

    comps = model_components(spec)
    import torch

    model = model_from_spec(spec)
    index = _index(n for n, _ in model.named_modules() if n)
    scopes = call_scopes(model, torch.zeros(1, 3, *spec.input_size))
    node_comp: dict[str, str] = {}
    node_mod: dict[str, str | None] = {}
    node_op: dict[str, str] = {}
    for node in proto.graph.node:
        mod = node_module(node.name, index, scopes)
        node_mod[node.name] = mod
        node_comp[node.name] = component_of(mod, comps)
        node_op[node.name] = node.op_type
    return NodeMap(comps, node_comp, node_mod, node_op)


def resolve_precision(
    precision: Mapping[str, str], default: str, components: Sequence[str]
) -> dict[str, str]:
    """Full ``{component: precision}`` map (every declared component plus :data:`OTHER`,
    which ``precision`` names :data:`OTHER_NAME`; it follows ``default`` unless given).

    Raises:
        ConfigError: a component the model does not declare.
    """
    unknown = [c for c in precision if c not in components and c != OTHER_NAME]
    if unknown:
        have = ", ".join([*components, OTHER_NAME]) if components else "none"
        raise ConfigError(
            f"unknown component {unknown[0]!r} in --precision (this model declares: {have})"
        )
    full = {c: precision.get(c, default) for c in components}
    full[OTHER] = precision.get(OTHER_NAME, default)
    return full


def split_nodes(node_map: NodeMap, full: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """``(int8 nodes, excluded nodes)`` for a full component -> precision map."""
    quant: list[str] = []
    excl: list[str] = []
    for node, comp in node_map.node_component.items():
        (quant if full.get(comp, "int8") == "int8" else excl).append(node)
    return quant, excl
