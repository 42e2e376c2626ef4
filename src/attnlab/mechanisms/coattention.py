"""Co-attention: attend over two sequences jointly (Lu et al. 2016).

Jiasen Lu, Jianwei Yang, Dhruv Batra, Devi Parikh, "Hierarchical Question-Image Co-Attention for
Visual Question Answering", NeurIPS 2016, https://arxiv.org/abs/1606.00061, section 3.3:

* :class:`ParallelCoAttention`: both sequences attend each other at once through an affinity
  matrix (eqs. 3-5);
* :class:`AlternatingCoAttention`: summarise the question, attend the image guided by the summary,
  then attend the question guided by the attended image (eq. 6).

In the survey's taxonomy (Chaudhari et al., arXiv:1904.02874, section 4.1) both are
*co-attention*: the weights of two input sequences are learned jointly. The inputs are named after
the paper (``question``, ``image``), but any two sequences work, e.g. two sentences.

**Convention** (both classes): the attention is a *pooling* over each sequence (one summary per
example, no query axis), so per direction ``context`` is ``(B, D)`` and ``weights`` is ``(B, L)``;
the top-level ``context``/``weights`` concatenate the question part and the image part, in that
order.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from attnlab.core.checks import check_dim, check_mask, check_same_batch, check_tensor
from attnlab.core.distributions import Distribution, resolve_distribution
from attnlab.core.init_args import AttnModule
from attnlab.core.output import AttentionOutput
from attnlab.core.registry import Paper, register_mechanism

__all__ = [
    "AlternatingCoAttention",
    "AlternatingCoAttentionOutput",
    "ParallelCoAttention",
    "ParallelCoAttentionOutput",
]

_PAPER = Paper(
    title="Hierarchical Question-Image Co-Attention for Visual Question Answering",
    authors="Lu, Yang, Batra, Parikh",
    year=2016,
    url="https://arxiv.org/abs/1606.00061",
)


class ParallelCoAttentionOutput(NamedTuple):
    """Result of :class:`ParallelCoAttention`.

    Attributes:
        context: ``(B, Dq + Dv)``, ``[q_hat ; v_hat]``: the attended question and image features
            concatenated (the paper adds them after a projection in its answer layer, eq. 7).
        weights: ``(B, T + N)``, ``[a^q ; a^v]``: two distributions side by side, the first ``T``
            entries sum to 1 over the valid question positions and the last ``N`` to 1 over the
            valid image positions (a fully padded side is all zeros).
        question: :class:`AttentionOutput` ``(q_hat (B, Dq), a^q (B, T))``.
        image: :class:`AttentionOutput` ``(v_hat (B, Dv), a^v (B, N))``.
        affinity: ``(B, T, N)``, ``C = tanh(Q^T W_b V)`` (eq. 3), exactly 0 where the question
            position or the image position is padded.
    """

    context: Tensor
    weights: Tensor
    question: AttentionOutput
    image: AttentionOutput
    affinity: Tensor


class AlternatingCoAttentionOutput(NamedTuple):
    """Result of :class:`AlternatingCoAttention`.

    Attributes:
        context: ``(B, Dq + Dv)``, ``[q_hat ; v_hat]`` (final question and image features).
        weights: ``(B, T + N)``, ``[a^q ; a^v]`` of the last question step and the image step;
            each part sums to 1 over its valid positions (all zeros for a fully padded side).
        question: :class:`AttentionOutput` of step 3, ``(q_hat (B, Dq), a^q (B, T))``.
        image: :class:`AttentionOutput` of step 2, ``(v_hat (B, Dv), a^v (B, N))``.
        summary: :class:`AttentionOutput` of step 1, the unguided question summary
            ``(s (B, Dq), weights (B, T))`` that guides the image step.
    """

    context: Tensor
    weights: Tensor
    question: AttentionOutput
    image: AttentionOutput
    summary: AttentionOutput


class _CoAttention(AttnModule):
    """What both co-attention forms share: their sizes, the distribution and the input checks."""

    def __init__(
        self,
        question_dim: int,
        image_dim: int,
        hidden_dim: int,
        distribution: str | Distribution,
    ) -> None:
        super().__init__()
        self.question_dim = question_dim
        self.image_dim = image_dim
        self.hidden_dim = hidden_dim
        self.distribution = resolve_distribution(distribution)

    def _check_inputs(
        self,
        question: Tensor,
        image: Tensor,
        question_mask: Tensor | None,
        image_mask: Tensor | None,
    ) -> tuple[Tensor | None, Tensor | None]:
        """Validate both sequences and their ``(B, L)`` padding masks (devices included:
        ``question`` on the parameters', the rest on ``question``'s); return the masks."""
        check_tensor(question, "question", ndim=3, layout="(B, T, Dq)", like=("", self))
        check_tensor(image, "image", ndim=3, layout="(B, N, Dv)", like=("question", question))
        check_dim(question, -1, self.question_dim, "question", "question_dim")
        check_dim(image, -1, self.image_dim, "image", "image_dim")
        batch = check_same_batch(question=question, image=image)
        masks: list[Tensor | None] = []
        for mask, name, length in (
            (question_mask, "question_mask", question.shape[1]),
            (image_mask, "image_mask", image.shape[1]),
        ):
            if mask is None:
                masks.append(None)
                continue
            if isinstance(mask, Tensor) and mask.dim() != 2:
                raise ValueError(
                    f"{name} must be a (B, L) boolean padding mask, got shape {tuple(mask.shape)}"
                )
            masks.append(check_mask(mask, batch=batch, q_len=1, k_len=length, name=name,
                                    like=("question", question))[:, 0])
        return masks[0], masks[1]


def _pool(weights: Tensor, x: Tensor) -> Tensor:
    """``sum_l weights_l x_l``: ``(B, L)`` weights, ``(B, L, D)`` features -> ``(B, D)``."""
    return torch.bmm(weights.unsqueeze(1), x).squeeze(1)  # (b, 1, l) @ (b, l, d) -> (b, d)


def _example(
    cls: type[ParallelCoAttention] | type[AlternatingCoAttention],
) -> tuple[nn.Module, tuple[Tensor, ...], dict[str, Tensor]]:
    """A registry example of ``cls``: two questions and two images, both partly padded."""
    question_mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    image_mask = torch.tensor([[True] * 6, [True, True, True, True, False, False]])
    module = cls(8, 6, 4)
    args = (torch.randn(2, 5, 8), torch.randn(2, 6, 6))
    return module, args, {"question_mask": question_mask, "image_mask": image_mask}


@register_mechanism(
    "parallel_coattention",
    sequences="co",
    levels="single",
    positions="soft",
    representations="single",
    paper=_PAPER,
    example=lambda: _example(ParallelCoAttention),
)
class ParallelCoAttention(_CoAttention):
    r"""Parallel co-attention: question and image attend each other through an affinity matrix.

    Lu et al. 2016, "Hierarchical Question-Image Co-Attention for Visual Question Answering",
    https://arxiv.org/abs/1606.00061, section 3.3, eqs. 3-5. With the question features
    :math:`Q = [q_1 .. q_T]` and the image features :math:`V = [v_1 .. v_N]` as columns:

    .. math::

        C &= \tanh(Q^\top W_b V) \in \mathbb{R}^{T \times N} \\
        H^v &= \tanh(W_v V + (W_q Q) C), \qquad H^q = \tanh(W_q Q + (W_v V) C^\top) \\
        a^v &= \mathrm{softmax}(w_{hv}^\top H^v), \qquad a^q = \mathrm{softmax}(w_{hq}^\top H^q) \\
        \hat v &= \textstyle\sum_n a^v_n v_n, \qquad \hat q = \sum_t a^q_t q_t

    Masking: an affinity entry :math:`C_{tn}` whose question position ``t`` or image position
    ``n`` is padded is set to 0 (tanh's neutral value), so padded positions contribute nothing to
    :math:`H^v` or :math:`H^q`; the softmaxes give them exactly 0. The result equals running the
    unpadded sequences. A fully padded side gets zero weights and a zero context (no NaN); the other
    side is then attended without guidance from it.

    The form is symmetric: swapping ``question`` and ``image`` while transposing :math:`W_b` and
    exchanging :math:`(W_q, w_{hq})` with :math:`(W_v, w_{hv})` swaps the two outputs and
    transposes :math:`C`.

    Args:
        question_dim: ``Dq``, feature size of the question sequence (the paper's ``d``).
        image_dim: ``Dv``, feature size of the image sequence (the paper's ``d``; it may differ
            from ``Dq`` here, then :math:`W_b` is ``Dq x Dv``).
        hidden_dim: ``k``, size of the attention hidden states :math:`H^v, H^q`.
        distribution: maps scores to weights (default softmax, as in the paper); a name or a
            callable ``(scores, mask) -> weights``.
        device, dtype: factory arguments of the parameters.

    Parameters (paper symbol -> attribute): :math:`W_b` -> ``w_b.weight`` ``(Dq, Dv)``;
    :math:`W_q` -> ``w_q.weight`` ``(k, Dq)``; :math:`W_v` -> ``w_v.weight`` ``(k, Dv)``;
    :math:`w_{hq}` -> ``w_hq.weight`` ``(1, k)``; :math:`w_{hv}` -> ``w_hv.weight`` ``(1, k)``.
    As in eqs. 3-4, no layer has a bias.

    Shape:
        - question: ``(B, T, Dq)``; image: ``(B, N, Dv)`` (e.g. a flattened ``H x W`` grid).
        - question_mask: ``(B, T)``; image_mask: ``(B, N)``; boolean, ``True`` = valid.
        - output: see :class:`ParallelCoAttentionOutput`.

    Example:
        >>> import torch
        >>> co = ParallelCoAttention(8, 6, 4)
        >>> q, v = torch.randn(2, 5, 8), torch.randn(2, 7, 6)
        >>> out = co(q, v, question_mask=torch.tensor([[True] * 5, [True] * 3 + [False] * 2]))
        >>> out.context.shape, out.weights.shape, out.affinity.shape
        (torch.Size([2, 14]), torch.Size([2, 12]), torch.Size([2, 5, 7]))
        >>> out.question.weights[1, 3:].tolist()
        [0.0, 0.0]
    """

    def __init__(
        self,
        question_dim: int,
        image_dim: int,
        hidden_dim: int,
        *,
        distribution: str | Distribution = "softmax",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(question_dim, image_dim, hidden_dim, distribution)
        # Q^T W_b V = Q (V W_b^T)^T: the Linear's weight is W_b, (Dq, Dv).
        self.w_b = nn.Linear(image_dim, question_dim, bias=False, device=device, dtype=dtype)
        self.w_q = nn.Linear(question_dim, hidden_dim, bias=False, device=device, dtype=dtype)
        self.w_v = nn.Linear(image_dim, hidden_dim, bias=False, device=device, dtype=dtype)
        self.w_hq = nn.Linear(hidden_dim, 1, bias=False, device=device, dtype=dtype)
        self.w_hv = nn.Linear(hidden_dim, 1, bias=False, device=device, dtype=dtype)

    def forward(
        self,
        question: Tensor,
        image: Tensor,
        *,
        question_mask: Tensor | None = None,
        image_mask: Tensor | None = None,
    ) -> ParallelCoAttentionOutput:
        """Co-attend ``question (B, T, Dq)`` and ``image (B, N, Dv)``; see the class docstring."""
        question_mask, image_mask = self._check_inputs(question, image, question_mask, image_mask)
        # eq. 3: C = tanh(Q^T W_b V), batch-first C[b, t, n] = tanh(q_t^T W_b v_n)
        affinity = torch.tanh(torch.bmm(question, self.w_b(image).transpose(1, 2)))  # (b, t, n)
        if question_mask is not None or image_mask is not None:
            valid = torch.ones_like(affinity, dtype=torch.bool)
            if question_mask is not None:
                valid = valid & question_mask.unsqueeze(2)
            if image_mask is not None:
                valid = valid & image_mask.unsqueeze(1)
            # Not a score mask: a padded pair must simply add nothing to H^v / H^q below.
            affinity = affinity * valid.to(affinity.dtype)
        wq_q = self.w_q(question)  # (b, t, k): (W_q Q)^T
        wv_v = self.w_v(image)  # (b, n, k): (W_v V)^T
        # eq. 4: H^v = tanh(W_v V + (W_q Q) C), H^q = tanh(W_q Q + (W_v V) C^T)
        h_v = torch.tanh(wv_v + torch.bmm(affinity.transpose(1, 2), wq_q))  # (b, n, k)
        h_q = torch.tanh(wq_q + torch.bmm(affinity, wv_v))  # (b, t, k)
        a_v = self.distribution(self.w_hv(h_v).squeeze(-1), image_mask)  # (b, n)
        a_q = self.distribution(self.w_hq(h_q).squeeze(-1), question_mask)  # (b, t)
        # eq. 5: v_hat = sum_n a^v_n v_n, q_hat = sum_t a^q_t q_t
        v_hat = _pool(a_v, image)
        q_hat = _pool(a_q, question)
        return ParallelCoAttentionOutput(
            context=torch.cat([q_hat, v_hat], dim=-1),
            weights=torch.cat([a_q, a_v], dim=-1),
            question=AttentionOutput(q_hat, a_q),
            image=AttentionOutput(v_hat, a_v),
            affinity=affinity,
        )


class _GuidedAttention(AttnModule):
    """One step of eq. 6: ``x_hat = A(X; g)`` with ``H = tanh(W_x X + (W_g g) 1^T)``.

    Without ``guide_dim`` the step is unguided (the paper's ``g = 0``), and ``W_g`` is omitted.
    """

    def __init__(
        self,
        x_dim: int,
        guide_dim: int | None,
        hidden_dim: int,
        distribution: Distribution,
        *,
        device: torch.device | str | None,
        dtype: torch.dtype | None,
    ) -> None:
        super().__init__()
        self.w_x = nn.Linear(x_dim, hidden_dim, bias=False, device=device, dtype=dtype)
        self.w_g = (
            None
            if guide_dim is None
            else nn.Linear(guide_dim, hidden_dim, bias=False, device=device, dtype=dtype)
        )
        self.w_hx = nn.Linear(hidden_dim, 1, bias=False, device=device, dtype=dtype)
        self.distribution = distribution

    def forward(self, x: Tensor, guide: Tensor | None, mask: Tensor | None) -> AttentionOutput:
        hidden = self.w_x(x)  # (b, l, k)
        if self.w_g is not None and guide is not None:
            hidden = hidden + self.w_g(guide).unsqueeze(1)  # (W_g g) 1^T, broadcast over l
        hidden = torch.tanh(hidden)
        weights = self.distribution(self.w_hx(hidden).squeeze(-1), mask)  # (b, l)
        return AttentionOutput(_pool(weights, x), weights)


@register_mechanism(
    "alternating_coattention",
    sequences="co",
    levels="single",
    positions="soft",
    representations="single",
    paper=_PAPER,
    example=lambda: _example(AlternatingCoAttention),
)
class AlternatingCoAttention(_CoAttention):
    r"""Alternating co-attention: question summary -> image attention -> question attention.

    Lu et al. 2016, "Hierarchical Question-Image Co-Attention for Visual Question Answering",
    https://arxiv.org/abs/1606.00061, section 3.3, eq. 6. One attention operation
    :math:`\hat x = \mathcal{A}(X; g)` with guidance :math:`g`,

    .. math::

        H = \tanh(W_x X + (W_g g) \mathbb{1}^\top), \qquad
        a^x = \mathrm{softmax}(w_{hx}^\top H), \qquad
        \hat x = \textstyle\sum_i a^x_i x_i,

    is applied three times: (1) :math:`s = \mathcal{A}(Q; 0)` summarises the question;
    (2) :math:`\hat v = \mathcal{A}(V; s)` attends the image guided by the summary;
    (3) :math:`\hat q = \mathcal{A}(Q; \hat v)` attends the question guided by the attended image.
    Each step has its own parameters; step 1 has no :math:`W_g` (its guidance is 0).

    Masks: each step normalises over the valid positions of its sequence only (exact zeros at
    padding). A fully padded question gives a zero summary (so the image step runs unguided) and
    zero question weights; a fully padded image gives zero image weights and a zero ``v_hat``.

    Args:
        question_dim: ``Dq``, feature size of the question sequence.
        image_dim: ``Dv``, feature size of the image sequence.
        hidden_dim: ``k``, size of the attention hidden state ``H``.
        distribution: maps scores to weights (default softmax, as in the paper).
        device, dtype: factory arguments of the parameters.

    Parameters (paper symbol -> attribute): step 1 ``summary.w_x``, ``summary.w_hx``; step 2
    ``image_step.w_x`` (:math:`W_x`, ``(k, Dv)``), ``image_step.w_g`` (:math:`W_g`, ``(k, Dq)``),
    ``image_step.w_hx``; step 3 ``question_step.w_x`` ``(k, Dq)``, ``question_step.w_g``
    ``(k, Dv)``, ``question_step.w_hx``. No biases, as in eq. 6.

    Shape:
        - question: ``(B, T, Dq)``; image: ``(B, N, Dv)``.
        - question_mask: ``(B, T)``; image_mask: ``(B, N)``; boolean, ``True`` = valid.
        - output: see :class:`AlternatingCoAttentionOutput`.

    Example:
        >>> import torch
        >>> co = AlternatingCoAttention(8, 6, 4)
        >>> q, v = torch.randn(2, 5, 8), torch.randn(2, 7, 6)
        >>> out = co(q, v, image_mask=torch.tensor([[True] * 7, [True] * 4 + [False] * 3]))
        >>> out.context.shape, out.image.weights.shape, out.summary.weights.shape
        (torch.Size([2, 14]), torch.Size([2, 7]), torch.Size([2, 5]))
    """

    def __init__(
        self,
        question_dim: int,
        image_dim: int,
        hidden_dim: int,
        *,
        distribution: str | Distribution = "softmax",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(question_dim, image_dim, hidden_dim, distribution)
        dist = self.distribution
        self.summary = _GuidedAttention(
            question_dim, None, hidden_dim, dist, device=device, dtype=dtype
        )
        self.image_step = _GuidedAttention(
            image_dim, question_dim, hidden_dim, dist, device=device, dtype=dtype
        )
        self.question_step = _GuidedAttention(
            question_dim, image_dim, hidden_dim, dist, device=device, dtype=dtype
        )

    def forward(
        self,
        question: Tensor,
        image: Tensor,
        *,
        question_mask: Tensor | None = None,
        image_mask: Tensor | None = None,
    ) -> AlternatingCoAttentionOutput:
        """Co-attend ``question (B, T, Dq)`` and ``image (B, N, Dv)``; see the class docstring."""
        question_mask, image_mask = self._check_inputs(question, image, question_mask, image_mask)
        summary = self.summary(question, None, question_mask)  # s = A(Q; 0)
        image_out = self.image_step(image, summary.context, image_mask)  # v_hat = A(V; s)
        question_out = self.question_step(question, image_out.context, question_mask)  # A(Q; v)
        return AlternatingCoAttentionOutput(
            context=torch.cat([question_out.context, image_out.context], dim=-1),
            weights=torch.cat([question_out.weights, image_out.weights], dim=-1),
            question=question_out,
            image=image_out,
            summary=summary,
        )
