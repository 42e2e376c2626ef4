"""Record the attention of every attention module inside a model, without touching its code.

:func:`record` is a context manager: on entry it attaches a forward hook (and a forward
pre-hook) to each selected attention module of ``model``; every call of such a module inside the
``with`` block appends one :class:`AttentionRecord` to the yielded :class:`Recording`; on exit
the hooks are removed. Nothing of the model changes, and a model outside the block runs exactly
as before.

Which modules are attention modules: every class of the mechanism registry
(:func:`attnlab.core.registry.list_mechanisms`: the mechanisms, the spatial transformer and the
squeeze-and-excitation family), the two architectures that compute their attention inline,
:class:`~attnlab.architectures.memn2n.MemN2N` and :class:`~attnlab.architectures.pointer.
PointerNetwork`, and the network blocks that carry an SE block (ResNet's bottleneck and
pre-activation blocks, the Inception module): the standard SE position fuses the gating into the
residual sum and never calls the SE module's ``forward``, so the gates are recorded from the
block's output (``BlockOutput.weights``). By default only the outermost ones are recorded (an
SCSE block, not the SE block inside it); ``include`` selects others, by qualified name or by
type, and a type given there makes its instances attention modules even when they are not
attnlab's.

What a record calls ``weights`` is the module's own ``weights`` field (the second field of its
output), with the layout its docstring states; :data:`KINDS` names what that tensor is:

=============  ==========================================================================
kind           weights
=============  ==========================================================================
``tokens``     distributions over keys: ``(B, [H,] Lq, Lk)`` and the family's variants
``gates``      channel (and spatial) gates of SE, ECA, CBAM, SCSE, gather-excite
``grids``      the transformation parameters ``theta`` of a spatial transformer (its
               sampling grid is in ``extras["grid"]``)
``edges``      graph attention coefficients, ``(E, H)`` on an edge list or ``(B, H, N, N)``
``pointers``   pointer distributions ``(B, T, K)`` over the inputs
``samples``    one-hot samples of hard attention (the distribution in ``extras["probs"]``)
=============  ==========================================================================
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import inspect
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from torch import Tensor, nn

from attnlab.core.weight_selection import WeightSelection

__all__ = [
    "KINDS",
    "AttentionRecord",
    "Recording",
    "Selector",
    "attention_kind",
    "record",
]

KINDS: tuple[str, ...] = ("tokens", "gates", "grids", "edges", "pointers", "samples")
"""What a record's ``weights`` are; see the module docstring."""

Selector = str | type[nn.Module] | Sequence[str | type[nn.Module]]
"""Modules chosen by qualified name (an :mod:`fnmatch` pattern such as ``"encoder.*"``), by
type, or by a sequence mixing both (a module is chosen when any entry matches)."""


class AttentionRecord(NamedTuple):
    """One call of one attention module during :func:`record`.

    Attributes:
        name: the module's qualified name in the recorded model (``""`` for the model itself),
            e.g. ``"encoder.layers.0.self_attn"``.
        kind: one of :data:`KINDS`.
        weights: the ``weights`` field of the module's output, as the module returned it (not a
            copy: it carries the autograd graph when one was built); ``None`` when the module
            ran with ``need_weights=False``.
        axes: a name per dimension of ``weights``, e.g. ``("batch", "head", "query", "key")``;
            ``()`` when ``weights`` is ``None``.
        need_weights: whether the call returned weights (``False`` for a module called with
            ``need_weights=False`` and not forced, whose ``weights`` is ``None``).
        forced: whether ``force_weights`` turned a ``need_weights=False`` call into one with
            weights.
        call: how many calls of this module were recorded before this one (a recurrent
            decoder calls its attention once per step).
        module_type: the module's class name.
        extras: the other tensor fields of the output (``theta`` and ``grid`` of a spatial
            transformer, ``word_weights`` of hierarchical attention, ``probs`` of hard
            attention, ...), by field name.
        selection: the :class:`~attnlab.core.weight_selection.WeightSelection` a
            ``force_weights`` mapping asked for, with explicit indices when the module has a
            ``num_heads`` (``weights[:, a, b]`` is head ``selection.heads[a]``, query
            ``selection.queries[b]``); ``None`` when ``weights`` holds every entry.
    """

    name: str
    kind: str
    weights: Tensor | None
    axes: tuple[str, ...]
    need_weights: bool
    forced: bool
    call: int
    module_type: str
    extras: Mapping[str, Tensor]
    selection: WeightSelection | None = None


class Recording(list[AttentionRecord]):
    """The records of one :func:`record` block, in call order (a ``list`` of
    :class:`AttentionRecord`).

    Example:
        >>> import torch
        >>> from attnlab.architectures.transformer import TransformerEncoder
        >>> encoder = TransformerEncoder(2, 8, 2, 16, dropout=0.0)
        >>> with record(encoder) as rec:
        ...     _ = encoder(torch.randn(1, 5, 8))
        >>> [r.name for r in rec]
        ['layers.0.self_attn', 'layers.1.self_attn']
        >>> [tuple(w.shape) for w in rec.weights("layers.1.*")]
        [(1, 2, 5, 5)]
    """

    def select(self, pattern: str = "*", *, kind: str | None = None) -> list[AttentionRecord]:
        """The records whose name matches the :mod:`fnmatch` ``pattern`` (and of ``kind``)."""
        if kind is not None and kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        return [
            r for r in self
            if fnmatch.fnmatchcase(r.name, pattern) and (kind is None or r.kind == kind)
        ]

    def weights(self, pattern: str = "*", *, kind: str | None = None) -> list[Tensor]:
        """The weights of :meth:`select`'s records.

        Raises:
            ValueError: if one of them ran with ``need_weights=False`` (``weights`` is
                ``None``); record it with ``force_weights`` to get its weights.
        """
        records = self.select(pattern, kind=kind)
        missing = [r.name for r in records if r.weights is None]
        if missing:
            raise ValueError(
                f"{missing} ran with need_weights=False and have no weights; record them with "
                "force_weights=... to compute their weights"
            )
        return [r.weights for r in records if r.weights is not None]


# ---------------------------------------------------------------------------------------------
# which modules are attention modules, and what their weights are


@functools.cache
def _kind_table() -> tuple[tuple[type[nn.Module], str], ...]:
    """``(type, kind)`` of attnlab's attention modules, the specific kinds first.

    Imported on first use so that ``import attnlab.interpret`` stays light.
    """
    from attnlab.architectures.memn2n import MemN2N
    from attnlab.architectures.pointer import PointerNetwork
    from attnlab.core.registry import list_mechanisms
    from attnlab.mechanisms.graph import GraphAttention
    from attnlab.mechanisms.hard import HardAttention
    from attnlab.vision.channel_attention import CBAM, ECA, SCSE, GatherExcite
    from attnlab.vision.spatial_transformer import (
        ParallelSpatialTransformers,
        SequentialSpatialTransformers,
        SpatialTransformer,
    )
    from attnlab.vision.squeeze_excitation import SqueezeExcitation

    specific: list[tuple[type[nn.Module], str]] = [
        (SqueezeExcitation, "gates"), (ECA, "gates"), (CBAM, "gates"), (SCSE, "gates"),
        (GatherExcite, "gates"), (SpatialTransformer, "grids"), (GraphAttention, "edges"),
        (HardAttention, "samples"), (PointerNetwork, "pointers"), (MemN2N, "tokens"),
    ]
    # The composite spatial transformers are not registered: their SpatialTransformer children
    # are recorded, unless a user includes the composites by type.
    composites = (ParallelSpatialTransformers, SequentialSpatialTransformers)
    known = {cls for cls, _ in specific}
    registered = [
        (entry.cls, "tokens") for entry in list_mechanisms()
        if entry.cls not in known and not issubclass(entry.cls, composites)
    ]
    return (*specific, *registered)


@functools.cache
def _se_blocks() -> tuple[tuple[type[nn.Module], ...], type[nn.Module]]:
    """The block types that may carry an SE block, and the SE type."""
    from attnlab.vision.inception import InceptionModule
    from attnlab.vision.squeeze_excitation import (
        Bottleneck,
        PreActBasicBlock,
        PreActBottleneck,
        SqueezeExcitation,
    )

    return (Bottleneck, PreActBasicBlock, PreActBottleneck, InceptionModule), SqueezeExcitation


def attention_kind(module: nn.Module) -> str | None:
    """The :data:`KINDS` entry of an attnlab attention module, ``None`` for any other module.

    Example:
        >>> from attnlab.vision import SqueezeExcitation
        >>> from attnlab.mechanisms import MultiHeadAttention
        >>> attention_kind(SqueezeExcitation(16, 4)), attention_kind(MultiHeadAttention(8, 2))
        ('gates', 'tokens')
        >>> attention_kind(nn.Linear(2, 2)) is None
        True
    """
    for cls, kind in _kind_table():
        if isinstance(module, cls):
            return kind
    blocks, se = _se_blocks()
    if isinstance(module, blocks) and any(isinstance(c, se) for c in module.children()):
        return "gates"
    return None


_AXES_BY_TYPE: dict[str, dict[int, tuple[str, ...]]] = {
    "MultiHeadAttention": {4: ("batch", "head", "query", "key")},
    "GraphAttention": {
        2: ("edge", "head"), 3: ("head", "node", "neighbour"),
        4: ("batch", "head", "node", "neighbour"),
    },
    "GatherExcite": {4: ("batch", "channel", "height", "width")},
    "SpatialTransformer": {2: ("batch", "parameter")},
    "PointerNetwork": {3: ("batch", "step", "input")},
    "MemN2N": {3: ("batch", "hop", "memory")},
    "HierarchicalAttention": {2: ("batch", "sentence")},
    "LocalAttention": {3: ("batch", "query", "window")},
    "SlidingWindowAttention": {3: ("batch", "query", "window")},
    "StructuredSelfAttention": {3: ("batch", "hop", "key")},
    "FeatureWiseAttention": {
        3: ("batch", "key", "feature"), 4: ("batch", "query", "key", "feature"),
    },
    "MetaEmbedding": {3: ("batch", "token", "embedding")},
}
_AXES_BY_KIND: dict[str, dict[int, tuple[str, ...]]] = {
    "tokens": {
        2: ("batch", "key"), 3: ("batch", "query", "key"), 4: ("batch", "head", "query", "key"),
    },
    "gates": {2: ("batch", "channel")},
    "samples": {3: ("batch", "query", "key")},
    "grids": {2: ("batch", "parameter"), 3: ("batch", "row", "column")},
    "pointers": {3: ("batch", "step", "input")},
    "edges": _AXES_BY_TYPE["GraphAttention"],
}


def _axes(module: nn.Module, kind: str, weights: Tensor | None) -> tuple[str, ...]:
    if weights is None:
        return ()
    for cls in type(module).__mro__:
        table = _AXES_BY_TYPE.get(cls.__name__)
        if table is not None and weights.dim() in table:
            return table[weights.dim()]
    by_kind = _AXES_BY_KIND.get(kind, {})
    return by_kind.get(weights.dim(), tuple(f"dim{i}" for i in range(weights.dim())))


def _split_output(output: Any) -> tuple[Tensor | None, dict[str, Tensor]]:
    """``(weights, extras)`` of a module's output: a NamedTuple's ``weights`` field and its other
    tensor fields after ``context``, or the second item of a plain tuple."""
    fields = getattr(output, "_fields", None)
    if fields is not None and "weights" in fields:
        weights = output.weights
        extras = {
            f: v for f in fields
            if f not in ("context", "weights") and isinstance(v := getattr(output, f), Tensor)
        }
        return (weights if isinstance(weights, Tensor) else None), extras
    if isinstance(output, tuple) and len(output) >= 2 and isinstance(output[1], Tensor):
        return output[1], {}
    return None, {}


# ---------------------------------------------------------------------------------------------
# selection


def _entries(selector: Selector | None, name: str) -> list[str | type[nn.Module]]:
    if selector is None:
        return []
    if isinstance(selector, (str, type)):
        return [selector]
    if isinstance(selector, Sequence):
        entries = list(selector)
        for entry in entries:
            if not isinstance(entry, (str, type)):
                raise TypeError(
                    f"{name} entries must be name patterns (str) or module types, got "
                    f"{type(entry).__name__}"
                )
        return entries
    raise TypeError(
        f"{name} must be a name pattern, a module type or a sequence of them, got "
        f"{type(selector).__name__}"
    )


def _matches(entries: Sequence[str | type[nn.Module]], name: str, module: nn.Module) -> bool:
    return any(
        fnmatch.fnmatchcase(name, e) if isinstance(e, str) else isinstance(module, e)
        for e in entries
    )


def _select(
    model: nn.Module, include: Selector | None
) -> list[tuple[str, nn.Module, str]]:
    """``(name, module, kind)`` of the modules to record."""
    entries = _entries(include, "include")
    types = tuple(e for e in entries if isinstance(e, type))
    chosen: list[tuple[str, nn.Module, str]] = []
    for name, module in model.named_modules():
        kind = attention_kind(module)
        if kind is None and types and isinstance(module, types):
            kind = "tokens"
        if kind is None:
            continue
        if entries:
            if _matches(entries, name, module):
                chosen.append((name, module, kind))
        elif not any(name.startswith(outer + ".") or outer == "" for outer, _, _ in chosen):
            chosen.append((name, module, kind))  # outermost only (named_modules is pre-order)
    if not chosen:
        what = "no attention module" if not entries else f"include={include!r} matches nothing"
        known = [n for n, m in model.named_modules() if attention_kind(m) is not None]
        raise ValueError(
            f"{type(model).__name__} has {what} to record; its attention modules: {known}"
        )
    return chosen


def _takes_need_weights(module: nn.Module) -> bool:
    """Whether the module's ``forward`` has a ``need_weights`` parameter."""
    try:
        return "need_weights" in inspect.signature(module.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return False


_Forcing = list[tuple[str | type[nn.Module], bool | WeightSelection]]


def _forcing(
    force_weights: bool | Selector | Mapping[str, bool | WeightSelection] | None,
) -> _Forcing:
    """``force_weights`` as ``(entry, what to force)`` pairs, the first match winning."""
    if force_weights is True:
        return [("*", True)]
    if force_weights is None or force_weights is False:
        return []
    if isinstance(force_weights, Mapping):
        pairs: _Forcing = []
        for pattern, value in force_weights.items():
            if not isinstance(pattern, (str, type)):
                raise TypeError(
                    "force_weights keys must be name patterns (str) or module types, got "
                    f"{type(pattern).__name__}"
                )
            if not isinstance(value, (bool, WeightSelection)):
                raise TypeError(
                    f"force_weights[{pattern!r}] must be True, False or a WeightSelection, got "
                    f"{type(value).__name__}"
                )
            pairs.append((pattern, value))
        return pairs
    return [(entry, True) for entry in _entries(force_weights, "force_weights")]


def _forced_value(forcing: _Forcing, name: str, module: nn.Module) -> bool | WeightSelection:
    """What a module is forced to compute: ``False`` (nothing), ``True`` or a selection."""
    for entry, value in forcing:
        if _matches([entry], name, module):
            return value
    return False


def _resolved(
    selection: WeightSelection, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> WeightSelection:
    """``selection`` with explicit indices when the module's heads and queries are known."""
    query = args[0] if args else kwargs.get("query")
    num_heads = getattr(module, "num_heads", None)
    if isinstance(query, Tensor) and query.dim() >= 2 and isinstance(num_heads, int):
        return selection.resolve(num_heads=num_heads, q_len=query.shape[1])
    return selection


# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def record(
    model: nn.Module,
    *,
    include: Selector | None = None,
    force_weights: bool | Selector | Mapping[str, bool | WeightSelection] | None = None,
) -> Iterator[Recording]:
    """Record the attention of the attention modules of ``model`` during the ``with`` block.

    Forward hooks (PyTorch's ``register_forward_hook`` with ``with_kwargs=True``) see every call
    of the selected modules; the model's code is not changed and the hooks are removed on exit,
    also when the block raises.

    **Fused calls.** A module called with ``need_weights=False`` (the route to fused kernels)
    is still recorded, with ``weights=None`` and ``need_weights=False``. ``force_weights`` makes
    chosen modules compute their weights anyway: a forward pre-hook rewrites their
    ``need_weights=False`` to ``True`` (their output is unchanged but for ``weights``), while the
    other modules keep the fused path. Only the module's own ``weights`` field changes; a
    caller that discards it (a ``StackOutput`` built with ``need_weights=False``) still does.

    Args:
        model: any ``nn.Module`` containing attnlab attention modules (or being one).
        include: which modules to record: name patterns (:mod:`fnmatch`, matched against the
            qualified names of ``model.named_modules()``), types, or a sequence of both; a type
            also makes modules that are not attnlab's recordable (their output's ``weights``
            field, or the second item of a tuple, is the record's tensor). ``None``: every
            outermost attention module.
        force_weights: the recorded modules that must compute weights: ``True`` for all of
            them, a selector as ``include`` for some, ``None``/``False`` for none; or a mapping
            from name patterns to what to force: ``True`` (every weight) or a
            :class:`~attnlab.core.weight_selection.WeightSelection` (the fused context and the
            weights of some heads and queries only, for modules that accept one, such as
            :class:`~attnlab.mechanisms.multihead.MultiHeadAttention`), e.g.
            ``{"layers.0.*": WeightSelection(heads=[0])}``; the first matching pattern wins.

    Yields:
        a :class:`Recording` filled as the model runs.

    Raises:
        ValueError: if nothing is selected (the message lists the model's attention modules).

    Note:
        **Cost.** A hook costs a few microseconds per call; forcing weights costs what
        computing them costs (the unfused path). ``docs/interpret.md`` has the measurements on
        a 6-layer encoder.

    Example:
        >>> import torch
        >>> from attnlab.architectures.transformer import TransformerEncoder
        >>> encoder = TransformerEncoder(2, 8, 2, 16, dropout=0.0).eval()
        >>> x = torch.randn(1, 4, 8)
        >>> with record(encoder, force_weights="layers.0.*") as rec:
        ...     _ = encoder(x, need_weights=False)
        >>> [(r.name, r.need_weights, r.forced) for r in rec]
        [('layers.0.self_attn', True, True), ('layers.1.self_attn', False, False)]
        >>> rec[0].axes, rec[1].weights is None
        (('batch', 'head', 'query', 'key'), True)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    chosen = _select(model, include)
    forcing = _forcing(force_weights)
    recording = Recording()
    handles: list[Any] = []
    try:
        for name, module, kind in chosen:
            force = _forced_value(forcing, name, module)
            takes = _takes_need_weights(module)
            calls = [0]
            forced_now: list[bool] = []

            def pre_hook(
                mod: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any],
                *, force: bool | WeightSelection = force, takes: bool = takes,
                forced_now: list[bool] = forced_now,
            ) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
                asked = kwargs.get("need_weights", True) if takes else True
                forced_now.append(force is not False and takes and asked is False)
                if forced_now[-1]:
                    return args, {**kwargs, "need_weights": force}
                return None

            def hook(
                mod: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any,
                *, name: str = name, kind: str = kind, calls: list[int] = calls,
                forced_now: list[bool] = forced_now, force: bool | WeightSelection = force,
            ) -> None:
                weights, extras = _split_output(output)
                forced = forced_now.pop() if forced_now else False
                selection = (
                    _resolved(force, mod, args, kwargs)
                    if forced and isinstance(force, WeightSelection) else None
                )
                recording.append(AttentionRecord(
                    name, kind, weights, _axes(mod, kind, weights), weights is not None,
                    forced, calls[0], type(mod).__name__, extras, selection,
                ))
                calls[0] += 1

            handles.append(module.register_forward_pre_hook(pre_hook, with_kwargs=True))
            handles.append(module.register_forward_hook(hook, with_kwargs=True))
        yield recording
    finally:
        for handle in handles:
            handle.remove()
