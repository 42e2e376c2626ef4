"""Relatives of squeeze-and-excitation: CBAM, ECA, scSE and Gather-Excite.

Each module rescales a ``(B, C, H, W)`` feature map by gates computed from the map itself and
returns a ``NamedTuple`` whose first two fields are ``context`` (the rescaled map) and ``weights``
(the gates); what ``weights`` holds differs per module:

=====================  ==========================  =========================================
module                 ``weights``                 extra fields
=====================  ==========================  =========================================
:class:`CBAM`          channel gates ``(B, C)``    ``spatial_weights`` ``(B, 1, H, W)``
:class:`ECA`           channel gates ``(B, C)``
:class:`SCSE`          channel gates ``(B, C)``    ``spatial_weights`` ``(B, 1, H, W)``
:class:`GatherExcite`  gates ``(B, C, H, W)``
=====================  ==========================  =========================================

Convention:
    * Feature maps are ``(B, C, H, W)``; channel gates are ``(B, C)`` and spatial gates
      ``(B, 1, H, W)``; every gate is a sigmoid, in ``(0, 1)``.
    * As in the SE paper, equations omit biases and the fully connected layers have them.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.core.checks import check_size
from attnlab.core.init_args import AttnModule
from attnlab.core.registry import Paper, register_mechanism
from attnlab.vision._validation import check_choice, check_feature_map, check_reduction
from attnlab.vision.squeeze_excitation import SqueezeExcitation

__all__ = [
    "CBAM",
    "ECA",
    "SCSE",
    "CBAMOutput",
    "ECAOutput",
    "GatherExcite",
    "GatherExciteOutput",
    "SCSEOutput",
    "eca_kernel_size",
]


def _check_odd_kernel(kernel_size: int) -> None:
    check_size(kernel_size, "kernel_size")
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd (same-size output), got {kernel_size}")


# --------------------------------------------------------------------------------------- CBAM


class CBAMOutput(NamedTuple):
    """Result of :class:`CBAM`.

    Attributes:
        context: ``(B, C, H, W)`` the refined map ``F''`` (eq. 1).
        weights: ``(B, C)`` the channel attention ``M_c(F)`` (eq. 2).
        spatial_weights: ``(B, 1, H, W)`` the spatial attention ``M_s(F')`` (eq. 3).
    """

    context: Tensor
    weights: Tensor
    spatial_weights: Tensor


def _cbam_example() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    return CBAM(16, reduction=4, kernel_size=3), (torch.randn(2, 16, 5, 6),), {}


@register_mechanism(
    "cbam",
    sequences="self",
    levels="single",
    positions="soft",
    representations="multi-dimensional",
    paper=Paper(
        title="CBAM: Convolutional Block Attention Module",
        authors="Woo, Park, Lee, Kweon",
        year=2018,
        url="https://arxiv.org/abs/1807.06521",
    ),
    example=_cbam_example,
)
class CBAM(AttnModule):
    """Convolutional block attention module: channel attention, then spatial attention.

    Woo et al., "CBAM: Convolutional Block Attention Module", https://arxiv.org/abs/1807.06521,
    eq. 1-3:

    .. math::

        M_c(F) = \\sigma(\\mathrm{MLP}(\\mathrm{AvgPool}(F)) + \\mathrm{MLP}(\\mathrm{MaxPool}(F))),
        \\quad F' = M_c(F) \\otimes F,

        M_s(F') = \\sigma(f^{k \\times k}([\\mathrm{AvgPool}_c(F'); \\mathrm{MaxPool}_c(F')])),
        \\quad F'' = M_s(F') \\otimes F'

    The MLP (``C -> C/r -> C`` with a ReLU) is shared by the average- and max-pooled
    descriptors; ``AvgPool_c`` / ``MaxPool_c`` pool over channels.

    Args:
        channels: ``C``.
        reduction: ``r`` of the shared MLP; exactly ``channels // reduction`` hidden units (16 in
            the paper).
        kernel_size: ``k`` of the spatial convolution (7 in the paper; odd).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - x: ``(B, C, H, W)``
        - context: ``(B, C, H, W)``; weights: ``(B, C)``; spatial_weights: ``(B, 1, H, W)``

    Returns:
        :class:`CBAMOutput` ``(context, weights, spatial_weights)``.

    Note:
        The authors' released code follows the spatial convolution with batch normalisation
        (and no bias); this module follows eq. 3 (a convolution with a bias, no normalisation).

    Example:
        >>> import torch
        >>> out = CBAM(32, reduction=16)(torch.randn(2, 32, 9, 9))
        >>> tuple(out.weights.shape), tuple(out.spatial_weights.shape)
        ((2, 32), (2, 1, 9, 9))
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        *,
        kernel_size: int = 7,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        hidden_dim = check_reduction(channels, reduction)
        _check_odd_kernel(kernel_size)
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.channels = channels
        self.reduction = reduction
        self.hidden_dim = hidden_dim
        self.kernel_size = kernel_size
        self.fc1 = nn.Linear(channels, hidden_dim, **factory)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden_dim, channels, **factory)
        self.spatial = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, **factory)

    def _mlp(self, z: Tensor) -> Tensor:
        return self.fc2(self.relu(self.fc1(z)))

    def forward(self, x: Tensor) -> CBAMOutput:
        """Refine ``x`` ``(B, C, H, W)`` by channel, then spatial attention."""
        x = check_feature_map(x, "x", self.channels, module=self)
        # eq. 2: shared MLP on the average- and max-pooled descriptors, (b, c)
        channel = torch.sigmoid(self._mlp(x.mean(dim=(2, 3))) + self._mlp(x.amax(dim=(2, 3))))
        refined = x * channel[:, :, None, None]  # F'
        # eq. 3: pool over channels, (b, 2, h, w) -> (b, 1, h, w)
        pooled = torch.cat(
            [refined.mean(dim=1, keepdim=True), refined.amax(dim=1, keepdim=True)], dim=1
        )
        spatial = torch.sigmoid(self.spatial(pooled))
        return CBAMOutput(refined * spatial, channel, spatial)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, reduction={self.reduction}, hidden_dim={self.hidden_dim}"


# ---------------------------------------------------------------------------------------- ECA


def eca_kernel_size(channels: int, *, gamma: float = 2.0, beta: float = 1.0) -> int:
    """The adaptive kernel size ``k = psi(C) = |log2(C) / gamma + b / gamma|_odd`` of ECA.

    Wang et al., "ECA-Net: Efficient Channel Attention for Deep Convolutional Neural Networks",
    https://arxiv.org/abs/1910.03151, section 3.2.3 ("coverage of local cross-channel
    interaction"). ``|t|_odd`` is the nearest odd number; at ties (``t`` even) it is ``t + 1``,
    which is what truncating ``t`` and adding one to an even result gives (the authors' code).
    ``gamma = 2``, ``b = 1`` give 3, 5, 5, 5 for 64, 128, 256, 512 channels.

    Args:
        channels: ``C``.
        gamma: ``gamma`` of the formula.
        beta: ``b`` of the formula.

    Example:
        >>> [eca_kernel_size(c) for c in (64, 128, 256, 512, 1024, 2048)]
        [3, 5, 5, 5, 5, 7]
    """
    check_size(channels, "channels")
    if not gamma > 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    t = int(abs((math.log2(channels) + beta) / gamma))
    return t if t % 2 else t + 1


class ECAOutput(NamedTuple):
    """Result of :class:`ECA`.

    Attributes:
        context: ``(B, C, H, W)`` the rescaled map.
        weights: ``(B, C)`` the channel gates ``omega``.
    """

    context: Tensor
    weights: Tensor


def _eca_example() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    return ECA(16), (torch.randn(2, 16, 5, 6),), {}


@register_mechanism(
    "eca",
    sequences="self",
    levels="single",
    positions="soft",
    representations="multi-dimensional",
    paper=Paper(
        title="ECA-Net: Efficient Channel Attention for Deep Convolutional Neural Networks",
        authors="Wang, Wu, Zhu, Wang, Zuo, Hu",
        year=2020,
        url="https://arxiv.org/abs/1910.03151",
    ),
    example=_eca_example,
)
class ECA(AttnModule):
    """Efficient channel attention: a 1-D convolution across the pooled channel descriptor.

    Wang et al., "ECA-Net: Efficient Channel Attention for Deep Convolutional Neural Networks",
    https://arxiv.org/abs/1910.03151, section 3:

    .. math::

        y = \\mathrm{GAP}(X), \\qquad \\omega = \\sigma(\\mathrm{C1D}_k(y)), \\qquad
        \\tilde{X}_c = \\omega_c X_c

    with ``C1D_k`` a 1-D convolution of kernel ``k`` (no bias, zero padding) that slides over
    the channel axis, its ``k`` weights shared by all channels, and ``k = psi(C)`` from
    :func:`eca_kernel_size` unless given.

    Args:
        channels: ``C``.
        kernel_size: ``k``; ``None`` (the default) uses the adaptive ``psi(C)``. Must be odd.
        gamma: ``gamma`` of ``psi`` (2 in the paper).
        beta: ``b`` of ``psi`` (1 in the paper).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - x: ``(B, C, H, W)``
        - context: ``(B, C, H, W)``; weights: ``(B, C)``

    Returns:
        :class:`ECAOutput` ``(context, weights)``.

    Note:
        The authors' released code fixes ``k = 3``; the paper's formula gives 3, 5, 5, 5 for the
        four ResNet stages when applied to 64, 128, 256, 512 channels. This module applies the
        formula to ``channels`` unless ``kernel_size`` is given.

    Example:
        >>> import torch
        >>> eca = ECA(256)
        >>> eca.kernel_size
        5
        >>> tuple(eca(torch.randn(2, 256, 4, 4)).weights.shape)
        (2, 256)
    """

    def __init__(
        self,
        channels: int,
        *,
        kernel_size: int | None = None,
        gamma: float = 2.0,
        beta: float = 1.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_size(channels, "channels")
        if kernel_size is None:
            kernel_size = eca_kernel_size(channels, gamma=gamma, beta=beta)
        _check_odd_kernel(kernel_size)
        self.channels = channels
        self.kernel_size = kernel_size
        self.conv = nn.Conv1d(
            1, 1, kernel_size, padding=kernel_size // 2, bias=False, device=device, dtype=dtype
        )

    def forward(self, x: Tensor) -> ECAOutput:
        """Gate the channels of ``x`` ``(B, C, H, W)`` (shapes in the class docstring)."""
        x = check_feature_map(x, "x", self.channels, module=self)
        y = x.mean(dim=(2, 3))  # (b, c)
        weights = torch.sigmoid(self.conv(y.unsqueeze(1)).squeeze(1))  # (b, 1, c) -> (b, c)
        return ECAOutput(x * weights[:, :, None, None], weights)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, kernel_size={self.kernel_size}"


# --------------------------------------------------------------------------------------- scSE


SCSE_COMBINES: tuple[str, ...] = ("add", "max", "mul")


class SCSEOutput(NamedTuple):
    """Result of :class:`SCSE`.

    Attributes:
        context: ``(B, C, H, W)`` the combined map ``U_scSE``.
        weights: ``(B, C)`` the channel gates of the cSE path.
        spatial_weights: ``(B, 1, H, W)`` the spatial gates ``q`` of the sSE path.
    """

    context: Tensor
    weights: Tensor
    spatial_weights: Tensor


def _scse_example() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    return SCSE(8), (torch.randn(2, 8, 5, 6),), {}


@register_mechanism(
    "scse",
    sequences="self",
    levels="single",
    positions="soft",
    representations="multi-dimensional",
    paper=Paper(
        title=(
            "Concurrent Spatial and Channel 'Squeeze & Excitation' in Fully Convolutional "
            "Networks"
        ),
        authors="Roy, Navab, Wachinger",
        year=2018,
        url="https://arxiv.org/abs/1803.02579",
    ),
    example=_scse_example,
)
class SCSE(AttnModule):
    """Concurrent spatial and channel squeeze-and-excitation (scSE).

    Roy, Navab, Wachinger, "Concurrent Spatial and Channel 'Squeeze & Excitation' in Fully
    Convolutional Networks", MICCAI 2018, https://arxiv.org/abs/1803.02579, section 2:

    .. math::

        \\hat{U}_{cSE} = [\\sigma(\\hat{z}_1) u_1, \\ldots, \\sigma(\\hat{z}_C) u_C], \\quad
        \\hat{z} = W_1 \\delta(W_2 z), \\quad
        \\hat{U}_{sSE} = [\\sigma(q_{1,1}) u^{1,1}, \\ldots, \\sigma(q_{H,W}) u^{H,W}], \\quad
        q = W_{sq} \\star U

    and ``U_scSE = U_cSE + U_sSE``. The cSE path is :class:`SqueezeExcitation` (average squeeze,
    sigmoid gate); the sSE path is a 1x1 convolution to one channel.

    Args:
        channels: ``C``.
        reduction: reduction of the cSE path; exactly ``channels // reduction`` hidden units.
            The paper uses ``C/2`` (``reduction = 2``); some libraries default to 16.
        combine: how the two recalibrated maps are merged: ``"add"`` (the MICCAI paper),
            ``"max"`` (element-wise maximum, the best aggregation in the journal version,
            Roy et al., https://arxiv.org/abs/1808.08127) or ``"mul"``.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - x: ``(B, C, H, W)``
        - context: ``(B, C, H, W)``; weights: ``(B, C)``; spatial_weights: ``(B, 1, H, W)``

    Returns:
        :class:`SCSEOutput` ``(context, weights, spatial_weights)``.

    Example:
        >>> import torch
        >>> out = SCSE(16)(torch.randn(2, 16, 6, 6))
        >>> tuple(out.weights.shape), tuple(out.spatial_weights.shape)
        ((2, 16), (2, 1, 6, 6))
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 2,
        *,
        combine: str = "add",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.combine = check_choice(combine, "combine", SCSE_COMBINES)
        self.channels = channels
        self.channel = SqueezeExcitation(channels, reduction, device=device, dtype=dtype)
        self.spatial = nn.Conv2d(channels, 1, 1, device=device, dtype=dtype)  # W_sq

    def forward(self, x: Tensor) -> SCSEOutput:
        """Recalibrate ``x`` ``(B, C, H, W)`` by channel and by position."""
        x = check_feature_map(x, "x", self.channels, module=self)
        u_cse, channel = self.channel(x)
        spatial = torch.sigmoid(self.spatial(x))  # (b, 1, h, w)
        u_sse = x * spatial
        if self.combine == "add":
            context = u_cse + u_sse
        elif self.combine == "max":
            context = torch.maximum(u_cse, u_sse)
        else:
            context = u_cse * u_sse
        return SCSEOutput(context, channel, spatial)

    def extra_repr(self) -> str:
        return f"combine={self.combine!r}"


# ------------------------------------------------------------------------------- Gather-Excite


class GatherExciteOutput(NamedTuple):
    """Result of :class:`GatherExcite`.

    Attributes:
        context: ``(B, C, H, W)`` the excited map ``x * sigma(interp(gathered))``.
        weights: ``(B, C, H, W)`` the gates ``sigma(interp(gathered))`` at full resolution
            (an expanded view of ``(B, C, 1, 1)`` gates for the global extent).
    """

    context: Tensor
    weights: Tensor


def _ge_example() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    # parameter-free: the input carries the gradient
    return GatherExcite(extent=2), (torch.randn(2, 4, 5, 6, requires_grad=True),), {}


@register_mechanism(
    "gather_excite",
    sequences="self",
    levels="single",
    positions="soft",
    representations="multi-dimensional",
    paper=Paper(
        title="Gather-Excite: Exploiting Feature Context in Convolutional Neural Networks",
        authors="Hu, Shen, Albanie, Sun, Vedaldi",
        year=2018,
        url="https://arxiv.org/abs/1810.12348",
    ),
    example=_ge_example,
)
class GatherExcite(AttnModule):
    """Parameter-free gather-excite (GE-theta-minus).

    Hu et al., "Gather-Excite: Exploiting Feature Context in Convolutional Neural Networks",
    NeurIPS 2018, https://arxiv.org/abs/1810.12348, section 3: the gather operator averages
    each channel over a spatial extent, the excite operator resizes the gathered map back to the
    input size by nearest-neighbour interpolation and gates the input with its sigmoid:

    .. math::

        \\hat{x} = \\xi_G(x), \\qquad y = x \\odot \\sigma(\\mathrm{interp}(\\hat{x}))

    Args:
        extent: the extent ratio ``e``. ``None`` (the default) gathers over the whole map (global
            average pooling, the best parameter-free variant of the paper); an integer ``e``
            gives an ``ceil(H / e) x ceil(W / e)`` gathered map, each cell the average of a
            ``(2e - 1) x (2e - 1)`` window centred at ``e * u`` (stride ``e``; positions outside
            the map are left out of the average).

    Shape:
        - x: ``(B, C, H, W)``
        - context, weights: ``(B, C, H, W)``

    Returns:
        :class:`GatherExciteOutput` ``(context, weights)``.

    Convention:
        ``interp`` is ``F.interpolate(mode="nearest")``: output row ``i`` takes gathered row
        ``floor(i * ceil(H / e) / H)`` (``floor(i / e)`` when ``e`` divides ``H``).

    Note:
        Only the parameter-free variant is implemented; the parametric GE-theta (strided
        depth-wise convolutions) and GE-theta-plus are not.

    Example:
        >>> import torch
        >>> out = GatherExcite(extent=2)(torch.randn(2, 8, 6, 6))
        >>> tuple(out.weights.shape)
        (2, 8, 6, 6)
    """

    def __init__(self, *, extent: int | None = None) -> None:
        super().__init__()
        if extent is not None:
            check_size(extent, "extent")
        self.extent = extent

    def gather(self, x: Tensor) -> Tensor:
        """The gather operator ``xi_G``: ``(B, C, H, W) -> (B, C, ceil(H/e), ceil(W/e))``."""
        if self.extent is None:
            return x.mean(dim=(2, 3), keepdim=True)
        e = self.extent
        return F.avg_pool2d(x, 2 * e - 1, stride=e, padding=e - 1, count_include_pad=False)

    def forward(self, x: Tensor) -> GatherExciteOutput:
        """Gather context from ``x`` ``(B, C, H, W)`` and excite it (shapes: see the class)."""
        x = check_feature_map(x, "x", module=self)
        gathered = self.gather(x)
        if self.extent is None:
            weights = torch.sigmoid(gathered).expand_as(x)
        else:
            weights = torch.sigmoid(F.interpolate(gathered, size=x.shape[2:], mode="nearest"))
        return GatherExciteOutput(x * weights, weights)

    def extra_repr(self) -> str:
        return f"extent={'global' if self.extent is None else self.extent}"
