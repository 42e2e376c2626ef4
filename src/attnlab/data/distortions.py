"""Distorted MNIST of the spatial transformer paper: R, RTS, P, E, T, TC and the addition task.

Jaderberg, Simonyan, Zisserman, Kavukcuoglu, "Spatial Transformer Networks", NeurIPS 2015,
https://arxiv.org/abs/1506.02025, section 4.1 and appendix A. Each variant warps MNIST digits
with a random transformation drawn per sample:

Variants (``kind``: distortion; output size):

* ``r``: rotation, angle uniform in [-90, 90] degrees, about the image centre; 28 x 28.
* ``rts``: rotation uniform in [-45, 45] degrees, scale uniform in [0.7, 1.2], placed at a
  uniformly random position where the whole digit fits in the canvas; 42 x 42.
* ``p``: projective; the four image corners move by independent normal offsets (standard
  deviation :data:`P_CORNER_SIGMA` pixels, clipped at 2 standard deviations); 28 x 28.
* ``e``: elastic; a thin-plate spline through 4 x 4 regular control points, each moved by
  normal offsets with standard deviation 1.5 pixels; 28 x 28.
* ``t``: translation; the digit pasted at a uniformly random integer position; 60 x 60.
* ``tc``: as ``t``, plus 6 clutter patches: 6 x 6 crops of other digits pasted at uniformly
  random positions (pixel-wise maximum); 60 x 60.
* ``addition``: two digits, each RTS-distorted independently in its own channel; the label is
  their sum (19 classes; appendix A.1); 2 x 42 x 42.

Note:
    We do not have the paper's standard deviation of the projective corner offsets (the
    elastic one, 1.5 pixels, is given). :data:`P_CORNER_SIGMA` = 3 pixels is our choice: a
    clear perspective distortion of a 28-pixel image that, clipped at 2 standard deviations,
    always keeps the warped frame convex. The clutter crops are centred at uniformly random
    points of the source digit's ink bounding box, so that they are rarely blank; the paper
    only says "random crops". Both are fields of :class:`DistortionSpec` and can be changed.

Determinism:
    Sample ``i`` depends only on ``(seed, kind, i)`` and the base images: its random
    parameters come from :mod:`attnlab.data._random`, and its sampling grid is evaluated with
    exactly rounded element-wise operations. A sample is therefore bit-identical whether it is
    rendered alone, in any batch, or in a larger dataset. The test split uses the fixed seed
    :data:`TEST_SEED` (see :func:`distorted_mnist`).

Warps use :func:`attnlab.vision.sampler.bilinear_sample` (the paper's bilinear sampler), the
thin-plate spline of :func:`attnlab.vision.grids.tps_grid` and the coordinate conventions of
:mod:`attnlab.vision.grids` (``align_corners=False``). Pixel coordinates below put the centre of
the top-left pixel at ``(0, 0)``, ``x`` to the right, ``y`` down; angles are counter-clockwise on
screen, in radians.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor
from torch.utils.data import Dataset

from attnlab.data._random import check_indices, check_seed, per_sample
from attnlab.data._warps import (
    crop,
    draw_elastic,
    draw_projective,
    draw_similarity,
    draw_translation,
    ink_boxes,
    paste,
    render_elastic,
    render_projective,
    render_similarity,
)
from attnlab.data.mnist import DigitSource, load_digits

__all__ = [
    "DISTORTIONS",
    "P_CORNER_SIGMA",
    "TEST_SEED",
    "TRAIN_SEED",
    "DistortedBatch",
    "DistortedMNIST",
    "DistortionSpec",
    "distort",
    "distorted_mnist",
    "get_distortion",
]

TRAIN_SEED = 0
"""Default seed of the training split."""

TEST_SEED = 150_602_025
"""Seed of the fixed test split (the paper's arXiv number, 1506.02025)."""

P_CORNER_SIGMA = 3.0
"""Standard deviation, in pixels, of the projective corner offsets (our choice; see the Note)."""

TRANSFORMS: tuple[str, ...] = ("similarity", "projective", "elastic", "translation")


@dataclass(frozen=True)
class DistortionSpec:
    """The random distortion of one variant; :data:`DISTORTIONS` holds the paper's variants.

    Args:
        name: the paper's name of the variant (``"RTS"``).
        transform: ``"similarity"`` (rotation, scale, placement), ``"projective"``,
            ``"elastic"`` (thin-plate spline) or ``"translation"`` (integer placement).
        canvas_size: output side in pixels; ``None`` keeps the base image size.
        max_angle: rotation angle uniform in ``[-max_angle, max_angle]`` degrees.
        scale_range: scale uniform in this interval.
        random_placement: place the digit at a uniformly random position where it fits;
            otherwise centre it.
        corner_sigma: projective corner offsets, pixels (normal, per coordinate).
        corner_clip: corner offsets are clipped to ``corner_clip * corner_sigma``.
        control_grid: ``(rows, cols)`` of the thin-plate-spline control points.
        control_sigma: elastic control-point offsets, pixels (normal, per coordinate).
        num_clutter: clutter patches of a translated digit.
        clutter_size: side of a clutter patch, pixels.
        num_digits: digits per sample, one per channel; with 2 the label is their sum.

    Example:
        >>> import dataclasses
        >>> strong_p = dataclasses.replace(DISTORTIONS["p"], corner_sigma=4.0)
        >>> strong_p.name, strong_p.corner_sigma
        ('P', 4.0)
    """

    name: str
    transform: str
    canvas_size: int | None = None
    max_angle: float = 0.0
    scale_range: tuple[float, float] = (1.0, 1.0)
    random_placement: bool = False
    corner_sigma: float = 0.0
    corner_clip: float = 2.0
    control_grid: tuple[int, int] = (4, 4)
    control_sigma: float = 0.0
    num_clutter: int = 0
    clutter_size: int = 6
    num_digits: int = 1

    def __post_init__(self) -> None:
        if self.transform not in TRANSFORMS:
            raise ValueError(f"transform must be one of {TRANSFORMS}, got {self.transform!r}")
        if self.canvas_size is not None and self.canvas_size < 1:
            raise ValueError(f"canvas_size must be positive or None, got {self.canvas_size}")
        low, high = self.scale_range
        if not 0 < low <= high:
            raise ValueError(f"scale_range must satisfy 0 < low <= high, got {self.scale_range}")
        for field in ("max_angle", "corner_sigma", "corner_clip", "control_sigma"):
            if getattr(self, field) < 0:
                raise ValueError(f"{field} must be >= 0, got {getattr(self, field)}")
        if self.num_clutter < 0 or self.clutter_size < 1:
            raise ValueError("num_clutter must be >= 0 and clutter_size >= 1")
        if self.num_digits < 1:
            raise ValueError(f"num_digits must be >= 1, got {self.num_digits}")
        if self.num_digits > 1 and self.transform != "similarity":
            raise ValueError("num_digits > 1 is implemented for the similarity transform only")

    @property
    def num_classes(self) -> int:
        """10 for one digit; ``9 * num_digits + 1`` for the sum of several (19 for two)."""
        return 9 * self.num_digits + 1


_RTS = DistortionSpec(
    "RTS", "similarity", canvas_size=42, max_angle=45.0, scale_range=(0.7, 1.2),
    random_placement=True,
)

DISTORTIONS: dict[str, DistortionSpec] = {
    "r": DistortionSpec("R", "similarity", max_angle=90.0),
    "rts": _RTS,
    "p": DistortionSpec("P", "projective", corner_sigma=P_CORNER_SIGMA),
    "e": DistortionSpec("E", "elastic", control_grid=(4, 4), control_sigma=1.5),
    "t": DistortionSpec("T", "translation", canvas_size=60),
    "tc": DistortionSpec("TC", "translation", canvas_size=60, num_clutter=6, clutter_size=6),
    # two digits, each distorted as RTS in its own channel (appendix A.1)
    "addition": dataclasses.replace(_RTS, name="addition", num_digits=2),
}
"""The paper's variants by kind (section 4.1, appendix A.1 and A.4)."""


def get_distortion(kind: str | DistortionSpec) -> DistortionSpec:
    """The :class:`DistortionSpec` of ``kind`` (case-insensitive), or ``kind`` itself.

    Example:
        >>> get_distortion("RTS").canvas_size
        42
    """
    if isinstance(kind, DistortionSpec):
        return kind
    if isinstance(kind, str) and kind.lower() in DISTORTIONS:
        return DISTORTIONS[kind.lower()]
    raise ValueError(f"kind must be a DistortionSpec or one of {tuple(DISTORTIONS)}, got {kind!r}")


class DistortedBatch(NamedTuple):
    """Distorted images, their labels, and the random parameters that produced them.

    Attributes:
        images: float ``(N, C, H, W)`` in ``[0, 1]``; ``C`` is the number of digits.
        labels: ``int64`` ``(N,)``: the digit, or the sum of the digits.
        params: per-sample parameters, first axis ``N`` (see :meth:`DistortedMNIST.batch`).
    """

    images: Tensor
    labels: Tensor
    params: dict[str, Tensor]


# ---------------------------------------------------------------------------------------------
# the dataset


def _check_base(images: object, labels: object) -> tuple[Tensor, Tensor]:
    if not isinstance(images, Tensor) or images.dim() not in (3, 4):
        raise ValueError(
            "base_images must be a tensor of shape (N, H, W) or (N, 1, H, W), got "
            f"{getattr(images, 'shape', type(images).__name__)}"
        )
    if images.dim() == 4:
        if images.shape[1] != 1:
            raise ValueError(f"base_images must have one channel, got shape {tuple(images.shape)}")
        images = images[:, 0]
    if images.device.type != "cpu":
        raise ValueError(
            f"base_images must be on the CPU (got {images.device}); generate on the CPU and move "
            "the batches to the device"
        )
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise TypeError(f"base_images must be uint8 (0-255) or floating (0-1), got {images.dtype}")
    if images.shape[0] == 0:
        raise ValueError("base_images must hold at least one image")
    if not isinstance(labels, Tensor) or labels.dim() != 1 or labels.is_floating_point():
        raise ValueError("base_labels must be an integer tensor of shape (N,)")
    if labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"base_images holds {images.shape[0]} images but base_labels holds {labels.shape[0]}"
        )
    return images, labels.long()


class DistortedMNIST(Dataset[tuple[Tensor, Tensor]]):
    """A distorted-MNIST variant of the spatial transformer paper, generated deterministically.

    Sample ``i`` warps base image ``i mod N`` (two random base images for the addition task)
    with random parameters that depend only on ``(seed, kind, i)``: the dataset is fixed by its
    seed, and items, batches and :meth:`tensors` agree bit for bit. Items are rendered when
    read (a batch at a time through :meth:`__getitems__`) unless ``precompute`` is set.

    For fresh distortions every epoch, build a new dataset with another seed (the random
    parameters are drawn in milliseconds). Keep the test split on :data:`TEST_SEED`.

    Attributes:
        spec: the :class:`DistortionSpec`.
        source: where the base digits came from: ``"mnist"`` or ``"synthetic"`` when built by
            :func:`distorted_mnist`, ``"given"`` otherwise.

    Args:
        base_images: ``(N, H, W)`` or ``(N, 1, H, W)``, ``uint8`` (0-255) or float (0-1);
            MNIST or :func:`~attnlab.data.synthetic.synthetic_digits`.
        base_labels: ``(N,)`` digit labels.
        kind: a key of :data:`DISTORTIONS` (``"r"``, ``"rts"``, ``"p"``, ``"e"``, ``"t"``,
            ``"tc"``, ``"addition"``) or a :class:`DistortionSpec`.
        seed: the random seed.
        size: number of samples (default ``N``); larger values reuse base images with new
            distortions.
        precompute: render every sample now and keep them (``size * C * H * W * 4`` bytes).

    Shape:
        - item: ``(image (C, H, W) float in [0, 1], label int64 ())``; ``C = 1`` except 2 for
          the addition task; ``H = W`` = 28 (R, P, E), 42 (RTS, addition), 60 (T, TC).

    Example:
        >>> import torch
        >>> base = torch.zeros(4, 28, 28, dtype=torch.uint8)
        >>> base[:, 10:18, 12:16] = 255
        >>> data = DistortedMNIST(base, torch.tensor([1, 2, 3, 4]), kind="rts", seed=0)
        >>> image, label = data[2]
        >>> image.shape, label.item(), data.num_classes
        (torch.Size([1, 42, 42]), 3, 10)
    """

    def __init__(
        self,
        base_images: Tensor,
        base_labels: Tensor,
        *,
        kind: str | DistortionSpec = "rts",
        seed: int = TRAIN_SEED,
        size: int | None = None,
        precompute: bool = False,
    ) -> None:
        self.base_images, self.base_labels = _check_base(base_images, base_labels)
        self.spec = get_distortion(kind)
        self.seed = check_seed(seed)
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise ValueError(f"size must be a non-negative int or None, got {size!r}")
        self.size = self.base_images.shape[0] if size is None else size
        height, width = self.base_images.shape[-2:]
        spec = self.spec
        if spec.transform == "translation":
            canvas = spec.canvas_size or max(height, width)
            if canvas < max(height, width):
                raise ValueError(
                    f"canvas_size {canvas} is smaller than the images ({height}x{width})"
                )
            if spec.num_clutter and (
                spec.clutter_size > min(height, width) or self.base_images.shape[0] < 2
            ):
                raise ValueError("clutter needs at least 2 base images larger than clutter_size")
        self._boxes = ink_boxes(self.base_images)
        draw = {
            "similarity": lambda: draw_similarity(spec),
            "projective": lambda: draw_projective(spec, height, width),
            "elastic": lambda: draw_elastic(spec, height, width),
            "translation": lambda: draw_translation(spec),
        }[spec.transform]()
        self._draw = draw
        self._stream = f"distorted_mnist/{spec.name}/{spec.transform}"
        self._params = per_sample(self.seed, self._stream, torch.arange(self.size), draw)
        self.source = "given"
        self._cache: tuple[Tensor, Tensor] | None = None
        if precompute:
            self._cache = self.tensors()

    @property
    def num_classes(self) -> int:
        """10, or 19 for the addition task."""
        return self.spec.num_classes

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of the items."""
        height, width = self.base_images.shape[-2:]
        side = self.spec.canvas_size
        if side is None:
            return (self.spec.num_digits, height, width)
        return (self.spec.num_digits, side, side)

    def __len__(self) -> int:
        return self.size

    def _float(self, images: Tensor) -> Tensor:
        if images.dtype == torch.uint8:
            return images.float() / 255.0
        return images.float()

    def batch(self, indices: Tensor | list[int] | range) -> DistortedBatch:
        """Render the samples ``indices`` and return them with their parameters.

        ``params`` by transform (pixel coordinates, ``(x, y)`` order, angles in radians):

        * similarity (R, RTS, addition): ``base_index``, ``angle``, ``scale`` ``(N,)`` (or
          ``(N, 2)`` for two digits), ``center`` ``(N, 2)`` (``(N, 2, 2)``): the output
          position of the input image's centre.
        * projective (P): ``base_index``; ``corners`` ``(N, 4, 2)``: where the image corners
          (top-left, top-right, bottom-right, bottom-left outer pixel corners) land;
          ``homography`` ``(N, 3, 3)``: output pixel -> input pixel.
        * elastic (E): ``base_index``; ``offsets`` ``(N, K, 2)`` control-point offsets in
          pixels; ``theta`` ``(N, K, 2)``: the :func:`~attnlab.vision.grids.tps_grid`
          parameters (normalised input positions of the regular control points).
        * translation (T, TC): ``base_index``; ``offset`` ``(N, 2)`` top-left corner of the
          digit; ``clutter_index`` ``(N, M)``, ``clutter_crop`` ``(N, M, 2)`` (top-left corner
          of the crop in its source image), ``clutter_position`` ``(N, M, 2)`` (top-left corner
          on the canvas).
        """
        index = check_indices(list(indices) if isinstance(indices, range) else indices)
        if index.numel() and int(index.max()) >= self.size:
            raise IndexError(f"index {int(index.max())} out of range for {self.size} samples")
        p = {name: value[index] for name, value in self._params.items()}
        num_base = self.base_images.shape[0]
        spec = self.spec
        if spec.num_digits > 1:
            base_index = (p["u_index"] * num_base).floor().long().clamp_max(num_base - 1)
        else:
            base_index = index % num_base
        labels = self.base_labels[base_index]
        if labels.dim() == 2:
            labels = labels.sum(-1)
        if spec.transform == "similarity":
            images, params = self._similarity(base_index, p)
        elif spec.transform == "projective":
            images = render_projective(self._float(self.base_images[base_index]), p["homography"])
            images = images.unsqueeze(1)
            params = {"corners": p["corners"], "homography": p["homography"]}
        elif spec.transform == "elastic":
            images = render_elastic(self._float(self.base_images[base_index]), p["theta"], spec)
            images = images.unsqueeze(1)
            params = {"offsets": p["offsets"], "theta": p["theta"]}
        else:
            images, params = self._translation(base_index, p)
        params["base_index"] = base_index
        return DistortedBatch(images.clamp_(0.0, 1.0), labels, params)

    def _similarity(
        self, base_index: Tensor, p: dict[str, Tensor]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        flat = base_index.reshape(-1)  # (n * digits,)
        per_digit = {
            name: value.reshape(flat.shape[0], *value.shape[2:]) for name, value in p.items()
        }
        images, centre = render_similarity(
            self._float(self.base_images[flat]), self._boxes[flat], per_digit, self.spec
        )
        n, digits = base_index.shape[0], self.spec.num_digits
        images = images.reshape(n, digits, *images.shape[-2:])
        squeeze = (lambda t: t[:, 0]) if digits == 1 else (lambda t: t)
        params = {
            "angle": squeeze(p["angle"]),
            "scale": squeeze(p["scale"]),
            "center": squeeze(centre.reshape(n, digits, 2)),
        }
        return images, params

    def _translation(
        self, base_index: Tensor, p: dict[str, Tensor]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        spec = self.spec
        height, width = self.base_images.shape[-2:]
        canvas_side = spec.canvas_size or max(height, width)
        n = base_index.shape[0]
        num_base = self.base_images.shape[0]
        place = p["u_place"]
        offset_x = (
            (place[:, 0] * (canvas_side - width + 1)).floor().long().clamp_max(canvas_side - width)
        )
        offset_y = (
            (place[:, 1] * (canvas_side - height + 1))
            .floor()
            .long()
            .clamp_max(canvas_side - height)
        )
        canvas = torch.zeros(n, canvas_side, canvas_side)
        paste(canvas, self._float(self.base_images[base_index]), offset_x, offset_y)
        m, size = spec.num_clutter, spec.clutter_size
        u = p["u_clutter"]  # (n, m, 5): source, crop x, crop y, position x, position y
        source = (u[..., 0] * (num_base - 1)).floor().long().clamp_max(num_base - 2)
        source = source + (source >= base_index.unsqueeze(-1)).long()  # another digit
        box = self._boxes[source]  # (n, m, 4)
        centre_x = box[..., 0] + u[..., 1] * (box[..., 2] - box[..., 0] + 1)
        centre_y = box[..., 1] + u[..., 2] * (box[..., 3] - box[..., 1] + 1)
        crop_x = (centre_x - size / 2).floor().long().clamp(0, width - size)
        crop_y = (centre_y - size / 2).floor().long().clamp(0, height - size)
        pos_x = (u[..., 3] * (canvas_side - size + 1)).floor().long().clamp_max(canvas_side - size)
        pos_y = (u[..., 4] * (canvas_side - size + 1)).floor().long().clamp_max(canvas_side - size)
        for j in range(m):
            patch = crop(
                self._float(self.base_images[source[:, j]]), crop_x[:, j], crop_y[:, j], size
            )
            paste(canvas, patch, pos_x[:, j], pos_y[:, j])
        params = {
            "offset": torch.stack((offset_x, offset_y), -1),
            "clutter_index": source,
            "clutter_crop": torch.stack((crop_x, crop_y), -1),
            "clutter_position": torch.stack((pos_x, pos_y), -1),
        }
        return canvas.unsqueeze(1), params

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        if not -self.size <= index < self.size:
            raise IndexError(f"index {index} out of range for {self.size} samples")
        index = index % self.size
        if self._cache is not None:
            return self._cache[0][index], self._cache[1][index]
        images, labels, _ = self.batch([index])
        return images[0], labels[0]

    def __getitems__(self, indices: list[int]) -> list[tuple[Tensor, Tensor]]:
        if self._cache is not None:
            rows = torch.as_tensor(indices, dtype=torch.long)
            images, labels = self._cache[0][rows], self._cache[1][rows]
        else:
            images, labels, _ = self.batch(indices)
        return list(zip(images.unbind(0), labels.unbind(0), strict=True))

    def tensors(self, *, chunk_size: int = 4096) -> tuple[Tensor, Tensor]:
        """Every sample: float ``(size, C, H, W)`` images and ``int64`` ``(size,)`` labels."""
        if self._cache is not None:
            return self._cache
        images = torch.empty(self.size, *self.image_shape)
        labels = torch.empty(self.size, dtype=torch.long)
        for start in range(0, self.size, chunk_size):
            stop = min(start + chunk_size, self.size)
            batch = self.batch(torch.arange(start, stop))
            images[start:stop], labels[start:stop] = batch.images, batch.labels
        return images, labels

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(kind={self.spec.name!r}, size={self.size}, seed={self.seed}, "
            f"image_shape={self.image_shape})"
        )


def distort(
    base_images: Tensor,
    base_labels: Tensor,
    kind: str | DistortionSpec = "rts",
    *,
    seed: int = TRAIN_SEED,
    indices: Tensor | list[int] | None = None,
) -> DistortedBatch:
    """Distort base images once: ``DistortedMNIST(...).batch(indices)`` (all by default).

    Example:
        >>> import torch
        >>> base = torch.zeros(3, 28, 28, dtype=torch.uint8)
        >>> base[:, 8:20, 12:16] = 200
        >>> out = distort(base, torch.tensor([7, 1, 4]), "r", seed=1)
        >>> out.images.shape, out.params["angle"].abs().max().item() <= 3.1416 / 2
        (torch.Size([3, 1, 28, 28]), True)
    """
    size = None
    if indices is not None:
        index = check_indices(indices)
        size = int(index.max()) + 1 if index.numel() else 0
    data = DistortedMNIST(base_images, base_labels, kind=kind, seed=seed, size=size)
    return data.batch(torch.arange(len(data)) if indices is None else indices)


def distorted_mnist(
    kind: str | DistortionSpec = "rts",
    split: str = "train",
    *,
    source: DigitSource = "mnist",
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    seed: int | None = None,
    size: int | None = None,
    synthetic_size: int | None = None,
    precompute: bool = False,
) -> DistortedMNIST:
    """The distorted-MNIST variant ``kind`` of ``split``, built on MNIST or the stand-in.

    The training split uses ``seed`` (default :data:`TRAIN_SEED`); the test split uses
    :data:`TEST_SEED` unless ``seed`` is given, so every run is evaluated on the same images.

    Args:
        kind: see :class:`DistortedMNIST`.
        split: ``"train"`` (MNIST's 60,000 digits) or ``"test"`` (its 10,000).
        source: ``"mnist"``, ``"synthetic"`` or ``"auto"``; see
            :func:`~attnlab.data.mnist.load_digits` (never a silent substitution).
        data_dir: the data root for MNIST.
        download: download MNIST if missing.
        seed: overrides the split's seed.
        size: number of samples (default: the number of base digits).
        synthetic_size: number of synthetic base digits.
        precompute: render every sample up front.

    Returns:
        A :class:`DistortedMNIST` whose ``source`` attribute is ``"mnist"`` or
        ``"synthetic"``.

    Example:
        >>> data = distorted_mnist("tc", "test", source="synthetic", synthetic_size=8)
        >>> data.image_shape, data.seed == TEST_SEED, data.source
        ((1, 60, 60), True, 'synthetic')
    """
    digits = load_digits(
        split,
        source=source,
        data_dir=data_dir,
        download=download,
        synthetic_size=synthetic_size,
    )
    if seed is None:
        seed = TEST_SEED if split == "test" else TRAIN_SEED
    data = DistortedMNIST(
        digits.images, digits.labels, kind=kind, seed=seed, size=size, precompute=precompute
    )
    data.source = digits.source
    return data
