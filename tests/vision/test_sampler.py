"""The bilinear sampler against the literal eq. (5) of Jaderberg et al. 2015."""

from __future__ import annotations

import pytest
import torch

from attnlab.vision.grids import affine_grid, normalized_meshgrid, pixel_to_normalized
from attnlab.vision.sampler import PADDING_MODES, bilinear_sample
from helpers import assert_close, gradcheck
from reference.bilinear_sampler import bilinear_sample_reference, sampling_weights_reference

F64 = torch.float64
ALIGN = [False, True]


@pytest.mark.parametrize("align_corners", ALIGN)
@pytest.mark.parametrize("size", [(1, 1), (4, 4), (5, 7), (6, 3)])
def test_identity_grid_reproduces_the_input(size, align_corners: bool, dtype, device) -> None:
    image = torch.randn(2, 3, *size, dtype=dtype, device=device)
    grid = normalized_meshgrid(size, align_corners=align_corners, dtype=dtype, device=device)
    out = bilinear_sample(image, grid.expand(2, -1, -1, -1), align_corners)
    assert_close(out, image)


@pytest.mark.parametrize("padding_mode", PADDING_MODES)
@pytest.mark.parametrize("align_corners", ALIGN)
def test_matches_literal_equation_5(align_corners: bool, padding_mode: str) -> None:
    image = torch.randn(2, 3, 5, 6, dtype=F64)
    grid = torch.rand(2, 4, 7, 2, dtype=F64) * 3.2 - 1.6  # reaches outside the image
    assert (grid.abs() > 1).any() and (grid.abs() < 1).any()
    expected = bilinear_sample_reference(
        image, grid, align_corners=align_corners, padding_mode=padding_mode
    )
    out = bilinear_sample(image, grid, align_corners, padding_mode)
    assert_close(out, expected)


@pytest.mark.parametrize("align_corners", ALIGN)
def test_kernel_is_a_soft_attention_over_pixels(align_corners: bool) -> None:
    # inside the hull of the pixel centres, the eq. (5) weights of each output point are >= 0,
    # sum to 1 and touch at most 4 pixels; sampling is that attention applied to the pixels
    size = (5, 6)
    pixels = torch.rand(1, 20, 2, dtype=F64) * torch.tensor([5.0, 4.0], dtype=F64)
    grid = pixel_to_normalized(pixels, size, align_corners=align_corners).reshape(1, 4, 5, 2)
    weights = sampling_weights_reference(grid, size, align_corners=align_corners)
    assert (weights >= 0).all()
    assert_close(weights.sum(-1), torch.ones(1, 20, dtype=F64))
    assert ((weights > 0).sum(-1) <= 4).all()
    image = torch.randn(1, 2, *size, dtype=F64)
    context = torch.einsum("bij,bcj->bci", weights, image.flatten(2)).reshape(1, 2, 4, 5)
    assert_close(bilinear_sample(image, grid, align_corners), context)


@pytest.mark.parametrize("align_corners", ALIGN)
def test_integer_shift_moves_the_content(align_corners: bool) -> None:
    size = (4, 7)
    image = torch.randn(1, 1, *size, dtype=F64)
    ys, xs = torch.meshgrid(torch.arange(4.0), torch.arange(7.0), indexing="ij")
    pixels = torch.stack((xs + 3, ys), dim=-1).to(F64)  # read three columns to the right
    grid = pixel_to_normalized(pixels, size, align_corners=align_corners)[None]
    out = bilinear_sample(image, grid, align_corners)
    assert_close(out[..., :4], image[..., 3:])
    assert out[..., 4:].abs().max() < 1e-12
    border = bilinear_sample(image, grid, align_corners, "border")
    assert_close(border[..., 4:], image[..., -1:].expand(-1, -1, -1, 3))


@pytest.mark.parametrize("padding_mode", PADDING_MODES)
@pytest.mark.parametrize("align_corners", ALIGN)
def test_gradcheck(align_corners: bool, padding_mode: str) -> None:
    image = torch.randn(1, 2, 3, 4, dtype=F64, requires_grad=True)
    grid = (torch.rand(1, 3, 2, 2, dtype=F64) * 2.4 - 1.2).requires_grad_()
    assert gradcheck(
        lambda u, g: bilinear_sample(u, g, align_corners, padding_mode), [image, grid]
    )


def test_gradcheck_through_an_affine_grid() -> None:
    image = torch.randn(2, 1, 4, 5, dtype=F64, requires_grad=True)
    theta = (torch.eye(2, 3, dtype=F64) + 0.1 * torch.randn(2, 2, 3, dtype=F64)).requires_grad_()
    assert gradcheck(lambda u, t: bilinear_sample(u, affine_grid(t, (3, 4))), [image, theta])


def test_bad_inputs_raise() -> None:
    image = torch.randn(2, 1, 4, 5)
    grid = torch.zeros(2, 3, 3, 2)
    with pytest.raises(ValueError, match="image"):
        bilinear_sample(image[0], grid)
    with pytest.raises(ValueError, match="image"):
        bilinear_sample(torch.zeros(2, 1, 0, 5), grid)
    with pytest.raises(TypeError, match="image"):
        bilinear_sample(image.long(), grid)
    with pytest.raises(ValueError, match="grid"):
        bilinear_sample(image, grid[..., :1])
    with pytest.raises(ValueError, match="grid"):
        bilinear_sample(image, grid[0])
    with pytest.raises(ValueError, match="batch size"):
        bilinear_sample(image, grid[:1])
    with pytest.raises(TypeError, match="dtype"):
        bilinear_sample(image, grid.double())
    with pytest.raises(ValueError, match="padding_mode"):
        bilinear_sample(image, grid, padding_mode="wrap")
    with pytest.raises(TypeError, match="align_corners"):
        bilinear_sample(image, grid, 0)  # type: ignore[arg-type]
