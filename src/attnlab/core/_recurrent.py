"""A GRU/LSTM over the valid prefix of padded sequences, in operations a tracer can record.

Eager code runs recurrent encoders on ``pack_padded_sequence`` (PyTorch's fused kernels, no
work on padding). Packing reads the lengths as Python integers and builds tensors whose sizes
depend on them, which neither ``torch.export`` nor a single ``torch.compile`` graph can hold.
:func:`masked_rnn` computes the same outputs step by step from the module's own weights, with
the state frozen at padded steps, so the traced graph has static shapes. The equations are those
of the ``nn.GRU`` and ``nn.LSTM`` documentation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["masked_rnn"]


def _lstm_step(
    gates_x: Tensor, state: tuple[Tensor, Tensor], w_hh: Tensor, b_hh: Tensor | None
) -> tuple[Tensor, Tensor]:
    """One LSTM step: ``gates_x = W_ih x_t + b_ih`` precomputed, ``state = (h, c)``."""
    h, c = state
    i, f, g, o = (gates_x + F.linear(h, w_hh, b_hh)).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # c_t = f * c_{t-1} + i * g
    return torch.sigmoid(o) * torch.tanh(c), c  # h_t = o * tanh(c_t)


def _gru_step(gates_x: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
    """One GRU step: ``gates_x = W_ih x_t + b_ih`` precomputed."""
    x_r, x_z, x_n = gates_x.chunk(3, dim=-1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, dim=-1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)  # n_t = tanh(W_in x_t + b_in + r_t * (W_hn h + b_hn))
    return (1 - z) * n + z * h  # h_t = (1 - z_t) * n_t + z_t * h_{t-1}


def masked_rnn(
    rnn: nn.Module, x: Tensor, lengths: Tensor
) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
    """Run a batch-first ``nn.GRU`` / ``nn.LSTM`` over the first ``lengths[b]`` steps of row ``b``.

    Equal to packing ``x`` with ``lengths``, running ``rnn`` and unpacking: outputs past a row's
    length are zero, the forward direction stops at the row's last valid step and the backward
    direction starts there, and the final state of each layer and direction is the state after
    the row's last valid step (zero for a row of length 0, which packing rejects). Dropout
    between layers follows ``rnn.dropout`` in training mode.

    Args:
        rnn: a batch-first ``nn.GRU`` or ``nn.LSTM`` (any number of layers, one or two
            directions, with or without biases; no ``proj_size``).
        x: ``(B, L, D)`` inputs.
        lengths: ``(B,)`` integer lengths in ``[0, L]``.

    Shape:
        x: ``(B, L, D)``; lengths: ``(B,)``; outputs: ``(B, L, dirs * H)``; final state
        ``h_n`` (and ``c_n`` for an LSTM): ``(layers * dirs, B, H)``.

    Returns:
        ``(outputs, h_n)`` for a GRU, ``(outputs, (h_n, c_n))`` for an LSTM, as the module.

    Example:
        >>> from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
        >>> gru = nn.GRU(3, 4, batch_first=True, bidirectional=True)
        >>> x, lengths = torch.randn(2, 5, 3), torch.tensor([5, 2])
        >>> out, h_n = masked_rnn(gru, x, lengths)
        >>> packed, h_ref = gru(pack_padded_sequence(x, lengths, batch_first=True))
        >>> ref, _ = pad_packed_sequence(packed, batch_first=True)
        >>> torch.allclose(out, ref, atol=1e-6), torch.allclose(h_n, h_ref, atol=1e-6)
        (True, True)
    """
    if not isinstance(rnn, (nn.GRU, nn.LSTM)) or not rnn.batch_first:
        raise TypeError(f"rnn must be a batch-first nn.GRU or nn.LSTM, got {rnn!r}")
    if isinstance(rnn, nn.LSTM) and rnn.proj_size:
        raise ValueError("rnn must not project its hidden state (proj_size > 0)")
    is_lstm = isinstance(rnn, nn.LSTM)
    batch, length = x.shape[0], x.shape[1]
    valid = torch.arange(length, device=x.device) < lengths.to(x.device).unsqueeze(1)  # (b, t)
    directions = ("", "_reverse") if rnn.bidirectional else ("",)
    zeros = x.new_zeros(batch, rnn.hidden_size)
    finals_h: list[Tensor] = []
    finals_c: list[Tensor] = []
    layer_input = x
    for layer in range(rnn.num_layers):
        if layer > 0:
            layer_input = F.dropout(layer_input, rnn.dropout, rnn.training)
        outputs = []
        for suffix in directions:
            name = f"_l{layer}{suffix}"
            w_ih, w_hh = getattr(rnn, "weight_ih" + name), getattr(rnn, "weight_hh" + name)
            b_ih = getattr(rnn, "bias_ih" + name) if rnn.bias else None
            b_hh = getattr(rnn, "bias_hh" + name) if rnn.bias else None
            gates_x = F.linear(layer_input, w_ih, b_ih)  # (b, t, gates * h)
            h, c = zeros, zeros
            steps: list[Tensor] = [zeros] * length
            order = range(length - 1, -1, -1) if suffix else range(length)
            for t in order:
                keep = valid[:, t].unsqueeze(1)  # (b, 1): padded steps leave the state as it is
                if is_lstm:
                    h_new, c_new = _lstm_step(gates_x[:, t], (h, c), w_hh, b_hh)
                    c = torch.where(keep, c_new, c)
                else:
                    h_new = _gru_step(gates_x[:, t], h, w_hh, b_hh)
                h = torch.where(keep, h_new, h)
                steps[t] = torch.where(keep, h_new, zeros)
            outputs.append(
                torch.stack(steps, dim=1) if steps else x.new_zeros(batch, 0, rnn.hidden_size)
            )
            finals_h.append(h)
            finals_c.append(c)
        layer_input = torch.cat(outputs, dim=-1)  # (b, t, dirs * h)
    h_n = torch.stack(finals_h)  # (layers * dirs, b, h), layer-major as in nn.GRU / nn.LSTM
    if is_lstm:
        return layer_input, (h_n, torch.stack(finals_c))
    return layer_input, h_n
