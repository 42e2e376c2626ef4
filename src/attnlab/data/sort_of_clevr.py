"""Sort-of-CLEVR: coloured squares and circles with relational and non-relational questions.

The visual question answering task of Santoro et al., "A simple neural network module for
relational reasoning", NeurIPS 2017, https://arxiv.org/abs/1706.01427, appendix D: every image
is ``75 x 75`` pixels and holds 6 non-overlapping objects of 6 distinct colours, each a square or
a circle; every image comes with 20 questions, 10 *non-relational* ones about a single object and
10 *relational* ones that need the other objects too. Fully generated: no download.

**Convention.**

* Images are ``(3, H, W)`` RGB, white background; stored as ``uint8`` and served as ``float32``
  in ``[0, 1]``. Pixel ``(row y, column x)``; an object's centre is ``(x, y)`` in integer
  pixels, ``x`` to the right, ``y`` downwards.
* An object of half-size ``s`` (``object_size``) covers ``|x - cx| <= s and |y - cy| <= s``
  (square) or ``(x - cx)^2 + (y - cy)^2 <= s^2 + s`` (circle, radius about ``s + 1/2``).
  Centres satisfy ``max(|dx|, |dy|) >= 2 s + 2`` pairwise, so objects never touch; and the
  layout is redrawn when any object has two others at the same (closest or furthest) distance,
  so every relational answer is unambiguous.
* Colour order (index 0-5): :data:`COLOURS` = red, green, blue, orange, gray, yellow.
* Question types (index 0-5, :data:`QUESTION_TYPES`): non-relational ``shape`` (shape of the
  object of colour c), ``horizontal`` (is it on the left? ``x < W / 2``), ``vertical`` (is it
  at the top? ``y < H / 2``); relational ``closest`` (shape of the object closest to it, centre
  to centre Euclidean), ``furthest`` (shape of the object furthest from it), ``count`` (how many
  objects have its shape, itself included: 1-6).
* Questions are 11-bit vectors (:data:`QUESTION_BITS`): bits 0-5 one-hot colour; bit 6 set
  for a non-relational question, bit 7 for a relational one; bits 8-10 one-hot subtype within
  the group (``shape``/``closest``, ``horizontal``/``furthest``, ``vertical``/``count``). This is
  the layout of the paper's "11-bit binary string" (6 colour + 5 type bits) as commonly used.
* Answers are one of 10 classes (:data:`ANSWERS`): ``0 yes``, ``1 no`` (horizontal: yes =
  left; vertical: yes = top), ``2 square``, ``3 circle``, ``4..9`` = counts 1..6.
* Image ``i`` (its layout and its 20 questions) depends only on ``(seed, i)``: a dataset of
  any size holds the same first images.

Example:
    >>> data = SortOfCLEVR(4, seed=0)
    >>> len(data), tuple(data.images.shape)
    (80, (4, 3, 75, 75))
    >>> image, question, answer, is_relational, subtype = data[0]
    >>> image.dtype, tuple(question.shape), int(question[:6].sum()), int(question[6:8].sum())
    (torch.float32, (11,), 1, 1)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

__all__ = [
    "ANSWERS",
    "COLOURS",
    "COLOUR_RGB",
    "IMAGE_SIZE",
    "NUM_ANSWERS",
    "NUM_OBJECTS",
    "OBJECT_SIZE",
    "QUESTIONS_PER_IMAGE",
    "QUESTION_BITS",
    "QUESTION_TYPES",
    "RELATIONAL_TYPES",
    "SHAPES",
    "SortOfCLEVR",
    "SortOfClevrItem",
    "SortOfClevrPerImage",
    "SortOfClevrScenes",
    "answer_questions",
    "encode_questions",
    "generate_scenes",
    "render_scenes",
]

IMAGE_SIZE = 75
"""Image side in pixels (Santoro et al. 2017, appendix D)."""
NUM_OBJECTS = 6
"""Objects per image, one per colour (appendix D)."""
OBJECT_SIZE = 5
"""Default half-size of an object: squares are ``11 x 11`` pixels, circles of radius 5."""
QUESTIONS_PER_IMAGE = 20
"""10 non-relational then 10 relational questions per image (appendix D)."""
QUESTION_BITS = 11
"""Length of a question vector: 6 colour bits + 2 group bits + 3 subtype bits."""
COLOURS: tuple[str, ...] = ("red", "green", "blue", "orange", "gray", "yellow")
"""Object colours, in the order of the question's one-hot colour bits."""
COLOUR_RGB: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0),
    (0, 255, 0),
    (0, 0, 255),
    (255, 156, 0),
    (128, 128, 128),
    (255, 255, 0),
)
"""RGB value of each colour of :data:`COLOURS`."""
SHAPES: tuple[str, str] = ("square", "circle")
"""Shape index 0 and 1."""
QUESTION_TYPES: tuple[str, ...] = (
    "shape",
    "horizontal",
    "vertical",
    "closest",
    "furthest",
    "count",
)
"""Question type index 0-5; the first three are non-relational, the last three relational."""
RELATIONAL_TYPES: frozenset[int] = frozenset({3, 4, 5})
"""Indices of the relational question types."""
ANSWERS: tuple[str, ...] = ("yes", "no", "square", "circle", "1", "2", "3", "4", "5", "6")
"""Answer classes: yes/no (position questions), shapes, counts 1-6."""
NUM_ANSWERS = len(ANSWERS)

_YES, _NO, _SHAPE0, _COUNT0 = 0, 1, 2, 3  # count c (1..6) is class _COUNT0 + c


class SortOfClevrScenes(NamedTuple):
    """Object layouts of ``N`` images.

    Attributes:
        centers: ``(N, 6, 2)`` ``int64`` object centres ``(x, y)`` in pixels; row ``k`` is the
            object of colour ``k``.
        shapes: ``(N, 6)`` ``int64``, 0 square, 1 circle.
    """

    centers: Tensor
    shapes: Tensor


class SortOfClevrItem(NamedTuple):
    """One question of :class:`SortOfCLEVR`.

    Attributes:
        image: ``(3, H, W)`` float32 in ``[0, 1]``.
        question: ``(11,)`` float32 bits (layout in the module docstring).
        answer: ``()`` int64 class in ``[0, 10)``.
        is_relational: ``()`` bool.
        subtype: ``()`` int64 question type in ``[0, 6)`` (:data:`QUESTION_TYPES`).
    """

    image: Tensor
    question: Tensor
    answer: Tensor
    is_relational: Tensor
    subtype: Tensor


def _check_sizes(image_size: int, object_size: int) -> None:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive int, got {image_size!r}")
    if isinstance(object_size, bool) or not isinstance(object_size, int) or object_size < 1:
        raise ValueError(f"object_size must be a positive int, got {object_size!r}")
    # Six objects of side 2s+1 and a gap of one pixel must fit with room to spare.
    if image_size < 3 * (2 * object_size + 2) + 2 * object_size:
        raise ValueError(
            f"image_size {image_size} is too small for 6 objects of object_size {object_size} "
            f"(need image_size >= {3 * (2 * object_size + 2) + 2 * object_size})"
        )


def _check_count(value: object, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _image_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


def _unambiguous(centers: np.ndarray) -> bool:
    """No object has two others at the same smallest or largest squared distance."""
    diff = centers[:, None, :] - centers[None, :, :]
    dist2 = (diff**2).sum(-1)  # (o, o), exact integers
    for k in range(len(centers)):
        others = np.delete(dist2[k], k)
        if (others == others.min()).sum() > 1 or (others == others.max()).sum() > 1:
            return False
    return True


def _draw_layout(
    rng: np.random.Generator, image_size: int, object_size: int
) -> tuple[np.ndarray, np.ndarray]:
    low, high = object_size, image_size - 1 - object_size  # whole object inside the image
    gap = 2 * object_size + 2
    while True:
        centers: list[np.ndarray] = []
        while len(centers) < NUM_OBJECTS:
            candidate = rng.integers(low, high + 1, size=2)
            if all(np.abs(candidate - c).max() >= gap for c in centers):
                centers.append(candidate)
        layout = np.stack(centers)
        if _unambiguous(layout):
            return layout, rng.integers(0, 2, size=NUM_OBJECTS)


def generate_scenes(
    indices: Tensor | range,
    *,
    seed: int = 0,
    image_size: int = IMAGE_SIZE,
    object_size: int = OBJECT_SIZE,
) -> SortOfClevrScenes:
    """Object layouts of the images ``indices`` (each depends only on ``(seed, index)``).

    Args:
        indices: image indices (a ``range`` or a 1-D integer tensor).
        seed: the dataset seed (>= 0).
        image_size: image side ``H = W`` in pixels (75 in the paper).
        object_size: half-size ``s`` of an object in pixels.

    Returns:
        :class:`SortOfClevrScenes` with ``N = len(indices)`` rows.

    Example:
        >>> scenes = generate_scenes(range(3), seed=1)
        >>> tuple(scenes.centers.shape), tuple(scenes.shapes.shape)
        ((3, 6, 2), (3, 6))
    """
    _check_sizes(image_size, object_size)
    seed = _check_count(seed, "seed")
    rows = [int(i) for i in indices]
    if any(i < 0 for i in rows):
        raise ValueError("indices must be non-negative")
    centers = np.zeros((len(rows), NUM_OBJECTS, 2), dtype=np.int64)
    shapes = np.zeros((len(rows), NUM_OBJECTS), dtype=np.int64)
    for row, index in enumerate(rows):
        centers[row], shapes[row] = _draw_layout(_image_rng(seed, index), image_size, object_size)
    return SortOfClevrScenes(torch.from_numpy(centers), torch.from_numpy(shapes))


def render_scenes(
    scenes: SortOfClevrScenes, *, image_size: int = IMAGE_SIZE, object_size: int = OBJECT_SIZE
) -> Tensor:
    """Draw the scenes: white background, coloured squares and circles.

    Returns:
        ``(N, 3, H, W)`` ``uint8`` images.

    Example:
        >>> images = render_scenes(generate_scenes(range(2)))
        >>> images.shape, images.dtype
        (torch.Size([2, 3, 75, 75]), torch.uint8)
    """
    _check_sizes(image_size, object_size)
    centers, shapes = scenes
    n = centers.shape[0]
    offsets = torch.arange(-object_size, object_size + 1)
    dy, dx = torch.meshgrid(offsets, offsets, indexing="ij")  # (p, p), p = 2 s + 1
    # A circle of radius s + 1/2 (x^2 + y^2 <= s^2 + s on integers) reads as round at 11 pixels.
    templates = torch.stack(
        [torch.ones_like(dx, dtype=torch.bool), dx * dx + dy * dy <= object_size**2 + object_size]
    ).flatten(1)  # (shape, p * p)
    inside = templates[shapes]  # (n, o, p * p)
    image_idx = torch.arange(n).view(n, 1, 1).expand_as(inside)[inside]  # (k,) painted pixels
    rows = (centers[..., 1].unsqueeze(-1) + dy.flatten()).expand_as(inside)[inside]
    cols = (centers[..., 0].unsqueeze(-1) + dx.flatten()).expand_as(inside)[inside]
    colour = torch.arange(NUM_OBJECTS).view(1, NUM_OBJECTS, 1).expand_as(inside)[inside]
    images = torch.full((n, image_size, image_size, 3), 255, dtype=torch.uint8)
    images[image_idx, rows, cols] = torch.tensor(COLOUR_RGB, dtype=torch.uint8)[colour]
    return images.permute(0, 3, 1, 2).contiguous()  # (n, 3, h, w)


def encode_questions(colours: Tensor, question_types: Tensor) -> Tensor:
    """The 11-bit vectors of questions ``(colour, type)`` (layout in the module docstring).

    Args:
        colours: integer colour indices in ``[0, 6)``, any shape ``S``.
        question_types: integer types in ``[0, 6)``, shape ``S``.

    Returns:
        ``S + (11,)`` float32 bits.

    Example:
        >>> encode_questions(torch.tensor([2]), torch.tensor([4])).int().tolist()
        [[0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0]]
    """
    if colours.shape != question_types.shape:
        raise ValueError(
            f"colours and question_types must have the same shape, got {tuple(colours.shape)} "
            f"and {tuple(question_types.shape)}"
        )
    for tensor, name in ((colours, "colours"), (question_types, "question_types")):
        if tensor.numel() and (int(tensor.min()) < 0 or int(tensor.max()) >= 6):
            raise ValueError(f"{name} must lie in [0, 6)")
    bits = torch.zeros(*colours.shape, QUESTION_BITS)
    bits.scatter_(-1, colours.long().unsqueeze(-1), 1.0)
    group = 6 + (question_types >= 3).long()  # bit 6 non-relational, bit 7 relational
    bits.scatter_(-1, group.unsqueeze(-1), 1.0)
    bits.scatter_(-1, (8 + question_types.long() % 3).unsqueeze(-1), 1.0)
    return bits


def answer_questions(
    scenes: SortOfClevrScenes,
    colours: Tensor,
    question_types: Tensor,
    *,
    image_size: int = IMAGE_SIZE,
) -> Tensor:
    """The answer class of each question ``(colour, type)`` about each scene.

    Args:
        scenes: ``N`` layouts.
        colours: ``(N, Q)`` colour of the object asked about.
        question_types: ``(N, Q)`` question types.
        image_size: image side (left means ``x < image_size / 2``, top ``y < image_size / 2``).

    Returns:
        ``(N, Q)`` int64 answer classes (:data:`ANSWERS`).
    """
    centers, shapes = scenes
    n, q = colours.shape
    rows = torch.arange(n).unsqueeze(1).expand(n, q)
    center = centers[rows, colours]  # (n, q, 2)
    shape = shapes[rows, colours]  # (n, q)
    answers = torch.empty(n, q, dtype=torch.int64)
    yes_no = lambda condition: torch.where(condition, _YES, _NO)  # noqa: E731
    half = image_size / 2
    dist2 = ((center.unsqueeze(2) - centers.unsqueeze(1)) ** 2).sum(-1)  # (n, q, o)
    self_mask = torch.zeros_like(dist2, dtype=torch.bool)
    self_mask.scatter_(2, colours.unsqueeze(-1), True)
    big = torch.iinfo(torch.int64).max
    closest = dist2.masked_fill(self_mask, big).argmin(-1)  # (n, q)
    furthest = dist2.masked_fill(self_mask, -1).argmax(-1)
    same_shape = (shapes.unsqueeze(1) == shape.unsqueeze(-1)).sum(-1)  # (n, q), itself included
    by_type = (
        _SHAPE0 + shape,
        yes_no(center[..., 0] < half),
        yes_no(center[..., 1] < half),
        _SHAPE0 + shapes[rows, closest],
        _SHAPE0 + shapes[rows, furthest],
        _COUNT0 + same_shape,
    )
    for index, value in enumerate(by_type):
        answers = torch.where(question_types == index, value, answers)
    return answers


def _draw_questions(seed: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    # A separate stream from the layout's, so that the questions do not move when the layout
    # rules change: (seed, index, 1).
    rng = np.random.default_rng(np.random.SeedSequence([seed, index, 1]))
    half = QUESTIONS_PER_IMAGE // 2
    colours = rng.integers(0, NUM_OBJECTS, size=QUESTIONS_PER_IMAGE)
    types = np.concatenate([rng.integers(0, 3, size=half), 3 + rng.integers(0, 3, size=half)])
    return colours, types


class SortOfCLEVR(Dataset[SortOfClevrItem]):
    """Sort-of-CLEVR images with their 20 questions each; one item per question.

    Santoro et al. 2017, https://arxiv.org/abs/1706.01427, appendix D. Item ``i`` is question
    ``i % 20`` of image ``i // 20``: questions 0-9 of an image are non-relational, 10-19
    relational. Everything is generated in the constructor (about 1 ms per image).

    Args:
        num_images: number of images ``N`` (the paper: 10,000, 200 of them for validation).
        seed: dataset seed; image ``i`` depends only on ``(seed, i + first_index)``.
        first_index: index of the first image, so that disjoint splits come from one seed
            (e.g. train ``first_index=0``, test ``first_index=10**6``).
        image_size: image side (75 in the paper; smaller only for fast tests).
        object_size: object half-size in pixels (5 at 75 pixels).

    Attributes:
        scenes: :class:`SortOfClevrScenes`; images: ``(N, 3, H, W)`` uint8;
        questions: ``(N, 20, 11)`` float32 bits; answers: ``(N, 20)`` int64;
        question_types: ``(N, 20)`` int64; colours: ``(N, 20)`` int64.

    Example:
        >>> data = SortOfCLEVR(2, seed=3, image_size=40, object_size=2)
        >>> item = data[30]
        >>> tuple(item.image.shape), bool(item.is_relational), QUESTION_TYPES[int(item.subtype)]
        ((3, 40, 40), True, 'closest')
    """

    def __init__(
        self,
        num_images: int,
        *,
        seed: int = 0,
        first_index: int = 0,
        image_size: int = IMAGE_SIZE,
        object_size: int = OBJECT_SIZE,
    ) -> None:
        num_images = _check_count(num_images, "num_images", 1)
        first_index = _check_count(first_index, "first_index")
        self.seed = _check_count(seed, "seed")
        _check_sizes(image_size, object_size)
        self.image_size, self.object_size = image_size, object_size
        indices = range(first_index, first_index + num_images)
        self.scenes = generate_scenes(
            indices, seed=self.seed, image_size=image_size, object_size=object_size
        )
        self.images = render_scenes(self.scenes, image_size=image_size, object_size=object_size)
        drawn = [_draw_questions(self.seed, i) for i in indices]
        self.colours = torch.from_numpy(np.stack([c for c, _ in drawn])).long()
        self.question_types = torch.from_numpy(np.stack([t for _, t in drawn])).long()
        self.questions = encode_questions(self.colours, self.question_types)
        self.answers = answer_questions(
            self.scenes, self.colours, self.question_types, image_size=image_size
        )

    @property
    def num_images(self) -> int:
        """Number of images."""
        return int(self.images.shape[0])

    def __len__(self) -> int:
        return self.num_images * QUESTIONS_PER_IMAGE

    def image(self, index: int | Tensor) -> Tensor:
        """Image(s) ``index`` as float32 in ``[0, 1]``."""
        return self.images[index].float().div_(255.0)

    def __getitem__(self, index: int) -> SortOfClevrItem:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} questions")
        image_index, q = divmod(index % len(self), QUESTIONS_PER_IMAGE)
        question_type = self.question_types[image_index, q]
        return SortOfClevrItem(
            self.image(image_index),
            self.questions[image_index, q],
            self.answers[image_index, q],
            question_type >= 3,
            question_type,
        )

    def per_image(self) -> SortOfClevrPerImage:
        """A view with one item per image: ``(image, questions (20, 11), answers (20,))``."""
        return SortOfClevrPerImage(self)


class SortOfClevrPerImage(Dataset[tuple[Tensor, Tensor, Tensor]]):
    """One item per image: ``(image (3, H, W), questions (20, 11), answers (20,))``.

    For training loops that take ``(inputs..., target)`` items: a model can compute the image
    features once and answer all 20 questions (see :class:`SortOfCLEVR`).
    """

    def __init__(self, data: SortOfCLEVR) -> None:
        self.data = data

    def __len__(self) -> int:
        return self.data.num_images

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, Tensor]:
        return self.data.image(index), self.data.questions[index], self.data.answers[index]

    def __getitems__(self, indices: list[int]) -> list[tuple[Tensor, Tensor, Tensor]]:
        rows = torch.as_tensor(indices, dtype=torch.long)
        images = self.data.image(rows)
        return list(
            zip(
                images.unbind(0),
                self.data.questions[rows].unbind(0),
                self.data.answers[rows].unbind(0),
                strict=True,
            )
        )
