"""Spatial transformer networks (Jaderberg et al. 2015): localisation nets and the transformer.

Jaderberg, Simonyan, Zisserman, Kavukcuoglu, "Spatial Transformer Networks", NeurIPS 2015,
https://arxiv.org/abs/1506.02025, section 3. A spatial transformer has three parts:

1. a **localisation network** ``theta = f_loc(U)`` that regresses the transformation parameters
   from the input feature map ``U`` (section 3.1);
2. a **grid generator** ``T_theta(G)`` that maps the regular output grid ``G`` into the input
   (section 3.2, eq. (1); :mod:`attnlab.vision.grids`);
3. a **sampler** that reads ``U`` at the grid points with the bilinear kernel (section 3.3,
   eq. (5); :func:`attnlab.vision.sampler.bilinear_sample`).

In the survey's taxonomy (Chaudhari et al., arXiv:1904.02874) the spatial transformer is
single-level self-attention over the positions of one image; it is *soft* because the sampling
kernel of eq. (5) is a differentiable weighting of input pixels (non-negative, summing to 1 inside
the image), and the attended region is chosen by ``theta``.

Convention:
    * Images are ``(B, C, H, W)``; grids ``(B, H_out, W_out, 2)`` in normalised ``(x, y)``
      coordinates mapping output points to input points; see :mod:`attnlab.vision.grids` for
      ``align_corners`` and the pixel <-> normalised conversions.
    * The ``weights`` of a spatial transformer's output are its **transformation parameters**
      ``theta`` ``(B, P)`` (the attention it computed), not a map over pixels.
    * The localisation network's final regression layer starts at the identity transformation:
      zero weights and the identity parameters as bias (the paper's "initialised to regress the
      identity transform", appendix A.4). Training from a random final layer often never
      recovers.
    * Learning rate: the localisation network can be given a smaller learning rate through
      ``lr_multiplier`` and :func:`spatial_transformer_param_groups` (the SVHN experiment used
      0.1 times the base rate, appendix A.5).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from attnlab.core.checks import check_positive, check_size, check_tensor
from attnlab.core.init_args import AttnModule
from attnlab.core.registry import Paper, register_mechanism
from attnlab.vision._validation import check_align_corners, check_feature_map, check_hw
from attnlab.vision.grids import GridGenerator, make_grid_generator
from attnlab.vision.sampler import PADDING_MODES, bilinear_sample

__all__ = [
    "SPATIAL_TRANSFORMER_PAPER",
    "ConvLocalisation",
    "MLPLocalisation",
    "ParallelSpatialTransformers",
    "ParallelSpatialTransformersOutput",
    "SequentialSpatialTransformers",
    "SequentialSpatialTransformersOutput",
    "SpatialTransformer",
    "SpatialTransformerOutput",
    "find_regression_layer",
    "init_identity_",
    "spatial_transformer_param_groups",
]

SPATIAL_TRANSFORMER_PAPER = Paper(
    title="Spatial Transformer Networks",
    authors="Jaderberg, Simonyan, Zisserman, Kavukcuoglu",
    year=2015,
    url="https://arxiv.org/abs/1506.02025",
)


# ---------------------------------------------------------------------------------------------
# identity initialisation


def find_regression_layer(localisation: nn.Module) -> nn.Linear:
    """The final regression layer of a localisation network.

    ``localisation.regression`` when it is an :class:`torch.nn.Linear` (the built-in networks),
    otherwise the last :class:`torch.nn.Linear` in ``localisation.modules()`` (registration
    order).

    Raises:
        ValueError: if the network has no ``nn.Linear``.

    Example:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 6))
        >>> find_regression_layer(net) is net[3]
        True
    """
    regression = getattr(localisation, "regression", None)
    if isinstance(regression, nn.Linear):
        return regression
    linears = [m for m in localisation.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(
            "localisation has no nn.Linear regression layer to initialise to the identity; "
            "pass init_identity=False and initialise it yourself"
        )
    return linears[-1]


@torch.no_grad()
def init_identity_(layer: nn.Linear, identity: Tensor) -> nn.Linear:
    """Initialise a regression layer to output ``identity`` for every input, in place.

    Zero weights and ``bias = identity`` (appendix A.4 of the paper), so the spatial transformer
    starts as the identity warp and the gradient reaching the layer is still non-zero.

    Raises:
        ValueError: if the layer has no bias or ``out_features != identity.numel()``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> layer = init_identity_(nn.Linear(5, 3), torch.tensor([1.0, 0.0, 0.0]))
        >>> layer(torch.randn(2, 5))
        tensor([[1., 0., 0.],
                [1., 0., 0.]], grad_fn=<AddmmBackward0>)
    """
    if layer.bias is None:
        raise ValueError("the regression layer needs a bias to hold the identity parameters")
    if layer.out_features != identity.numel():
        raise ValueError(
            f"the regression layer has out_features={layer.out_features} but the grid needs "
            f"{identity.numel()} parameters"
        )
    layer.weight.zero_()
    layer.bias.copy_(identity.reshape(-1))
    return layer


# ---------------------------------------------------------------------------------------------
# localisation networks


class ConvLocalisation(AttnModule):
    """Convolutional localisation network of the paper's ST-CNN (appendix A.4).

    Downsample by ``downsample`` (average pooling), then per entry of ``channels`` a valid
    ``kernel_size x kernel_size`` convolution, 2 x 2 max pooling and a ReLU, then a hidden fully
    connected layer with ReLU and the final regression layer:
    ``AvgPool(2) -> [Conv5x5(20) -> MaxPool(2) -> ReLU] x 2 -> FC(20) -> ReLU -> FC(P)``.

    Args:
        in_channels: channels ``C`` of the input map.
        num_params: ``P``, the number of transformation parameters regressed (the grid
            generator's ``num_params``: 6 affine, 8 projective, 32 for a 16-point TPS).
        input_size: ``(H, W)`` of the input map (fixes the flattened size).
        channels: filters of each convolution (``(20, 20)`` in the paper).
        kernel_size: convolution size (5 in the paper).
        hidden_dim: units of the hidden fully connected layer (20 in the paper).
        downsample: input downsampling factor (2 in the paper; the paper does not say which
            filter, average pooling is used here); 1 disables it.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Attributes:
        features: everything before the regression layer.
        regression: the final ``nn.Linear(hidden_dim, num_params)``; weights start at zero,
            :class:`SpatialTransformer` writes the identity into its bias.

    Shape:
        - x: ``(B, C, H, W)``
        - output: ``(B, P)``

    Example:
        >>> import torch
        >>> net = ConvLocalisation(1, 6, input_size=(42, 42))
        >>> net(torch.randn(2, 1, 42, 42)).shape
        torch.Size([2, 6])
    """

    def __init__(
        self,
        in_channels: int,
        num_params: int,
        *,
        input_size: tuple[int, int],
        channels: Sequence[int] = (20, 20),
        kernel_size: int = 5,
        hidden_dim: int = 20,
        downsample: int = 2,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_size(in_channels, "in_channels")
        check_size(num_params, "num_params")
        check_size(kernel_size, "kernel_size")
        check_size(hidden_dim, "hidden_dim")
        check_size(downsample, "downsample")
        height, width = check_hw(input_size, "input_size")
        channels = tuple(channels)
        for c in channels:
            check_size(c, "channels")
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.in_channels = in_channels
        self.input_size = (height, width)
        self.num_params = num_params

        layers: list[nn.Module] = []
        if downsample > 1:
            layers.append(nn.AvgPool2d(downsample))
            height, width = height // downsample, width // downsample
        previous = in_channels
        for c in channels:
            layers += [
                nn.Conv2d(previous, c, kernel_size, **factory),
                nn.MaxPool2d(2),
                nn.ReLU(),
            ]
            height, width = (height - kernel_size + 1) // 2, (width - kernel_size + 1) // 2
            previous = c
        if height < 1 or width < 1:
            raise ValueError(
                f"input_size={input_size} is too small for downsample={downsample}, "
                f"{len(channels)} convolutions of size {kernel_size} and 2x2 pooling; "
                "use a smaller downsample or kernel_size, or fewer channels"
            )
        layers += [
            nn.Flatten(),
            nn.Linear(previous * height * width, hidden_dim, **factory),
            nn.ReLU(),
        ]
        self.features = nn.Sequential(*layers)
        self.regression = nn.Linear(hidden_dim, num_params, **factory)
        with torch.no_grad():
            self.regression.weight.zero_()
            self.regression.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        """The parameters ``theta`` ``(B, P)`` regressed from ``x`` ``(B, C, H, W)``."""
        x = check_feature_map(x, "x", module=self)
        if x.shape[1] != self.in_channels or tuple(x.shape[2:]) != self.input_size:
            raise ValueError(
                f"x must have shape (B, {self.in_channels}, {self.input_size[0]}, "
                f"{self.input_size[1]}) (in_channels, input_size), got {tuple(x.shape)}"
            )
        return self.regression(self.features(x))  # (b, p)


class MLPLocalisation(AttnModule):
    """Fully connected localisation network of the paper's ST-FCN (section 4.1, appendix A.4).

    ``Flatten -> [Linear -> ReLU] x len(hidden_dims) -> Linear(P)``. The paper's ST-FCN uses a
    3-layer fully connected localisation network. Its width is not taken from the paper here:
    the default ``(32, 32)`` (three weight layers with the regression layer) borrows the 32
    units of the paper's fully connected localisation networks of the SVHN experiment
    (section 4.2).

    Args:
        in_features: ``C * H * W`` of the input map.
        num_params: ``P``, the number of transformation parameters regressed.
        hidden_dims: widths of the hidden layers.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Attributes:
        features: everything before the regression layer.
        regression: the final ``nn.Linear``; weights start at zero.

    Shape:
        - x: ``(B, C, H, W)`` (or any ``(B, ...)`` with ``in_features`` elements per sample)
        - output: ``(B, P)``

    Example:
        >>> import torch
        >>> net = MLPLocalisation(28 * 28, 6)
        >>> net(torch.randn(2, 1, 28, 28)).shape
        torch.Size([2, 6])
    """

    def __init__(
        self,
        in_features: int,
        num_params: int,
        *,
        hidden_dims: Sequence[int] = (32, 32),
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_size(in_features, "in_features")
        check_size(num_params, "num_params")
        hidden_dims = tuple(hidden_dims)
        for d in hidden_dims:
            check_size(d, "hidden_dims")
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.in_features = in_features
        self.num_params = num_params
        layers: list[nn.Module] = [nn.Flatten()]
        previous = in_features
        for d in hidden_dims:
            layers += [nn.Linear(previous, d, **factory), nn.ReLU()]
            previous = d
        self.features = nn.Sequential(*layers)
        self.regression = nn.Linear(previous, num_params, **factory)
        with torch.no_grad():
            self.regression.weight.zero_()
            self.regression.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        """The parameters ``theta`` ``(B, P)`` regressed from ``x`` ``(B, C, H, W)``."""
        x = check_tensor(x, "x", ndim=(2, 3, 4), layout="(B, C, H, W)", like=("", self))
        per_sample = math.prod(x.shape[1:])  # also for an empty batch
        if per_sample != self.in_features:
            raise ValueError(
                f"x has {per_sample} elements per sample (shape {tuple(x.shape)}) but "
                f"in_features is {self.in_features}"
            )
        return self.regression(self.features(x))  # (b, p)


# ---------------------------------------------------------------------------------------------
# the spatial transformer


class SpatialTransformerOutput(NamedTuple):
    """Result of a spatial transformer.

    Attributes:
        context: ``(B, C, H_out, W_out)`` the warped map ``V`` (eq. (5)).
        weights: ``(B, P)`` the transformation parameters ``theta`` regressed by the
            localisation network: the attention of a spatial transformer is *where* to look,
            so its weights are ``theta`` (the same tensor as ``theta``).
        theta: ``(B, P)`` the transformation parameters (same tensor as ``weights``).
        grid: ``(B, H_out, W_out, 2)`` the sampling grid ``T_theta(G)``, normalised ``(x, y)``.
    """

    context: Tensor
    weights: Tensor
    theta: Tensor
    grid: Tensor


def _stn_example() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    localisation = MLPLocalisation(16 * 16, 6, hidden_dims=(8,))
    return SpatialTransformer(localisation, grid="affine"), (torch.randn(2, 1, 16, 16),), {}


@register_mechanism(
    "spatial_transformer",
    sequences="self",
    levels="single",
    positions="soft",
    representations="single",
    paper=SPATIAL_TRANSFORMER_PAPER,
    example=_stn_example,
)
class SpatialTransformer(AttnModule):
    """Spatial transformer: localisation net -> grid generator -> bilinear sampler (section 3).

    Jaderberg et al., "Spatial Transformer Networks", https://arxiv.org/abs/1506.02025:
    ``theta = f_loc(U)`` (section 3.1), ``(x^s, y^s) = T_theta(x^t, y^t)`` (eq. (1) and
    section 3.2), ``V = sample(U, T_theta(G))`` with the bilinear kernel (eq. (5)).

    Args:
        localisation: ``f_loc``, any module mapping ``(B, C, H, W)`` to ``(B, P)`` with ``P``
            the grid's ``num_params`` (e.g. :class:`ConvLocalisation`, :class:`MLPLocalisation`).
        grid: ``T_theta``: ``"affine"`` (6), ``"translation"`` (2), ``"attention"`` (3, scale +
            translation), ``"similarity"`` (4, rotation-scale-translation), ``"projective"``
            (8) or ``"tps"`` (32, 16 control points), or a
            :class:`~attnlab.vision.grids.GridGenerator` instance (e.g. a
            ``ThinPlateSplineGrid((5, 5))``).
        output_size: ``(H_out, W_out)`` of ``V``; the input's size when ``None``.
        align_corners: normalised-coordinate convention of grid and sampler (see
            :mod:`attnlab.vision.grids`); the identity warp is exact under both.
        padding_mode: ``"zeros"`` (eq. (5)), ``"border"`` or ``"reflection"``.
        init_identity: initialise the localisation's regression layer
            (:func:`find_regression_layer`) to the identity transformation: zero weights and the
            identity parameters as bias (appendix A.4).
        lr_multiplier: learning-rate factor for the localisation network's parameters, applied
            by :meth:`param_groups` / :func:`spatial_transformer_param_groups` (1 keeps the base
            rate; the paper's SVHN models used 0.1, appendix A.5).
        device: device of the grid generator's buffers (TPS control points).
        dtype: dtype of the grid generator's buffers.

    Shape:
        - image: ``(B, C, H, W)``
        - context: ``(B, C, H_out, W_out)``
        - weights, theta: ``(B, P)``
        - grid: ``(B, H_out, W_out, 2)``

    Returns:
        :class:`SpatialTransformerOutput` ``(context, weights, theta, grid)``; ``weights`` is
        ``theta``.

    Note:
        The survey tags: self (the image attends over itself), single level, soft (the bilinear
        kernel is a differentiable distribution over input pixels), single representation.

    Example:
        >>> import torch
        >>> stn = SpatialTransformer(ConvLocalisation(1, 6, input_size=(42, 42)), grid="affine")
        >>> x = torch.randn(2, 1, 42, 42)
        >>> out = stn(x)
        >>> out.theta[0].tolist()
        [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        >>> torch.allclose(out.context, x, atol=1e-5)
        True
    """

    def __init__(
        self,
        localisation: nn.Module,
        *,
        grid: str | GridGenerator = "affine",
        output_size: tuple[int, int] | None = None,
        align_corners: bool = False,
        padding_mode: str = "zeros",
        init_identity: bool = True,
        lr_multiplier: float = 1.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(localisation, nn.Module):
            raise TypeError(
                f"localisation must be an nn.Module, got {type(localisation).__name__}"
            )
        check_align_corners(align_corners)
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        check_positive(lr_multiplier, "lr_multiplier", allow_zero=True)
        self.localisation = localisation
        self.grid_generator = make_grid_generator(grid, device=device, dtype=dtype)
        self.output_size = None if output_size is None else check_hw(output_size, "output_size")
        self.align_corners = align_corners
        self.padding_mode = padding_mode
        self.lr_multiplier = float(lr_multiplier)
        if init_identity:
            layer = find_regression_layer(localisation)
            identity = self.grid_generator.identity(
                device=layer.weight.device, dtype=layer.weight.dtype
            )
            init_identity_(layer, identity)

    @property
    def num_params(self) -> int:
        """``P``, the number of transformation parameters of the grid generator."""
        return self.grid_generator.num_params

    def forward(self, image: Tensor) -> SpatialTransformerOutput:
        """Localise, build the grid, sample ``image`` ``(B, C, H, W)`` (eqs. 1-5)."""
        image = check_feature_map(image, "image", module=self)
        theta = self.localisation(image)  # (b, p), section 3.1
        return self.warp(image, theta)

    def warp(self, image: Tensor, theta: Tensor) -> SpatialTransformerOutput:
        """Warp ``image`` with given parameters ``theta`` ``(B, P)``, bypassing the localisation.

        Example:
            >>> import torch
            >>> stn = SpatialTransformer(MLPLocalisation(12, 2), grid="translation")
            >>> x = torch.arange(12.0).reshape(1, 1, 3, 4)
            >>> stn.warp(x, torch.tensor([[0.5, 0.0]])).context  # one pixel to the left
            tensor([[[[ 1.,  2.,  3.,  0.],
                      [ 5.,  6.,  7.,  0.],
                      [ 9., 10., 11.,  0.]]]])
        """
        image = check_feature_map(image, "image")
        batch = image.shape[0]
        if not isinstance(theta, Tensor) or tuple(theta.shape) != (batch, self.num_params):
            got = tuple(theta.shape) if isinstance(theta, Tensor) else type(theta).__name__
            raise ValueError(
                f"theta (the localisation output) must have shape (B, num_params) = "
                f"({batch}, {self.num_params}) for grid {type(self.grid_generator).__name__}, "
                f"got {got}"
            )
        height, width = self.output_size or (image.shape[2], image.shape[3])
        grid = self.grid_generator(theta, (height, width), align_corners=self.align_corners)
        context = bilinear_sample(image, grid, self.align_corners, self.padding_mode)  # eq. (5)
        return SpatialTransformerOutput(context, theta, theta, grid)

    def param_groups(self, base_lr: float) -> list[dict[str, Any]]:
        """Optimizer parameter groups: localisation at ``base_lr * lr_multiplier``.

        Same as ``spatial_transformer_param_groups(self, base_lr)``.

        Example:
            >>> import torch
            >>> stn = SpatialTransformer(MLPLocalisation(4, 6), lr_multiplier=0.1)
            >>> [g["lr"] for g in stn.param_groups(0.01)]
            [0.001]
            >>> optimizer = torch.optim.SGD(stn.param_groups(0.01), lr=0.01)
        """
        return spatial_transformer_param_groups(self, base_lr)

    def extra_repr(self) -> str:
        return (
            f"num_params={self.num_params}, output_size={self.output_size}, "
            f"align_corners={self.align_corners}, padding_mode={self.padding_mode!r}, "
            f"lr_multiplier={self.lr_multiplier}"
        )


def spatial_transformer_param_groups(model: nn.Module, base_lr: float) -> list[dict[str, Any]]:
    """Optimizer parameter groups giving every spatial transformer's localisation its own rate.

    Parameters of the localisation network of each :class:`SpatialTransformer` inside ``model``
    get ``base_lr * lr_multiplier`` (the innermost transformer wins for nested ones); every
    other parameter gets ``base_lr``. One group per distinct rate, in order of first appearance;
    shared parameters appear once.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> stn = SpatialTransformer(MLPLocalisation(16, 6), lr_multiplier=0.1)
        >>> model = nn.Sequential(stn, nn.Flatten(), nn.Linear(16, 10))
        >>> [(g["lr"], len(g["params"])) for g in spatial_transformer_param_groups(model, 0.01)]
        [(0.001, 6), (0.01, 2)]
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    check_positive(base_lr, "base_lr")
    rates: dict[int, float] = {}
    for module in model.modules():
        if isinstance(module, SpatialTransformer):
            for p in module.localisation.parameters():
                rates[id(p)] = base_lr * module.lr_multiplier
    groups: dict[float, list[nn.Parameter]] = {}
    for p in model.parameters():
        groups.setdefault(rates.get(id(p), base_lr), []).append(p)
    return [{"params": params, "lr": lr} for lr, params in groups.items()]


# ---------------------------------------------------------------------------------------------
# several transformers


def _transformer_list(transformers: Iterable[nn.Module], name: str) -> nn.ModuleList:
    if isinstance(transformers, nn.Module) and not isinstance(transformers, nn.ModuleList):
        raise TypeError(f"{name} must be a sequence of SpatialTransformer modules")
    modules = list(transformers)
    if not modules:
        raise ValueError(f"{name} must hold at least one SpatialTransformer")
    for i, m in enumerate(modules):
        if not isinstance(m, SpatialTransformer):
            raise TypeError(f"{name}[{i}] must be a SpatialTransformer, got {type(m).__name__}")
    return nn.ModuleList(modules)


class ParallelSpatialTransformersOutput(NamedTuple):
    """Result of :class:`ParallelSpatialTransformers`.

    Attributes:
        context: ``(B, N * C, H_out, W_out)`` the ``N`` warped maps concatenated on channels
            (transformer ``n`` gives channels ``n * C`` to ``(n + 1) * C - 1``).
        weights: per transformer, its ``theta`` ``(B, P_n)``.
        outputs: per transformer, its full :class:`SpatialTransformerOutput`.
    """

    context: Tensor
    weights: tuple[Tensor, ...]
    outputs: tuple[SpatialTransformerOutput, ...]


class ParallelSpatialTransformers(AttnModule):
    """Several spatial transformers applied to the same input, outputs concatenated on channels.

    The MNIST-addition experiment of the paper (appendix A.1) uses two transformers in parallel
    on a 2-channel input; each sees both channels and warps both, giving 4 output channels that
    the classifier reads. Each transformer has its own localisation network and grid type; all
    must produce the same output size.

    Args:
        transformers: the ``N`` :class:`SpatialTransformer` modules.

    Shape:
        - image: ``(B, C, H, W)``
        - context: ``(B, N * C, H_out, W_out)``

    Returns:
        :class:`ParallelSpatialTransformersOutput` ``(context, weights, outputs)``.

    Example:
        >>> import torch
        >>> stns = [SpatialTransformer(MLPLocalisation(2 * 42 * 42, 32), grid="tps")
        ...         for _ in range(2)]
        >>> out = ParallelSpatialTransformers(stns)(torch.randn(3, 2, 42, 42))
        >>> tuple(out.context.shape), [tuple(w.shape) for w in out.weights]
        ((3, 4, 42, 42), [(3, 32), (3, 32)])
    """

    def __init__(self, transformers: Iterable[SpatialTransformer]) -> None:
        super().__init__()
        self.transformers = _transformer_list(transformers, "transformers")

    def forward(self, image: Tensor) -> ParallelSpatialTransformersOutput:
        """Every transformer on ``image`` ``(B, C, H, W)``, outputs concatenated on channels."""
        image = check_feature_map(image, "image", module=self)
        outputs = tuple(t(image) for t in self.transformers)
        sizes = {tuple(o.context.shape[2:]) for o in outputs}
        if len(sizes) != 1:
            raise ValueError(
                f"parallel transformers must share one output size to be concatenated, got "
                f"{[tuple(o.context.shape[2:]) for o in outputs]}; set output_size"
            )
        context = torch.cat([o.context for o in outputs], dim=1)  # (b, n * c, h, w)
        return ParallelSpatialTransformersOutput(context, tuple(o.theta for o in outputs), outputs)


class SequentialSpatialTransformersOutput(NamedTuple):
    """Result of :class:`SequentialSpatialTransformers`.

    Attributes:
        context: ``(B, C, H_out, W_out)`` the output of the last transformer.
        weights: per transformer, its ``theta`` ``(B, P_n)``, in order of application.
        outputs: per transformer, its full :class:`SpatialTransformerOutput`.
    """

    context: Tensor
    weights: tuple[Tensor, ...]
    outputs: tuple[SpatialTransformerOutput, ...]


class SequentialSpatialTransformers(AttnModule):
    """Spatial transformers in series, each localising on and warping the previous output.

    Transformer ``n + 1`` receives the warped map of transformer ``n``. The paper places
    transformers in series (and at several depths of a network, section 4.2). Each stage
    resamples the previous stage's output, so interpolation blur accumulates; a single
    transformer with a richer grid samples once.

    Args:
        transformers: the :class:`SpatialTransformer` modules, in order of application.

    Shape:
        - image: ``(B, C, H, W)``
        - context: ``(B, C, H_out, W_out)`` (the last transformer's output size)

    Returns:
        :class:`SequentialSpatialTransformersOutput` ``(context, weights, outputs)``.

    Example:
        >>> import torch
        >>> first = SpatialTransformer(MLPLocalisation(28 * 28, 6), output_size=(20, 20))
        >>> second = SpatialTransformer(MLPLocalisation(20 * 20, 32), grid="tps")
        >>> out = SequentialSpatialTransformers([first, second])(torch.randn(2, 1, 28, 28))
        >>> tuple(out.context.shape), [tuple(w.shape) for w in out.weights]
        ((2, 1, 20, 20), [(2, 6), (2, 32)])
    """

    def __init__(self, transformers: Iterable[SpatialTransformer]) -> None:
        super().__init__()
        self.transformers = _transformer_list(transformers, "transformers")

    def forward(self, image: Tensor) -> SequentialSpatialTransformersOutput:
        """The transformers applied one after another to ``image`` ``(B, C, H, W)``."""
        x = check_feature_map(image, "image", module=self)
        outputs: list[SpatialTransformerOutput] = []
        for transformer in self.transformers:
            out = transformer(x)
            outputs.append(out)
            x = out.context
        return SequentialSpatialTransformersOutput(
            x, tuple(o.theta for o in outputs), tuple(outputs)
        )
