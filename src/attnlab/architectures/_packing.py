"""Run an RNN over the valid prefix of each padded sequence, empty batches included."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from attnlab.core._recurrent import masked_rnn
from attnlab.core._tracing import is_exporting


def run_packed(rnn: nn.Module, x: Tensor, lengths: Tensor) -> tuple[Tensor, Any]:
    """``rnn`` over ``x (B, L, D)`` reading ``lengths[b]`` steps of row ``b``.

    Returns ``(outputs (B, L, H * dirs), final state)`` with zero outputs past each row's length.
    Every length must be >= 1. An empty batch (``B = 0``) runs the RNN on ``x`` as is:
    ``pack_padded_sequence`` cannot pack it. Under ``torch.export``, which cannot hold packed
    sequences (their sizes are the lengths' values), the same result comes from
    :func:`~attnlab.core._recurrent.masked_rnn`.
    """
    if x.shape[0] == 0:
        return rnn(x)
    if is_exporting():
        return masked_rnn(rnn, x, lengths)
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, state = rnn(packed)
    outputs, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return outputs, state
