"""End-to-end memory network (MemN2N): multi-hop soft attention over a memory of sentences.

Paper: S. Sukhbaatar, A. Szlam, J. Weston, R. Fergus, "End-To-End Memory Networks",
https://arxiv.org/abs/1503.08895 (NIPS 2015).

One hop (section 2.1), for memories ``x_i`` (sentences), a controller state ``u`` and
embeddings ``A``, ``C``:

.. math::

    m_i = \\sum_j l_j \\odot A x_{ij} + T_A(i), \\qquad
    c_i = \\sum_j l_j \\odot C x_{ij} + T_C(i),

    p_i = \\operatorname{softmax}(u^\\top m_i) \\quad (eq. 1), \\qquad
    o = \\sum_i p_i c_i \\quad (eq. 2),

and after ``K`` hops (section 2.2) ``u^{k+1} = u^k + o^k`` (adjacent tying) or
``u^{k+1} = H u^k + o^k`` (layer-wise tying), ``\\hat a = \\operatorname{softmax}(W u^{K+1})``
(eq. 3). The query is ``u^1 = \\sum_j l_j \\odot B q_j``.

* Position encoding (section 4.1): ``l_{kj} = (1 - j/J) - (k/d)(1 - 2j/J)`` for word
  ``j = 1..J`` of a ``J``-word sentence and embedding dimension ``k = 1..d``; bag of words is
  ``l_{kj} = 1``.
* Temporal encoding (section 4.1): ``T_A(i)``, ``T_C(i)`` rows indexed by the memory's
  distance to the question (``time``, 0 = the most recent sentence).
* Random noise (RN, section 4.1): at training, empty memories are inserted at random among the
  sentences (up to ``random_noise`` of their number), which shifts the temporal indices.
* Linear start (LS, section 4.2): the softmax of every hop is removed
  (``linear_start=True``); training re-inserts it when the validation loss stops falling.

The attention step of every hop is :func:`attnlab.core.attend.attend` with a
:class:`~attnlab.core.scores.DotScore` (``u^T m_i``), the softmax or the linear-start
distribution, and the padding mask (empty memory slots get exactly 0 weight).
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn

from attnlab.core._tracing import is_exporting
from attnlab.core.attend import attend
from attnlab.core.checks import check_bool, check_mask, check_probability, check_tensor
from attnlab.core.distributions import Distribution, resolve_distribution
from attnlab.core.init_args import AttnModule
from attnlab.core.masks import masked_normalize
from attnlab.core.scores import DotScore

__all__ = [
    "LinearStart",
    "MemN2N",
    "MemN2NOutput",
    "position_encoding",
    "random_noise_time",
]

WeightTying = Literal["adjacent", "layerwise"]
Encoding = Literal["position", "bow"]


class MemN2NOutput(NamedTuple):
    """What :class:`MemN2N` returns.

    Attributes:
        context: ``(B, d)`` the final controller state ``u^{K+1}`` (the input of ``W``).
        weights: ``(B, K, M)`` the attention ``p`` of each hop over the memory slots; exactly 0
            at masked (padding) slots.
        logits: ``(B, V)`` answer scores ``W u^{K+1}`` (eq. 3 before the softmax).
    """

    context: Tensor
    weights: Tensor
    logits: Tensor


class LinearStart:
    """The linear-start distribution: the scores unchanged, exactly 0 at masked slots.

    Section 4.2 of Sukhbaatar et al. (arXiv:1503.08895): "the softmax in each memory layer is
    removed, making the model entirely linear except for the final softmax". Goes through
    :func:`~attnlab.core.masks.masked_normalize` like every library distribution.

    Note:
        The library's :class:`~attnlab.core.distributions.LinearNormalization` divides by the
        row sum of clamped scores, which is not the paper's linear start; pass it as
        ``linear_distribution="linear"`` to use it instead.

    Example:
        >>> LinearStart()(torch.tensor([[2.0, -1.0, 5.0]]), torch.tensor([[True, True, False]]))
        tensor([[ 2., -1.,  0.]])
    """

    def __call__(self, scores: Tensor, mask: Tensor | None = None) -> Tensor:
        return masked_normalize(scores, mask, _identity)

    def __repr__(self) -> str:
        return "LinearStart()"


def _identity(x: Tensor) -> Tensor:
    return x


def position_encoding(
    lengths: Tensor, max_length: int, dim: int, *, dtype: torch.dtype | None = None
) -> Tensor:
    """The position-encoding weights ``l_{kj}`` of sentences with the given word counts.

    .. math:: l_{kj} = (1 - j/J) - (k/d)(1 - 2j/J), \\quad j = 1..J,\\ k = 1..d

    (Sukhbaatar et al., arXiv:1503.08895, section 4.1), with ``J`` the sentence's own length.
    Positions past a sentence's end get 0.

    Shape:
        lengths ``(...)`` -> ``(..., max_length, dim)``.

    Example:
        >>> position_encoding(torch.tensor([2]), 3, 2)[0]
        tensor([[0.5000, 0.5000],
                [0.5000, 1.0000],
                [0.0000, 0.0000]])
    """
    dtype = dtype or torch.get_default_dtype()
    j = torch.arange(1, max_length + 1, device=lengths.device, dtype=dtype)  # (j,)
    k = torch.arange(1, dim + 1, device=lengths.device, dtype=dtype)  # (d,)
    big_j = lengths.to(dtype).clamp_min(1.0)[..., None, None]  # (..., 1, 1)
    ratio = j[:, None] / big_j  # (..., j, 1)
    enc = (1 - ratio) - (k / dim) * (1 - 2 * ratio)  # (..., j, d)
    inside = (j[:, None] <= lengths[..., None, None].to(dtype))  # (..., j, 1)
    return enc * inside


def random_noise_time(
    time: Tensor,
    mask: Tensor,
    rate: float,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Temporal indices after inserting empty memories at random (RN, section 4.1).

    For each story with ``n`` sentences, ``b`` ~ uniform on ``{0, ..., ceil(rate * n)}`` empty
    memories are placed at random among them; the sentences keep their order and their
    temporal indices (0 = most recent) skip the inserted blanks.

    Shape:
        time ``(B, M)`` (0 = most recent valid slot), mask ``(B, M)`` -> ``(B, M)``.

    Example:
        >>> t = torch.tensor([[2, 1, 0]]); m = torch.ones(1, 3, dtype=torch.bool)
        >>> bool((random_noise_time(t, m, 0.0) == t).all())
        True
    """
    batch, slots = time.shape
    count = mask.sum(dim=1)  # (b,)
    most = torch.ceil(count.to(torch.float64) * rate).long()
    draw = torch.rand(batch, generator=generator, device=time.device)
    blanks = torch.minimum((draw * (most + 1).to(draw.dtype)).long(), most)  # (b,)
    width = slots + math.ceil(slots * rate) + 1
    positions = torch.arange(width, device=time.device)  # (t,)
    keys = torch.rand(batch, width, generator=generator, device=time.device)
    keys = keys.masked_fill(positions[None] >= (count + blanks)[:, None], 2.0)  # unavailable
    rank = keys.argsort(dim=1).argsort(dim=1)  # (b, t) rank of each position's key
    chosen = rank < count[:, None]  # exactly count positions among the first count + blanks
    ordered = torch.where(chosen, positions[None], width).sort(dim=1).values  # (b, t)
    new_time = ordered.gather(1, time.clamp(0, width - 1))
    return torch.where(mask, new_time, time)


class MemN2N(AttnModule):
    """End-to-end memory network with ``K`` hops (Sukhbaatar et al. 2015).

    Paper: "End-To-End Memory Networks", https://arxiv.org/abs/1503.08895, eqs. 1-3, sections
    2.2 (weight tying) and 4.1-4.2 (PE, TE, RN, LS).

    Args:
        vocab_size: ``V``, words including the nil word 0 (its embedding is fixed at zero).
        dim: ``d``, embedding size (paper: 20 per task, 50 joint).
        num_hops: ``K`` (paper: 3).
        memory_size: memory slots ``M`` the temporal tables cover (paper: 50).
        weight_tying: ``"adjacent"`` (``A^{k+1} = C^k``, ``W^T = C^K``, ``B = A^1``) or
            ``"layerwise"`` (``A^1 = ... = A^K``, ``C^1 = ... = C^K``, ``u^{k+1} = H u^k + o^k``,
            separate ``B`` and ``W``).
        encoding: ``"position"`` (PE) or ``"bow"`` (bag of words).
        temporal: add the temporal encodings ``T_A``, ``T_C``.
        random_noise: RN rate at training (paper: 0.1); 0 turns it off.
        linear_start: remove the softmax of every hop (LS); a plain attribute, switch it off
            to re-insert the softmax.
        distribution: the hop distribution when not in linear start (``"softmax"``, eq. 1).
        linear_distribution: the distribution during linear start; default
            :class:`LinearStart` (the identity).
        init_std: standard deviation of the Gaussian initialisation (paper: 0.1).

    Shape:
        story ``(B, M, J)`` word indices, query ``(B, Jq)``; optional ``time (B, M)`` long and
        ``mask (B, M)`` bool (default: the non-empty sentences, time counted back from the last
        one).

    Returns:
        :class:`MemN2NOutput` ``(context (B, d), weights (B, K, M), logits (B, V))``.

    Example:
        >>> model = MemN2N(10, dim=8, num_hops=2, memory_size=4)
        >>> story = torch.randint(1, 10, (2, 4, 5)); query = torch.randint(1, 10, (2, 3))
        >>> out = model(story, query, mask=torch.tensor([[True] * 4, [True, True, False, False]]))
        >>> out.context.shape, out.weights.shape, out.logits.shape
        (torch.Size([2, 8]), torch.Size([2, 2, 4]), torch.Size([2, 10]))
        >>> float(out.weights[1, :, 2:].detach().abs().sum())
        0.0
    """

    def __init__(
        self,
        vocab_size: int,
        *,
        dim: int = 50,
        num_hops: int = 3,
        memory_size: int = 50,
        weight_tying: WeightTying = "adjacent",
        encoding: Encoding = "position",
        temporal: bool = True,
        random_noise: float = 0.1,
        linear_start: bool = False,
        distribution: str | Distribution = "softmax",
        linear_distribution: str | Distribution | None = None,
        init_std: float = 0.1,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        for name, value, low in (("vocab_size", vocab_size, 2), ("dim", dim, 1),
                                 ("num_hops", num_hops, 1), ("memory_size", memory_size, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if weight_tying not in ("adjacent", "layerwise"):
            raise ValueError(
                f"weight_tying must be 'adjacent' or 'layerwise', got {weight_tying!r}"
            )
        if encoding not in ("position", "bow"):
            raise ValueError(f"encoding must be 'position' or 'bow', got {encoding!r}")
        check_bool(temporal, "temporal")
        check_bool(linear_start, "linear_start")
        check_probability(random_noise, "random_noise")
        if isinstance(init_std, bool) or not isinstance(init_std, (int, float)) or init_std <= 0:
            raise ValueError(f"init_std must be a number > 0, got {init_std!r}")
        self.vocab_size = vocab_size
        self.dim = dim
        self.num_hops = num_hops
        self.memory_size = memory_size
        self.weight_tying = weight_tying
        self.encoding = encoding
        self.temporal = temporal
        self.random_noise = float(random_noise)
        self.linear_start = linear_start
        self.distribution = resolve_distribution(distribution)
        self.linear_distribution = (
            LinearStart() if linear_distribution is None
            else resolve_distribution(linear_distribution)
        )
        self.score = DotScore()
        # time rows: the memory slots plus the blanks random noise may insert
        self.num_times = memory_size + math.ceil(memory_size * self.random_noise) + 1
        factory = {"device": device, "dtype": dtype}

        def embedding() -> nn.Embedding:
            return nn.Embedding(vocab_size, dim, padding_idx=0, **factory)  # type: ignore[arg-type]

        def table() -> nn.Parameter:
            return nn.Parameter(torch.empty(self.num_times, dim, **factory))  # type: ignore[arg-type]

        # Adjacent: embeddings[k] is C^k = A^{k+1} (embeddings[0] = A^1 = B, embeddings[K] =
        # C^K = W^T); layer-wise: embeddings = [A, C].
        count = num_hops + 1 if weight_tying == "adjacent" else 2
        self.embeddings = nn.ModuleList(embedding() for _ in range(count))
        self.times = nn.ParameterList(table() for _ in range(count)) if temporal else None
        if weight_tying == "layerwise":
            self.query_embedding: nn.Embedding | None = embedding()
            self.hop_map: nn.Linear | None = nn.Linear(dim, dim, bias=False, **factory)  # H
            self.answer: nn.Linear | None = nn.Linear(dim, vocab_size, bias=False, **factory)  # W
        else:
            self.query_embedding = self.hop_map = self.answer = None
        self.init_std = float(init_std)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Gaussian initialisation ``N(0, init_std^2)`` (section 4.2); the nil word stays 0."""
        for module in self.modules():
            if isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=self.init_std)
                with torch.no_grad():
                    module.weight[0].zero_()
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=self.init_std)
        if self.times is not None:
            for t in self.times:
                nn.init.normal_(t, std=self.init_std)

    # -- pieces of the hop -------------------------------------------------------------------

    def _slot_index(self, hop: int) -> tuple[int, int]:
        """Indices of ``A^k`` and ``C^k`` (hop ``k`` counted from 0) in :attr:`embeddings`."""
        return (hop, hop + 1) if self.weight_tying == "adjacent" else (0, 1)

    def _bags(self, words: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor | None]:
        """Per-sentence weighted word counts for the bag sums: ``(n, J)`` -> ``(n, V)`` each.

        With position encoding ``l_{kj} = a_j + (k/d) b_j``, ``a_j = 1 - j/J`` and
        ``b_j = 2j/J - 1``, so ``sum_j l_j * E x_j = S_a E + (k/d) S_b E`` where
        ``S_a[n, w] = sum_{j: x_j = w} a_j``. The vocabulary is small, so these count matrices
        turn every embedding sum into one matrix product (fast forward and backward).
        Padding (word 0) gets weight 0.
        """
        n, length = words.shape
        real = (words != 0).to(dtype)  # (n, j)
        if self.encoding == "bow":
            bag = torch.zeros(n, self.vocab_size, dtype=dtype, device=words.device)
            return bag.scatter_add_(1, words, real), None
        count = real.sum(dim=1, keepdim=True).clamp_min(1.0)  # (n, 1) J of each sentence
        j = torch.arange(1, length + 1, device=words.device, dtype=dtype)  # (j,)
        ratio = j / count  # (n, j) j / J
        bag_a = torch.zeros(n, self.vocab_size, dtype=dtype, device=words.device)
        bag_b = torch.zeros_like(bag_a)
        bag_a.scatter_add_(1, words, (1 - ratio) * real)
        bag_b.scatter_add_(1, words, (2 * ratio - 1) * real)
        return bag_a, bag_b

    def _encode(self, words: Tensor, weight: Tensor) -> Tensor:
        """``sum_j l_j * E x_j`` for one or several embeddings stacked on the last axis.

        Shape:
            words ``(..., J)``, weight ``(V, e * d)`` -> ``(..., e * d)``.
        """
        lead, length = words.shape[:-1], words.shape[-1]
        bag_a, bag_b = self._bags(words.reshape(-1, length), weight.dtype)
        out = bag_a @ weight  # (n, e*d)
        if bag_b is not None:
            k = torch.arange(1, self.dim + 1, device=words.device, dtype=weight.dtype)
            k = (k / self.dim).repeat(weight.shape[1] // self.dim)  # (e*d,) k/d per block
            out = out + k * (bag_b @ weight)
        return out.reshape(*lead, weight.shape[1])

    def answer_logits(self, u: Tensor) -> Tensor:
        """``W u`` (eq. 3 before the softmax): ``(B, d)`` -> ``(B, V)``."""
        if self.answer is not None:
            return self.answer(u)
        last = self.embeddings[-1]
        assert isinstance(last, nn.Embedding)
        # W^T = C^K (adjacent tying); the nil word's row is left out (logit 0, no gradient) so
        # its embedding stays 0 like nn.Embedding's padding_idx
        keep = torch.ones(self.vocab_size, 1, dtype=u.dtype, device=u.device)
        keep[0] = 0.0
        return u @ (last.weight * keep).t()

    def hop(self, u: Tensor, m: Tensor, c: Tensor, *, mask: Tensor | None = None
            ) -> tuple[Tensor, Tensor]:
        """One memory hop (eqs. 1-2): ``p = softmax(u^T m_i)``, ``o = sum_i p_i c_i``.

        The attention step is :func:`attnlab.core.attend.attend` with a dot-product score and
        the current distribution (softmax, or :class:`LinearStart` during linear start).

        Shape:
            u ``(B, d)``, m ``(B, M, d)``, c ``(B, M, d)``, mask ``(B, M)`` ->
            ``o (B, d)``, ``p (B, M)``.
        """
        dist = self.linear_distribution if self.linear_start else self.distribution
        out = attend(u.unsqueeze(1), m, c, score=self.score, distribution=dist, mask=mask)
        assert out.weights is not None  # need_weights defaults to True
        return out.context.squeeze(1), out.weights.squeeze(1)  # (b, d), (b, m)

    def memories(self, story: Tensor, time: Tensor, mask: Tensor | None = None) -> list[Tensor]:
        """Every distinct memory embedding: ``sum_j l_j * E x_ij + T_E(i)`` for each ``E``.

        Adjacent tying gives ``K + 1`` (``[A^1, C^1 = A^2, ..., C^K]``), layer-wise 2
        (``[A, C]``): all are computed together, once per forward pass. With a ``mask``, only
        the valid slots are computed and the others are 0 (they get no attention anyway).

        Shape:
            story ``(B, M, J)``, time ``(B, M)``, mask ``(B, M)`` -> a list of ``(B, M, d)``.
        """
        weights: list[Tensor] = [e.weight for e in self.embeddings]  # type: ignore[misc]
        table = torch.cat(weights, dim=1)  # (v, e*d)
        batch, slots, length = story.shape
        words = story.reshape(batch * slots, length)  # (b*m, j)
        time = time.reshape(-1)
        # torch.export cannot hold the number of valid slots (a size that is data): there every
        # slot is encoded and the empty ones are zeroed, which gives the same memories.
        rows = None  # the valid slots
        if mask is not None and not is_exporting():
            rows = mask.reshape(-1).nonzero().squeeze(1)
        if rows is not None:
            words, time = words[rows], time[rows]
        memory = self._encode(words, table)  # (n, e*d)
        if self.times is not None:
            one_hot = nn.functional.one_hot(time, self.num_times).to(memory.dtype)
            memory = memory + one_hot @ torch.cat(list(self.times), dim=1)  # (n, e*d)
        if rows is not None:
            full = memory.new_zeros(batch * slots, memory.shape[1])
            memory = full.index_copy(0, rows, memory)
        elif mask is not None:
            memory = torch.where(mask.reshape(-1, 1), memory, torch.zeros_like(memory))
        memory = memory.reshape(batch, slots, len(weights), self.dim)  # (b, m, e, d)
        return list(memory.unbind(dim=2))

    def forward(
        self,
        story: Tensor,
        query: Tensor,
        *,
        time: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> MemN2NOutput:
        """Answer ``query`` from ``story`` through the memory hops (shapes: see the class)."""
        check_tensor(story, "story", ndim=3, layout="(B, M, J) word indices", floating=False,
                     like=("", self))
        check_tensor(query, "query", ndim=2, layout="(B, Jq) word indices", floating=False,
                     like=("story", story))
        batch, slots = story.shape[0], story.shape[1]
        for name, words in (("story", story), ("query", query)):
            if words.dtype not in (torch.long, torch.int32, torch.int64):
                raise TypeError(f"{name} must hold integer word indices, got dtype {words.dtype}")
            if (
                words.numel()
                and not torch.compiler.is_compiling()  # a value check: skipped while tracing
                and (int(words.min()) < 0 or int(words.max()) >= self.vocab_size)
            ):
                raise ValueError(
                    f"{name} holds word indices outside [0, vocab_size={self.vocab_size})"
                )
        if query.shape[0] != batch:
            raise ValueError(f"query must have batch size {batch}, got {query.shape[0]}")
        if mask is None:
            mask = (story != 0).any(dim=-1)  # (b, m) the non-empty sentences
        else:
            mask = check_mask(
                mask, batch=batch, q_len=1, k_len=slots, like=("story", story)
            ).reshape(-1, slots)
            mask = mask.expand(batch, slots)
        if time is None:
            # 0 = the last valid slot, counting back over the valid slots
            time = (mask.flip(1).cumsum(1).flip(1) - 1).clamp_min(0)
        else:
            check_tensor(time, "time", ndim=2, layout="(B, M) temporal indices", floating=False,
                         like=("story", story))
            if tuple(time.shape) != (batch, slots):
                raise ValueError(f"time must have shape (B, M) = ({batch}, {slots}), "
                                 f"got {tuple(time.shape)}")
            if (
                time.numel()
                and not torch.compiler.is_compiling()  # a value check: skipped while tracing
                and (int(time.min()) < 0 or int(time.max()) >= self.num_times)
            ):
                raise ValueError(
                    f"time must hold temporal indices in [0, {self.num_times - 1}] "
                    f"(0 = the most recent sentence), got values in "
                    f"[{int(time.min())}, {int(time.max())}]"
                )
        if self.training and self.temporal and self.random_noise > 0:
            time = random_noise_time(time, mask, self.random_noise)
        time = time.clamp(0, self.num_times - 1)
        if slots > self.num_times:
            raise ValueError(f"story has {slots} slots, more than memory_size={self.memory_size}")
        embed_b = self.query_embedding if self.query_embedding is not None else self.embeddings[0]
        assert isinstance(embed_b, nn.Embedding)
        u = self._encode(query, embed_b.weight)  # (b, d) u^1 = B q
        memories = self.memories(story, time, mask)
        weights = []
        for k in range(self.num_hops):
            index_a, index_c = self._slot_index(k)
            o, p = self.hop(u, memories[index_a], memories[index_c], mask=mask)
            u = (self.hop_map(u) if self.hop_map is not None else u) + o  # u^{k+1}
            weights.append(p)
        return MemN2NOutput(u, torch.stack(weights, dim=1), self.answer_logits(u))

    def extra_repr(self) -> str:
        return (
            f"vocab_size={self.vocab_size}, dim={self.dim}, num_hops={self.num_hops}, "
            f"weight_tying={self.weight_tying!r}, encoding={self.encoding!r}, "
            f"temporal={self.temporal}, random_noise={self.random_noise}, "
            f"linear_start={self.linear_start}"
        )
