"""Pointer network: attention over the inputs *is* the output distribution.

Vinyals, Fortunato, Jaitly, "Pointer Networks", https://arxiv.org/abs/1506.03134 (section 2.3,
eq. 3). An LSTM encoder reads the input elements ``P = (P_1, ..., P_n)`` into states
``e_1, ..., e_n``; an LSTM decoder, started from the encoder's final state, emits states ``d_i``;
the output at step ``i`` is the additive attention distribution over the input positions

.. math::
    u^i_j = v^\\top \\tanh(W_1 e_j + W_2 d_i), \\qquad
    p(C_i \\mid C_1, \\dots, C_{i-1}, P) = \\operatorname{softmax}(u^i)

so the output "vocabulary" is the input itself and its size follows ``n``. The decoder's input at
step ``i`` is the element pointed at in step ``i - 1`` (a learned "go" vector at step 0).

Built from the library: the score ``u`` is :class:`attnlab.core.scores.AdditiveScore` (``W_2 =
query_proj``, ``W_1 = key_proj``, ``v``), evaluated with
:func:`attnlab.core.scores.additive_scores` (keys projected once per sequence), and the
distribution is :func:`attnlab.core.masks.masked_softmax` (log-probabilities through
:func:`attnlab.core.masks.masked_normalize` with a log-softmax), so padded inputs and inputs
already pointed at get exactly zero probability and a step with nothing left to point at gets a
zero row.

Convention:
    * ``inputs`` ``(B, N, D)`` batch first; ``mask`` ``(B, N)`` boolean, ``True`` = a real
      input, padding at the end of each row (every row has at least one real input).
    * Pointer indices: with ``end_token=False`` index ``j`` is input ``j`` and every output is a
      permutation of the real inputs (sorting, TSP); with ``end_token=True`` index 0 is a learned
      *stop* pointer and index ``j + 1`` is input ``j`` (variable-length outputs such as convex
      hulls, whose targets end with 0). ``K`` below is ``N`` or ``N + 1`` accordingly.
    * Padded output steps hold :data:`IGNORE_INDEX` (``-100``) in targets and pointers.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.architectures._packing import run_packed
from attnlab.core.checks import check_bool, check_device, check_size, check_tensor
from attnlab.core.init_args import AttnModule
from attnlab.core.masks import masked_normalize, masked_softmax
from attnlab.core.scores import AdditiveScore, additive_scores

__all__ = ["IGNORE_INDEX", "PointerNetwork", "PointerOutput"]

IGNORE_INDEX = -100
"""Target / pointer value of padded output steps (PyTorch's default ``ignore_index``)."""

LSTMState = tuple[Tensor, Tensor]


class PointerOutput(NamedTuple):
    """What :class:`PointerNetwork` returns.

    Attributes:
        context: ``(B, T, H)`` the encoder states averaged under each step's pointer
            distribution, ``sum_j p_j e_j`` (the attention read-out; zero on empty steps).
        weights: ``(B, T, K)`` the pointer distributions ``p(C_i | ...)``: ``>= 0``, summing to 1
            over the pointable positions, exactly 0 at padded and already chosen inputs, an
            all-zero row on a step with nothing left to point at.
        log_probs: ``(B, T, K)`` their logarithms, finite everywhere: the most negative finite
            value of the dtype where the weight is 0 (use them as logits of a cross-entropy).
        pointers: ``(B, T)`` int64, the pointer taken at each step (the targets under teacher
            forcing, the decoded choices otherwise); :data:`IGNORE_INDEX` after the output ended.
        log_likelihood: ``(B,)`` ``sum_i log p(pointers_i | ...)`` over the steps taken.
    """

    context: Tensor
    weights: Tensor
    log_probs: Tensor
    pointers: Tensor
    log_likelihood: Tensor


class PointerNetwork(AttnModule):
    """Ptr-Net of Vinyals et al. (2015): LSTM encoder, LSTM decoder, additive pointer attention.

    Paper: Vinyals, Fortunato, Jaitly, "Pointer Networks", https://arxiv.org/abs/1506.03134,
    section 2.3 (eq. 3: ``u^i_j = v^T tanh(W_1 e_j + W_2 d_i)``, ``p = softmax(u^i)``) and
    section 4 (single-layer LSTM of 256 or 512 units, uniform initialisation in
    ``[-0.08, 0.08]``, SGD with learning rate 1.0, batch 128, gradient-norm clipping 2.0).

    Args:
        input_dim: ``D``, the size of one input element (2 for planar points, 1 for numbers).
        hidden_dim: the LSTM size and the attention size (``W_1, W_2: H x H``, ``v: H``);
            512 in the paper.
        embedding_dim: if given, a linear embedding of the elements (shared by encoder and
            decoder inputs) of this size; ``None`` feeds the raw coordinates to the LSTMs, as the
            paper does.
        num_layers: stacked LSTM layers in the encoder and the decoder (1 in the paper).
        end_token: add a learned stop pointer at index 0 (for variable-length outputs).
        init_range: initialise every parameter uniformly in ``[-init_range, init_range]``
            (0.08 in the paper); ``None`` keeps PyTorch's defaults.

    Shape:
        inputs ``(B, N, D)``, mask ``(B, N)``, targets ``(B, T)`` -> every field of
        :class:`PointerOutput` with ``T`` output steps and ``K = N (+ 1)`` positions.

    Example:
        >>> import torch
        >>> net = PointerNetwork(2, 16, end_token=True)
        >>> points = torch.rand(2, 5, 2)
        >>> mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
        >>> out = net(points, mask=mask)  # greedy decoding
        >>> out.weights.shape[0], out.weights.shape[2], bool(out.weights[1, :, 4:].eq(0).all())
        (2, 6, True)
        >>> targets = torch.tensor([[1, 2, 3, 0], [2, 1, 0, -100]])  # 1-based inputs, 0 = stop
        >>> net(points, targets, mask=mask).log_probs.shape
        torch.Size([2, 4, 6])
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int = 512,
        *,
        embedding_dim: int | None = None,
        num_layers: int = 1,
        end_token: bool = False,
        init_range: float | None = 0.08,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        fk: dict[str, Any] = {"device": device, "dtype": dtype}
        self.input_dim = check_size(input_dim, "input_dim")
        self.hidden_dim = check_size(hidden_dim, "hidden_dim")
        self.num_layers = check_size(num_layers, "num_layers")
        self.end_token = check_bool(end_token, "end_token")
        if embedding_dim is None:
            self.embedding: nn.Module = nn.Identity()
            lstm_in = self.input_dim
        else:
            lstm_in = check_size(embedding_dim, "embedding_dim")
            self.embedding = nn.Linear(self.input_dim, lstm_in, **fk)
        self.embedding_dim = embedding_dim
        self.encoder = nn.LSTM(lstm_in, self.hidden_dim, self.num_layers, batch_first=True, **fk)
        self.decoder = nn.LSTM(lstm_in, self.hidden_dim, self.num_layers, batch_first=True, **fk)
        # u^i_j = v^T tanh(W_1 e_j + W_2 d_i): W_2 = query_proj (decoder), W_1 = key_proj.
        self.score = AdditiveScore(self.hidden_dim, self.hidden_dim, **fk)
        self.go = nn.Parameter(torch.zeros(lstm_in, **fk))
        self.end = nn.Parameter(torch.zeros(self.hidden_dim, **fk)) if end_token else None
        if init_range is not None:
            if isinstance(init_range, bool) or not isinstance(init_range, (int, float)):
                raise TypeError(f"init_range must be a number or None, got {init_range!r}")
            if not init_range > 0:
                raise ValueError(f"init_range must be > 0, got {init_range}")
            with torch.no_grad():
                for p in self.parameters():
                    p.uniform_(-init_range, init_range)
        self.init_range = init_range

    # -- inputs -----------------------------------------------------------------------------

    @property
    def shift(self) -> int:
        """1 when index 0 is the stop pointer, else 0 (pointer = input index + shift)."""
        return 1 if self.end_token else 0

    def _check_inputs(self, inputs: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        check_tensor(inputs, "inputs", ndim=3, layout="(B, N, D)", like=("", self))
        if inputs.shape[-1] != self.input_dim:
            raise ValueError(
                f"inputs has size {inputs.shape[-1]} in its last dimension but input_dim is "
                f"{self.input_dim} (shape {tuple(inputs.shape)})"
            )
        batch, n = inputs.shape[:2]
        if n == 0:
            raise ValueError(
                f"inputs must hold at least one element per sequence (N >= 1), got "
                f"{tuple(inputs.shape)}"
            )
        if mask is None:
            mask = torch.ones(batch, n, dtype=torch.bool, device=inputs.device)
        else:
            if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
                got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
                raise TypeError(f"mask must be a boolean tensor (True = real input), got {got}")
            if tuple(mask.shape) != (batch, n):
                raise ValueError(
                    f"mask must have shape (B, N) = ({batch}, {n}), got {tuple(mask.shape)}"
                )
            check_device(mask, "mask", ("inputs", inputs))
            if torch.compiler.is_compiling():  # value checks: skipped while tracing
                return inputs, mask
            if not bool(mask[:, 0].all()):
                raise ValueError("mask must keep at least the first input of every row")
            if bool((mask[:, 1:] & ~mask[:, :-1]).any()):
                raise ValueError("mask must be True then False along each row (padding at the end)")
        return inputs, mask

    def _check_targets(self, targets: object, batch: int, k: int) -> Tensor:
        if not isinstance(targets, Tensor):
            raise TypeError(f"targets must be an int64 tensor (B, T), got {type(targets).__name__}")
        if targets.dtype != torch.long:
            raise TypeError(f"targets must be an int64 tensor (B, T), got dtype {targets.dtype}")
        if targets.dim() != 2 or targets.shape[0] != batch or targets.shape[1] == 0:
            raise ValueError(
                f"targets must have shape (B, T) with B = {batch} and T >= 1, "
                f"got {tuple(targets.shape)}"
            )
        check_device(targets, "targets", ("the module's parameters", self))
        if torch.compiler.is_compiling():  # value checks: skipped while tracing
            return targets
        bad = (targets != IGNORE_INDEX) & ((targets < 0) | (targets >= k))
        if bool(bad.any()):
            raise ValueError(
                f"targets must be pointers in [0, {k}) or {IGNORE_INDEX}, got "
                f"{targets[bad][:5].tolist()}"
            )
        return targets

    # -- building blocks --------------------------------------------------------------------

    def encode(self, inputs: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, LSTMState]:
        """Encode; return ``(memory (B, K, H), embedded inputs (B, N, E), final state)``.

        The encoder runs on packed sequences, so padding never reaches the real states and the
        final state is the one after each row's last real input.
        """
        embedded = self.embedding(inputs)  # (b, n, e)
        states, state = run_packed(self.encoder, embedded, mask.sum(-1))
        if self.end is not None:
            stop = self.end.expand(inputs.shape[0], 1, self.hidden_dim)
            states = torch.cat([stop, states], dim=1)  # (b, k, h)
        return states, embedded, state

    def key_mask(self, mask: Tensor) -> Tensor:
        """``(B, K)``: pointable positions before anything is chosen (the stop pointer included)."""
        if not self.end_token:
            return mask
        return torch.cat([mask.new_ones(mask.shape[0], 1), mask], dim=1)

    def pointer_distribution(
        self, decoder_states: Tensor, keys: Tensor, memory: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One or many pointer steps: eq. 3 of Vinyals et al. from projected keys.

        Args:
            decoder_states: ``(B, T, H)`` decoder outputs ``d_i``.
            keys: ``(B, K, H)``, ``W_1 e_j`` (``self.score.key_proj(memory)``).
            memory: ``(B, K, H)``, ``e_j`` (for the context read-out).
            mask: ``(B, T, K)`` boolean, ``True`` = may be pointed at.

        Returns:
            ``(weights, log_probs, context)``: ``(B, T, K)``, ``(B, T, K)``, ``(B, T, H)``.
        """
        scores = additive_scores(self.score.query_proj(decoder_states), keys, self.score.v)
        weights = masked_softmax(scores, mask)
        log_probs = masked_normalize(scores, mask, lambda s: torch.log_softmax(s, dim=-1))
        log_probs = torch.where(mask, log_probs, torch.finfo(scores.dtype).min)
        context = torch.bmm(weights, memory)  # (b, t, h)
        return weights, log_probs, context

    def _decoder_input(self, embedded: Tensor, pointer: Tensor) -> Tensor:
        """``(B, T, E)`` embeddings of the inputs pointed at by ``pointer (B, T)``.

        The go vector stands in where the pointer is not an input (stop, none, padding).
        """
        index = pointer - self.shift
        real = index >= 0
        gather_index = index.clamp_min(0)[..., None].expand(-1, -1, embedded.shape[-1])
        picked = embedded.gather(1, gather_index)  # (b, t, e)
        return torch.where(real[..., None], picked, self.go.expand_as(picked))

    # -- teacher forcing ----------------------------------------------------------------------

    def forward(
        self,
        inputs: Tensor,
        targets: Tensor | None = None,
        *,
        mask: Tensor | None = None,
    ) -> PointerOutput:
        """Teacher-forced distributions for ``targets``, or greedy decoding without them.

        Args:
            inputs: ``(B, N, D)`` input elements.
            targets: ``(B, T)`` int64 pointers (``IGNORE_INDEX`` on padded steps); a target may
                not point at a padded or already chosen input. ``None``: greedy decoding
                (:meth:`decode`).
            mask: ``(B, N)`` boolean, ``True`` = real input (padding at the end).

        Returns:
            :class:`PointerOutput`; ``T`` is the targets' length.
        """
        if targets is None:
            return self.decode(inputs, mask=mask)
        inputs, mask = self._check_inputs(inputs, mask)
        batch = inputs.shape[0]
        key_valid = self.key_mask(mask)
        k = key_valid.shape[1]
        targets = self._check_targets(targets, batch, k)
        memory, embedded, state = self.encode(inputs, mask)
        keys = self.score.key_proj(memory)

        given = targets != IGNORE_INDEX
        onehot = F.one_hot(targets.clamp_min(0), k) & given[..., None]  # (b, t, k)
        chosen_before = (onehot.cumsum(1) - onehot) > 0
        ended = (~given).long().cumsum(1) - (~given).long() > 0  # a padded step came before
        if self.end_token:
            ended = ended | chosen_before[..., 0]
        step_mask = key_valid[:, None, :] & ~chosen_before & ~ended[..., None]

        # Decoder input of step i: the element pointed at in step i - 1 (go vector at step 0).
        previous = torch.cat([targets.new_full((batch, 1), -1), targets[:, :-1]], dim=1)
        dec_out, _ = self.decoder(self._decoder_input(embedded, previous), state)
        weights, log_probs, context = self.pointer_distribution(dec_out, keys, memory, step_mask)

        picked = step_mask.gather(2, targets.clamp_min(0)[..., None])[..., 0]
        if not torch.compiler.is_compiling() and bool((given & ~picked).any()):
            b, i = (given & ~picked).nonzero()[0].tolist()
            raise ValueError(
                f"targets[{b}, {i}] = {int(targets[b, i])} points at a padded input, an input "
                "already chosen, or past the stop pointer"
            )
        pointers = torch.where(given, targets, IGNORE_INDEX)
        log_likelihood = _log_likelihood(log_probs, pointers)
        return PointerOutput(context, weights, log_probs, pointers, log_likelihood)

    # -- decoding ----------------------------------------------------------------------------

    @torch.no_grad()
    def decode(
        self,
        inputs: Tensor,
        *,
        mask: Tensor | None = None,
        beam_size: int = 1,
        max_steps: int | None = None,
    ) -> PointerOutput:
        """Greedy (``beam_size=1``) or beam-search decoding.

        Beam search keeps the ``beam_size`` partial outputs of highest total log-probability
        (no length normalisation: without a stop pointer every output has length ``n``); an
        output is finished when it takes the stop pointer or has nothing left to point at.
        ``beam_size=1`` is exactly greedy decoding.

        Args:
            inputs: ``(B, N, D)``.
            mask: ``(B, N)`` boolean, ``True`` = real input.
            beam_size: number of beams.
            max_steps: at most this many output steps (default ``K``, enough for any output).

        Returns:
            :class:`PointerOutput` of the best beam; ``T`` is the number of steps until every
            row finished (at most ``max_steps``). Runs without gradients.
        """
        inputs, mask = self._check_inputs(inputs, mask)
        beam_size = check_size(beam_size, "beam_size")
        key_valid = self.key_mask(mask)
        batch, k = key_valid.shape
        steps = k if max_steps is None else check_size(max_steps, "max_steps")
        memory, embedded, (h, c) = self.encode(inputs, mask)

        # Beams are rows b * beam_size + r of every per-row tensor.
        def tile(x: Tensor, dim: int = 0) -> Tensor:
            return x.repeat_interleave(beam_size, dim=dim)

        memory, embedded, key_valid = tile(memory), tile(embedded), tile(key_valid)
        keys = self.score.key_proj(memory)
        state = (tile(h, 1), tile(c, 1))
        rows = batch * beam_size
        chosen = torch.zeros(rows, k, dtype=torch.bool, device=inputs.device)
        finished = torch.zeros(rows, dtype=torch.bool, device=inputs.device)
        beam_score = torch.full((batch, beam_size), float("-inf"), device=inputs.device,
                                dtype=memory.dtype)
        beam_score[:, 0] = 0.0  # one live beam at the start: no duplicated hypotheses
        pointer = torch.full((rows,), -1, dtype=torch.long, device=inputs.device)
        history: list[tuple[Tensor, Tensor, Tensor, Tensor]] = []
        arange = torch.arange(batch, device=inputs.device)[:, None] * beam_size
        for _ in range(steps):
            step_mask = key_valid & ~chosen
            finished = finished | ~step_mask.any(-1)  # nothing left to point at
            if bool(finished.all()):
                break
            step_mask = step_mask & ~finished[:, None]
            dec_out, state = self.decoder(self._decoder_input(embedded, pointer[:, None]), state)
            weights, log_probs, context = self.pointer_distribution(
                dec_out, keys, memory, step_mask[:, None]
            )
            lp = torch.where(step_mask, log_probs[:, 0], float("-inf"))
            # a finished beam continues with one candidate of unchanged score (column 0)
            stay = torch.full_like(lp, float("-inf"))
            stay[:, 0] = 0.0
            lp = torch.where(finished[:, None], stay, lp)
            total = (beam_score[:, :, None] + lp.view(batch, beam_size, k)).view(batch, -1)
            beam_score, flat = total.topk(beam_size, dim=1)  # (b, r)
            parent = (arange + flat // k).view(-1)
            column = (flat % k).view(-1)
            was_finished = finished[parent]
            new_pointer = torch.where(was_finished, IGNORE_INDEX, column)
            history = [tuple(x[parent] for x in entry) for entry in history]  # type: ignore[misc]
            history.append(
                (weights[parent, 0], log_probs[parent, 0], context[parent, 0], new_pointer)
            )
            state = (state[0][:, parent], state[1][:, parent])
            chosen = chosen[parent] | (F.one_hot(column, k).bool() & ~was_finished[:, None])
            finished = was_finished | (column == 0) if self.end_token else was_finished
            pointer = torch.where(was_finished, -1, column)
        return _best_beam(history, arange[:, 0] + beam_score.argmax(1), memory, k)

    def extra_repr(self) -> str:
        return (
            f"input_dim={self.input_dim}, hidden_dim={self.hidden_dim}, "
            f"embedding_dim={self.embedding_dim}, num_layers={self.num_layers}, "
            f"end_token={self.end_token}"
        )


def _log_likelihood(log_probs: Tensor, pointers: Tensor) -> Tensor:
    """``(B,)`` summed log-probabilities ``(B, T, K)`` of the ``(B, T)`` pointers taken (steps
    holding :data:`IGNORE_INDEX` add nothing)."""
    taken = pointers != IGNORE_INDEX
    target_lp = log_probs.gather(2, pointers.clamp_min(0)[..., None])[..., 0]
    return torch.where(taken, target_lp, 0.0).sum(1)


def _best_beam(
    history: list[tuple[Tensor, Tensor, Tensor, Tensor]], best: Tensor, memory: Tensor, k: int
) -> PointerOutput:
    """The :class:`PointerOutput` of the beam rows ``best`` ``(B,)`` from the per-step
    ``(weights, log_probs, context, pointers)`` of every beam; empty when no step was taken."""
    batch = best.shape[0]
    if not history:  # an empty batch: no step was taken
        empty = memory.new_zeros(batch, 0, k)
        no_pointers = torch.zeros(batch, 0, dtype=torch.long, device=memory.device)
        no_context = memory.new_zeros(batch, 0, memory.shape[-1])
        return PointerOutput(no_context, empty, empty, no_pointers, memory.new_zeros(batch))
    weights, log_probs, context, pointers = (
        torch.stack([entry[i][best] for entry in history], 1) for i in range(4)
    )
    log_likelihood = _log_likelihood(log_probs, pointers)
    return PointerOutput(context, weights, log_probs, pointers, log_likelihood)
