"""Co-attention visual question answering (Lu et al. 2016) and its no-attention baseline.

Jiasen Lu, Jianwei Yang, Dhruv Batra, Devi Parikh, "Hierarchical Question-Image Co-Attention for
Visual Question Answering", NeurIPS 2016, https://arxiv.org/abs/1606.00061. The image is a set
of *regions* (here each cell of a small CNN's last feature map, with its coordinates appended,
as the objects of Santoro et al. 2017, https://arxiv.org/abs/1706.01427, section 4), the
question a sequence of *parts* (word embeddings, optionally run through an LSTM/GRU, the paper's
question level), and a co-attention layer (:class:`~attnlab.mechanisms.coattention.
ParallelCoAttention`, eqs. 3-5, or :class:`~attnlab.mechanisms.coattention.
AlternatingCoAttention`, eq. 6) attends both jointly; a classifier reads the attended features
(the paper's answer layer, eq. 7, here an MLP over ``[q_hat ; v_hat]``).

* :class:`CoAttentionVQA`: the model; ``num_hops > 1`` stacks co-attention layers, each one's
  question sequence extended with a *memory token* that summarises the previous hop (the
  query refinement of stacked attention networks, Yang et al. 2016,
  https://arxiv.org/abs/1511.02274, eq. 17), so a later image attention can depend on what an
  earlier one found.
* :class:`NoAttentionVQA`: the CNN+MLP baseline of Santoro et al. (the same CNN, the flattened
  feature map and the question into an MLP).
* :class:`ConvRegionEncoder`, :class:`QuestionEncoder`, :func:`bits_to_tokens`: the parts.

**Questions** come in two formats, chosen by ``question_format``: ``"bits"``, a ``(B, V)`` 0/1
vector (Sort-of-CLEVR's 11-bit questions) whose *set bits* become the parts, left-aligned in
increasing bit order (bit ``i`` is word ``i``); or ``"tokens"``, a ``(B, T)`` integer sequence with
an optional ``(B, T)`` padding mask (``True`` = word; padding at the end when an RNN reads it).
For bits, ``T`` is the largest number of set bits in the batch (3 for Sort-of-CLEVR).

**Questions per image**: ``image_index`` ``(Bq,)`` maps each question to a row of ``image``
``(Bi, C, H, W)``, so the CNN runs once per image however many questions it has.
"""

from __future__ import annotations

from typing import Any, Generic, NamedTuple, TypeVar, cast

import torch
from torch import Tensor, nn

from attnlab.architectures._packing import run_packed
from attnlab.core._tracing import is_exporting
from attnlab.core.checks import check_device, check_tensor
from attnlab.core.init_args import AttnModule
from attnlab.mechanisms.coattention import AlternatingCoAttention, ParallelCoAttention

__all__ = [
    "CoAttentionVQA",
    "CoAttentionVQAOutput",
    "ConvRegionEncoder",
    "NoAttentionVQA",
    "NoAttentionVQAOutput",
    "QuestionEncoder",
    "bits_to_tokens",
]

COATTENTIONS: tuple[str, ...] = ("parallel", "alternating")
QUESTION_FORMATS: tuple[str, ...] = ("bits", "tokens")
RNNS: tuple[str, ...] = ("lstm", "gru", "none")


class CoAttentionVQAOutput(NamedTuple):
    """Result of :class:`CoAttentionVQA`.

    Attributes:
        logits: ``(Bq, num_answers)`` answer scores.
        image_weights: ``(Bq, K, N)`` region attention of each of the ``K`` hops; each row sums
            to 1 over the ``N = h * w`` regions (row-major over the feature map).
        question_weights: ``(Bq, K, T)`` attention of each hop over the question parts; exactly
            0 at padded parts. From the second hop on, the memory tokens also get weight, so
            these rows sum to at most 1 (the rest is in ``memory_weights``).
        memory_weights: ``(Bq, K, K - 1)`` weight of hop ``k`` on the memory token of hop
            ``j < k`` (0 for ``j >= k``; an empty last axis when ``K = 1``).
    """

    logits: Tensor
    image_weights: Tensor
    question_weights: Tensor
    memory_weights: Tensor


class NoAttentionVQAOutput(NamedTuple):
    """Result of :class:`NoAttentionVQA`: ``logits (Bq, num_answers)``."""

    logits: Tensor


def bits_to_tokens(bits: Tensor) -> tuple[Tensor, Tensor]:
    """Turn 0/1 question vectors into token sequences: the indices of the set bits.

    Args:
        bits: ``(B, V)`` with values 0 or 1 (any dtype).

    Returns:
        ``(tokens, mask)``, both ``(B, V)``: ``tokens[b, :n_b]`` are the set bits of row ``b``
        in increasing order, ``mask[b, t] = t < n_b``; padded tokens are 0.

    Example:
        >>> tokens, mask = bits_to_tokens(torch.tensor([[0, 1, 0, 1], [1, 0, 0, 0]]))
        >>> (tokens * mask).tolist(), mask.sum(1).tolist()
        ([[1, 3, 0, 0], [0, 0, 0, 0]], [2, 1])
    """
    if not isinstance(bits, Tensor) or bits.dim() != 2:
        raise ValueError(
            f"question must be a 2-D (B, V) 0/1 tensor for question_format='bits', got "
            f"{tuple(bits.shape) if isinstance(bits, Tensor) else type(bits).__name__}"
        )
    is_set = bits != 0
    # A value check: skipped while tracing (torch.compile, torch.export).
    if not torch.compiler.is_compiling() and not torch.all(is_set == (bits == 1)):
        raise ValueError("question must hold only 0 and 1 for question_format='bits'")
    # A stable sort of "not set" puts the set bits first, in increasing bit order.
    order = torch.sort((~is_set).to(torch.uint8), dim=1, stable=True).indices  # (b, v)
    mask = torch.gather(is_set, 1, order)
    return torch.where(mask, order, torch.zeros_like(order)), mask


class ConvRegionEncoder(AttnModule):
    """A stride-2 CNN whose final feature-map cells, with coordinates, are the image regions.

    Santoro et al. 2017, https://arxiv.org/abs/1706.01427, section 4 / appendix D (Sort-of-CLEVR):
    4 convolutional layers with 32, 64, 128 and 256 kernels, ReLU and batch normalisation; "each
    of the d^2 k-dimensional cells in the d x d feature maps was tagged with an arbitrary
    coordinate indicating its relative spatial position". Each layer: 3x3 convolution, stride 2,
    padding 1, then BN and ReLU (a 75 x 75 image gives 5 x 5 regions).

    Args:
        in_channels: image channels.
        channels: output channels of each layer.
        coordinates: append the cell centre ``(x, y)`` in ``[-1, 1]`` to each region.
        device, dtype: factory arguments.

    Shape:
        - image: ``(B, in_channels, H, W)``.
        - output: ``(B, N, D)`` with ``N = h * w`` (row-major), ``D = channels[-1] (+ 2)``.

    Example:
        >>> enc = ConvRegionEncoder(channels=(4, 8))
        >>> enc(torch.zeros(2, 3, 20, 20)).shape
        torch.Size([2, 25, 10])
    """

    def __init__(
        self,
        in_channels: int = 3,
        channels: tuple[int, ...] = (32, 64, 128, 256),
        *,
        coordinates: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if not channels or any(c < 1 for c in channels):
            raise ValueError(f"channels must be a non-empty tuple of positive ints, got {channels}")
        layers: list[nn.Module] = []
        previous = in_channels
        for out in channels:
            layers += [
                nn.Conv2d(previous, out, 3, stride=2, padding=1, device=device, dtype=dtype),
                nn.BatchNorm2d(out, device=device, dtype=dtype),
                nn.ReLU(),
            ]
            previous = out
        self.in_channels = in_channels
        self.convs = nn.Sequential(*layers)
        self.coordinates = coordinates
        self.out_dim = channels[-1] + (2 if coordinates else 0)

    def forward(self, image: Tensor) -> Tensor:
        """Regions ``(B, N, D)`` of ``image (B, C, H, W)``."""
        check_tensor(image, "image", ndim=4, layout="(B, C, H, W)", like=("", self))
        if image.shape[1] != self.in_channels:
            raise ValueError(
                f"image must have {self.in_channels} channels (B, C, H, W), got {image.shape[1]}"
            )
        features = self.convs(image)  # (b, c, h, w)
        b, _, h, w = features.shape
        regions = features.flatten(2).transpose(1, 2)  # (b, h * w, c)
        if self.coordinates:
            ys = torch.linspace(-1.0, 1.0, h, device=image.device, dtype=regions.dtype)
            xs = torch.linspace(-1.0, 1.0, w, device=image.device, dtype=regions.dtype)
            grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")  # (h, w)
            coords = torch.stack([grid_x, grid_y], -1).view(1, h * w, 2).expand(b, -1, -1)
            regions = torch.cat([regions, coords], dim=-1)  # (b, n, c + 2)
        return regions


class QuestionEncoder(AttnModule):
    """Word embeddings, optionally read by an LSTM or GRU: one feature vector per question part.

    Lu et al. 2016, section 3.2: the word level is the embedding ``q^w_t``; the question level
    ``q^s_t`` is an LSTM over the (phrase) features. Padded positions give zero features.

    Args:
        vocab_size: number of distinct tokens.
        embed_dim: embedding size.
        hidden_dim: output size (the RNN's; with ``rnn="none"`` a linear map of the embedding).
        rnn: ``"lstm"``, ``"gru"`` or ``"none"``.
        device, dtype: factory arguments.

    Shape:
        - tokens: ``(B, T)`` integers in ``[0, vocab_size)``; mask: ``(B, T)`` bool, ``True`` =
          word; with an RNN the words must come first (padding at the end).
        - output: ``(B, T, hidden_dim)``.

    Example:
        >>> enc = QuestionEncoder(11, 8, 6, rnn="gru")
        >>> enc(torch.tensor([[1, 2, 0]]), torch.tensor([[True, True, False]]))[0, 2].tolist()
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        hidden_dim: int,
        *,
        rnn: str = "lstm",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if rnn not in RNNS:
            raise ValueError(f"rnn must be one of {RNNS}, got {rnn!r}")
        self.vocab_size, self.hidden_dim, self.rnn_kind = vocab_size, hidden_dim, rnn
        self.embedding = nn.Embedding(vocab_size, embed_dim, device=device, dtype=dtype)
        self.rnn: nn.Module
        if rnn == "lstm":
            self.rnn = nn.LSTM(embed_dim, hidden_dim, batch_first=True, device=device, dtype=dtype)
        elif rnn == "gru":
            self.rnn = nn.GRU(embed_dim, hidden_dim, batch_first=True, device=device, dtype=dtype)
        else:
            self.rnn = nn.Linear(embed_dim, hidden_dim, device=device, dtype=dtype)

    def forward(self, tokens: Tensor, mask: Tensor) -> Tensor:
        """Features ``(B, T, hidden_dim)`` of ``tokens (B, T)`` under ``mask (B, T)``."""
        embedded = self.embedding(tokens)  # (b, t, e)
        if self.rnn_kind == "none":
            return self.rnn(embedded) * mask.unsqueeze(-1).to(embedded.dtype)
        lengths = mask.sum(1)
        prefix = torch.arange(mask.shape[1], device=mask.device) < lengths[:, None]
        # A value check: skipped while tracing (torch.compile, torch.export).
        if not torch.compiler.is_compiling() and not torch.equal(mask, prefix):
            raise ValueError(
                "question_mask must mark the words first and the padding at the end when an RNN "
                "reads the question"
            )
        features, _ = run_packed(self.rnn, embedded, lengths.clamp(min=1))  # (b, t, hidden)
        # An empty question (length clamped to 1 above) gets zero features.
        return features * mask.unsqueeze(-1).to(features.dtype)


def _check_choice(value: str, name: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


class _QuestionInput(AttnModule):
    """Validates a question in either format and returns ``(tokens, mask)``."""

    def __init__(self, question_format: str, vocab_size: int) -> None:
        super().__init__()
        _check_choice(question_format, "question_format", QUESTION_FORMATS)
        self.question_format, self.vocab_size = question_format, vocab_size

    def forward(self, question: Tensor, question_mask: Tensor | None) -> tuple[Tensor, Tensor]:
        if not isinstance(question, Tensor):
            raise TypeError(f"question must be a torch.Tensor, got {type(question).__name__}")
        check_device(question, "question", ("", self))
        if isinstance(question_mask, Tensor):
            check_device(question_mask, "question_mask", ("question", question))
        if self.question_format == "bits":
            if question_mask is not None:
                raise ValueError(
                    "question_mask must be None for question_format='bits' (the set bits are "
                    "the words)"
                )
            if question.dim() != 2 or question.shape[1] != self.vocab_size:
                raise ValueError(
                    f"question must be (B, {self.vocab_size}) bits, got {tuple(question.shape)}"
                )
            tokens, mask = bits_to_tokens(question)
            if is_exporting():
                # The tail's length is data: keep all V positions (padding, masked everywhere);
                # CoAttentionVQA cuts its question weights to the same width at the end.
                return tokens, mask
            length = max(int(mask.sum(1).max()), 1) if mask.numel() else 1
            return tokens[:, :length], mask[:, :length]  # drop the all-padding tail
        if question.dim() != 2 or question.is_floating_point() or question.dtype == torch.bool:
            raise ValueError(
                f"question must be a (B, T) integer token tensor, got {question.dtype} "
                f"{tuple(question.shape)}"
            )
        if (
            question.numel()
            and not torch.compiler.is_compiling()  # a value check: skipped while tracing
            and (int(question.min()) < 0 or int(question.max()) >= self.vocab_size)
        ):
            raise ValueError(f"question tokens must lie in [0, {self.vocab_size})")
        if question_mask is None:
            return question.long(), torch.ones_like(question, dtype=torch.bool)
        if question_mask.dtype != torch.bool or question_mask.shape != question.shape:
            raise ValueError(
                f"question_mask must be a bool tensor of the question's shape "
                f"{tuple(question.shape)}, got {question_mask.dtype} {tuple(question_mask.shape)}"
            )
        return question.long(), question_mask


def _gather_images(regions: Tensor, image_index: Tensor | None, batch: int) -> Tensor:
    """Repeat image regions ``(Bi, N, D)`` for each question ``(Bq,)``."""
    if image_index is None:
        if regions.shape[0] != batch:
            raise ValueError(
                f"image and question batch sizes differ ({regions.shape[0]} and {batch}); "
                "pass image_index to share images between questions"
            )
        return regions
    if (
        not isinstance(image_index, Tensor)
        or image_index.shape != (batch,)
        or image_index.is_floating_point()
    ):
        raise ValueError(f"image_index must be an integer (Bq,) = ({batch},) tensor")
    if (
        batch
        and not torch.compiler.is_compiling()  # a value check: skipped while tracing
        and (int(image_index.min()) < 0 or int(image_index.max()) >= regions.shape[0])
    ):
        raise ValueError(f"image_index must lie in [0, {regions.shape[0]})")
    return regions[image_index.long()]


def _bits_width(mask: Tensor) -> int:
    """The width eager mode cuts a bits question's ``mask (B, V)`` to (its most set bits, at
    least 1), as an integer ``torch.export`` reads from the data at run time."""
    if mask.numel() == 0:
        return 1
    width = cast(int, mask.sum(1).max().clamp_min(1).item())
    torch._check(width <= mask.shape[1])
    return width


_Output = TypeVar("_Output")


class _RegionQuestionModel(AttnModule, Generic[_Output]):
    """What both VQA models share: the CNN over image regions, the question encoder, and
    answering from precomputed regions (one image may serve several questions)."""

    def _build_encoders(
        self,
        *,
        question_format: str,
        vocab_size: int,
        in_channels: int,
        channels: tuple[int, ...],
        embed_dim: int,
        question_dim: int,
        rnn: str,
        factory: dict[str, Any],
    ) -> None:
        self.question_input = _QuestionInput(question_format, vocab_size)
        self.image_encoder = ConvRegionEncoder(in_channels, channels, **factory)
        self.question_encoder = QuestionEncoder(
            vocab_size, embed_dim, question_dim, rnn=rnn, **factory
        )

    def _encode_inputs(
        self,
        regions: Tensor,
        question: Tensor,
        question_mask: Tensor | None,
        image_index: Tensor | None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(image (Bq, N, D), question parts (Bq, T, Dq), their mask (Bq, T))``."""
        tokens, mask = self.question_input(question, question_mask)
        check_tensor(regions, "regions", ndim=3, layout="(B, N, D)")
        image = _gather_images(regions, image_index, tokens.shape[0])  # (bq, n, d)
        return image, self.question_encoder(tokens, mask), mask  # q: (bq, t, dq)

    def encode_image(self, image: Tensor) -> Tensor:
        """Image regions ``(Bi, N, D)``."""
        return self.image_encoder(image)

    def answer(
        self,
        regions: Tensor,
        question: Tensor,
        *,
        question_mask: Tensor | None = None,
        image_index: Tensor | None = None,
    ) -> _Output:
        """Answer from ``regions (Bi, N, D)`` (from :meth:`encode_image`) and the question."""
        raise NotImplementedError

    def forward(
        self,
        image: Tensor,
        question: Tensor,
        *,
        question_mask: Tensor | None = None,
        image_index: Tensor | None = None,
    ) -> _Output:
        """Answer ``question`` about ``image``; see the class docstring."""
        return self.answer(
            self.encode_image(image),
            question,
            question_mask=question_mask,
            image_index=image_index,
        )


class CoAttentionVQA(_RegionQuestionModel[CoAttentionVQAOutput]):
    r"""Answer a question about an image by co-attending image regions and question parts.

    Lu et al. 2016, "Hierarchical Question-Image Co-Attention for Visual Question Answering",
    https://arxiv.org/abs/1606.00061: image features :math:`V` (the regions of a
    :class:`ConvRegionEncoder`), question features :math:`Q` (a :class:`QuestionEncoder`),
    co-attention (section 3.3; parallel, eqs. 3-5, or alternating, eq. 6) giving
    :math:`\hat q, \hat v`, then the answer :math:`p = \mathrm{softmax}(\mathrm{MLP}([\hat q ;
    \hat v]))`.

    With ``num_hops = K > 1`` hop ``k`` co-attends the question parts extended by the memory
    tokens :math:`m_j = W_m [\hat q_j ; \hat v_j]` of the hops ``j < k`` (stacked attention's
    query refinement, Yang et al. 2016, https://arxiv.org/abs/1511.02274, eq. 17), and the
    classifier reads :math:`[\hat q_1 ; \hat v_1 ; \dots ; \hat q_K ; \hat v_K]`.

    Note:
        The paper's hierarchy (word, phrase and question levels, each co-attended, eq. 7's
        recursive answer layer) is reduced to one question level (embedding + optional RNN);
        the image features come from a small CNN trained end to end rather than VGG/ResNet.

    Args:
        num_answers: answer classes.
        vocab_size: question vocabulary (the bit count, 11, for ``question_format="bits"``).
        question_format: ``"bits"`` or ``"tokens"`` (see the module docstring).
        coattention: ``"parallel"`` (:class:`ParallelCoAttention`) or ``"alternating"``
            (:class:`AlternatingCoAttention`).
        channels: CNN channels per layer (Santoro et al.: 32, 64, 128, 256).
        in_channels: image channels.
        embed_dim: word embedding size.
        question_dim: ``Dq``, question feature size (RNN hidden size).
        attention_dim: ``k``, the co-attention hidden size.
        hidden_dim: classifier hidden size.
        rnn: ``"lstm"``, ``"gru"`` or ``"none"`` over the question parts.
        num_hops: ``K`` co-attention layers (>= 1).
        dropout: dropout before the classifier's last layer.
        device, dtype: factory arguments.

    Shape:
        - image: ``(Bi, C, H, W)``; question: ``(Bq, V)`` bits or ``(Bq, T)`` tokens;
          question_mask: ``(Bq, T)`` (tokens only); image_index: ``(Bq,)`` (``Bi = Bq`` without).
        - output: :class:`CoAttentionVQAOutput`.

    Example:
        >>> model = CoAttentionVQA(10, channels=(8, 8), embed_dim=8, question_dim=8,
        ...                        attention_dim=8, hidden_dim=16)
        >>> q = torch.zeros(2, 11); q[:, 0] = q[:, 6] = q[:, 8] = 1
        >>> out = model(torch.rand(1, 3, 20, 20), q, image_index=torch.tensor([0, 0]))
        >>> out.logits.shape, out.image_weights.shape, out.question_weights.shape
        (torch.Size([2, 10]), torch.Size([2, 1, 25]), torch.Size([2, 1, 3]))
    """

    def __init__(
        self,
        num_answers: int,
        *,
        vocab_size: int = 11,
        question_format: str = "bits",
        coattention: str = "parallel",
        channels: tuple[int, ...] = (32, 64, 128, 256),
        in_channels: int = 3,
        embed_dim: int = 32,
        question_dim: int = 64,
        attention_dim: int = 64,
        hidden_dim: int = 256,
        rnn: str = "lstm",
        num_hops: int = 1,
        dropout: float = 0.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        _check_choice(coattention, "coattention", COATTENTIONS)
        if num_hops < 1:
            raise ValueError(f"num_hops must be >= 1, got {num_hops}")
        if num_answers < 1:
            raise ValueError(f"num_answers must be >= 1, got {num_answers}")
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.num_hops = num_hops
        self._build_encoders(
            question_format=question_format, vocab_size=vocab_size, in_channels=in_channels,
            channels=channels, embed_dim=embed_dim, question_dim=question_dim, rnn=rnn,
            factory=factory,
        )
        image_dim = self.image_encoder.out_dim
        kind = ParallelCoAttention if coattention == "parallel" else AlternatingCoAttention
        self.coattention = nn.ModuleList(
            kind(question_dim, image_dim, attention_dim, **factory) for _ in range(num_hops)
        )
        # W_m: the memory token of each hop but the last (which the classifier reads directly).
        self.memory = nn.ModuleList(
            nn.Linear(question_dim + image_dim, question_dim, **factory)
            for _ in range(num_hops - 1)
        )
        self.classifier = nn.Sequential(
            nn.Linear(num_hops * (question_dim + image_dim), hidden_dim, **factory),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, num_answers, **factory),
        )

    def answer(
        self,
        regions: Tensor,
        question: Tensor,
        *,
        question_mask: Tensor | None = None,
        image_index: Tensor | None = None,
    ) -> CoAttentionVQAOutput:
        """Co-attend ``regions (Bi, N, D)`` (from :meth:`encode_image`) and the question."""
        image, q_seq, mask = self._encode_inputs(regions, question, question_mask, image_index)
        t = q_seq.shape[1]
        width = t
        if self.question_input.question_format == "bits" and is_exporting():
            width = _bits_width(mask)
        contexts, image_weights, question_weights = [], [], []
        memory_weights = q_seq.new_zeros(q_seq.shape[0], self.num_hops, self.num_hops - 1)
        for hop, coattention in enumerate(self.coattention):
            out = coattention(q_seq, image, question_mask=mask)
            contexts.append(out.context)  # (bq, dq + dv) = [q_hat ; v_hat]
            image_weights.append(out.image.weights)  # (bq, n)
            question_weights.append(out.question.weights[:, :t])  # (bq, t)
            memory_weights[:, hop, :hop] = out.question.weights[:, t:]
            if hop < self.num_hops - 1:
                token = self.memory[hop](out.context).unsqueeze(1)  # (bq, 1, dq)
                q_seq = torch.cat([q_seq, token], dim=1)
                mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
        logits = self.classifier(torch.cat(contexts, dim=-1))
        return CoAttentionVQAOutput(
            logits,
            torch.stack(image_weights, dim=1),
            torch.stack(question_weights, dim=1)[..., :width],
            memory_weights,
        )


class NoAttentionVQA(_RegionQuestionModel[NoAttentionVQAOutput]):
    """The CNN+MLP baseline of Santoro et al. 2017: no attention, no relation module.

    "A simple neural network module for relational reasoning",
    https://arxiv.org/abs/1706.01427, section 5: the same CNN as the relation network; its whole
    feature map (here with the cell coordinates) is flattened, concatenated with the question
    vector and fed to an MLP. The question is encoded as in :class:`CoAttentionVQA` and
    mean-pooled over its parts.

    Args:
        num_answers, vocab_size, question_format, channels, in_channels, embed_dim,
        question_dim, rnn, dropout, device, dtype: as :class:`CoAttentionVQA`.
        image_size: ``(H, W)`` of the input (fixes the flattened feature size).
        hidden_dims: sizes of the MLP's hidden layers (Santoro et al.: the relation network's
            f_phi layers, 2000-1000-500-100 at full width).

    Shape:
        - as :class:`CoAttentionVQA`; output: :class:`NoAttentionVQAOutput`.

    Example:
        >>> model = NoAttentionVQA(10, image_size=(20, 20), channels=(8, 8), hidden_dims=(16,))
        >>> q = torch.zeros(3, 11); q[:, 1] = q[:, 7] = q[:, 9] = 1
        >>> model(torch.rand(3, 3, 20, 20), q).logits.shape
        torch.Size([3, 10])
    """

    def __init__(
        self,
        num_answers: int,
        *,
        image_size: tuple[int, int],
        vocab_size: int = 11,
        question_format: str = "bits",
        channels: tuple[int, ...] = (32, 64, 128, 256),
        in_channels: int = 3,
        embed_dim: int = 32,
        question_dim: int = 64,
        hidden_dims: tuple[int, ...] = (256, 256),
        rnn: str = "lstm",
        dropout: float = 0.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if num_answers < 1:
            raise ValueError(f"num_answers must be >= 1, got {num_answers}")
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self._build_encoders(
            question_format=question_format, vocab_size=vocab_size, in_channels=in_channels,
            channels=channels, embed_dim=embed_dim, question_dim=question_dim, rnn=rnn,
            factory=factory,
        )
        with torch.no_grad():
            probe = torch.zeros(1, in_channels, *image_size, **factory)
            flat = self.image_encoder.eval()(probe).numel()
        self.image_encoder.train()
        layers: list[nn.Module] = []
        previous = flat + question_dim
        for width in hidden_dims:
            layers += [nn.Linear(previous, width, **factory), nn.ReLU()]
            previous = width
        layers += [nn.Dropout(dropout), nn.Linear(previous, num_answers, **factory)]
        self.mlp = nn.Sequential(*layers)

    def answer(
        self,
        regions: Tensor,
        question: Tensor,
        *,
        question_mask: Tensor | None = None,
        image_index: Tensor | None = None,
    ) -> NoAttentionVQAOutput:
        """Answer from ``regions (Bi, N, D)`` (from :meth:`encode_image`) and the question."""
        image, q_seq, mask = self._encode_inputs(regions, question, question_mask, image_index)
        # q_seq: (bq, t, dq), zero at padding
        count = mask.sum(1, keepdim=True).clamp(min=1).to(q_seq.dtype)
        q = q_seq.sum(1) / count  # (bq, dq): mean over the parts
        return NoAttentionVQAOutput(self.mlp(torch.cat([image.flatten(1), q], dim=-1)))
