"""ResNet, ResNeXt and their squeeze-and-excitation versions, built from the library's blocks.

ImageNet models (224 x 224 inputs): He et al., "Deep Residual Learning for Image Recognition",
https://arxiv.org/abs/1512.03385 (Table 1); Xie et al., "Aggregated Residual Transformations
for Deep Neural Networks", https://arxiv.org/abs/1611.05431 (Table 1); SE versions from Hu et
al., "Squeeze-and-Excitation Networks", https://arxiv.org/abs/1709.01507 (Table 1, Table 2).
CIFAR models: the pre-activation ResNet-110 / ResNet-164 of He et al., "Identity Mappings in
Deep Residual Networks", https://arxiv.org/abs/1603.05027, and their SE versions (Hu et al.,
Table 4).

Convention:
    * Every model returns a :class:`ClassifierOutput` ``(logits, gates)``, always: ``logits``
      ``(B, num_classes)`` and ``gates``, a tuple with the ``(B, C)`` channel gates of every SE
      block in the order they ran (an empty tuple for a model without SE). There is no flag that
      changes what is returned; train with ``model(x).logits``.
    * Stages are numbered as in the papers: stage 2 is ``conv2_x`` (the first residual stage,
      56 x 56 at a 224 input), ..., stage 5 is ``conv5_x``; the modules are ``stage2`` ...
      ``stage5``.
    * ResNet-50/101/152 and their SE versions put the stride of a downsampling block on its
      first 1x1 convolution, as the original ResNet and the SE authors' released models do
      (3.86 GFLOPs for ResNet-50, Table 2 of the SE paper); ResNeXt puts it on the 3x3 one, as
      its paper does.

Parameter counts (exact, 1000 classes; the papers print millions, see
:func:`attnlab.vision.complexity.millions_rounded_up`): ResNet-50 25,557,032; SE-ResNet-50
28,088,024 (``r = 16``); ResNeXt-50 (32x4d) 25,028,904; SE-ResNeXt-50 27,559,896.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.core.checks import check_size
from attnlab.core.init_args import AttnModule
from attnlab.vision._validation import check_choice, check_feature_map
from attnlab.vision.squeeze_excitation import (
    SE_POSITIONS,
    Bottleneck,
    PreActBasicBlock,
    PreActBottleneck,
)

__all__ = [
    "STAGES",
    "ClassifierOutput",
    "PreActResNet",
    "ResNet",
    "resnet50",
    "resnet101",
    "resnet110",
    "resnet152",
    "resnet164",
    "resnext50_32x4d",
    "se_resnet50",
    "se_resnet101",
    "se_resnet110",
    "se_resnet152",
    "se_resnet164",
    "se_resnext50_32x4d",
]

STAGES: tuple[int, ...] = (2, 3, 4, 5)
"""The residual stages of an ImageNet ResNet, numbered as ``conv2_x`` ... ``conv5_x``."""


class ClassifierOutput(NamedTuple):
    """Result of a classification model.

    Attributes:
        logits: ``(B, num_classes)`` unnormalised class scores.
        gates: the channel gates ``(B, C_k)`` of every SE block, in the order the blocks ran;
            ``()`` for a model without SE blocks.
    """

    logits: Tensor
    gates: tuple[Tensor, ...]


def _init_weights(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _check_model_args(num_classes: int, in_channels: int, reduction: int | None) -> None:
    check_size(num_classes, "num_classes")
    check_size(in_channels, "in_channels")
    if reduction is not None:
        check_size(reduction, "reduction")


def _run_blocks(blocks: Iterable[nn.Module], x: Tensor) -> tuple[Tensor, list[Tensor]]:
    """Run blocks returning ``BlockOutput``; collect the gates of those with an SE block."""
    gates: list[Tensor] = []
    for block in blocks:
        x, g = block(x)
        if g is not None:
            gates.append(g)
    return x, gates


def _classify(fc: nn.Linear, x: Tensor, gates: list[Tensor]) -> ClassifierOutput:
    """Global average pooling and the final linear layer."""
    logits = fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
    return ClassifierOutput(logits, tuple(gates))


class ResNet(AttnModule):
    """ImageNet ResNet / ResNeXt with bottleneck blocks and optional SE blocks.

    He et al., https://arxiv.org/abs/1512.03385 (Table 1); Xie et al.,
    https://arxiv.org/abs/1611.05431; SE integration from Hu et al.,
    https://arxiv.org/abs/1709.01507 (Fig. 3, Tables 10, 13, 14, 15).

    Args:
        layers: number of blocks in stages 2, 3, 4, 5: ``(3, 4, 6, 3)`` for ResNet-50,
            ``(3, 4, 23, 3)`` for ResNet-101, ``(3, 8, 36, 3)`` for ResNet-152.
        num_classes: classes of the final linear layer.
        in_channels: channels of the input image.
        groups: ResNeXt cardinality (1 for ResNet).
        width_per_group: ResNeXt bottleneck width ``d`` (64 for ResNet).
        stride_in_1x1: stride on the first 1x1 convolution of a downsampling block (see the
            module Convention).
        reduction: ``r`` of the SE blocks; ``None`` builds the network without SE.
        stages: the stages (2 to 5) whose blocks get SE blocks (Table 13 of the SE paper
            evaluates one stage at a time); unused when ``reduction`` is ``None``.
        position: where each block applies its SE block: ``"standard"``, ``"pre"``,
            ``"post"``, ``"identity"`` (Table 14) or ``"3x3"`` (Table 15); see
            :class:`~attnlab.vision.squeeze_excitation.Bottleneck`.
        squeeze: squeeze operator of the SE blocks (``"avg"`` or ``"max"``, Table 11).
        gate: excitation gate of the SE blocks (``"sigmoid"``, ``"tanh"``, ``"relu"``,
            Table 12).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - x: ``(B, in_channels, H, W)``, ``H, W >= 1`` (224 x 224 in the papers)
        - logits: ``(B, num_classes)``

    Returns:
        :class:`ClassifierOutput` ``(logits, gates)``.

    Example:
        >>> import torch
        >>> model = ResNet((1, 1, 1, 1), num_classes=10, reduction=16, stages=(4, 5))
        >>> out = model(torch.randn(2, 3, 32, 32))
        >>> tuple(out.logits.shape), [tuple(g.shape) for g in out.gates]
        ((2, 10), [(2, 1024), (2, 2048)])
    """

    def __init__(
        self,
        layers: Sequence[int] = (3, 4, 6, 3),
        *,
        num_classes: int = 1000,
        in_channels: int = 3,
        groups: int = 1,
        width_per_group: int = 64,
        stride_in_1x1: bool = True,
        reduction: int | None = None,
        stages: Sequence[int] = STAGES,
        position: str = "standard",
        squeeze: str = "avg",
        gate: str = "sigmoid",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        layers = tuple(layers)
        if len(layers) != 4:
            raise ValueError(f"layers must give 4 block counts (stages 2-5), got {layers}")
        for n in layers:
            check_size(n, "layers")
        _check_model_args(num_classes, in_channels, reduction)
        check_choice(position, "position", SE_POSITIONS)
        stages = tuple(stages)
        if not stages or any(s not in STAGES for s in stages) or len(set(stages)) != len(stages):
            raise ValueError(f"stages must be distinct values from {STAGES}, got {stages}")
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.in_channels = in_channels
        self.layers = layers
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False, **factory)
        self.bn1 = nn.BatchNorm2d(64, **factory)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = 64
        widths = (64, 128, 256, 512)
        for stage, (blocks, planes) in enumerate(zip(layers, widths, strict=True), start=2):
            stage_reduction = reduction if stage in stages else None
            modules = []
            for i in range(blocks):
                block = Bottleneck(
                    channels,
                    planes,
                    stride=2 if (i == 0 and stage > 2) else 1,
                    groups=groups,
                    width_per_group=width_per_group,
                    stride_in_1x1=stride_in_1x1,
                    reduction=stage_reduction,
                    position=position,
                    squeeze=squeeze,
                    gate=gate,
                    **factory,
                )
                modules.append(block)
                channels = block.out_channels
            setattr(self, f"stage{stage}", nn.ModuleList(modules))
        self.fc = nn.Linear(channels, num_classes, **factory)
        _init_weights(self)

    def forward(self, x: Tensor) -> ClassifierOutput:
        """Logits of ``x`` ``(B, C, H, W)`` with every SE gate (shapes in the class docstring)."""
        x = check_feature_map(x, "x", self.in_channels, module=self)
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        blocks = (block for stage in STAGES for block in getattr(self, f"stage{stage}"))
        x, gates = _run_blocks(blocks, x)
        return _classify(self.fc, x, gates)


def _resnet(
    layers: Sequence[int],
    *,
    num_classes: int,
    device: torch.device | str | None,
    dtype: torch.dtype | None,
    **options: Any,
) -> ResNet:
    return ResNet(layers, num_classes=num_classes, device=device, dtype=dtype, **options)


_RESNEXT_32X4D: dict[str, Any] = {"groups": 32, "width_per_group": 4, "stride_in_1x1": False}
"""ResNeXt-50's 32 x 4d bottlenecks, with the stride on the 3x3 convolution (Xie et al.)."""


def _se_options(
    reduction: int, stages: Sequence[int], position: str, squeeze: str, gate: str
) -> dict[str, Any]:
    return {
        "reduction": reduction,
        "stages": stages,
        "position": position,
        "squeeze": squeeze,
        "gate": gate,
    }


def resnet50(
    *,
    num_classes: int = 1000,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> ResNet:
    """ResNet-50 (He et al., https://arxiv.org/abs/1512.03385, Table 1): 25,557,032 parameters
    (25.6M), 3.86 GFLOPs (multiply-adds) at 224 x 224.

    Example:
        >>> sum(p.numel() for p in resnet50(device="meta").parameters())
        25557032
    """
    return _resnet((3, 4, 6, 3), num_classes=num_classes, device=device, dtype=dtype)


def resnet101(
    *,
    num_classes: int = 1000,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> ResNet:
    """ResNet-101 (He et al., https://arxiv.org/abs/1512.03385, Table 1): 44,549,160
    parameters."""
    return _resnet((3, 4, 23, 3), num_classes=num_classes, device=device, dtype=dtype)


def resnet152(
    *,
    num_classes: int = 1000,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> ResNet:
    """ResNet-152 (He et al., https://arxiv.org/abs/1512.03385, Table 1): 60,192,808
    parameters."""
    return _resnet((3, 8, 36, 3), num_classes=num_classes, device=device, dtype=dtype)


def resnext50_32x4d(
    *,
    num_classes: int = 1000,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> ResNet:
    """ResNeXt-50 (32x4d) (Xie et al., https://arxiv.org/abs/1611.05431, Table 1): 25,028,904
    parameters; stride on the 3x3 grouped convolution."""
    return _resnet(
        (3, 4, 6, 3), num_classes=num_classes, device=device, dtype=dtype, **_RESNEXT_32X4D
    )


def se_resnet50(
    reduction: int = 16,
    *,
    stages: Sequence[int] = STAGES,
    position: str = "standard",
    squeeze: str = "avg",
    gate: str = "sigmoid",
    num_classes: int = 1000,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> ResNet:
    """SE-ResNet-50 (Hu et al., https://arxiv.org/abs/1709.01507, Table 1).

    28,088,024 parameters at ``r = 16`` (28.1M in the paper); the ablations of the paper are
    arguments: ``reduction`` (Table 10), ``squeeze`` (Table 11), ``gate`` (Table 12),
    ``stages`` (Table 13), ``position`` (Tables 14 and 15). See :class:`ResNet`.

    Example:
        >>> model = se_resnet50(device="meta")
        >>> sum(p.numel() for p in model.parameters())
        28088024
        >>> model.stage2[0].se.fc1.out_features  # 256 // 16
        16
    """
    se = _se_options(reduction, stages, position, squeeze, gate)
    return _resnet((3, 4, 6, 3), num_classes=num_classes, device=device, dtype=dtype, **se)


def se_resnet101(
    reduction: int = 16,
    *,
    stages: Sequence[int] = STAGES,
    position: str = "standard",
    squeeze: str = "avg",
    gate: str = "sigmoid",
    num_classes: int = 1000,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> ResNet:
    """SE-ResNet-101 (Hu et al., https://arxiv.org/abs/1709.01507, Table 2): 49,326,872
    parameters at ``r = 16``. Arguments as :func:`se_resnet50`."""
    se = _se_options(reduction, stages, position, squeeze, gate)
    return _resnet((3, 4, 23, 3), num_classes=num_classes, device=device, dtype=dtype, **se)


def se_resnet152(
    reduction: int = 16,
    *,
    stages: Sequence[int] = STAGES,
    position: str = "standard",
    squeeze: str = "avg",
    gate: str = "sigmoid",
    num_classes: int = 1000,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> ResNet:
    """SE-ResNet-152 (Hu et al., https://arxiv.org/abs/1709.01507, Table 2): 66,821,848
    parameters at ``r = 16``. Arguments as :func:`se_resnet50`."""
    se = _se_options(reduction, stages, position, squeeze, gate)
    return _resnet((3, 8, 36, 3), num_classes=num_classes, device=device, dtype=dtype, **se)


def se_resnext50_32x4d(
    reduction: int = 16,
    *,
    stages: Sequence[int] = STAGES,
    position: str = "standard",
    squeeze: str = "avg",
    gate: str = "sigmoid",
    num_classes: int = 1000,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> ResNet:
    """SE-ResNeXt-50 (32x4d) (Hu et al., https://arxiv.org/abs/1709.01507, Table 1): 27,559,896
    parameters at ``r = 16``. Arguments as :func:`se_resnet50`."""
    se = _se_options(reduction, stages, position, squeeze, gate) | _RESNEXT_32X4D
    return _resnet((3, 4, 6, 3), num_classes=num_classes, device=device, dtype=dtype, **se)


class PreActResNet(AttnModule):
    """Pre-activation ResNet for 32 x 32 images (CIFAR), with optional SE blocks.

    He et al., "Identity Mappings in Deep Residual Networks", https://arxiv.org/abs/1603.05027
    (ResNet-110 with basic blocks, ResNet-164 with bottleneck blocks); the SE versions are
    those of Hu et al., https://arxiv.org/abs/1709.01507, Table 4. A 3x3 convolution with 16
    channels, three stages of ``n`` blocks at 32 x 32, 16 x 16 and 8 x 8 (widths 16/32/64, times
    4 for bottlenecks), BN-ReLU, global average pooling and a linear classifier.

    Args:
        depth: total depth, ``6 n + 2`` for basic blocks (110: ``n = 18``) or ``9 n + 2`` for
            bottlenecks (164: ``n = 18``).
        bottleneck: use :class:`~attnlab.vision.squeeze_excitation.PreActBottleneck` blocks.
        num_classes: classes of the final linear layer.
        in_channels: channels of the input image.
        reduction: ``r`` of the SE blocks (on every block); ``None`` for no SE.
        squeeze: squeeze operator of the SE blocks.
        gate: excitation gate of the SE blocks.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - x: ``(B, in_channels, H, W)`` (32 x 32 for CIFAR)
        - logits: ``(B, num_classes)``

    Returns:
        :class:`ClassifierOutput` ``(logits, gates)``.

    Example:
        >>> import torch
        >>> model = PreActResNet(20, num_classes=10, reduction=4)
        >>> out = model(torch.randn(2, 3, 32, 32))
        >>> tuple(out.logits.shape), len(out.gates)
        ((2, 10), 9)
    """

    def __init__(
        self,
        depth: int = 110,
        *,
        bottleneck: bool = False,
        num_classes: int = 10,
        in_channels: int = 3,
        reduction: int | None = None,
        squeeze: str = "avg",
        gate: str = "sigmoid",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_size(depth, "depth")
        per_block = 9 if bottleneck else 6
        if depth < per_block + 2 or (depth - 2) % per_block:
            kind = "bottleneck" if bottleneck else "basic"
            raise ValueError(
                f"depth must be {per_block} n + 2 (n >= 1) for {kind} blocks, got {depth}"
            )
        _check_model_args(num_classes, in_channels, reduction)
        n = (depth - 2) // per_block
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.in_channels = in_channels
        self.depth = depth
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False, **factory)
        channels = 16
        blocks: list[nn.Module] = []
        for stage, width in enumerate((16, 32, 64)):
            for i in range(n):
                stride = 2 if (i == 0 and stage > 0) else 1
                block_cls = PreActBottleneck if bottleneck else PreActBasicBlock
                block = block_cls(
                    channels, width, stride=stride, reduction=reduction,
                    squeeze=squeeze, gate=gate, **factory,
                )
                blocks.append(block)
                channels = block.out_channels
        self.blocks = nn.ModuleList(blocks)
        self.bn = nn.BatchNorm2d(channels, **factory)
        self.fc = nn.Linear(channels, num_classes, **factory)
        _init_weights(self)

    def forward(self, x: Tensor) -> ClassifierOutput:
        """Logits of ``x`` ``(B, C, H, W)`` with every SE gate (shapes in the class docstring)."""
        x = check_feature_map(x, "x", self.in_channels, module=self)
        x, gates = _run_blocks(self.blocks, self.conv1(x))
        return _classify(self.fc, F.relu(self.bn(x)), gates)


def resnet110(
    *,
    num_classes: int = 10,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> PreActResNet:
    """Pre-activation ResNet-110 for CIFAR (He et al., https://arxiv.org/abs/1603.05027)."""
    return PreActResNet(110, num_classes=num_classes, device=device, dtype=dtype)


def resnet164(
    *,
    num_classes: int = 10,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> PreActResNet:
    """Pre-activation ResNet-164 (bottleneck) for CIFAR (He et al.,
    https://arxiv.org/abs/1603.05027)."""
    return PreActResNet(
        164, bottleneck=True, num_classes=num_classes, device=device, dtype=dtype
    )


def se_resnet110(
    reduction: int = 16,
    *,
    squeeze: str = "avg",
    gate: str = "sigmoid",
    num_classes: int = 10,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> PreActResNet:
    """SE-ResNet-110 for CIFAR (Hu et al., https://arxiv.org/abs/1709.01507, Table 4).

    With ``r = 16`` the 16-channel blocks of the first stage have a single hidden unit.
    """
    return PreActResNet(
        110,
        num_classes=num_classes,
        reduction=reduction,
        squeeze=squeeze,
        gate=gate,
        device=device,
        dtype=dtype,
    )


def se_resnet164(
    reduction: int = 16,
    *,
    squeeze: str = "avg",
    gate: str = "sigmoid",
    num_classes: int = 10,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> PreActResNet:
    """SE-ResNet-164 for CIFAR (Hu et al., https://arxiv.org/abs/1709.01507, Table 4)."""
    return PreActResNet(
        164,
        bottleneck=True,
        num_classes=num_classes,
        reduction=reduction,
        squeeze=squeeze,
        gate=gate,
        device=device,
        dtype=dtype,
    )
