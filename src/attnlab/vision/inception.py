"""BN-Inception and SE-BN-Inception, built from the library's blocks.

BN-Inception: Ioffe and Szegedy, "Batch Normalization: Accelerating Deep Network Training by
Reducing Internal Covariate Shift", https://arxiv.org/abs/1502.03167 (section 4.1 and the
architecture table of its appendix, Fig. 5). SE-BN-Inception: Hu et al., "Squeeze-and-Excitation
Networks", https://arxiv.org/abs/1709.01507, Fig. 2 (the SE block rescales the concatenated
output of each Inception module) and Table 2 (2.03 -> 2.04 GFLOPs).

Convention:
    * The branch widths are those of the architecture table. Its "output" column lists 576
      channels for modules 4c and 4d, but the branch widths it lists (and the released model)
      give 608: the widths are followed here (4c and 4d output 608 channels, 4e outputs 1056).
    * Each convolution is followed by batch normalisation and a ReLU, and has no bias.
    * The stride-2 modules (3c, 4e) put the stride on the 3x3 convolution of the 3x3 branch and
      on the second 3x3 convolution of the double-3x3 branch, and max-pool 3x3 / 2 for the
      pass-through branch.
    * Poolings use padding 1 with floor rounding, which gives the same sizes as the reference
      Caffe model (no padding, ceil rounding) at 224 x 224 and keeps the branches the same size
      at any input size.
    * The model returns :class:`~attnlab.vision.resnet.ClassifierOutput` ``(logits, gates)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from attnlab.core.checks import check_size
from attnlab.core.init_args import AttnModule
from attnlab.vision._validation import check_choice, check_feature_map
from attnlab.vision.resnet import ClassifierOutput, _check_model_args, _classify, _run_blocks
from attnlab.vision.squeeze_excitation import BlockOutput, _conv, _optional_se

__all__ = [
    "BN_INCEPTION_MODULES",
    "BNInception",
    "InceptionModule",
    "bn_inception",
    "se_bn_inception",
]

BN_INCEPTION_MODULES: dict[str, tuple[int, int, int, int, int, str, int, int]] = {
    # name: (#1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, pool, proj, stride);
    # proj = 0 is the pass-through of the stride-2 modules
    "3a": (64, 64, 64, 64, 96, "avg", 32, 1),
    "3b": (64, 64, 96, 64, 96, "avg", 64, 1),
    "3c": (0, 128, 160, 64, 96, "max", 0, 2),
    "4a": (224, 64, 96, 96, 128, "avg", 128, 1),
    "4b": (192, 96, 128, 96, 128, "avg", 128, 1),
    "4c": (160, 128, 160, 128, 160, "avg", 128, 1),
    "4d": (96, 128, 192, 160, 192, "avg", 128, 1),
    "4e": (0, 128, 192, 192, 256, "max", 0, 2),
    "5a": (352, 192, 320, 160, 224, "avg", 128, 1),
    "5b": (352, 192, 320, 192, 224, "max", 128, 1),
}
"""The Inception modules of BN-Inception (Ioffe and Szegedy 2015, appendix table)."""


def _conv_bn_relu(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    *,
    stride: int = 1,
    factory: dict[str, Any],
) -> nn.Sequential:
    return nn.Sequential(
        _conv(in_channels, out_channels, kernel_size, stride=stride, factory=factory),
        nn.BatchNorm2d(out_channels, **factory),
        nn.ReLU(),
    )


class InceptionModule(AttnModule):
    """BN-Inception module: four parallel branches, concatenated, with an optional SE block.

    Branches (Ioffe and Szegedy, https://arxiv.org/abs/1502.03167, appendix table): a 1x1
    convolution; a 1x1 reduction then a 3x3 convolution; a 1x1 reduction then two 3x3
    convolutions (replacing the 5x5 of GoogLeNet); a 3x3 pooling followed by a 1x1 projection
    (or passed through unchanged in the stride-2 modules). With ``reduction`` set, an SE block
    rescales the concatenation (SE-Inception, Hu et al., https://arxiv.org/abs/1709.01507,
    Fig. 2).

    Args:
        in_channels: channels of the input.
        ch1x1: width of the 1x1 branch; 0 drops the branch (stride-2 modules).
        ch3x3_reduce: width of the 1x1 reduction of the 3x3 branch.
        ch3x3: width of the 3x3 convolution.
        double_reduce: width of the 1x1 reduction of the double-3x3 branch.
        double3x3: width of both 3x3 convolutions of the double-3x3 branch.
        pool: ``"avg"`` or ``"max"`` pooling of the pooling branch.
        pool_proj: width of the 1x1 projection after the pooling; 0 passes the pooled input
            through (stride-2 modules).
        stride: 1, or 2 for the grid-reducing modules (which must have ``ch1x1 = 0``).
        reduction: ``r`` of the SE block on the output; ``None`` for no SE.
        squeeze: squeeze operator of the SE block.
        gate: excitation gate of the SE block.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - x: ``(B, in_channels, H, W)``
        - context: ``(B, out_channels, ceil(H / stride), ceil(W / stride))`` with
          ``out_channels = ch1x1 + ch3x3 + double3x3 + (pool_proj or in_channels)``
        - weights: ``(B, out_channels)`` or ``None``

    Returns:
        :class:`~attnlab.vision.squeeze_excitation.BlockOutput` ``(context, weights)``.

    Example:
        >>> import torch
        >>> module = InceptionModule(192, 64, 64, 64, 64, 96, pool="avg", pool_proj=32,
        ...                          reduction=16)
        >>> out = module(torch.randn(1, 192, 7, 7))
        >>> tuple(out.context.shape), tuple(out.weights.shape)
        ((1, 256, 7, 7), (1, 256))
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3_reduce: int,
        ch3x3: int,
        double_reduce: int,
        double3x3: int,
        *,
        pool: str,
        pool_proj: int,
        stride: int = 1,
        reduction: int | None = None,
        squeeze: str = "avg",
        gate: str = "sigmoid",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_size(in_channels, "in_channels")
        check_size(ch1x1, "ch1x1", minimum=0)
        for value, name in (
            (ch3x3_reduce, "ch3x3_reduce"),
            (ch3x3, "ch3x3"),
            (double_reduce, "double_reduce"),
            (double3x3, "double3x3"),
        ):
            check_size(value, name)
        check_size(pool_proj, "pool_proj", minimum=0)
        check_choice(pool, "pool", ("avg", "max"))
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        if stride == 2 and ch1x1:
            raise ValueError("a stride-2 Inception module has no 1x1 branch: use ch1x1=0")
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.in_channels = in_channels
        self.branch1x1 = _conv_bn_relu(in_channels, ch1x1, 1, factory=factory) if ch1x1 else None
        self.branch3x3 = nn.Sequential(
            _conv_bn_relu(in_channels, ch3x3_reduce, 1, factory=factory),
            _conv_bn_relu(ch3x3_reduce, ch3x3, 3, stride=stride, factory=factory),
        )
        self.branch_double3x3 = nn.Sequential(
            _conv_bn_relu(in_channels, double_reduce, 1, factory=factory),
            _conv_bn_relu(double_reduce, double3x3, 3, factory=factory),
            _conv_bn_relu(double3x3, double3x3, 3, stride=stride, factory=factory),
        )
        pooling: nn.Module = (
            nn.AvgPool2d(3, stride=stride, padding=1)
            if pool == "avg"
            else nn.MaxPool2d(3, stride=stride, padding=1)
        )
        self.branch_pool = (
            nn.Sequential(pooling, _conv_bn_relu(in_channels, pool_proj, 1, factory=factory))
            if pool_proj
            else pooling
        )
        self.out_channels = ch1x1 + ch3x3 + double3x3 + (pool_proj or in_channels)
        self.se = _optional_se(self.out_channels, reduction, squeeze, gate, factory)

    def forward(self, x: Tensor) -> BlockOutput:
        """The concatenated branches on ``x`` ``(B, C, H, W)``, with the SE gates if any."""
        x = check_feature_map(x, "x", self.in_channels, module=self)
        branches = [self.branch3x3(x), self.branch_double3x3(x), self.branch_pool(x)]
        if self.branch1x1 is not None:
            branches.insert(0, self.branch1x1(x))
        y = torch.cat(branches, dim=1)  # (b, c_out, h', w')
        gates: Tensor | None = None
        if self.se is not None:
            y, gates = self.se(y)
        return BlockOutput(y, gates)


class BNInception(AttnModule):
    """BN-Inception (Inception with batch normalisation), with optional SE blocks.

    Ioffe and Szegedy, https://arxiv.org/abs/1502.03167 (appendix table); SE-BN-Inception from
    Hu et al., https://arxiv.org/abs/1709.01507 (Fig. 2, Table 2). Stem: 7x7/2 convolution (64),
    3x3/2 max-pool, 1x1 (64) and 3x3 (192) convolutions, 3x3/2 max-pool; then the ten Inception
    modules of :data:`BN_INCEPTION_MODULES`, global average pooling and a linear classifier.

    Args:
        num_classes: classes of the final linear layer.
        in_channels: channels of the input image.
        reduction: ``r`` of the SE block after every Inception module; ``None`` for no SE.
        squeeze: squeeze operator of the SE blocks.
        gate: excitation gate of the SE blocks.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - x: ``(B, in_channels, H, W)`` (224 x 224 in the papers)
        - logits: ``(B, num_classes)``

    Returns:
        :class:`~attnlab.vision.resnet.ClassifierOutput` ``(logits, gates)``; ``gates`` has one
        ``(B, C)`` entry per Inception module when SE is on.

    Example:
        >>> import torch
        >>> model = BNInception(num_classes=10, reduction=16)
        >>> out = model(torch.randn(1, 3, 64, 64))
        >>> tuple(out.logits.shape), len(out.gates)
        ((1, 10), 10)
    """

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        in_channels: int = 3,
        reduction: int | None = None,
        squeeze: str = "avg",
        gate: str = "sigmoid",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        _check_model_args(num_classes, in_channels, reduction)
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.in_channels = in_channels
        self.stem = nn.Sequential(
            _conv_bn_relu(in_channels, 64, 7, stride=2, factory=factory),
            nn.MaxPool2d(3, stride=2, padding=1),
            _conv_bn_relu(64, 64, 1, factory=factory),
            _conv_bn_relu(64, 192, 3, factory=factory),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        channels = 192
        modules: dict[str, InceptionModule] = {}
        for name, (c1, c3r, c3, cdr, cd, pool, proj, stride) in BN_INCEPTION_MODULES.items():
            module = InceptionModule(
                channels, c1, c3r, c3, cdr, cd, pool=pool, pool_proj=proj, stride=stride,
                reduction=reduction, squeeze=squeeze, gate=gate, **factory,
            )
            modules[name] = module
            channels = module.out_channels
        self.inception = nn.ModuleDict(modules)
        self.fc = nn.Linear(channels, num_classes, **factory)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> ClassifierOutput:
        """Logits of ``x`` ``(B, C, H, W)`` with every SE gate (shapes in the class docstring)."""
        x = check_feature_map(x, "x", self.in_channels, module=self)
        x, gates = _run_blocks(self.inception.values(), self.stem(x))
        return _classify(self.fc, x, gates)


def bn_inception(
    *,
    num_classes: int = 1000,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> BNInception:
    """BN-Inception (Ioffe and Szegedy, https://arxiv.org/abs/1502.03167).

    Example:
        >>> model = bn_inception(device="meta")
        >>> model.inception["5b"].out_channels
        1024
    """
    return BNInception(num_classes=num_classes, device=device, dtype=dtype)


def se_bn_inception(
    reduction: int = 16,
    *,
    squeeze: str = "avg",
    gate: str = "sigmoid",
    num_classes: int = 1000,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> BNInception:
    """SE-BN-Inception (Hu et al., https://arxiv.org/abs/1709.01507, Fig. 2, Table 2): an SE
    block on the output of every Inception module."""
    return BNInception(
        num_classes=num_classes,
        reduction=reduction,
        squeeze=squeeze,
        gate=gate,
        device=device,
        dtype=dtype,
    )
