"""Sort-of-CLEVR generator: answers recomputed from the layouts, bit layout, rendering, seeds."""

from __future__ import annotations

import math

import pytest
import torch

from attnlab.data.sort_of_clevr import (
    ANSWERS,
    COLOUR_RGB,
    NUM_ANSWERS,
    NUM_OBJECTS,
    QUESTION_BITS,
    QUESTION_TYPES,
    QUESTIONS_PER_IMAGE,
    SortOfCLEVR,
    encode_questions,
    generate_scenes,
    render_scenes,
)


@pytest.fixture(scope="module")
def data() -> SortOfCLEVR:
    return SortOfCLEVR(12, seed=7)


def _expected_answer(centers: list[tuple[int, int]], shapes: list[int], colour: int, kind: str,
                     size: int) -> str:
    """The answer in words, from the object positions, with plain Python loops."""
    cx, cy = centers[colour]
    shape_name = ("square", "circle")
    if kind == "shape":
        return shape_name[shapes[colour]]
    if kind == "horizontal":
        return "yes" if cx < size / 2 else "no"
    if kind == "vertical":
        return "yes" if cy < size / 2 else "no"
    if kind == "count":
        return str(sum(1 for s in shapes if s == shapes[colour]))
    distances = {
        other: math.hypot(centers[other][0] - cx, centers[other][1] - cy)
        for other in range(len(centers))
        if other != colour
    }
    ranked = sorted(distances, key=distances.__getitem__)
    target = ranked[0] if kind == "closest" else ranked[-1]
    # The generator guarantees a unique closest and furthest object.
    assert distances[ranked[0]] < distances[ranked[1]]
    assert distances[ranked[-1]] > distances[ranked[-2]]
    return shape_name[shapes[target]]


def test_answers_match_independent_recomputation(data: SortOfCLEVR) -> None:
    for image in range(data.num_images):
        centers = [tuple(int(v) for v in c) for c in data.scenes.centers[image]]
        shapes = [int(s) for s in data.scenes.shapes[image]]
        for q in range(QUESTIONS_PER_IMAGE):
            bits = data.questions[image, q]
            colour = int(bits[:6].argmax())
            group = "relational" if bits[7] == 1 else "non-relational"
            sub = int(bits[8:].argmax())
            kind = (("shape", "horizontal", "vertical"), ("closest", "furthest", "count"))[
                group == "relational"
            ][sub]
            expected = _expected_answer(centers, shapes, colour, kind, data.image_size)
            assert ANSWERS[int(data.answers[image, q])] == expected, (image, q, kind)


def test_question_bit_layout(data: SortOfCLEVR) -> None:
    bits = data.questions
    assert bits.shape == (data.num_images, QUESTIONS_PER_IMAGE, QUESTION_BITS)
    assert set(bits.unique().tolist()) == {0.0, 1.0}
    assert torch.all(bits[..., :6].sum(-1) == 1)  # one colour
    assert torch.all(bits[..., 6:8].sum(-1) == 1)  # one group
    assert torch.all(bits[..., 8:].sum(-1) == 1)  # one subtype
    # questions 0-9 non-relational (bit 6), 10-19 relational (bit 7)
    assert torch.all(bits[:, :10, 6] == 1) and torch.all(bits[:, 10:, 7] == 1)
    assert torch.equal(bits[..., :6].argmax(-1), data.colours)
    types = data.question_types
    assert torch.equal(bits[..., 8:].argmax(-1) + 3 * bits[..., 7].long(), types)
    # a documented example: "shape of the object furthest from the blue one"
    assert encode_questions(torch.tensor(2), torch.tensor(4)).tolist() == [
        0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0
    ]


def test_answers_are_classes_of_their_type(data: SortOfCLEVR) -> None:
    allowed = {
        "shape": {"square", "circle"},
        "horizontal": {"yes", "no"},
        "vertical": {"yes", "no"},
        "closest": {"square", "circle"},
        "furthest": {"square", "circle"},
        "count": {"1", "2", "3", "4", "5", "6"},
    }
    assert NUM_ANSWERS == 10
    for kind_index, kind in enumerate(QUESTION_TYPES):
        answers = data.answers[data.question_types == kind_index]
        assert {ANSWERS[int(a)] for a in answers} <= allowed[kind]


def test_items_and_per_image_view(data: SortOfCLEVR) -> None:
    assert len(data) == 12 * QUESTIONS_PER_IMAGE
    item = data[3 * QUESTIONS_PER_IMAGE + 14]
    assert item.image.dtype == torch.float32 and item.image.shape == (3, 75, 75)
    assert float(item.image.min()) >= 0.0 and float(item.image.max()) <= 1.0
    assert bool(item.is_relational) and int(item.subtype) == int(data.question_types[3, 14])
    assert int(item.answer) == int(data.answers[3, 14])
    assert torch.equal(item.question, data.questions[3, 14])
    assert data[-1].answer == data.answers[-1, -1]
    with pytest.raises(IndexError, match="index"):
        data[len(data)]
    per_image = data.per_image()
    assert len(per_image) == 12
    image, questions, answers = per_image[5]
    assert torch.equal(image, data.image(5)) and questions.shape == (20, 11)
    batch = per_image.__getitems__([1, 4])
    assert torch.equal(batch[1][2], data.answers[4])


def test_layout_objects_inside_and_apart(data: SortOfCLEVR) -> None:
    centers, s = data.scenes.centers, data.object_size
    assert centers.shape == (12, NUM_OBJECTS, 2)
    assert int(centers.min()) >= s and int(centers.max()) <= data.image_size - 1 - s
    gap = (centers[:, :, None] - centers[:, None]).abs().amax(-1)  # (n, o, o) Chebyshev
    off_diagonal = ~torch.eye(NUM_OBJECTS, dtype=torch.bool)
    assert int(gap[:, off_diagonal].min()) >= 2 * s + 2


def test_rendering_pixels(data: SortOfCLEVR) -> None:
    images, s = data.images, data.object_size
    white = torch.tensor([255, 255, 255], dtype=torch.uint8)
    for image in range(3):
        painted_total = 0
        for obj in range(NUM_OBJECTS):
            cx, cy = (int(v) for v in data.scenes.centers[image, obj])
            colour = torch.tensor(COLOUR_RGB[obj], dtype=torch.uint8)
            assert torch.equal(images[image, :, cy, cx], colour)
            corner = images[image, :, cy + s, cx + s]
            is_circle = bool(data.scenes.shapes[image, obj])
            assert torch.equal(corner, white if is_circle else colour)
            box = images[image, :, cy - s : cy + s + 1, cx - s : cx + s + 1]
            painted = int((box == colour.view(3, 1, 1)).all(0).sum())
            assert painted == (2 * s + 1) ** 2 if not is_circle else painted < (2 * s + 1) ** 2
            painted_total += painted
        # everything outside the objects is white (yellow/orange/red share the 255 red value,
        # so count pixels that are not white)
        not_white = (images[image] != 255).any(0)
        assert int(not_white.sum()) == painted_total
    assert images.dtype == torch.uint8


def test_deterministic_and_seeded() -> None:
    a, b = SortOfCLEVR(4, seed=3), SortOfCLEVR(4, seed=3)
    assert torch.equal(a.images, b.images) and torch.equal(a.questions, b.questions)
    assert torch.equal(a.answers, b.answers)
    c = SortOfCLEVR(4, seed=4)
    assert not torch.equal(a.images, c.images)
    # image i depends only on (seed, i): a later window of a larger set is the same data
    window = SortOfCLEVR(2, seed=3, first_index=2)
    assert torch.equal(window.images, a.images[2:]) and torch.equal(window.answers, a.answers[2:])
    scenes = generate_scenes(range(2, 4), seed=3)
    assert torch.equal(render_scenes(scenes), a.images[2:])


def test_smaller_images() -> None:
    small = SortOfCLEVR(3, seed=0, image_size=40, object_size=2)
    assert small.images.shape == (3, 3, 40, 40)
    assert int(small.scenes.centers.max()) <= 40 - 1 - 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_images": 0}, "num_images"),
        ({"num_images": 2, "seed": -1}, "seed"),
        ({"num_images": 2, "image_size": 20}, "image_size"),
        ({"num_images": 2, "object_size": 0}, "object_size"),
        ({"num_images": 2, "first_index": -3}, "first_index"),
    ],
)
def test_bad_arguments(kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SortOfCLEVR(**kwargs)


def test_encode_questions_bad_inputs() -> None:
    with pytest.raises(ValueError, match="colours"):
        encode_questions(torch.tensor([6]), torch.tensor([0]))
    with pytest.raises(ValueError, match="question_types"):
        encode_questions(torch.tensor([0]), torch.tensor([-1]))
    with pytest.raises(ValueError, match="same shape"):
        encode_questions(torch.tensor([0, 1]), torch.tensor([0]))
