"""Attention over text rendered as highlighted text: words (and sentences) on a background whose
intensity is their weight, as HTML and as a matplotlib figure (Yang et al. 2016, Figure 5)."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from attnlab.interpret.viz._backend import _pyplot

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "HighlightedText",
    "document_line_count",
    "draw_document",
    "highlight_html",
    "plot_highlighted_documents",
]

_FONT_SIZE = 8.0
_CHAR_INCHES = 0.602 * _FONT_SIZE / 72.0  # advance width of a DejaVu Sans Mono character
_WORD_RGB = (31, 119, 180)  # the blue of words
_SENTENCE_RGB = (214, 39, 40)  # the red of sentences


def _check_values(
    sentences: Sequence[Sequence[str]],
    word_values: Sequence[Sequence[float]],
    sentence_values: Sequence[float] | None,
    sentence_labels: Sequence[str] | None,
    names: tuple[str, str] = ("word_values", "sentence_values"),
) -> tuple[list[list[str]], list[list[float]], list[float] | None]:
    """Words, word values and sentence values as lists, after checking that they line up
    (``names``: how the caller calls the word and sentence values)."""
    word_name, sentence_name = names
    if isinstance(sentences, str) or any(isinstance(s, str) for s in sentences):
        raise TypeError("sentences must be a sequence of sentences, each a sequence of words")
    words = [[str(w) for w in s] for s in sentences]
    if len(word_values) != len(words):
        raise ValueError(f"{word_name} must hold one sequence per sentence ({len(words)}), got "
                         f"{len(word_values)}")
    values = []
    for i, (s, v) in enumerate(zip(words, word_values, strict=True)):
        row = [float(x) for x in v]
        if len(row) != len(s):
            raise ValueError(f"{word_name}[{i}] must hold one value per word ({len(s)}), got "
                             f"{len(row)}")
        if any(not math.isfinite(x) or x < 0 for x in row):
            raise ValueError(f"{word_name}[{i}] must be finite and non-negative, got {row}")
        values.append(row)
    sent = None
    if sentence_values is not None:
        sent = [float(x) for x in sentence_values]
        if len(sent) != len(words):
            raise ValueError(f"{sentence_name} must hold one value per sentence ({len(words)}), "
                             f"got {len(sent)}")
        if any(not math.isfinite(x) or x < 0 for x in sent):
            raise ValueError(f"{sentence_name} must be finite and non-negative, got {sent}")
    if sentence_labels is not None and len(sentence_labels) != len(words):
        raise ValueError(f"sentence_labels must hold one label per sentence ({len(words)}), got "
                         f"{len(sentence_labels)}")
    return words, values, sent


def _span(text: str, intensity: float, rgb: tuple[int, int, int], title: str) -> str:
    alpha = min(max(intensity, 0.0), 1.0)
    colour = "#fff" if alpha > 0.6 else "#000"
    r, g, b = rgb
    return (
        f'<span style="background-color: rgba({r}, {g}, {b}, {alpha:.3f}); color: {colour}; '
        f'padding: 0 2px; border-radius: 2px" title="{html.escape(title)}" '
        f'data-weight="{alpha:.4f}">{html.escape(text)}</span>'
    )


def highlight_html(
    sentences: Sequence[Sequence[str]],
    word_weights: Sequence[Sequence[float]],
    *,
    sentence_weights: Sequence[float] | None = None,
    title: str | None = None,
    normalize: bool = True,
) -> str:
    """A document as self-contained HTML: each word on a blue background whose opacity is its
    weight and, with ``sentence_weights``, a red box before each sentence with its weight.

    Yang et al., "Hierarchical Attention Networks for Document Classification", NAACL 2016,
    https://www.cs.cmu.edu/~./hovy/papers/16HLT-hierarchical-attention-networks.pdf, Figure 5.
    Words and titles are HTML-escaped; no script or external style is used. Each span's opacity
    is also written to its ``data-weight`` attribute.

    Args:
        sentences: the words of each sentence.
        word_weights: a weight per word (``>= 0``), e.g. the word attention scaled by the
            square root of the sentence weight (the paper's convention).
        sentence_weights: a weight per sentence.
        title: a heading above the text.
        normalize: divide the word weights by their maximum over the document (and the sentence
            weights by theirs), so the strongest word is fully opaque; otherwise weights are
            used as opacities, clipped to ``[0, 1]``.

    Returns:
        A ``<div>`` holding one ``<p>`` per sentence.

    Example:
        >>> page = highlight_html([["a", "<b>"]], [[0.5, 1.0]], normalize=False)
        >>> page.count("<span"), "&lt;b&gt;</span>" in page, 'data-weight="0.5000">a<' in page
        (2, True, True)
    """
    words, values, sent = _check_values(sentences, word_weights, sentence_weights, None,
                                        ("word_weights", "sentence_weights"))
    word_top = max((x for row in values for x in row), default=0.0) if normalize else 1.0
    sent_top = max(sent, default=0.0) if (normalize and sent is not None) else 1.0
    parts = ['<div class="attention-text" style="font-family: monospace; line-height: 1.8">']
    if title:
        parts.append(f"<h4>{html.escape(title)}</h4>")
    for i, row in enumerate(words):
        spans = []
        if sent is not None:
            scale = sent[i] / sent_top if sent_top > 0 else 0.0
            spans.append(_span(f"{sent[i]:.2f}", scale, _SENTENCE_RGB, f"sentence {i}"))
        for word, value in zip(row, values[i], strict=True):
            scale = value / word_top if word_top > 0 else 0.0
            spans.append(_span(word, scale, _WORD_RGB, f"{value:.4f}"))
        parts.append('<p style="margin: 0.2em 0">' + " ".join(spans) + "</p>")
    parts.append("</div>")
    return "".join(parts)


def _wrap(sentences: Sequence[Sequence[str]], line_chars: int, indent: int
          ) -> list[list[tuple[int, int, str]]]:
    """Per sentence, ``(line offset, column, word)`` of each word wrapped at ``line_chars``."""
    wrapped = []
    for words in sentences:
        line, column, placed = 0, indent, []
        for word in words:
            if column + len(word) > line_chars and column > indent:
                line, column = line + 1, indent
            placed.append((line, column, word))
            column += len(word) + 1
        wrapped.append(placed)
    return wrapped


def document_line_count(sentences: Sequence[Sequence[str]], line_chars: int, indent: int) -> int:
    """How many text lines :func:`draw_document` takes for ``sentences`` (``indent`` is 6 with
    sentence boxes, else 0).

    Example:
        >>> document_line_count([["a"] * 10, ["b"]], line_chars=10, indent=0)
        3
    """
    return sum(1 + (p[-1][0] if p else 0) for p in _wrap(sentences, line_chars, indent))


def draw_document(
    ax: Any,
    sentences: Sequence[Sequence[str]],
    word_values: Sequence[Sequence[float]],
    *,
    sentence_values: Sequence[float] | None = None,
    sentence_labels: Sequence[str] | None = None,
    title: str = "",
    line_chars: int = 100,
) -> int:
    """Draw a document's words on ``ax``, each on a background whose darkness is its value.

    Words are set in a monospace font on a character grid of ``line_chars`` columns (size the
    axes to ``line_chars`` characters of 8-point type); each sentence starts a new line. With
    ``sentence_values``, a red box in front of each sentence shows ``sentence_labels[i]`` on a
    background of darkness ``sentence_values[i]``. Values lie in ``[0, 1]`` (clipped).

    Returns:
        The number of text lines drawn.

    Example:
        >>> from attnlab.interpret.viz._backend import _pyplot
        >>> fig, ax = _pyplot().subplots()
        >>> draw_document(ax, [["good", "movie"]], [[0.2, 1.0]])
        1
    """
    words, values, sent = _check_values(sentences, word_values, sentence_values,
                                        sentence_labels)
    if isinstance(line_chars, bool) or not isinstance(line_chars, int) or line_chars < 8:
        raise ValueError(f"line_chars must be an int >= 8, got {line_chars!r}")
    plt = _pyplot()
    blues, reds = plt.get_cmap("Blues"), plt.get_cmap("Reds")
    indent = 6 if sent is not None else 0
    row = 0
    for i, placed in enumerate(_wrap(words, line_chars, indent)):
        boxes = [(column, row + line, word, values[i][k], blues)
                 for k, (line, column, word) in enumerate(placed)]
        if sent is not None:
            text = str(sentence_labels[i]) if sentence_labels is not None else ""
            boxes.insert(0, (0, row, text, sent[i], reds))
        for column, y, text, value, cmap in boxes:
            shade = 0.9 * float(min(max(value, 0.0), 1.0))
            ax.text(
                column, y, text, family="monospace", fontsize=_FONT_SIZE, va="center",
                ha="left", color="white" if shade > 0.55 else "black",
                bbox={"facecolor": cmap(shade), "edgecolor": "none", "pad": 0.8},
            )
        row += 1 + (placed[-1][0] if placed else 0)
    if title:
        ax.text(0, -1.5, title, fontsize=9, va="center", ha="left", fontweight="bold")
    ax.set_xlim(0, line_chars)
    ax.set_ylim(row - 0.4, -2.4)
    ax.axis("off")
    return row


class HighlightedText(NamedTuple):
    """One panel of :func:`plot_highlighted_documents`: a document and its weights.

    Fields are the arguments of :func:`draw_document` (values in ``[0, 1]``).
    """

    sentences: Sequence[Sequence[str]]
    word_values: Sequence[Sequence[float]]
    sentence_values: Sequence[float] | None = None
    sentence_labels: Sequence[str] | None = None
    title: str = ""


def plot_highlighted_documents(
    rows: Sequence[Sequence[HighlightedText]], *, panel_inches: float = 7.4
) -> Figure:
    """A grid of highlighted documents: one figure row per document, one panel per view of it
    (e.g. the hierarchical model's weights next to a flat model's).

    Panels of a row share one height, sized to the longest of them.

    Args:
        rows: per figure row, its panels (every row has the same number of panels).
        panel_inches: the width of a panel; text wraps to fit it.

    Returns:
        The matplotlib ``Figure``; ``fig.axes[r * cols + c]`` is panel ``c`` of row ``r``, its
        texts the words (with their boxes' colours) in reading order after the sentence boxes.

    Example:
        >>> doc = HighlightedText([["profit", "rose"]], [[0.3, 1.0]], title="doc 1")
        >>> fig = plot_highlighted_documents([[doc]])
        >>> [t.get_text() for t in fig.axes[0].texts]
        ['profit', 'rose', 'doc 1']
    """
    if not rows or any(not r for r in rows):
        raise ValueError("rows must hold at least one row of at least one panel")
    cols = len(rows[0])
    if any(len(r) != cols for r in rows):
        raise ValueError(f"rows must all hold {cols} panels, got {[len(r) for r in rows]}")
    if not (isinstance(panel_inches, (int, float)) and math.isfinite(panel_inches)
            and panel_inches >= 2.0):
        raise ValueError(f"panel_inches must be a number >= 2, got {panel_inches!r}")
    for r, panels in enumerate(rows):
        for c, panel in enumerate(panels):
            if not isinstance(panel, HighlightedText):
                raise TypeError(f"rows[{r}][{c}] must be a HighlightedText, got "
                                f"{type(panel).__name__}")
    line_chars = int(panel_inches / _CHAR_INCHES) - 4
    heights = [
        max(document_line_count(p.sentences, line_chars, 6 if p.sentence_values is not None
                                else 0) for p in r)
        for r in rows
    ]
    line_inches, title_inches = 0.2, 0.44  # a title takes two lines, plus a gap
    total = sum(h * line_inches + title_inches for h in heights)
    plt = _pyplot()
    width = cols * panel_inches + 0.6
    fig, axes = plt.subplots(
        len(rows), cols, figsize=(width, total + 0.2),
        gridspec_kw={"height_ratios": [h * line_inches + title_inches for h in heights],
                     "wspace": 0.08, "hspace": 0.0},
        squeeze=False,
    )
    fig.subplots_adjust(left=0.2 / width, right=0.995, top=0.995, bottom=0.0)
    for panels, ax_row in zip(rows, axes, strict=True):
        lines = 0
        for panel, ax in zip(panels, ax_row, strict=True):
            lines = max(lines, draw_document(
                ax, panel.sentences, panel.word_values, sentence_values=panel.sentence_values,
                sentence_labels=panel.sentence_labels, title=panel.title,
                line_chars=line_chars,
            ))
        for ax in ax_row:  # one line height for every panel of a row
            ax.set_ylim(lines - 0.4, -2.4)
    return fig
