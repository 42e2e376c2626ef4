"""Paper-literal relevancy propagation and independent captures of what it consumes.

Chefer, Gur & Wolf, "Generic Attention-model Explainability for Interpreting Bi-Modal and
Encoder-Decoder Transformers" (arXiv:2103.15679), section 3, one example at a time:

    A-bar = E_h[(grad A . A)^+]                                                     (5)
    self-attention over modality s:   R^{ss} += A-bar R^{ss};  R^{sq} += A-bar R^{sq}  (6, 7)
    R-hat = R - I;  R-bar = R-hat / rowsum(R-hat) + I                               (8, 9)
    attention of s over q:  R^{sq} += (R-bar^{ss})^T A-bar R-bar^{qq};  R^{ss} += A-bar R^{qs}
                                                                                    (10, 11)

Initial maps: R^{ss} = I, R^{qq} = I, R^{sq} = R^{qs} = 0. Here s = the target (decoder) tokens
and q = the source (encoder) tokens.

The attention and its gradient are captured with plain forward hooks and ``retain_grad`` (not with
:func:`attnlab.interpret.record`); gradient times input is checked by central finite differences
on each token's embedding.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


def capture_attention_gradients(
    model: nn.Module,
    modules: list[tuple[str, nn.Module]],
    inputs: tuple[Any, ...],
    target: Tensor,
    position: int,
) -> list[tuple[str, Tensor, Tensor]]:
    """``(role, A, dy/dA)`` of every call of ``modules`` (``(role, module)`` pairs), in call order,
    for ``y = sum_b logits[b, position, target[b]]``."""
    calls: list[tuple[str, Tensor]] = []
    handles = []
    for role, module in modules:

        def hook(mod: nn.Module, args: Any, out: Any, role: str = role) -> None:
            out.weights.retain_grad()
            calls.append((role, out.weights))

        handles.append(module.register_forward_hook(hook))
    try:
        logits = model(*inputs).logits
    finally:
        for handle in handles:
            handle.remove()
    logits[torch.arange(logits.shape[0]), position, target].sum().backward()
    return [(role, w.detach(), w.grad.detach()) for role, w in calls]


def _eye(n: int) -> Tensor:
    return torch.eye(n, dtype=torch.float64)


def _avg_heads(a: Tensor, g: Tensor) -> Tensor:
    """eq. 5 for one example: ``a``, ``g`` are ``(H, Lq, Lk)`` or ``(Lq, Lk)``."""
    if a.dim() == 2:
        a, g = a[None], g[None]
    total = torch.zeros(a.shape[1:], dtype=torch.float64)
    for h in range(a.shape[0]):
        total += torch.clamp(g[h] * a[h], min=0)
    return total / a.shape[0]


def _bar(R: Tensor) -> Tensor:
    """eqs. 8-9 (a row of R - I summing to 0 stays 0)."""
    hat = R - _eye(R.shape[0])
    out = torch.zeros_like(hat)
    for i in range(hat.shape[0]):
        total = float(hat[i].sum())
        out[i] = hat[i] / total if total != 0 else hat[i]
    return out + _eye(R.shape[0])


def relevance_loop(
    calls: list[tuple[str, Tensor, Tensor]], *, source_len: int | None, target_len: int
) -> tuple[Tensor | None, Tensor]:
    """``(R^{ts} (B, Lt, Ls) or None, R^{tt} (B, Lt, Lt))`` from the captured calls.

    Roles: ``"source_self"`` (encoder self-attention), ``"target_self"`` (decoder
    self-attention), ``"cross"`` (decoder over encoder).
    """
    batch = calls[0][1].shape[0]
    maps_ts, maps_tt = [], []
    for b in range(batch):
        R_tt = _eye(target_len)
        R_ss = _eye(source_len) if source_len is not None else None
        R_ts = torch.zeros(target_len, source_len, dtype=torch.float64) if source_len else None
        R_st = torch.zeros(source_len, target_len, dtype=torch.float64) if source_len else None
        for role, a, g in calls:
            cam = _avg_heads(a[b].double(), g[b].double())
            if role == "source_self":
                R_ss = R_ss + cam @ R_ss  # (6)
                R_st = R_st + cam @ R_st  # (7)
            elif role == "target_self":
                R_tt = R_tt + cam @ R_tt  # (6)
                if R_ts is not None:
                    R_ts = R_ts + cam @ R_ts  # (7)
            else:
                new_ts = R_ts + _bar(R_tt).T @ cam @ _bar(R_ss)  # (10)
                R_tt = R_tt + cam @ R_st  # (11)
                R_ts = new_ts
        maps_tt.append(R_tt)
        if R_ts is not None:
            maps_ts.append(R_ts)
    return (torch.stack(maps_ts) if maps_ts else None), torch.stack(maps_tt)


def seq2seq_relevance_loop(calls: list[tuple[str, Tensor, Tensor]]) -> Tensor:
    """``R^{ts}`` of an RNN encoder-decoder: eq. 10 with ``R^{ss} = R^{tt} = I`` over the
    alignment whose step ``t`` is the ``t``-th call, ``(B, T, S)``."""
    batch = calls[0][1].shape[0]
    out = []
    for b in range(batch):
        rows = [_avg_heads(a[b].double(), g[b].double())[0] for _, a, g in calls]
        cam = torch.stack(rows)  # (t, s)
        t_len, s_len = cam.shape
        out.append(_bar(_eye(t_len)).T @ cam @ _bar(_eye(s_len)))
    return torch.stack(out)


def gradient_x_input_loop(
    model: nn.Module,
    embedding: nn.Module,
    inputs: tuple[Any, ...],
    target: Tensor,
    position: int,
    *,
    call: int | None,
    length: int,
    eps: float = 1e-6,
) -> Tensor:
    """``sum_d e_d dy/de_d`` for every token of the ``call``-th output of ``embedding``, by
    central differences of ``y(e_k -> (1 + t) e_k)`` at ``t = 0`` (float64 model).

    ``call=None``: the module is called once per decoding step with one token ``(B, D)``; token
    ``k`` is then the output of the ``k``-th call. Returns ``(B, length)``.
    """

    def y(token: int, t: float) -> Tensor:
        seen = [0]

        def hook(mod: nn.Module, args: Any, out: Tensor) -> Tensor:
            index = seen[0]
            seen[0] += 1
            if call is None:
                return out * (1 + t) if index == token else out
            if index != call:
                return out
            scale = torch.ones(out.shape[1], dtype=out.dtype)
            scale[token] += t
            return out * scale[None, :, None]

        handle = embedding.register_forward_hook(hook)
        try:
            with torch.no_grad():
                logits = model(*inputs).logits
        finally:
            handle.remove()
        return logits[torch.arange(logits.shape[0]), position, target]

    out = torch.zeros(target.shape[0], length, dtype=torch.float64)
    for k in range(length):
        out[:, k] = (y(k, eps) - y(k, -eps)) / (2 * eps)
    return out
