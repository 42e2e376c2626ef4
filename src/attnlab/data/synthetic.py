"""Synthetic, MNIST-like digits rendered from fonts: a no-download stand-in (not MNIST).

The digits 0-9 are drawn with the TrueType fonts that matplotlib ships (DejaVu Sans, Sans Mono
and Serif, STIX General and Computer Modern, several weights and slants) through Pillow, then
jittered per sample (font, stroke width, rotation, slant, aspect ratio, size, sub-pixel offset,
blur) and laid out the way MNIST was built: white digit on black, the bounding box scaled to fit
a 20 x 20 box (here 16-20 pixels on its longer side, for variety) and the centre of mass placed
at the centre of the 28 x 28 image (LeCun et al., http://yann.lecun.com/exdb/mnist/).

These images make the experiments runnable on a machine without the MNIST files. They are
easier and more regular than handwriting: numbers measured on them are not MNIST numbers and
must be reported as "synthetic digits".

Determinism: sample ``i`` depends only on ``(seed, i)`` (see :mod:`attnlab.data._random`), so
``synthetic_digits(n, seed=s)[:m]`` equals ``synthetic_digits(m, seed=s)``. Glyph rasters come
from FreeType through Pillow; another FreeType version may shift edge pixels slightly.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from attnlab.data._random import BlockDraw, check_indices, check_seed, per_sample
from attnlab.vision.grids import normalization_matrix
from attnlab.vision.sampler import bilinear_sample

__all__ = ["SYNTHETIC_FONTS", "synthetic_digit_glyphs", "synthetic_digits", "synthetic_font_files"]

SYNTHETIC_FONTS: tuple[str, ...] = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSansMono-Oblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "cmr10.ttf",
    "cmss10.ttf",
)
"""Font files (in matplotlib's ``mpl-data/fonts/ttf``) used when present."""

_GLYPH_CANVAS = 64  # glyph raster size, pixels
_FONT_SIZE = 44  # digits are about 32 pixels tall at this size
_STROKES = (0, 1, 2)  # dilation of the raster, pixels (about 0.6 output pixels each)
_BLUR_TAPS = 2  # blur kernel half-width, output pixels
_CHUNK = 2048


def synthetic_font_files() -> list[Path]:
    """The font files of :data:`SYNTHETIC_FONTS` found in the installed matplotlib.

    Raises:
        ImportError: matplotlib is not installed (it ships the fonts).
    """
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "synthetic digits are rendered from the fonts that matplotlib ships; install "
            "matplotlib (pip install 'attnlab[plot]')"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf"
    files = [folder / name for name in SYNTHETIC_FONTS if (folder / name).is_file()]
    if not files:
        raise ImportError(f"no font of {SYNTHETIC_FONTS} found in {folder}")
    return files


@functools.lru_cache(maxsize=1)
def synthetic_digit_glyphs() -> tuple[Tensor, Tensor, Tensor]:
    """The glyph bank: every digit in every font and stroke width, with its moments.

    Returns:
        ``(glyphs, center_of_mass, box)``: ``glyphs`` float ``(F, 10, S, 64, 64)`` in ``[0, 1]``
        (fonts x digits x stroke widths); ``center_of_mass`` ``(F, 10, S, 2)`` and ``box``
        ``(F, 10, S, 4)`` = ``(x0, y0, x1, y1)`` of the ink, in pixel coordinates (centre of the
        top-left pixel at ``(0, 0)``).
    """
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError as error:  # pragma: no cover - Pillow comes with matplotlib
        raise ImportError("synthetic digits need Pillow (a dependency of matplotlib)") from error
    import numpy as np

    rasters = []
    for path in synthetic_font_files():
        font = ImageFont.truetype(str(path), _FONT_SIZE)
        for digit in "0123456789":
            image = Image.new("L", (_GLYPH_CANVAS, _GLYPH_CANVAS), 0)
            centre = _GLYPH_CANVAS / 2
            ImageDraw.Draw(image).text((centre, centre), digit, font=font, fill=255, anchor="mm")
            rasters.append(np.asarray(image, dtype=np.float32) / 255.0)
    base = torch.from_numpy(np.stack(rasters)).unsqueeze(1)  # (f * 10, 1, s, s)
    variants = []
    for stroke in _STROKES:
        raster = base
        for _ in range(stroke):
            raster = F.max_pool2d(raster, 3, stride=1, padding=1)
        variants.append(raster[:, 0])
    glyphs = torch.stack(variants, dim=1)  # (f * 10, strokes, s, s)
    glyphs = glyphs.reshape(-1, 10, len(_STROKES), _GLYPH_CANVAS, _GLYPH_CANVAS)

    coords = torch.arange(_GLYPH_CANVAS, dtype=torch.float32)
    mass = glyphs.sum(dim=(-2, -1)).clamp_min(1e-6)
    com_x = (glyphs.sum(dim=-2) * coords).sum(-1) / mass
    com_y = (glyphs.sum(dim=-1) * coords).sum(-1) / mass
    ink = glyphs > 0.25
    cols, rows = ink.any(dim=-2), ink.any(dim=-1)
    big = torch.full_like(coords, float(_GLYPH_CANVAS))
    x0 = torch.where(cols, coords, big).amin(-1)
    x1 = torch.where(cols, coords, -big).amax(-1)
    y0 = torch.where(rows, coords, big).amin(-1)
    y1 = torch.where(rows, coords, -big).amax(-1)
    return glyphs, torch.stack((com_x, com_y), -1), torch.stack((x0, y0, x1, y1), -1)


def _draw(num_fonts: int) -> BlockDraw:
    def draw(generator: torch.Generator, n: int) -> dict[str, Tensor]:
        u = torch.rand(n, 9, generator=generator, dtype=torch.float64)
        g = torch.randn(n, generator=generator, dtype=torch.float64)
        label = (u[:, 0] * 10).floor().long()
        font = (u[:, 1] * num_fonts).floor().long()
        stroke = (u[:, 2] * len(_STROKES)).floor().long()
        angle = (g * math.radians(8.0)).clamp(-math.radians(20.0), math.radians(20.0))
        shear = (u[:, 3] - 0.5) * 0.6  # x += shear * y: slant within +-0.3
        aspect = 0.75 + 0.4 * u[:, 4]  # width factor in [0.75, 1.15]
        box = 16.0 + 4.0 * u[:, 5]  # longer side of the digit, pixels at size 28
        offset = torch.stack((u[:, 6], u[:, 7]), -1) * 2.0 - 1.0  # +-1 pixel
        sigma = 0.3 + 0.4 * u[:, 8]  # blur, pixels
        # L = R(angle) @ [[1, shear], [0, 1]] @ diag(aspect, 1): glyph offsets -> output offsets
        cos, sin = torch.cos(angle), torch.sin(angle)
        l11, l12 = cos * aspect, cos * shear - sin
        l21, l22 = sin * aspect, sin * shear + cos
        det = l11 * l22 - l12 * l21
        linear = torch.stack((l11, l12, l21, l22), -1)
        inverse = torch.stack((l22, -l12, -l21, l11), -1) / det.unsqueeze(-1)
        taps = torch.arange(-_BLUR_TAPS, _BLUR_TAPS + 1, dtype=torch.float64)
        weights = torch.exp(-0.5 * (taps / sigma.unsqueeze(-1)) ** 2)
        weights = weights / weights.sum(-1, keepdim=True)
        return {
            "label": label,
            "font": font,
            "stroke": stroke,
            "box": box.float(),
            "offset": offset.float(),
            "linear": linear.float(),
            "inverse": inverse.float(),
            "blur": weights.float(),
        }

    return draw


def _blur(images: Tensor, weights: Tensor, dim: int) -> Tensor:
    # separable Gaussian: a fixed-order sum of shifted copies (exact per sample, any batch)
    pad = [0, 0, 0, 0]
    pad[0 if dim == -1 else 2] = _BLUR_TAPS
    pad[1 if dim == -1 else 3] = _BLUR_TAPS
    padded = F.pad(images, pad)
    size = images.shape[dim]
    out = torch.zeros_like(images)
    for tap in range(2 * _BLUR_TAPS + 1):
        shifted = padded.narrow(dim, tap, size)
        out = out + weights[:, tap].view(-1, 1, 1, 1) * shifted
    return out


def _render(params: dict[str, Tensor], size: int) -> Tensor:
    glyphs, centres, boxes = synthetic_digit_glyphs()
    pick = (params["font"], params["label"], params["stroke"])
    glyph = glyphs[pick].unsqueeze(1)  # (b, 1, s, s)
    com = centres[pick]  # (b, 2)
    x0, y0, x1, y1 = (boxes[pick][:, k] for k in range(4))
    l11, l12, l21, l22 = (params["linear"][:, k] for k in range(4))
    i11, i12, i21, i22 = (params["inverse"][:, k] for k in range(4))

    # extent of the transformed ink box (pixel edges: +-0.5) -> scale to the drawn box size
    corner_x = torch.stack((x0 - 0.5, x1 + 0.5, x0 - 0.5, x1 + 0.5), -1) - com[:, :1]
    corner_y = torch.stack((y0 - 0.5, y0 - 0.5, y1 + 0.5, y1 + 0.5), -1) - com[:, 1:]
    out_x = l11.unsqueeze(-1) * corner_x + l12.unsqueeze(-1) * corner_y
    out_y = l21.unsqueeze(-1) * corner_x + l22.unsqueeze(-1) * corner_y
    extent = torch.maximum(out_x.amax(-1) - out_x.amin(-1), out_y.amax(-1) - out_y.amin(-1))
    scale = (params["box"] * (size / 28.0)) / extent  # output pixels per glyph pixel

    # output pixel centres of a 2x supersampled canvas, in output pixel coordinates
    fine = (torch.arange(2 * size, dtype=torch.float32) + 0.5) / 2.0 - 0.5
    centre = size / 2.0  # MNIST puts the centre of mass at pixel (14, 14) of 28 x 28
    dx = fine.view(1, 1, -1) - (centre + params["offset"][:, 0]).view(-1, 1, 1)  # (b, 1, w)
    dy = fine.view(1, -1, 1) - (centre + params["offset"][:, 1]).view(-1, 1, 1)  # (b, h, 1)
    # glyph pixel q = com + L^-1 d / scale, then to the normalised frame of the glyph raster
    norm = normalization_matrix((_GLYPH_CANVAS, _GLYPH_CANVAS))
    a, b = float(norm[0, 0]), float(norm[0, 2])
    s = (scale / a).view(-1, 1, 1)
    qx = (i11.view(-1, 1, 1) * dx + i12.view(-1, 1, 1) * dy) / s + (com[:, 0] * a + b).view(
        -1, 1, 1
    )
    qy = (i21.view(-1, 1, 1) * dx + i22.view(-1, 1, 1) * dy) / s + (com[:, 1] * a + b).view(
        -1, 1, 1
    )
    grid = torch.stack((qx, qy), -1)  # (b, 2h, 2w, 2)
    fine_image = bilinear_sample(glyph, grid)  # (b, 1, 2h, 2w)
    image = (
        fine_image[..., 0::2, 0::2]
        + fine_image[..., 0::2, 1::2]
        + fine_image[..., 1::2, 0::2]
        + fine_image[..., 1::2, 1::2]
    ) / 4.0
    image = _blur(_blur(image, params["blur"], -1), params["blur"], -2)
    peak = image.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-6)
    return torch.round(image / peak * 255.0).clamp(0, 255).to(torch.uint8)[:, 0]


def synthetic_digits(
    n: int, *, seed: int, size: int = 28, indices: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Render ``n`` random MNIST-like digits from fonts (a stand-in for MNIST, not MNIST).

    Labels are uniform over ``0..9``. See the module docstring for the rendering and the
    jitter; every sample depends only on ``(seed, index)``.

    Args:
        n: number of digits (ignored when ``indices`` is given).
        seed: the random seed.
        size: image side in pixels (28 as MNIST; the layout scales with it).
        indices: render these sample indices instead of ``0..n-1``.

    Returns:
        ``(images, labels)``: ``uint8`` ``(N, size, size)`` (white on black, 0-255, like
        :func:`~attnlab.data.mnist.load_mnist`) and ``int64`` ``(N,)``.

    Raises:
        ImportError: matplotlib (which ships the fonts) or Pillow is not installed.

    Example:
        >>> images, labels = synthetic_digits(3, seed=0)
        >>> images.shape, images.dtype, labels.shape
        (torch.Size([3, 28, 28]), torch.uint8, torch.Size([3]))
    """
    seed = check_seed(seed)
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an int >= 8, got {size!r}")
    if indices is None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be a non-negative int, got {n!r}")
        index = torch.arange(n)
    else:
        index = check_indices(indices)
    glyphs = synthetic_digit_glyphs()[0]
    params = per_sample(seed, "synthetic_digits", index, _draw(glyphs.shape[0]))
    images = torch.empty(index.shape[0], size, size, dtype=torch.uint8)
    for start in range(0, index.shape[0], _CHUNK):
        chunk = {name: value[start : start + _CHUNK] for name, value in params.items()}
        images[start : start + _CHUNK] = _render(chunk, size)
    return images, params["label"].clone()
