"""Small copies of a run's figures for embedding in a report page.

A figure saved for print is a wide RGBA PNG of a few hundred kilobytes; a page shows it at most
:data:`THUMBNAIL_WIDTH` CSS pixels wide. :func:`thumbnail_png` flattens it onto the page's white,
scales it down to that width and stores it with a 256-colour palette (plots are a handful of
flat colours, so nothing visible is lost), which makes it 3-5 times smaller. Pillow ships with
matplotlib; without it, or for bytes it cannot decode, the original is embedded unchanged.
"""

from __future__ import annotations

import io

__all__ = ["THUMBNAIL_WIDTH", "thumbnail_png"]

#: Widest embedded image, in pixels: the content width of the report page (``max-width`` of
#: its body less the padding), so at 1x zoom every pixel kept is a pixel shown.
THUMBNAIL_WIDTH = 1160


def thumbnail_png(data: bytes, *, max_width: int = THUMBNAIL_WIDTH) -> bytes:
    """A PNG of ``data`` at most ``max_width`` pixels wide with a 256-colour palette.

    Returns ``data`` itself when Pillow is missing, when ``data`` is not a decodable image, or
    when the image is narrow enough and re-encoding it would not make it smaller.

    Example:
        >>> from PIL import Image
        >>> buffer = io.BytesIO()
        >>> Image.new("RGBA", (2000, 500), (255, 0, 255, 255)).save(buffer, "PNG")
        >>> small = thumbnail_png(buffer.getvalue(), max_width=800)
        >>> Image.open(io.BytesIO(small)).size
        (800, 200)
    """
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        return data
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            resize = image.width > max_width
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            if resize:
                height = max(1, round(flat.height * max_width / flat.width))
                flat = flat.resize((max_width, height), Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            # octree keeps flat plot colours exact and adds no dithering noise to compress
            flat.quantize(256, method=Image.Quantize.FASTOCTREE).save(buffer, "PNG", optimize=True)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return data
    small = buffer.getvalue()
    return small if resize or len(small) < len(data) else data
