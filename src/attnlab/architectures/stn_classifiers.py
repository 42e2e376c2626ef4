"""Classifiers of the spatial transformer paper: FCN, CNN and their spatial-transformer versions.

Jaderberg, Simonyan, Zisserman, Kavukcuoglu, "Spatial Transformer Networks", NeurIPS 2015,
https://arxiv.org/abs/1506.02025, section 4.1 and appendix A.4: the models of Table 1 (distorted
MNIST), also used for cluttered MNIST, MNIST addition and the ``st_cnn`` benchmark. Every network
has three weight layers in its classification part, and all networks compared on one task have
approximately the same number of parameters:

* **FCN**: ``Flatten -> FC(h) -> ReLU -> FC(h) -> ReLU -> FC(K)`` (two hidden layers);
* **CNN**: ``Conv9x9(c1) -> MaxPool2 -> ReLU -> Conv7x7(c2) -> MaxPool2 -> ReLU -> FC(K)``
  (valid convolutions, the paper's two max-pooling layers);
* **ST-FCN / ST-CNN**: a :class:`~attnlab.vision.spatial_transformer.SpatialTransformer` on the
  input (affine, projective or 16-point thin-plate-spline grid, bilinear sampling, initialised
  to the identity) in front of the FCN / CNN. ST-CNN localises with
  :class:`~attnlab.vision.spatial_transformer.ConvLocalisation` (input downsampled 2x, two 5x5
  convolutions of 20 filters with 2x2 max pooling, FC 20, regression), ST-FCN with
  :class:`~attnlab.vision.spatial_transformer.MLPLocalisation` (three fully connected layers).

Models are named ``fcn``, ``cnn``, ``st_fcn_aff``, ``st_fcn_proj``, ``st_fcn_tps``,
``st_cnn_aff``, ``st_cnn_proj`` and ``st_cnn_tps`` (:data:`MODEL_NAMES`, the rows of Table 1).
:func:`build_model` builds any of them for a given input (channels, size), number of classes
and number of parallel transformers (the MNIST-addition task uses two), sizing the
classification network so that the *whole* model, localisation network included, has about
``param_budget`` parameters (:func:`classifier_widths`).

Note:
    The paper does not give its unit counts (nor its parameter count). Here the widths follow
    from a parameter budget: the FCN's two hidden layers have equal width and the CNN's second
    convolution has twice the filters of the first (``channel_ratio``); the widths solve the
    parameter-count equation for the budget left after the localisation network. The ST-FCN's
    localisation network reads the input after the same 2x average-pool downsampling as the
    ST-CNN's (the paper gives neither its width nor its input resolution); with the default
    ``(32, 32)`` hidden units it would otherwise hold most of the budget on 42 x 42 inputs.
    When two 5x5 convolutions with 2x2 pooling do not fit the downsampled input (28 x 28
    digits), :func:`conv_localisation` does not downsample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor, nn

from attnlab.core.checks import check_size
from attnlab.core.init_args import AttnModule
from attnlab.vision.spatial_transformer import (
    ConvLocalisation,
    MLPLocalisation,
    ParallelSpatialTransformers,
    SpatialTransformer,
)

__all__ = [
    "CLASSIFIERS",
    "CNN",
    "DEFAULT_PARAM_BUDGET",
    "FCN",
    "MODEL_NAMES",
    "TRANSFORMS",
    "ModelName",
    "SpatialTransformerClassifier",
    "SpatialTransformerClassifierOutput",
    "build_model",
    "classifier_widths",
    "cnn_feature_size",
    "conv_localisation",
    "count_parameters",
    "mlp_localisation",
    "parse_model_name",
]

CLASSIFIERS: tuple[str, ...] = ("fcn", "cnn")
"""The classification networks of Table 1."""

TRANSFORMS: dict[str, str] = {"aff": "affine", "proj": "projective", "tps": "tps"}
"""Transformer suffix of a model name -> grid of :class:`SpatialTransformer` (section 4.1)."""

MODEL_NAMES: tuple[str, ...] = (
    "fcn",
    "cnn",
    *(f"st_{c}_{t}" for c in CLASSIFIERS for t in TRANSFORMS),
)
"""Every model of Table 1: ``fcn``, ``cnn``, ``st_{fcn,cnn}_{aff,proj,tps}``."""

DEFAULT_PARAM_BUDGET = 100_000
"""Parameters per model when none is given (the paper's count is not stated)."""


class ModelName(NamedTuple):
    """A parsed model name: the classification network and the transformer (``None``: none)."""

    classifier: Literal["fcn", "cnn"]
    transform: str | None


def parse_model_name(name: str) -> ModelName:
    """Split a Table 1 model name into classifier and transformer suffix.

    Example:
        >>> parse_model_name("st_cnn_tps")
        ModelName(classifier='cnn', transform='tps')
        >>> parse_model_name("fcn")
        ModelName(classifier='fcn', transform=None)
    """
    if name in CLASSIFIERS:
        return ModelName(name, None)  # type: ignore[arg-type]
    parts = name.split("_") if isinstance(name, str) else []
    if len(parts) == 3 and parts[0] == "st" and parts[1] in CLASSIFIERS and parts[2] in TRANSFORMS:
        return ModelName(parts[1], parts[2])  # type: ignore[arg-type]
    raise ValueError(f"name must be one of {MODEL_NAMES}, got {name!r}")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (shared ones once).

    Example:
        >>> count_parameters(nn.Linear(3, 2))
        8
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _check_hw(value: object, name: str) -> tuple[int, int]:
    if (
        not isinstance(value, Sequence)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        or min(value) < 1
    ):
        raise ValueError(f"{name} must be a pair of positive ints (H, W), got {value!r}")
    return int(value[0]), int(value[1])


def _check_classifier(
    in_channels: int, input_size: tuple[int, int], num_classes: int, **pairs: Sequence[int]
) -> tuple[int, int]:
    """Check the arguments of :class:`FCN` or :class:`CNN` (``pairs``: two sizes each);
    returns ``input_size``."""
    check_size(in_channels, "in_channels")
    check_size(num_classes, "num_classes")
    size = _check_hw(input_size, "input_size")
    for name, values in pairs.items():
        if len(values) != 2:
            raise ValueError(f"{name} must hold two values, got {values!r}")
        for value in values:
            check_size(value, name)
    return size


# ---------------------------------------------------------------------------------------------
# classification networks


class FCN(AttnModule):
    """Fully connected classifier: two hidden ReLU layers and a linear classifier (section 4.1).

    Args:
        in_channels: ``C`` of the input image.
        input_size: ``(H, W)`` of the input image.
        num_classes: ``K``.
        hidden_dims: widths of the two hidden layers.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - x: ``(B, C, H, W)``
        - output: ``(B, K)`` logits

    Example:
        >>> net = FCN(1, (28, 28), 10, hidden_dims=(16, 16))
        >>> net(torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        in_channels: int,
        input_size: tuple[int, int],
        num_classes: int,
        *,
        hidden_dims: tuple[int, int] = (128, 128),
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        height, width = _check_classifier(
            in_channels, input_size, num_classes, hidden_dims=hidden_dims
        )
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.in_channels, self.input_size = in_channels, (height, width)
        h1, h2 = hidden_dims
        self.layers = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_channels * height * width, h1, **factory),
            nn.ReLU(),
            nn.Linear(h1, h2, **factory),
            nn.ReLU(),
            nn.Linear(h2, num_classes, **factory),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)  # (b, k)


def cnn_feature_size(
    input_size: tuple[int, int], kernel_sizes: tuple[int, int] = (9, 7)
) -> tuple[int, int]:
    """Spatial size after the CNN's two valid convolutions, each followed by 2x2 max pooling.

    Example:
        >>> cnn_feature_size((42, 42)), cnn_feature_size((28, 28)), cnn_feature_size((60, 60))
        ((5, 5), (2, 2), (10, 10))
    """
    height, width = _check_hw(input_size, "input_size")
    for k in kernel_sizes:
        height, width = (height - k + 1) // 2, (width - k + 1) // 2
    return height, width


class CNN(AttnModule):
    """Convolutional classifier with two max-pooling layers (section 4.1, appendix A.4).

    ``Conv9x9(c1) -> MaxPool2 -> ReLU -> Conv7x7(c2) -> MaxPool2 -> ReLU -> FC(K)``; valid
    convolutions with stride 1, three weight layers.

    Args:
        in_channels: ``C`` of the input image.
        input_size: ``(H, W)`` of the input image.
        num_classes: ``K``.
        channels: ``(c1, c2)`` filters of the two convolutions.
        kernel_sizes: sizes of the two convolutions (9 and 7 in the paper).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - x: ``(B, C, H, W)``
        - output: ``(B, K)`` logits

    Example:
        >>> net = CNN(1, (42, 42), 10, channels=(8, 16))
        >>> net(torch.rand(2, 1, 42, 42)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        in_channels: int,
        input_size: tuple[int, int],
        num_classes: int,
        *,
        channels: tuple[int, int] = (32, 64),
        kernel_sizes: tuple[int, int] = (9, 7),
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        _check_classifier(
            in_channels, input_size, num_classes, channels=channels, kernel_sizes=kernel_sizes
        )
        height, width = cnn_feature_size(input_size, kernel_sizes)
        if height < 1 or width < 1:
            raise ValueError(
                f"input_size={tuple(input_size)} is too small for {kernel_sizes[0]}x"
                f"{kernel_sizes[0]} and {kernel_sizes[1]}x{kernel_sizes[1]} valid convolutions "
                "each followed by 2x2 max pooling"
            )
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.in_channels, self.input_size = in_channels, tuple(input_size)
        c1, c2 = channels
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, c1, kernel_sizes[0], **factory),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Conv2d(c1, c2, kernel_sizes[1], **factory),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(c2 * height * width, num_classes, **factory),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)  # (b, k)


# ---------------------------------------------------------------------------------------------
# localisation networks


def _conv_localisation_fits(input_size: tuple[int, int], downsample: int) -> bool:
    height, width = input_size[0] // downsample, input_size[1] // downsample
    for _ in range(2):  # two 5x5 valid convolutions, each followed by 2x2 max pooling
        height, width = (height - 4) // 2, (width - 4) // 2
    return height >= 1 and width >= 1


def conv_localisation(
    in_channels: int,
    input_size: tuple[int, int],
    num_params: int,
    *,
    downsample: int = 2,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> ConvLocalisation:
    """The ST-CNN localisation network of appendix A.4, downsampling only when it fits.

    ``AvgPool(downsample) -> [Conv5x5(20) -> MaxPool2 -> ReLU] x 2 -> FC(20) -> ReLU -> FC(P)``;
    when the downsampled input is too small for the two convolutions (28 x 28 digits), the
    input is not downsampled.

    Example:
        >>> conv_localisation(1, (42, 42), 6).features[0]
        AvgPool2d(kernel_size=2, stride=2, padding=0)
        >>> conv_localisation(1, (28, 28), 6)(torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 6])
    """
    size = _check_hw(input_size, "input_size")
    check_size(downsample, "downsample")
    if downsample > 1 and not _conv_localisation_fits(size, downsample):
        downsample = 1
    return ConvLocalisation(
        in_channels, num_params, input_size=size, downsample=downsample, device=device, dtype=dtype
    )


def mlp_localisation(
    in_channels: int,
    input_size: tuple[int, int],
    num_params: int,
    *,
    hidden_dims: Sequence[int] = (32, 32),
    downsample: int = 2,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> nn.Module:
    """The ST-FCN localisation network: optional 2x average pooling, then an MLP (3 layers).

    Returns ``nn.Sequential(AvgPool2d(downsample), MLPLocalisation(...))`` (the pooling left
    out when ``downsample`` is 1); the last ``nn.Linear`` is the regression layer that
    :class:`SpatialTransformer` initialises to the identity.

    Example:
        >>> net = mlp_localisation(1, (42, 42), 6)
        >>> net(torch.rand(2, 1, 42, 42)).shape
        torch.Size([2, 6])
    """
    height, width = _check_hw(input_size, "input_size")
    check_size(downsample, "downsample")
    height, width = height // downsample, width // downsample
    if height < 1 or width < 1:
        raise ValueError(f"downsample={downsample} leaves nothing of input_size={input_size}")
    mlp = MLPLocalisation(
        in_channels * height * width,
        num_params,
        hidden_dims=hidden_dims,
        device=device,
        dtype=dtype,
    )
    if downsample == 1:
        return mlp
    return nn.Sequential(nn.AvgPool2d(downsample), mlp)


# ---------------------------------------------------------------------------------------------
# spatial transformer in front of a classifier


class SpatialTransformerClassifierOutput(NamedTuple):
    """Output of :class:`SpatialTransformerClassifier`.

    Attributes:
        logits: ``(B, K)`` class scores (the first field, as the training loop expects).
        transformed: ``(B, N * C, H_out, W_out)`` the transformers' outputs ``V`` before any
            classifier pooling (transformer ``n`` gives channels ``n * C`` to ``(n + 1) * C - 1``).
        thetas: per transformer, its parameters ``theta`` ``(B, P)``.
        grids: per transformer, its sampling grid ``(B, H_out, W_out, 2)`` in normalised
            ``(x, y)`` input coordinates (``align_corners=False``).
    """

    logits: Tensor
    transformed: Tensor
    thetas: tuple[Tensor, ...]
    grids: tuple[Tensor, ...]


class SpatialTransformerClassifier(AttnModule):
    """Spatial transformer(s) on the input, then a classification network (section 4.1).

    Args:
        transformer: a :class:`SpatialTransformer`, or :class:`ParallelSpatialTransformers`
            whose outputs are concatenated on channels.
        classifier: maps the (pooled) transformed image to logits.
        classifier_pool: average-pooling factor between transformer and classifier (the paper
            downsamples 2x there for RTS and TC, appendix A.4); 1 = none.

    Shape:
        - image: ``(B, C, H, W)``
        - logits: ``(B, K)``

    Returns:
        :class:`SpatialTransformerClassifierOutput` ``(logits, transformed, thetas, grids)``.

    Example:
        >>> model = build_model("st_cnn_aff", input_size=(42, 42), param_budget=30_000)
        >>> out = model(torch.rand(2, 1, 42, 42))
        >>> tuple(out.logits.shape), tuple(out.grids[0].shape)
        ((2, 10), (2, 42, 42, 2))
    """

    def __init__(
        self,
        transformer: SpatialTransformer | ParallelSpatialTransformers,
        classifier: nn.Module,
        *,
        classifier_pool: int = 1,
    ) -> None:
        super().__init__()
        if not isinstance(transformer, (SpatialTransformer, ParallelSpatialTransformers)):
            raise TypeError(
                "transformer must be a SpatialTransformer or ParallelSpatialTransformers, got "
                f"{type(transformer).__name__}"
            )
        check_size(classifier_pool, "classifier_pool")
        self.transformer = transformer
        self.pool: nn.Module = (
            nn.AvgPool2d(classifier_pool) if classifier_pool > 1 else nn.Identity()
        )
        self.classifier = classifier

    def forward(self, image: Tensor) -> SpatialTransformerClassifierOutput:
        """Classify the transformed ``image`` ``(B, C, H, W)``; logits, thetas and grids."""
        out = self.transformer(image)
        if isinstance(out, tuple) and hasattr(out, "outputs"):  # parallel transformers
            thetas = tuple(o.theta for o in out.outputs)
            grids = tuple(o.grid for o in out.outputs)
        else:
            thetas, grids = (out.theta,), (out.grid,)
        logits = self.classifier(self.pool(out.context))
        return SpatialTransformerClassifierOutput(logits, out.context, thetas, grids)


# ---------------------------------------------------------------------------------------------
# sizing and building


def _fcn_params(in_features: int, hidden: int, num_classes: int) -> int:
    return in_features * hidden + hidden + hidden * hidden + hidden + hidden * num_classes + (
        num_classes
    )


def _cnn_params(
    in_channels: int, c1: int, c2: int, cells: int, num_classes: int, kernels: tuple[int, int]
) -> int:
    k1, k2 = kernels
    return (
        (k1 * k1 * in_channels + 1) * c1
        + (k2 * k2 * c1 + 1) * c2
        + (cells * c2 + 1) * num_classes
    )


def classifier_widths(
    classifier: str,
    *,
    in_channels: int,
    input_size: tuple[int, int],
    num_classes: int,
    budget: int,
    channel_ratio: float = 2.0,
    kernel_sizes: tuple[int, int] = (9, 7),
) -> tuple[int, int]:
    """Widths of a classification network with about ``budget`` parameters.

    FCN: two hidden layers of equal width ``h``, ``P = (D + 1) h + (h + 1) h + (h + 1) K`` with
    ``D = C H W``, solved for ``h``. CNN: ``c2 ~ channel_ratio * c1``; the quadratic in ``c1`` is
    solved, ``c1`` rounded, then ``c2`` solved exactly from the (linear) count given ``c1``.

    Returns:
        ``(h, h)`` for ``"fcn"``, ``(c1, c2)`` for ``"cnn"``.

    Raises:
        ValueError: ``budget`` cannot hold even a one-unit network.

    Example:
        >>> classifier_widths("fcn", in_channels=1, input_size=(28, 28), num_classes=10,
        ...                   budget=100_000)
        (110, 110)
        >>> classifier_widths("cnn", in_channels=1, input_size=(42, 42), num_classes=10,
        ...                   budget=100_000)
        (29, 58)
    """
    if classifier not in CLASSIFIERS:
        raise ValueError(f"classifier must be one of {CLASSIFIERS}, got {classifier!r}")
    check_size(in_channels, "in_channels")
    check_size(num_classes, "num_classes")
    height, width = _check_hw(input_size, "input_size")
    if isinstance(budget, bool) or not isinstance(budget, int):
        raise TypeError(f"budget must be an int, got {type(budget).__name__}")
    k = num_classes
    if classifier == "fcn":
        d = in_channels * height * width
        # h^2 + (D + 2 + K) h + K = budget
        b = d + 2 + k
        disc = b * b + 4 * (budget - k)
        hidden = round((-b + math.sqrt(max(disc, 0.0))) / 2) if disc > 0 else 0
        if hidden < 1:
            raise ValueError(
                f"budget={budget} cannot hold an FCN on {in_channels}x{height}x{width} inputs "
                f"(one hidden unit needs {_fcn_params(d, 1, k)} parameters)"
            )
        return hidden, hidden
    if not channel_ratio > 0:
        raise ValueError(f"channel_ratio must be > 0, got {channel_ratio}")
    fh, fw = cnn_feature_size((height, width), kernel_sizes)
    if fh < 1 or fw < 1:
        raise ValueError(f"input_size={input_size} is too small for the CNN")
    cells = fh * fw
    k1, k2 = kernel_sizes
    r = channel_ratio
    # P(c1, r c1) = k2^2 r c1^2 + (k1^2 C + 1 + r + cells r K) c1 + K
    quad = k2 * k2 * r
    lin = k1 * k1 * in_channels + 1 + r + cells * r * k
    root = math.sqrt(max(lin * lin + 4 * quad * (budget - k), 0.0))
    c1 = max(1, round((root - lin) / (2 * quad)))
    rest = budget - (k1 * k1 * in_channels + 1) * c1 - k
    c2 = round(rest / (k2 * k2 * c1 + 1 + cells * k))
    if c2 < 1:
        raise ValueError(
            f"budget={budget} cannot hold a CNN on {in_channels}x{height}x{width} inputs "
            f"(one filter per layer needs {_cnn_params(in_channels, 1, 1, cells, k, (k1, k2))} "
            "parameters)"
        )
    return c1, c2


def _make_transformer(
    classifier: str,
    transform: str,
    in_channels: int,
    size: tuple[int, int],
    out_size: tuple[int, int],
    *,
    num_transformers: int,
    downsample: int,
    mlp_hidden_dims: Sequence[int],
    lr_multiplier: float,
    factory: dict[str, Any],
) -> SpatialTransformer | ParallelSpatialTransformers:
    """``num_transformers`` identity-initialised ``transform`` transformers, each with the
    localisation network of ``classifier``'s model (in parallel if more than one)."""
    num_params = _num_params(transform)
    stns = []
    for _ in range(num_transformers):
        localisation = (
            conv_localisation(in_channels, size, num_params, downsample=downsample, **factory)
            if classifier == "cnn"
            else mlp_localisation(
                in_channels, size, num_params, hidden_dims=mlp_hidden_dims,
                downsample=downsample, **factory,
            )
        )
        stns.append(SpatialTransformer(
            localisation, grid=TRANSFORMS[transform], output_size=out_size,
            lr_multiplier=lr_multiplier, **factory,
        ))
    return stns[0] if num_transformers == 1 else ParallelSpatialTransformers(stns)


def build_model(
    name: str,
    *,
    in_channels: int = 1,
    input_size: tuple[int, int] = (28, 28),
    num_classes: int = 10,
    num_transformers: int = 1,
    param_budget: int = DEFAULT_PARAM_BUDGET,
    channel_ratio: float = 2.0,
    kernel_sizes: tuple[int, int] = (9, 7),
    localisation_downsample: int = 2,
    mlp_localisation_dims: Sequence[int] = (32, 32),
    lr_multiplier: float = 1.0,
    classifier_pool: int = 1,
    output_size: tuple[int, int] | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> nn.Module:
    """Build a Table 1 model sized to about ``param_budget`` parameters in all.

    The localisation networks are built first; the classification network gets the rest of the
    budget (:func:`classifier_widths`). Plain ``fcn``/``cnn`` models return logits; ``st_*``
    models are :class:`SpatialTransformerClassifier` (the transformer(s) identity-initialised).

    Args:
        name: one of :data:`MODEL_NAMES`.
        in_channels: ``C`` of the input (2 for the addition task).
        input_size: ``(H, W)`` of the input (28 for R/P/E, 42 for RTS, 60 for TC).
        num_classes: ``K`` (19 for the addition task).
        num_transformers: ``N`` parallel transformers (each sees all ``C`` channels and warps
            them; the classifier reads ``N * C`` channels). Must be 1 for ``fcn``/``cnn``.
        param_budget: parameters of the whole model.
        channel_ratio: ``c2 / c1`` of the CNN.
        kernel_sizes: the CNN's two convolution sizes.
        localisation_downsample: average-pool factor at the localisation network's input.
        mlp_localisation_dims: hidden widths of the ST-FCN's localisation MLP.
        lr_multiplier: learning-rate factor of the localisation networks (see
            :func:`~attnlab.vision.spatial_transformer.spatial_transformer_param_groups`).
        classifier_pool: average pooling between transformer and classifier (ST models only).
        output_size: transformer output ``(H, W)``; default the input size.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Returns:
        The model.

    Raises:
        ValueError: unknown name, a budget too small for the localisation networks, or sizes
            that do not fit.

    Example:
        >>> cnn = build_model("cnn", input_size=(42, 42))
        >>> st = build_model("st_cnn_aff", input_size=(42, 42))
        >>> abs(count_parameters(st) - count_parameters(cnn)) < 0.05 * count_parameters(cnn)
        True
    """
    spec = parse_model_name(name)
    check_size(in_channels, "in_channels")
    check_size(num_classes, "num_classes")
    check_size(num_transformers, "num_transformers")
    check_size(param_budget, "param_budget")
    size = _check_hw(input_size, "input_size")
    factory: dict[str, Any] = {"device": device, "dtype": dtype}
    transformer: SpatialTransformer | ParallelSpatialTransformers | None = None
    classifier_in, classifier_size = in_channels, size
    if spec.transform is None:
        if num_transformers != 1:
            raise ValueError(f"num_transformers must be 1 for {name!r} (no transformer)")
    else:
        out_size = size if output_size is None else _check_hw(output_size, "output_size")
        transformer = _make_transformer(
            spec.classifier, spec.transform, in_channels, size, out_size,
            num_transformers=num_transformers, downsample=localisation_downsample,
            mlp_hidden_dims=mlp_localisation_dims, lr_multiplier=lr_multiplier, factory=factory,
        )
        check_size(classifier_pool, "classifier_pool")
        classifier_in = in_channels * num_transformers
        classifier_size = (out_size[0] // classifier_pool, out_size[1] // classifier_pool)
    budget = param_budget - (0 if transformer is None else count_parameters(transformer))
    if budget <= 0:
        raise ValueError(
            f"param_budget={param_budget} does not cover the localisation networks of {name!r} "
            f"({param_budget - budget} parameters)"
        )
    widths = classifier_widths(
        spec.classifier, in_channels=classifier_in, input_size=classifier_size,
        num_classes=num_classes, budget=budget, channel_ratio=channel_ratio,
        kernel_sizes=kernel_sizes,
    )
    classifier: nn.Module = (
        FCN(classifier_in, classifier_size, num_classes, hidden_dims=widths, **factory)
        if spec.classifier == "fcn"
        else CNN(classifier_in, classifier_size, num_classes, channels=widths,
                 kernel_sizes=kernel_sizes, **factory)
    )
    if transformer is None:
        return classifier
    return SpatialTransformerClassifier(transformer, classifier, classifier_pool=classifier_pool)


def _num_params(transform: str) -> int:
    return {"aff": 6, "proj": 8, "tps": 32}[transform]
