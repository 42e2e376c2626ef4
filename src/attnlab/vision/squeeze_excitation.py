"""Squeeze-and-excitation (Hu et al. 2018) and the residual blocks that carry it.

Hu, Shen, Albanie, Sun, Wu, "Squeeze-and-Excitation Networks", CVPR 2018 / TPAMI 2019,
https://arxiv.org/abs/1709.01507. The block squeezes each channel of a feature map ``U`` to one
number (eq. 2), passes the channel descriptor through a two-layer bottleneck MLP with a gate
(eq. 3) and rescales the channels by the gates (eq. 4):

.. math::

    z_c = \\frac{1}{H W} \\sum_{i=1}^{H} \\sum_{j=1}^{W} u_c(i, j), \\qquad
    s = \\sigma(W_2\\, \\delta(W_1 z)), \\qquad
    \\tilde{x}_c = s_c \\cdot u_c

with :math:`W_1 \\in \\mathbb{R}^{C/r \\times C}`, :math:`W_2 \\in \\mathbb{R}^{C \\times C/r}`,
:math:`\\delta` the ReLU and :math:`\\sigma` the sigmoid.

Convention:
    * Feature maps are ``(B, C, H, W)``; the gates (the attention weights of the family) are
      ``(B, C)``.
    * The hidden layer has exactly ``channels // reduction`` units: no rounding to a multiple of
      8 and no minimum, so 64 channels with ``r = 16`` give 4 hidden units (some libraries give
      8). A reduction that leaves no hidden unit is an error.
    * Both fully connected layers carry a bias (the released models do; eq. 3 omits biases for
      brevity).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.core.checks import check_size
from attnlab.core.init_args import AttnModule
from attnlab.core.registry import Paper, register_mechanism
from attnlab.vision._validation import check_choice, check_feature_map, check_reduction

__all__ = [
    "GATES",
    "SE_POSITIONS",
    "SQUEEZES",
    "BlockOutput",
    "Bottleneck",
    "PreActBasicBlock",
    "PreActBottleneck",
    "SqueezeExcitation",
    "SqueezeExcitationOutput",
]

SQUEEZES: tuple[str, ...] = ("avg", "max")
"""Squeeze operators: global average pooling (the paper's default) and global max pooling
(ablation of Table 11)."""

GATES: tuple[str, ...] = ("sigmoid", "tanh", "relu")
"""Excitation gates: the sigmoid (the paper's default) and the tanh and ReLU ablations of
Table 12."""

SE_POSITIONS: tuple[str, ...] = ("standard", "pre", "post", "identity", "3x3")
"""Where a residual block applies its SE block (Table 14 and Table 15 of the paper)."""

SE_PAPER = Paper(
    title="Squeeze-and-Excitation Networks",
    authors="Hu, Shen, Albanie, Sun, Wu",
    year=2018,
    url="https://arxiv.org/abs/1709.01507",
)


class SqueezeExcitationOutput(NamedTuple):
    """Result of a squeeze-and-excitation block.

    Attributes:
        context: ``(B, C, H, W)`` the recalibrated map :math:`\\tilde{X}` (eq. 4).
        weights: ``(B, C)`` the channel gates :math:`s` (eq. 3); in ``(0, 1)`` for the sigmoid
            gate, ``(-1, 1)`` for tanh and ``[0, inf)`` for ReLU.
    """

    context: Tensor
    weights: Tensor


def _gate_module(gate: str) -> nn.Module:
    if gate == "sigmoid":
        return nn.Sigmoid()
    if gate == "tanh":
        return nn.Tanh()
    return nn.ReLU()


def _se_example() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    return SqueezeExcitation(16, reduction=4), (torch.randn(2, 16, 5, 6),), {}


@register_mechanism(
    "squeeze_excitation",
    sequences="self",
    levels="single",
    positions="soft",
    representations="multi-dimensional",
    paper=SE_PAPER,
    example=_se_example,
)
class SqueezeExcitation(AttnModule):
    """Squeeze-and-excitation block: channel gates from a global descriptor (eq. 2-4).

    Hu et al., "Squeeze-and-Excitation Networks", https://arxiv.org/abs/1709.01507, section 3:
    squeeze ``z = F_sq(U)`` (eq. 2), excitation ``s = sigma(W2 delta(W1 z))`` (eq. 3), scale
    ``x~_c = s_c u_c`` (eq. 4).

    Args:
        channels: ``C``, the number of channels of the input map.
        reduction: ``r``, the reduction ratio; the hidden layer has exactly
            ``channels // reduction`` units (16 in the paper, Table 10).
        squeeze: ``F_sq``: ``"avg"`` global average pooling (eq. 2) or ``"max"`` global max
            pooling (Table 11).
        gate: ``sigma``, the excitation gate: ``"sigmoid"`` (eq. 3), ``"tanh"`` or ``"relu"``
            (Table 12). ``delta``, the hidden non-linearity, is always the ReLU.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Attributes:
        fc1: ``W1``, ``C -> C // r`` (dimensionality reduction).
        relu: ``delta``.
        fc2: ``W2``, ``C // r -> C`` (dimensionality increase).
        gate: ``sigma``. The modules are registered in the order they run, so ``repr`` reads
            as the computation.

    Shape:
        - x: ``(B, C, H, W)``
        - context: ``(B, C, H, W)``
        - weights: ``(B, C)``

    Returns:
        :class:`SqueezeExcitationOutput` ``(context, weights)``: the recalibrated map and the
        channel gates.

    Raises:
        ValueError: if ``channels // reduction`` is 0, or on a bad ``squeeze``/``gate`` name.

    Example:
        >>> import torch
        >>> se = SqueezeExcitation(64, reduction=16)
        >>> se.fc1.out_features
        4
        >>> out = se(torch.randn(2, 64, 7, 7))
        >>> tuple(out.context.shape), tuple(out.weights.shape)
        ((2, 64, 7, 7), (2, 64))
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        *,
        squeeze: str = "avg",
        gate: str = "sigmoid",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        hidden_dim = check_reduction(channels, reduction)
        self.channels = channels
        self.reduction = reduction
        self.hidden_dim = hidden_dim
        self.squeeze = check_choice(squeeze, "squeeze", SQUEEZES)
        self.gate_name = check_choice(gate, "gate", GATES)
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.fc1 = nn.Linear(channels, hidden_dim, **factory)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden_dim, channels, **factory)
        self.gate = _gate_module(gate)

    def excite(self, z: Tensor) -> Tensor:
        """The excitation of eq. 3 on a channel descriptor ``z`` ``(B, C)``; returns ``(B, C)``."""
        return self.gate(self.fc2(self.relu(self.fc1(z))))

    def channel_gates(self, x: Tensor) -> Tensor:
        """Squeeze (eq. 2) and excitation (eq. 3) without the scaling: ``(B, C, H, W) -> (B, C)``.

        Lets a residual block fuse the scaling of eq. 4 with its summation.
        """
        x = check_feature_map(x, "x", self.channels, module=self)
        z = x.mean(dim=(2, 3)) if self.squeeze == "avg" else x.amax(dim=(2, 3))  # (b, c)
        return self.excite(z)

    def forward(self, x: Tensor) -> SqueezeExcitationOutput:
        """Rescale the channels of ``x`` ``(B, C, H, W)`` by the gates ``(B, C)`` (eqs. 2-4)."""
        s = self.channel_gates(x)  # eq. 2-3, (b, c)
        return SqueezeExcitationOutput(x * s[:, :, None, None], s)  # eq. 4

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, reduction={self.reduction}, "
            f"hidden_dim={self.hidden_dim}, squeeze={self.squeeze!r}, gate={self.gate_name!r}"
        )


class BlockOutput(NamedTuple):
    """Result of a network block (residual or Inception) that may carry an SE block.

    Attributes:
        context: ``(B, C_out, H', W')`` the block output.
        weights: the channel gates of the block's SE block, ``(B, C_se)`` where ``C_se`` is the
            number of channels the SE block sees (see ``position``); ``None`` for a block built
            without SE (``reduction=None``).
    """

    context: Tensor
    weights: Tensor | None


def _conv(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    *,
    stride: int = 1,
    groups: int = 1,
    factory: dict[str, Any],
) -> nn.Conv2d:
    # every convolution of these networks is followed by batch normalisation: no bias
    return nn.Conv2d(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        padding=kernel_size // 2,
        groups=groups,
        bias=False,
        **factory,
    )


def _optional_se(
    channels: int, reduction: int | None, squeeze: str, gate: str, factory: dict[str, Any]
) -> SqueezeExcitation | None:
    """The SE block of a network block, or ``None`` for a block built without one."""
    if reduction is None:
        return None
    return SqueezeExcitation(channels, reduction, squeeze=squeeze, gate=gate, **factory)


def _projection(
    in_channels: int, out_channels: int, stride: int, factory: dict[str, Any]
) -> nn.Conv2d | None:
    """The 1x1 projection of a shortcut whose shape changes, ``None`` for the identity."""
    if stride == 1 and in_channels == out_channels:
        return None
    return _conv(in_channels, out_channels, 1, stride=stride, factory=factory)


def _residual_sum(
    y: Tensor, shortcut: Tensor, se: SqueezeExcitation | None
) -> tuple[Tensor, Tensor | None]:
    """``shortcut + SE(y)`` and the gates (``shortcut + y`` and ``None`` without SE).

    The scaling of eq. 4 and the summation run as one multiply-add,
    ``torch.addcmul(shortcut, y, s)``: the result is the same, one pass over the map is saved.
    """
    if se is None:
        return y + shortcut, None
    gates = se.channel_gates(y)
    return torch.addcmul(shortcut, y, gates[:, :, None, None]), gates


class Bottleneck(AttnModule):
    """ResNet / ResNeXt bottleneck block (1x1, 3x3, 1x1) with an optional SE block.

    He et al., "Deep Residual Learning for Image Recognition", https://arxiv.org/abs/1512.03385
    (Fig. 5, right); Xie et al., "Aggregated Residual Transformations for Deep Neural Networks",
    https://arxiv.org/abs/1611.05431 (grouped 3x3, Fig. 3c); SE integration from Hu et al.,
    https://arxiv.org/abs/1709.01507, Fig. 3 (standard), Fig. 5 and Table 14 (variants) and
    Table 15 (SE at the 3x3 convolution).

    With ``r(.)`` the residual branch (conv-BN-ReLU, conv-BN-ReLU, conv-BN), ``sc(.)`` the
    shortcut (identity, or 1x1 conv + BN when the shape changes) and ``SE(.)`` the SE block, the
    ``position`` values are:

    ============== ==============================================  =========================
    ``position``   output                                          SE channels
    ============== ==============================================  =========================
    ``"standard"`` ``relu(SE(r(x)) + sc(x))``                      ``4 * planes``
    ``"pre"``      ``relu(r(SE(x)) + sc(x))``                      ``in_channels``
    ``"post"``     ``SE(relu(r(x) + sc(x)))``                      ``4 * planes``
    ``"identity"`` ``relu(r(x) + SE(sc(x)))``                      ``4 * planes``
    ``"3x3"``      SE on the output of the 3x3 conv (after its     ``width``
                   BN and ReLU), inside ``r``
    ============== ==============================================  =========================

    The standard position computes ``SE(r(x)) + sc(x)`` as one multiply-add,
    ``torch.addcmul(sc(x), r(x), s)``, instead of a scaling followed by a summation (the result
    is the same; one pass over the map is saved).

    Args:
        in_channels: channels of the input.
        planes: base width; the block outputs ``4 * planes`` channels.
        stride: stride of the block (2 at the first block of a downsampling stage).
        groups: cardinality ``C`` of ResNeXt (1 for ResNet).
        width_per_group: ``d`` of ResNeXt, the width of each group at ``planes = 64``; the 3x3
            convolution has ``width = int(planes * width_per_group / 64) * groups`` channels.
        stride_in_1x1: put the stride on the first 1x1 convolution (original ResNet and the
            authors' SE-ResNet models, 3.86 GFLOPs for ResNet-50) instead of the 3x3 one
            (ResNeXt, and "ResNet v1.5" elsewhere, 4.09 GFLOPs). Parameter counts are the same.
        reduction: ``r`` of the SE block; ``None`` builds the plain block (``weights`` is then
            ``None`` and ``position``, ``squeeze``, ``gate`` are unused).
        position: where the SE block sits, see the table.
        squeeze: squeeze operator of the SE block, see :class:`SqueezeExcitation`.
        gate: excitation gate of the SE block, see :class:`SqueezeExcitation`.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - x: ``(B, in_channels, H, W)``
        - context: ``(B, 4 * planes, ceil(H / stride), ceil(W / stride))``
        - weights: ``(B, C_se)`` or ``None``

    Returns:
        :class:`BlockOutput` ``(context, weights)``.

    Example:
        >>> import torch
        >>> block = Bottleneck(64, 64, reduction=16)
        >>> out = block(torch.randn(2, 64, 8, 8))
        >>> tuple(out.context.shape), tuple(out.weights.shape)
        ((2, 256, 8, 8), (2, 256))
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        planes: int,
        *,
        stride: int = 1,
        groups: int = 1,
        width_per_group: int = 64,
        stride_in_1x1: bool = False,
        reduction: int | None = None,
        position: str = "standard",
        squeeze: str = "avg",
        gate: str = "sigmoid",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_size(in_channels, "in_channels")
        check_size(planes, "planes")
        check_size(stride, "stride")
        check_size(groups, "groups")
        check_size(width_per_group, "width_per_group")
        if reduction is not None:
            check_size(reduction, "reduction")
        self.position = check_choice(position, "position", SE_POSITIONS)
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        width = int(planes * (width_per_group / 64.0)) * groups
        if width == 0:
            raise ValueError(
                f"planes={planes} with width_per_group={width_per_group} gives a 3x3 "
                "convolution without channels"
            )
        out_channels = planes * self.expansion
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.width = width
        self.stride = stride
        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)

        def se(channels: int, where: str) -> SqueezeExcitation | None:
            if position != where:
                return None
            return _optional_se(channels, reduction, squeeze, gate, factory)

        # registration order follows the computation, so that repr reads top to bottom
        self.se_pre = se(in_channels, "pre")
        self.conv1 = _conv(in_channels, width, 1, stride=stride_1x1, factory=factory)
        self.bn1 = nn.BatchNorm2d(width, **factory)
        self.conv2 = _conv(width, width, 3, stride=stride_3x3, groups=groups, factory=factory)
        self.bn2 = nn.BatchNorm2d(width, **factory)
        self.se_3x3 = se(width, "3x3")
        self.conv3 = _conv(width, out_channels, 1, factory=factory)
        self.bn3 = nn.BatchNorm2d(out_channels, **factory)
        self.se = se(out_channels, "standard")
        projection = _projection(in_channels, out_channels, stride, factory)
        self.shortcut: nn.Module = (
            nn.Identity()
            if projection is None
            else nn.Sequential(projection, nn.BatchNorm2d(out_channels, **factory))
        )
        self.se_identity = se(out_channels, "identity")
        self.se_post = se(out_channels, "post")

    def forward(self, x: Tensor) -> BlockOutput:
        """The residual block on ``x`` ``(B, C, H, W)``, with its SE gates if any."""
        x = check_feature_map(x, "x", self.in_channels, module=self)
        gates: Tensor | None = None
        y = x
        if self.se_pre is not None:  # SE-PRE: on the residual branch, before the unit
            y, gates = self.se_pre(y)
        y = F.relu(self.bn1(self.conv1(y)))
        y = F.relu(self.bn2(self.conv2(y)))
        if self.se_3x3 is not None:  # Table 15: SE on the 3x3 output
            y, gates = self.se_3x3(y)
        y = self.bn3(self.conv3(y))
        shortcut = self.shortcut(x)
        if self.se_identity is not None:  # SE-Identity: on the identity path, in parallel
            shortcut, gates = self.se_identity(shortcut)
        # standard SE scales the branch output before the summation (eq. 4 fused with it)
        out, standard_gates = _residual_sum(y, shortcut, self.se)
        gates = gates if standard_gates is None else standard_gates
        out = F.relu(out, inplace=True)
        if self.se_post is not None:  # SE-POST: after the summation (and the ReLU)
            out, gates = self.se_post(out)
        return BlockOutput(out, gates)


class _PreActBlock(AttnModule):
    """What both pre-activation blocks share: BN-ReLU on the input (which a projection shortcut
    also takes), the SE block on the residual branch, and the residual sum."""

    def _add_input_norm(
        self, in_channels: int, out_channels: int, stride: int, factory: dict[str, Any]
    ) -> None:
        check_size(stride, "stride")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.bn1 = nn.BatchNorm2d(in_channels, **factory)

    def _add_se_and_shortcut(
        self,
        stride: int,
        reduction: int | None,
        squeeze: str,
        gate: str,
        factory: dict[str, Any],
    ) -> None:
        self.se = _optional_se(self.out_channels, reduction, squeeze, gate, factory)
        self.projection = _projection(self.in_channels, self.out_channels, stride, factory)

    def _branch(self, pre: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: Tensor) -> BlockOutput:
        x = check_feature_map(x, "x", self.in_channels, module=self)
        pre = F.relu(self.bn1(x))
        y = self._branch(pre)
        shortcut = x if self.projection is None else self.projection(pre)
        return BlockOutput(*_residual_sum(y, shortcut, self.se))  # SE on the branch


class PreActBasicBlock(_PreActBlock):
    """Pre-activation basic block (BN-ReLU-3x3, BN-ReLU-3x3) with an optional SE block.

    He et al., "Identity Mappings in Deep Residual Networks", https://arxiv.org/abs/1603.05027,
    Fig. 1(b) / Fig. 4(e); used by the CIFAR ResNet-110 of the SE paper (Table 4). The SE block
    rescales the residual branch before the summation (the standard integration of Hu et al.,
    https://arxiv.org/abs/1709.01507). When the shape changes, the shortcut is a 1x1 convolution
    of the pre-activated input (the BN-ReLU is shared by both paths).

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        stride: stride of the first 3x3 convolution and of the projection.
        reduction: ``r`` of the SE block; ``None`` for the plain block.
        squeeze: squeeze operator of the SE block.
        gate: excitation gate of the SE block.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - x: ``(B, in_channels, H, W)``
        - context: ``(B, out_channels, ceil(H / stride), ceil(W / stride))``
        - weights: ``(B, out_channels)`` or ``None``

    Returns:
        :class:`BlockOutput` ``(context, weights)``.

    Example:
        >>> import torch
        >>> out = PreActBasicBlock(16, 32, stride=2, reduction=16)(torch.randn(2, 16, 8, 8))
        >>> tuple(out.context.shape), tuple(out.weights.shape)
        ((2, 32, 4, 4), (2, 32))
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        stride: int = 1,
        reduction: int | None = None,
        squeeze: str = "avg",
        gate: str = "sigmoid",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_size(in_channels, "in_channels")
        check_size(out_channels, "out_channels")
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self._add_input_norm(in_channels, out_channels, stride, factory)
        self.conv1 = _conv(in_channels, out_channels, 3, stride=stride, factory=factory)
        self.bn2 = nn.BatchNorm2d(out_channels, **factory)
        self.conv2 = _conv(out_channels, out_channels, 3, factory=factory)
        self._add_se_and_shortcut(stride, reduction, squeeze, gate, factory)

    def _branch(self, pre: Tensor) -> Tensor:
        return self.conv2(F.relu(self.bn2(self.conv1(pre))))


class PreActBottleneck(_PreActBlock):
    """Pre-activation bottleneck block (BN-ReLU-1x1, BN-ReLU-3x3, BN-ReLU-1x1) with optional SE.

    He et al., "Identity Mappings in Deep Residual Networks", https://arxiv.org/abs/1603.05027;
    used by the CIFAR ResNet-164 of the SE paper (Hu et al., https://arxiv.org/abs/1709.01507,
    Table 4). The SE block rescales the residual branch before the summation; the stride sits
    on the 3x3 convolution; the projection shortcut (1x1 convolution) takes the pre-activated
    input.

    Args:
        in_channels: channels of the input.
        planes: bottleneck width; the block outputs ``4 * planes`` channels.
        stride: stride of the 3x3 convolution and of the projection.
        reduction: ``r`` of the SE block; ``None`` for the plain block.
        squeeze: squeeze operator of the SE block.
        gate: excitation gate of the SE block.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - x: ``(B, in_channels, H, W)``
        - context: ``(B, 4 * planes, ceil(H / stride), ceil(W / stride))``
        - weights: ``(B, 4 * planes)`` or ``None``

    Returns:
        :class:`BlockOutput` ``(context, weights)``.

    Example:
        >>> import torch
        >>> out = PreActBottleneck(16, 16, reduction=16)(torch.randn(2, 16, 8, 8))
        >>> tuple(out.context.shape), tuple(out.weights.shape)
        ((2, 64, 8, 8), (2, 64))
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        planes: int,
        *,
        stride: int = 1,
        reduction: int | None = None,
        squeeze: str = "avg",
        gate: str = "sigmoid",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_size(in_channels, "in_channels")
        check_size(planes, "planes")
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        out_channels = planes * self.expansion
        self._add_input_norm(in_channels, out_channels, stride, factory)
        self.conv1 = _conv(in_channels, planes, 1, factory=factory)
        self.bn2 = nn.BatchNorm2d(planes, **factory)
        self.conv2 = _conv(planes, planes, 3, stride=stride, factory=factory)
        self.bn3 = nn.BatchNorm2d(planes, **factory)
        self.conv3 = _conv(planes, out_channels, 1, factory=factory)
        self._add_se_and_shortcut(stride, reduction, squeeze, gate, factory)

    def _branch(self, pre: Tensor) -> Tensor:
        y = self.conv2(F.relu(self.bn2(self.conv1(pre))))
        return self.conv3(F.relu(self.bn3(y)))
