"""Token attributions for attnlab's sequence models: gradient-weighted attention relevance and two
baselines on the same footing.

* :func:`relevance`: Chefer, Gur & Wolf, "Generic Attention-model Explainability for
  Interpreting Bi-Modal and Encoder-Decoder Transformers", https://arxiv.org/abs/2103.15679,
  section 3 (eqs. 5-11), for :class:`~attnlab.architectures.transformer.Transformer`,
  :class:`~attnlab.architectures.transformer.DecoderOnlyTransformer` and
  :class:`~attnlab.architectures.seq2seq.Seq2Seq`;
* :func:`gradient_x_input`: the gradient of the explained logit times the input embeddings,
  summed over the embedding features (Shrikumar et al., "Not Just a Black Box",
  https://arxiv.org/abs/1605.01713; Denil et al. 2014);
* :func:`random_attribution`: seeded uniform scores, the baseline every ranking must beat.

All three take ``(model, inputs, target, *, position)``: ``inputs`` are the model's positional
arguments (``(src, tgt)``, ``(tokens,)``, ``(src, src_lengths, tgt_in)``), and the explained
quantity is the logit of token ``target`` at decoder position ``position``
(``target=None``: the predicted token). Each returns ``source`` ``(B, Ls)`` scores of the source
tokens and ``prefix`` ``(B, Lt)`` scores of the decoder's input tokens (zero after
``position``: a causal decoder cannot see them).

Call them on a model in ``eval()`` mode: dropout would make every explanation random.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from attnlab.interpret.record import record

__all__ = [
    "Relevance",
    "TokenAttribution",
    "gradient_x_input",
    "random_attribution",
    "relevance",
]


class TokenAttribution(NamedTuple):
    """Scores of the input tokens for one logit per example.

    Attributes:
        source: ``(B, Ls)`` scores of the source (encoder) tokens; ``None`` for a
            decoder-only model.
        prefix: ``(B, Lt)`` scores of the decoder's input tokens (0 after the explained
            position); ``None`` where a method has none (relevance of a :class:`Seq2Seq`).
    """

    source: Tensor | None
    prefix: Tensor | None


class Relevance(NamedTuple):
    """Result of :func:`relevance`: the rows of the relevancy maps at the explained position,
    and the maps.

    Attributes:
        source: ``(B, Ls)``, row ``position`` of ``source_map``.
        prefix: ``(B, Lt)``, row ``position`` of ``prefix_map`` (``None`` for :class:`Seq2Seq`).
        source_map: ``(B, Lt, Ls)``, ``R^{ts}``: relevance of the source tokens for each target
            position (``None`` for a decoder-only model).
        prefix_map: ``(B, Lt, Lt)``, ``R^{tt}``: relevance of the target tokens for each target
            position; it starts as the identity, so the diagonal is at least 1 (``None`` for
            :class:`Seq2Seq`).
    """

    source: Tensor | None
    prefix: Tensor | None
    source_map: Tensor | None
    prefix_map: Tensor | None


# ---------------------------------------------------------------------------------------------
# the supported models


@dataclass
class _Spec:
    """What the explainers need to know about a model."""

    family: str  # "transformer" | "decoder" | "seq2seq"
    roles: dict[str, str]  # attention module name -> "source_self" | "target_self" | "cross"
    embeddings: list[tuple[nn.Module, str]]  # (module, "source" | "prefix"), in call order
    source_tokens: Tensor | None  # (B, Ls)
    source_valid: Tensor | None  # (B, Ls)
    prefix_tokens: Tensor  # (B, Lt)
    prefix_valid: Tensor  # (B, Lt)


def _spec(model: nn.Module, inputs: Sequence[Any]) -> _Spec:
    from attnlab.architectures.seq2seq import Seq2Seq
    from attnlab.architectures.transformer import DecoderOnlyTransformer, Transformer

    def padding(tokens: Tensor, pad_index: int | None) -> Tensor:
        if pad_index is None:
            return torch.ones_like(tokens, dtype=torch.bool)
        return tokens != pad_index

    def arity(n: int, names: str) -> None:
        if len(inputs) != n:
            raise ValueError(
                f"inputs of a {type(model).__name__} are ({names}), got {len(inputs)} tensors"
            )

    if isinstance(model, Transformer):
        arity(2, "src, tgt")
        src, tgt = inputs
        roles = {}
        for n in range(len(model.encoder.layers)):
            roles[f"encoder.layers.{n}.self_attn"] = "source_self"
        for n in range(len(model.decoder.layers)):
            roles[f"decoder.layers.{n}.self_attn"] = "target_self"
            roles[f"decoder.layers.{n}.multihead_attn"] = "cross"
        return _Spec(
            "transformer", roles,
            [(model.src_embedding, "source"), (model.tgt_embedding, "prefix")],
            src, padding(src, model.pad_index), tgt, padding(tgt, model.pad_index),
        )
    if isinstance(model, DecoderOnlyTransformer):
        arity(1, "tokens")
        (tokens,) = inputs
        roles = {f"decoder.layers.{n}.self_attn": "target_self"
                 for n in range(len(model.decoder.layers))}
        return _Spec("decoder", roles, [(model.embedding, "prefix")], None, None, tokens,
                     padding(tokens, model.pad_index))
    if isinstance(model, Seq2Seq):
        arity(3, "src, src_lengths, tgt_in")
        src, lengths, tgt = inputs
        valid = torch.arange(src.shape[1], device=src.device) < lengths.to(src.device)[:, None]
        return _Spec(
            "seq2seq", {"attention": "cross"} if model.attention is not None else {},
            [(model.src_embed, "source"), (model.tgt_embed, "prefix")],
            src, valid, tgt, torch.ones_like(tgt, dtype=torch.bool),
        )
    raise TypeError(
        "explanations support attnlab's Transformer, DecoderOnlyTransformer and Seq2Seq, got "
        f"{type(model).__name__}"
    )


@contextlib.contextmanager
def _gradients(model: nn.Module) -> Iterator[None]:
    """Gradients on, and every parameter requiring one (so that the attention weights and the
    embeddings join the graph even for a frozen model); the flags are restored on exit."""
    frozen = [p for p in model.parameters() if not p.requires_grad]
    try:
        for p in frozen:
            p.requires_grad_(True)
        with torch.enable_grad():
            yield
    finally:
        for p in frozen:
            p.requires_grad_(False)


def _explained_logit(
    logits: Tensor, target: int | Tensor | None, position: int
) -> tuple[Tensor, int]:
    """The logits ``(B,)`` being explained and the position, normalised to ``[0, Lt)``."""
    batch, length = logits.shape[0], logits.shape[1]
    if isinstance(position, bool) or not isinstance(position, int):
        raise TypeError(f"position must be an int, got {type(position).__name__}")
    if not -length <= position < length:
        raise ValueError(f"position must lie in [-{length}, {length}), got {position}")
    position %= length
    at = logits[:, position]  # (b, v)
    if target is None:
        index = at.argmax(-1)
    elif isinstance(target, int) and not isinstance(target, bool):
        index = torch.full((batch,), target, dtype=torch.long, device=at.device)
    elif isinstance(target, Tensor) and not target.is_floating_point() and target.numel() in (
        1, batch
    ):
        index = target.reshape(-1).to(at.device).long().expand(batch)
    else:
        raise ValueError(f"target must be None, an int or a (B,) integer tensor, got {target!r}")
    if bool(((index < 0) | (index >= at.shape[-1])).any()):
        raise ValueError(f"target must lie in [0, {at.shape[-1]}), got {index.tolist()}")
    return at.gather(-1, index[:, None])[:, 0], position


def _causal_prefix(scores: Tensor, position: int) -> Tensor:
    keep = torch.arange(scores.shape[1], device=scores.device) <= position
    return scores * keep


# ---------------------------------------------------------------------------------------------
# relevance (Chefer et al. 2021)


def _head_average(weights: Tensor, grads: Tensor) -> Tensor:
    """eq. 5: ``A-bar = E_h[(grad A . A)^+]``; weights ``(B, [H,] Lq, Lk)`` -> ``(B, Lq, Lk)``."""
    cam = (grads * weights).clamp(min=0)
    return cam.mean(1) if cam.dim() == 4 else cam


def _normalised(R: Tensor) -> Tensor:
    """eqs. 8-9: ``R-bar = rownorm(R - I) + I``; a row of ``R - I`` summing to 0 stays 0."""
    eye = torch.eye(R.shape[-1], dtype=R.dtype, device=R.device)
    hat = R - eye
    total = hat.sum(-1, keepdim=True)
    return hat / torch.where(total != 0, total, torch.ones_like(total)) + eye


def relevance(
    model: nn.Module,
    inputs: Sequence[Any],
    target: int | Tensor | None = None,
    *,
    position: int = -1,
) -> Relevance:
    """Gradient-weighted attention relevance (Chefer, Gur & Wolf 2021) of the input tokens for
    one output logit.

    "Generic Attention-model Explainability for Interpreting Bi-Modal and Encoder-Decoder
    Transformers", https://arxiv.org/abs/2103.15679, section 3. The attention ``A`` of every
    layer (all heads, recorded with :func:`~attnlab.interpret.record`) is weighted by the
    gradient of the explained logit ``y`` with respect to it, and relevancy maps are updated in
    the order the layers run, source ``s`` (encoder) and target ``t`` (decoder):

    .. math::

        \\bar A = \\mathbb E_h\\big[(\\nabla A \\odot A)^+\\big]  \\quad (5)

        R^{ss} \\mathrel{+}= \\bar A R^{ss}  \\qquad \\text{(encoder self-attention, 6)}

        R^{tt} \\mathrel{+}= \\bar A R^{tt}, \\quad R^{ts} \\mathrel{+}= \\bar A R^{ts}
        \\qquad \\text{(decoder self-attention, 6-7)}

        R^{ts} \\mathrel{+}= (\\bar R^{tt})^\\top \\bar A\\, \\bar R^{ss}, \\quad
        R^{tt} \\mathrel{+}= \\bar A R^{st}  \\qquad \\text{(cross-attention, 10-11)}

    with ``R^{ss} = I, R^{tt} = I, R^{ts} = 0, R^{st} = 0`` at the start and
    ``R-bar = rownorm(R - I) + I`` (eqs. 8-9). The encoder never sees the target, so ``R^{st}``
    stays 0. The explanation of position ``p`` is row ``p`` of ``R^{ts}`` (source tokens) and of
    ``R^{tt}`` (target prefix). The gradients ``grad A`` are taken with
    ``torch.autograd.grad`` on the recorded weights themselves (they are the tensors the model
    used), so nothing is retained on the model's tensors.

    Args:
        model: a :class:`~attnlab.architectures.transformer.Transformer`,
            :class:`~attnlab.architectures.transformer.DecoderOnlyTransformer` or
            :class:`~attnlab.architectures.seq2seq.Seq2Seq` (with a soft attention module), in
            ``eval()`` mode.
        inputs: its positional arguments: ``(src, tgt)``, ``(tokens,)`` or
            ``(src, src_lengths, tgt_in)``.
        target: the token whose logit is explained: an int, a ``(B,)`` tensor, or ``None`` for
            the predicted (argmax) token.
        position: the decoder position ``p`` whose logit is explained (default the last).

    Returns:
        :class:`Relevance` ``(source (B, Ls), prefix (B, Lt), source_map, prefix_map)``.

    Note:
        **Seq2Seq.** An RNN encoder-decoder has no self-attention, so ``R^{ss} = R^{tt} = I``
        and the rules reduce to ``R^{ts} = A-bar`` of the alignment ``(B, T, S)`` (its steps
        stacked): ``source`` is the gradient-weighted alignment of step ``p``, and row ``q < p``
        of ``source_map`` how step ``q``'s alignment mattered for the logit through the
        recurrent state. ``prefix``/``prefix_map`` are ``None``: no attention relates the
        target tokens.

    Note:
        A row of ``R - I`` with zero sum (a position no attention has touched yet) is left at
        zero by eq. 9 here, where ``0 / 0`` would be NaN.

    Example:
        >>> import torch
        >>> from attnlab.architectures.transformer import Transformer
        >>> model = Transformer(10, 10, dim=8, num_heads=2, num_layers=1, hidden_dim=16,
        ...                     dropout=0.0).eval()
        >>> src, tgt = torch.tensor([[3, 4, 5]]), torch.tensor([[1, 6]])
        >>> out = relevance(model, (src, tgt), position=-1)
        >>> out.source.shape, out.prefix.shape, bool(out.source.ge(0).all())
        (torch.Size([1, 3]), torch.Size([1, 2]), True)
    """
    spec = _spec(model, inputs)
    if not spec.roles:
        raise ValueError(f"{type(model).__name__} has no attention to explain (attention=None)")
    with _gradients(model), record(model, include=list(spec.roles), force_weights=True) as rec:
        logits = model(*inputs).logits  # (b, t, v)
        logit, position = _explained_logit(logits, target, position)
        weights = rec.weights()
        for r, w in zip(rec, weights, strict=True):
            if w.dim() not in (3, 4) or r.axes[-1] != "key":
                raise ValueError(
                    f"{r.name} ({r.module_type}) returned weights {r.axes}; relevance needs "
                    "dense token weights (B, [H,] Lq, Lk), not windows"
                )
        grads = torch.autograd.grad(logit.sum(), weights, allow_unused=True)
    cams = [
        _head_average(w.detach(), torch.zeros_like(w) if g is None else g)
        for w, g in zip(weights, grads, strict=True)
    ]
    roles = [spec.roles[r.name] for r in rec]
    batch, t_len = spec.prefix_tokens.shape
    dtype, device = logits.dtype, logits.device
    if spec.family == "seq2seq":
        # Seq2Seq: one cross-attention per step, (b, 1, s) each -> the alignment (b, t, s)
        cam = torch.cat(cams, dim=1)
        return Relevance(cam[:, position], None, cam, None)
    eye_t = torch.eye(t_len, dtype=dtype, device=device).expand(batch, t_len, t_len)
    R_tt = eye_t.clone()
    R_ts: Tensor | None = None
    R_ss: Tensor | None = None
    if spec.source_tokens is not None:
        s_len = spec.source_tokens.shape[1]
        R_ss = torch.eye(s_len, dtype=dtype, device=device).expand(batch, s_len, s_len).clone()
        R_ts = torch.zeros(batch, t_len, s_len, dtype=dtype, device=device)
    for role, cam in zip(roles, cams, strict=True):
        if role == "source_self":
            assert R_ss is not None
            R_ss = R_ss + cam @ R_ss  # eq. 6 (R^{st} = 0 is unchanged by eq. 7)
        elif role == "target_self":
            R_tt, R_ts = R_tt + cam @ R_tt, (None if R_ts is None else R_ts + cam @ R_ts)
        else:
            assert R_ts is not None and R_ss is not None
            R_ts = R_ts + _normalised(R_tt).transpose(-1, -2) @ cam @ _normalised(R_ss)  # eq. 10
            # eq. 11 adds A-bar R^{st}, which is 0: the encoder never attends to the target
    return Relevance(
        None if R_ts is None else R_ts[:, position], R_tt[:, position], R_ts, R_tt
    )


# ---------------------------------------------------------------------------------------------
# baselines


def gradient_x_input(
    model: nn.Module,
    inputs: Sequence[Any],
    target: int | Tensor | None = None,
    *,
    position: int = -1,
) -> TokenAttribution:
    """Gradient times input on the token embeddings: ``sum_d e_{i,d} dy/de_{i,d}`` per token.

    The embeddings are the outputs of the model's token-embedding modules (before positions are
    added); ``y`` is the explained logit (see :func:`relevance` for the arguments). Scores are
    signed.

    Returns:
        :class:`TokenAttribution` ``(source (B, Ls) or None, prefix (B, Lt))``.

    Example:
        >>> import torch
        >>> from attnlab.architectures.transformer import DecoderOnlyTransformer
        >>> lm = DecoderOnlyTransformer(10, dim=8, num_heads=2, num_layers=1, hidden_dim=16,
        ...                             dropout=0.0).eval()
        >>> scores = gradient_x_input(lm, (torch.tensor([[1, 2, 3]]),), position=1)
        >>> scores.source is None, float(scores.prefix[0, 2])  # position 2 comes later
        (True, 0.0)
    """
    spec = _spec(model, inputs)
    captured: dict[str, list[Tensor]] = {"source": [], "prefix": []}
    handles: list[Any] = []
    shared = len({id(m) for m, _ in spec.embeddings}) < len(spec.embeddings)
    calls = [0]

    def hook(module: nn.Module, args: tuple[Any, ...], output: Tensor, *, side: str) -> None:
        if shared:  # one embedding for both sides: the source is embedded first
            side = "source" if calls[0] == 0 else "prefix"
            calls[0] += 1
        captured[side].append(output)

    with _gradients(model):
        for module, side in dict((id(m), (m, s)) for m, s in spec.embeddings).values():
            handles.append(module.register_forward_hook(
                lambda mod, args, out, side=side: hook(mod, args, out, side=side)
            ))
        try:
            logits = model(*inputs).logits
        finally:
            for handle in handles:
                handle.remove()
        logit, position = _explained_logit(logits, target, position)
        embedded = [e for side in ("source", "prefix") for e in captured[side]]
        grads = torch.autograd.grad(logit.sum(), embedded, allow_unused=True)
    products = [
        (e.detach() * (torch.zeros_like(e) if g is None else g)).sum(-1)
        for e, g in zip(embedded, grads, strict=True)
    ]
    n_source = len(captured["source"])
    source_parts, prefix_parts = products[:n_source], products[n_source:]
    source = source_parts[0] if source_parts else None
    if not prefix_parts:
        prefix = None
    elif len(prefix_parts) == 1:
        prefix = prefix_parts[0]
    else:  # a recurrent decoder embeds one token per step: (b,) each
        prefix = torch.stack(prefix_parts, dim=1)
    if spec.source_tokens is None:
        source = None
    if prefix is not None:
        prefix = _causal_prefix(prefix, position)
    return TokenAttribution(source, prefix)


def random_attribution(
    model: nn.Module,
    inputs: Sequence[Any],
    target: int | Tensor | None = None,
    *,
    position: int = -1,
    seed: int = 0,
) -> TokenAttribution:
    """Uniform random scores in ``[0, 1)`` for the same tokens as :func:`gradient_x_input`.

    The baseline every attribution method must beat in a faithfulness test. The model is not
    run; ``target`` is accepted for a common signature and ignored. Padded tokens and target
    positions after ``position`` score 0. Seeded: the same ``seed`` gives the same scores.

    Example:
        >>> import torch
        >>> from attnlab.architectures.transformer import DecoderOnlyTransformer
        >>> lm = DecoderOnlyTransformer(10, dim=8, num_heads=2, num_layers=1, hidden_dim=16)
        >>> a = random_attribution(lm, (torch.tensor([[1, 2, 3]]),), seed=1)
        >>> b = random_attribution(lm, (torch.tensor([[1, 2, 3]]),), seed=1)
        >>> torch.equal(a.prefix, b.prefix), a.source is None
        (True, True)
    """
    spec = _spec(model, inputs)
    generator = torch.Generator().manual_seed(seed)
    length = spec.prefix_tokens.shape[1]
    if isinstance(position, bool) or not isinstance(position, int):
        raise TypeError(f"position must be an int, got {type(position).__name__}")
    if not -length <= position < length:
        raise ValueError(f"position must lie in [-{length}, {length}), got {position}")

    def scores(tokens: Tensor, valid: Tensor) -> Tensor:
        values = torch.rand(tokens.shape, generator=generator, dtype=torch.float64)
        return values.to(tokens.device) * valid

    source = (
        None if spec.source_tokens is None or spec.source_valid is None
        else scores(spec.source_tokens, spec.source_valid)
    )
    prefix = _causal_prefix(scores(spec.prefix_tokens, spec.prefix_valid), position % length)
    return TokenAttribution(source, prefix)
