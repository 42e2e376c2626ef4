"""The two models of the comparison: Ptr-Net and a sequence-to-sequence baseline with attention.

Both read the same inputs and take the same decoder inputs (the element chosen at the previous
step, a learned go vector first); they differ only in the output layer, which is the point of
Vinyals et al., "Pointer Networks", https://arxiv.org/abs/1506.03134 (section 2):

* :class:`PointerModel`: the output distribution is the attention over the inputs
  (:class:`attnlab.architectures.pointer.PointerNetwork`, eq. 3);
* :class:`Seq2SeqPositions`: the "LSTM with attention" baseline of section 4 (Bahdanau et al.,
  https://arxiv.org/abs/1409.0473): additive attention over the encoder states gives a context
  ``c_i``, and a softmax over a *fixed* dictionary of output positions
  ``softmax(W_o [d_i; c_i] + b_o)`` chooses the output. Its dictionary has ``vocab_size``
  entries, so it cannot name a position it never saw during training. Like the paper's baseline
  its outputs are unconstrained (it may repeat a position or name a padded one).

Both ``forward(inputs, mask, targets)`` return per-step log-probabilities ``(B, T, V)`` for the
training loop and ``decode(inputs, mask)`` returns greedy pointers ``(B, T)`` (and, for the
pointer model, the pointer distributions).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from attnlab.architectures.pointer import IGNORE_INDEX, PointerNetwork, PointerOutput
from attnlab.core.init_args import AttnModule
from attnlab.mechanisms.attention import AdditiveAttention

__all__ = ["PointerModel", "Seq2SeqPositions"]


class PointerModel(AttnModule):
    """:class:`PointerNetwork` with the training-loop signature ``(inputs, mask, targets)``.

    Example:
        >>> import torch
        >>> model = PointerModel(2, 8, end_token=True)
        >>> x, m = torch.rand(2, 4, 2), torch.ones(2, 4, dtype=torch.bool)
        >>> model(x, m, torch.tensor([[1, 2, 0], [3, 0, -100]])).shape
        torch.Size([2, 3, 5])
    """

    def __init__(self, input_dim: int, hidden_dim: int, *, end_token: bool,
                 embedding_dim: int | None = None, init_range: float | None = 0.08) -> None:
        super().__init__()
        self.net = PointerNetwork(input_dim, hidden_dim, embedding_dim=embedding_dim,
                                  end_token=end_token, init_range=init_range)

    def forward(self, inputs: Tensor, mask: Tensor, targets: Tensor) -> Tensor:
        return self.net(inputs, targets, mask=mask).log_probs

    def decode(self, inputs: Tensor, mask: Tensor, *, beam_size: int = 1) -> PointerOutput:
        """Greedy or beam decoding; see :meth:`PointerNetwork.decode`."""
        return self.net.decode(inputs, mask=mask, beam_size=beam_size)


class Seq2SeqPositions(AttnModule):
    """LSTM encoder-decoder with additive attention and a fixed output dictionary of positions.

    Args:
        input_dim: size of one input element.
        hidden_dim: LSTM and attention size.
        vocab_size: output dictionary size (positions ``0..vocab_size-1``; with ``end_token``
            entry 0 is the stop symbol and entry ``j + 1`` is input ``j``).
        end_token: whether outputs end with the stop symbol 0 (else they have length ``n``).
        embedding_dim: optional linear embedding of the elements (``None``: raw inputs).
        init_range: uniform initialisation range (0.08 as the pointer network).

    Example:
        >>> import torch
        >>> model = Seq2SeqPositions(2, 8, vocab_size=7, end_token=True)
        >>> x, m = torch.rand(2, 4, 2), torch.ones(2, 4, dtype=torch.bool)
        >>> model(x, m, torch.tensor([[1, 2, 0], [3, 0, -100]])).shape
        torch.Size([2, 3, 7])
    """

    def __init__(self, input_dim: int, hidden_dim: int, *, vocab_size: int, end_token: bool,
                 embedding_dim: int | None = None, init_range: float | None = 0.08) -> None:
        super().__init__()
        lstm_in = input_dim if embedding_dim is None else embedding_dim
        self.embedding: nn.Module = (
            nn.Identity() if embedding_dim is None else nn.Linear(input_dim, embedding_dim)
        )
        self.encoder = nn.LSTM(lstm_in, hidden_dim, batch_first=True)
        self.decoder = nn.LSTM(lstm_in, hidden_dim, batch_first=True)
        self.attention = AdditiveAttention(hidden_dim, hidden_dim)
        self.output = nn.Linear(2 * hidden_dim, vocab_size)
        self.go = nn.Parameter(torch.zeros(lstm_in))
        self.vocab_size = vocab_size
        self.end_token = end_token
        self.shift = 1 if end_token else 0
        if init_range is not None:
            with torch.no_grad():
                for p in self.parameters():
                    p.uniform_(-init_range, init_range)

    def _encode(self, inputs: Tensor, mask: Tensor) -> tuple[Tensor, Tensor,
                                                             tuple[Tensor, Tensor]]:
        embedded = self.embedding(inputs)
        packed = pack_padded_sequence(embedded, mask.sum(-1).cpu(), batch_first=True,
                                      enforce_sorted=False)
        out, state = self.encoder(packed)
        states, _ = pad_packed_sequence(out, batch_first=True, total_length=inputs.shape[1])
        return states, embedded, state

    def _decoder_input(self, embedded: Tensor, pointer: Tensor) -> Tensor:
        index = pointer - self.shift
        real = (index >= 0) & (index < embedded.shape[1])
        gather = index.clamp(0, embedded.shape[1] - 1)[..., None].expand(-1, -1,
                                                                          embedded.shape[-1])
        picked = embedded.gather(1, gather)  # (b, t, e)
        return torch.where(real[..., None], picked, self.go.expand_as(picked))

    def _logits(self, dec_out: Tensor, states: Tensor, mask: Tensor) -> Tensor:
        context = self.attention(dec_out, states, mask=mask).context  # (b, t, h)
        return torch.log_softmax(self.output(torch.cat([dec_out, context], -1)), -1)

    def forward(self, inputs: Tensor, mask: Tensor, targets: Tensor) -> Tensor:
        states, embedded, state = self._encode(inputs, mask)
        previous = torch.cat([targets.new_full((targets.shape[0], 1), -1), targets[:, :-1]], 1)
        dec_out, _ = self.decoder(self._decoder_input(embedded, previous), state)
        return self._logits(dec_out, states, mask)

    @torch.no_grad()
    def decode(self, inputs: Tensor, mask: Tensor) -> Tensor:
        """Greedy decoding: ``(B, T)`` positions, :data:`IGNORE_INDEX` after each output ends
        (after the stop symbol, or after ``n`` outputs without one)."""
        states, embedded, state = self._encode(inputs, mask)
        batch = inputs.shape[0]
        lengths = mask.sum(-1)
        steps = inputs.shape[1] + self.shift
        pointer = torch.full((batch,), -1, dtype=torch.long, device=inputs.device)
        done = torch.zeros(batch, dtype=torch.bool, device=inputs.device)
        out = []
        for step in range(steps):
            if not self.end_token:
                done = done | (lengths <= step)
            if bool(done.all()):
                break
            dec_out, state = self.decoder(self._decoder_input(embedded, pointer[:, None]), state)
            choice = self._logits(dec_out, states, mask)[:, 0].argmax(-1)
            out.append(torch.where(done, IGNORE_INDEX, choice))
            if self.end_token:
                done = done | (choice == 0)
            pointer = choice
        return torch.stack(out, 1)
