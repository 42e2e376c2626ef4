"""attnlab.interpret.viz: every view draws the data it is given, rejects bad input by name, and
is the only place in the package that draws (nothing else imports matplotlib or its gate)."""

from __future__ import annotations

import ast
import html
import itertools
import math
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from attnlab.interpret import attention_flow, rollout, viz
from attnlab.interpret import plots as compat

SOURCE = Path(__file__).resolve().parents[2] / "src" / "attnlab"


@pytest.fixture
def plt() -> Iterator[Any]:
    """pyplot on the Agg backend; every figure a test opens is closed after it."""
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    yield pyplot
    pyplot.close("all")


def _image(ax: Any, index: int = 0) -> torch.Tensor:
    """The data of image ``index`` of ``ax`` (a masked array's data, mask ignored)."""
    import numpy as np

    return torch.as_tensor(np.ma.getdata(ax.images[index].get_array()))


def _ticks(labels: Any) -> list[str]:
    return [t.get_text() for t in labels]


# ---------------------------------------------------------------------------------------------
# token maps


def test_alignment_shows_the_weights_and_the_tokens(plt: Any) -> None:
    weights = torch.rand(3, 4).softmax(-1)
    fig = viz.plot_alignment(weights, source=["le", "chat", "noir", "<eos>"],
                             target=["the", "black", "cat"], title="t")
    ax = fig.axes[0]
    torch.testing.assert_close(_image(ax).float(), weights)
    assert _ticks(ax.get_xticklabels()) == ["le", "chat", "noir", "<eos>"]
    assert _ticks(ax.get_yticklabels()) == ["the", "black", "cat"]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("source", "target", "t")


def test_alignment_rejects_bad_input_by_name(plt: Any) -> None:
    with pytest.raises(ValueError, match="weights must be a 2-D"):
        viz.plot_alignment(torch.rand(2, 3, 4), source=["a"] * 4, target=["b"] * 3)
    with pytest.raises(ValueError, match=r"source must hold one label per column.*\(4\), got 3"):
        viz.plot_alignment(torch.rand(3, 4), source=["a"] * 3, target=["b"] * 3)
    with pytest.raises(ValueError, match="target must hold one label per row"):
        viz.plot_alignment(torch.rand(3, 4), source=["a"] * 4, target=["b"] * 2)
    with pytest.raises(TypeError, match="target must be a sequence of labels"):
        viz.plot_alignment(torch.rand(3, 3), source=["a"] * 3, target="abc")
    with pytest.raises(ValueError, match="weights must not contain NaN"):
        viz.plot_alignment(torch.full((1, 1), math.nan), source=["a"], target=["b"])


def test_plot_attention_masks_cells_and_checks_the_mask(plt: Any) -> None:
    weights = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.8, 0.0]])
    mask = torch.tensor([True, True, False])
    ax = viz.plot_attention(weights, mask=mask)
    data = ax.images[0].get_array()
    assert data.mask.tolist() == [[False, False, True], [False, False, True]]
    torch.testing.assert_close(torch.as_tensor(data.data).float(), weights)
    with pytest.raises(ValueError, match="mask must be"):
        viz.plot_attention(weights, mask=torch.ones(2, dtype=torch.bool))
    with pytest.raises(ValueError, match="row_labels must hold one label per row"):
        viz.plot_attention(weights, row_labels=["a"])


def test_heads_with_tokens_draw_each_head(plt: Any) -> None:
    weights = torch.rand(3, 2, 4).softmax(-1)
    fig = viz.plot_heads_with_tokens(weights, ["a", "b"], ["w", "x", "y", "z"], title="heads")
    panels = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in panels] == ["head 0", "head 1", "head 2"]
    for h, ax in enumerate(panels):
        torch.testing.assert_close(_image(ax).float(), weights[h])
        assert _ticks(ax.get_xticklabels()) == ["w", "x", "y", "z"]
        assert _ticks(ax.get_yticklabels()) == ["a", "b"]
    with pytest.raises(ValueError, match="cols must hold one label per key"):
        viz.plot_heads_with_tokens(weights, ["a", "b"], ["w"], title="t")
    with pytest.raises(ValueError, match="weights must be a 3-D"):
        viz.plot_heads_with_tokens(weights[0], ["a", "b"], ["w"] * 4, title="t")


def test_head_layer_grid_puts_layer_l_head_h_at_row_l_column_h(plt: Any) -> None:
    weights = torch.rand(2, 3, 4, 4).softmax(-1)
    tokens = ["[CLS]", "a", "b", "c"]
    for given in (weights, list(weights.unbind(0))):
        fig = viz.plot_head_layer_grid(given, row_labels=tokens, col_labels=tokens)
        assert len(fig.axes) == 6
        for layer in range(2):
            for h in range(3):
                ax = fig.axes[layer * 3 + h]
                assert ax.get_title() == f"layer {layer}, head {h}"
                torch.testing.assert_close(_image(ax).float(), weights[layer, h])
                assert ax.images[0].get_clim() == (0.0, float(weights.max()))
        assert _ticks(fig.axes[0].get_yticklabels()) == tokens  # first column: query tokens
        assert _ticks(fig.axes[5].get_xticklabels()) == tokens  # last row: key tokens
    with pytest.raises(ValueError, match="weights must be a 4-D"):
        viz.plot_head_layer_grid(weights[0])
    with pytest.raises(ValueError, match="one shape"):
        viz.plot_head_layer_grid([weights[0], weights[1, :2]])
    with pytest.raises(ValueError, match="col_labels must hold one label per key"):
        viz.plot_head_layer_grid(weights, col_labels=tokens[:2])


def test_rollout_view_shows_the_map_or_one_row_as_bars(plt: Any) -> None:
    torch.manual_seed(0)
    layers = [torch.rand(1, 2, 4, 4).softmax(-1) for _ in range(3)]
    tokens = ["[CLS]", "the", "cat", "sat"]
    for result in (rollout(layers)[0], attention_flow(layers)[0]):
        fig = viz.plot_rollout(result, tokens=tokens)
        torch.testing.assert_close(_image(fig.axes[0]).float(), result.float())
        assert _ticks(fig.axes[0].get_xticklabels()) == tokens
        bars = viz.plot_rollout(result, tokens=tokens, query=0)
        heights = [float(p.get_height()) for p in bars.axes[0].patches]
        torch.testing.assert_close(torch.tensor(heights), result[0].float())
        assert _ticks(bars.axes[0].get_xticklabels()) == tokens
    with pytest.raises(ValueError, match="weights must be a square"):
        viz.plot_rollout(torch.rand(3, 4))
    with pytest.raises(ValueError, match="query must be a position"):
        viz.plot_rollout(torch.eye(3), query=3)
    with pytest.raises(ValueError, match="tokens must hold one label per position"):
        viz.plot_rollout(torch.eye(3), tokens=["a"])


def test_token_scores_are_bar_heights(plt: Any) -> None:
    scores = torch.tensor([0.1, -0.3, 0.7])
    fig = viz.plot_token_scores(scores, ["a", "b", "c"], ylabel="relevance")
    torch.testing.assert_close(
        torch.tensor([float(p.get_height()) for p in fig.axes[0].patches]), scores)
    with pytest.raises(ValueError, match="scores must be a 1-D"):
        viz.plot_token_scores(scores[None], ["a", "b", "c"])


def test_hop_maps_show_each_question(plt: Any) -> None:
    maps = [torch.rand(3, 5).softmax(-1), torch.rand(3, 2).softmax(-1)]
    sentences = [[f"s{i}" for i in range(5)], ["x", "* y"]]
    fig = viz.plot_hop_attention(maps, sentences, titles=["q1", "q2"])
    for ax, m, s, title in zip(fig.axes, maps, sentences, ["q1", "q2"], strict=True):
        torch.testing.assert_close(_image(ax).float(), m)
        assert _ticks(ax.get_xticklabels()) == s
        assert _ticks(ax.get_yticklabels()) == ["hop 1", "hop 2", "hop 3"]
        assert ax.get_title() == title
    with pytest.raises(ValueError, match=r"sentence_labels\[1\] must hold one label"):
        viz.plot_hop_attention(maps, [sentences[0], ["x"]])
    with pytest.raises(ValueError, match="maps must hold at least one"):
        viz.plot_hop_attention([], [])


def test_attention_maps_side_by_side(plt: Any) -> None:
    maps = [torch.rand(2, 3), torch.rand(2, 5)]
    fig = viz.plot_attention_maps(maps, col_labels=[list("abc"), list("vwxyz")],
                                  titles=["n1", "n2"], xlabel="neighbour", ylabel="head")
    for ax, m in zip(fig.axes[:2], maps, strict=True):
        torch.testing.assert_close(_image(ax).float(), m)
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("neighbour", "head")
    assert _ticks(fig.axes[1].get_xticklabels()) == list("vwxyz")
    with pytest.raises(ValueError, match="col_labels must hold one list per map"):
        viz.plot_attention_maps(maps, col_labels=[list("abc")])


def test_ascii_heatmap_is_unchanged() -> None:
    text = viz.ascii_heatmap(torch.tensor([[0.0, 1.0], [0.5, 0.5]]), row_labels=["q1", "q2"],
                             highlight=[1, 0])
    assert text.splitlines() == ["q1  @", "    ^", "q2 @@", "   ^"]


# ---------------------------------------------------------------------------------------------
# text


def _weights_of(page: str) -> list[tuple[str, float]]:
    """``(text, data-weight)`` of every span, text unescaped."""
    spans = re.findall(r'data-weight="([0-9.]+)">(.*?)</span>', page)
    return [(html.unescape(text), float(w)) for w, text in spans]


def test_highlight_html_escapes_text_and_orders_intensities_by_weight() -> None:
    words = [["<script>", "profit", "&", "rose"], ["\"quoted\"", "loss"]]
    weights = [[0.05, 0.4, 0.1, 0.8], [0.2, 0.6]]
    page = viz.highlight_html(words, weights, sentence_weights=[0.7, 0.3], title="<doc>")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "&lt;doc&gt;" in page and "&amp;" in page and "&quot;quoted&quot;" in page
    spans = _weights_of(page)
    sentence_boxes = [spans[0], spans[5]]
    assert [text for text, _ in sentence_boxes] == ["0.70", "0.30"]
    assert [w for _, w in sentence_boxes] == pytest.approx([1.0, 0.3 / 0.7], abs=1e-4)
    word_spans = spans[1:5] + spans[6:]
    assert [text for text, _ in word_spans] == [w for s in words for w in s]
    flat = [w for s in weights for w in s]
    shown = [w for _, w in word_spans]
    assert shown == pytest.approx([w / max(flat) for w in flat], abs=1e-4)
    order = sorted(range(len(flat)), key=flat.__getitem__)
    assert all(shown[a] < shown[b] for a, b in itertools.pairwise(order))
    opacities = [float(a) for a in re.findall(r"rgba\(\d+, \d+, \d+, ([0-9.]+)\)", page)]
    assert opacities == pytest.approx([w for _, w in spans], abs=1e-3)


def test_highlight_html_rejects_misaligned_weights() -> None:
    with pytest.raises(ValueError, match=r"word_weights\[0\] must hold one value per word"):
        viz.highlight_html([["a", "b"]], [[0.5]])
    with pytest.raises(ValueError, match="word_weights must hold one sequence per sentence"):
        viz.highlight_html([["a"]], [[0.5], [0.1]])
    with pytest.raises(ValueError, match="sentence_weights must hold one value per sentence"):
        viz.highlight_html([["a"]], [[0.5]], sentence_weights=[0.1, 0.2])
    with pytest.raises(ValueError, match="non-negative"):
        viz.highlight_html([["a"]], [[-0.5]])
    with pytest.raises(TypeError, match="sentences must be a sequence of sentences"):
        viz.highlight_html(["ab"], [[0.5, 0.5]])


def _luminance(rgba: Any) -> float:
    r, g, b = rgba[:3]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_highlighted_documents_shade_words_darker_with_weight(plt: Any) -> None:
    words = [["profit", "rose", "sharply"], ["the", "company", "said"]]
    values = [[0.1, 1.0, 0.5], [0.0, 0.3, 0.7]]
    han = viz.HighlightedText(words, values, sentence_values=[1.0, 0.4],
                              sentence_labels=["0.71", "0.29"], title="HAN")
    flat = viz.HighlightedText(words, values, title="flat")
    fig = viz.plot_highlighted_documents([[han, flat]])
    assert len(fig.axes) == 2
    texts = fig.axes[0].texts
    assert [t.get_text() for t in texts] == ["0.71", *words[0], "0.29", *words[1], "HAN"]
    all_words = [w for s in words for w in s]
    word_boxes = [t for t in texts if t.get_text() in all_words]
    dark = [_luminance(t.get_bbox_patch().get_facecolor()) for t in word_boxes]
    flat_values = [v for s in values for v in s]
    order = sorted(range(len(flat_values)), key=flat_values.__getitem__)
    assert all(dark[a] > dark[b] for a, b in itertools.pairwise(order))
    assert [t.get_text() for t in fig.axes[1].texts] == [*words[0], *words[1], "flat"]
    assert fig.axes[0].get_ylim() == fig.axes[1].get_ylim()  # one height per row
    with pytest.raises(ValueError, match="rows must all hold 2 panels"):
        viz.plot_highlighted_documents([[han, flat], [han]])
    with pytest.raises(TypeError, match=r"rows\[0\]\[0\] must be a HighlightedText"):
        viz.plot_highlighted_documents([[("a",)]])  # type: ignore[list-item]


def test_draw_document_wraps_long_sentences(plt: Any) -> None:
    fig, ax = plt.subplots()
    sentences = [["profit", "rose"], ["the", "company", "said"] * 10]
    lines = viz.draw_document(ax, sentences, [[0.1, 1.0], [0.2] * 30], line_chars=60)
    assert lines == viz.document_line_count(sentences, 60, 0) > 2
    with pytest.raises(ValueError, match="line_chars"):
        viz.draw_document(ax, sentences, [[0.1, 1.0], [0.2] * 30], line_chars=3)


# ---------------------------------------------------------------------------------------------
# images


def _outline_corners(ax: Any, height: int, width: int) -> torch.Tensor:
    """The four corners of the first drawn grid outline (see ``_draw_grid``), ``(4, 2)``."""
    xy = torch.as_tensor(ax.get_lines()[0].get_xydata())
    return xy[[0, width - 1, width + height - 1, 2 * width + height - 1]]


@pytest.mark.parametrize("align_corners", [False, True])
def test_sampling_grid_corners_are_the_affine_image_of_the_output_corners(
    plt: Any, align_corners: bool
) -> None:
    theta = torch.tensor([[[0.6, -0.2, 0.1], [0.3, 0.5, -0.2]],
                          [[-0.8, 0.0, 0.0], [0.0, 1.2, 0.3]]])
    images = torch.rand(2, 1, 12, 10)
    out_h, out_w = 6, 5
    grid = F.affine_grid(theta, [2, 1, out_h, out_w], align_corners=align_corners)
    transformed = F.grid_sample(images, grid, align_corners=align_corners)
    fig = viz.plot_sampling_grids(images, [grid], transformed, labels=torch.tensor([3, 7]),
                                  predictions=torch.tensor([3, 1]),
                                  align_corners=align_corners)
    axes = fig.axes
    assert len(axes) == 4  # (N + 1) x B panels, row by row
    for b in range(2):
        # the output grid's corner sample positions in normalised output coordinates ...
        if align_corners:
            xs, ys = [-1.0, 1.0], [-1.0, 1.0]
        else:
            xs = [-1 + 1 / out_w, 1 - 1 / out_w]
            ys = [-1 + 1 / out_h, 1 - 1 / out_h]
        corners = torch.tensor([[xs[0], ys[0]], [xs[1], ys[0]], [xs[1], ys[1]], [xs[0], ys[1]]])
        # ... mapped by theta (eq. 1) into the input, then to pixel coordinates
        source = corners @ theta[b, :, :2].T + theta[b, :, 2]
        size = torch.tensor([10.0, 12.0])  # (W, H) of the input
        if align_corners:
            expected = (source + 1) / 2 * (size - 1)
        else:
            expected = ((source + 1) * size - 1) / 2
        got = _outline_corners(axes[b], out_h, out_w).float()
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(_image(axes[b]).float(), images[b, 0])
        torch.testing.assert_close(_image(axes[2 + b]).float(), transformed[b, 0])
    assert axes[0].get_title() == "label 3, pred 3"


def test_sampling_grids_reject_bad_input_by_name(plt: Any) -> None:
    images = torch.rand(2, 1, 8, 8)
    grid = F.affine_grid(torch.eye(2, 3).expand(2, 2, 3), [2, 1, 8, 8], align_corners=False)
    with pytest.raises(ValueError, match="grids must hold at least one"):
        viz.plot_sampling_grids(images, [], images)
    with pytest.raises(ValueError, match="transformed must have shape"):
        viz.plot_sampling_grids(images, [grid], torch.rand(2, 2, 8, 8))
    with pytest.raises(ValueError, match="images must be a 4-D"):
        viz.plot_sampling_grids(images[0], [grid], images)
    with pytest.raises(ValueError, match=r"labels must have shape \(B,\)"):
        viz.plot_sampling_grids(images, [grid], images, labels=torch.tensor([1]))
    with pytest.raises(ValueError, match="grid_lines"):
        viz.plot_sampling_grids(images, [grid], images, grid_lines=-1)


def test_region_attention_shades_regions_by_relative_weight(plt: Any) -> None:
    images = [torch.rand(3, 16, 16), torch.rand(3, 16, 16)]
    weights = torch.rand(2, 2, 16).softmax(-1)  # (images, hops, 4 x 4 regions)
    fig = viz.plot_region_attention(images, weights, titles=["q1", "q2"])
    assert len(fig.axes) == 4
    for hop in range(2):
        for col in range(2):
            ax = fig.axes[hop * 2 + col]
            shade = torch.as_tensor(ax.images[1].get_array())
            heat = weights[col, hop].view(4, 4)
            torch.testing.assert_close(shade[..., 3].float(), 0.8 * (1 - heat / heat.max()))
            torch.testing.assert_close(torch.as_tensor(ax.images[0].get_array()).float(),
                                       images[col].permute(1, 2, 0))
    assert [fig.axes[c].get_title() for c in range(2)] == ["q1", "q2"]
    with pytest.raises(ValueError, match="weights must cover a square grid"):
        viz.plot_region_attention(images, torch.rand(2, 1, 15))
    with pytest.raises(ValueError, match="images must hold one image per row"):
        viz.plot_region_attention(images[:1], weights)
    with pytest.raises(ValueError, match=r"images\[0\] must have 1 or 3 channels"):
        viz.plot_region_attention([torch.rand(2, 4, 4)], torch.rand(1, 1, 4))


# ---------------------------------------------------------------------------------------------
# squeeze-and-excitation gates


def test_class_gates_draw_each_class_mean_and_the_spread_by_depth(plt: Any) -> None:
    torch.manual_seed(1)
    means = [torch.rand(3, 4), torch.rand(3, 6), torch.rand(3, 8)]
    means[1][2] = math.nan  # a class without images
    fig = viz.plot_class_gates(means, blocks=(0, 2), block_names=["s1", "s2", "s3"],
                               class_names=["a", "b", "c"], title="gates")
    assert len(fig.axes) == 3
    for ax, b in zip(fig.axes[:2], (0, 2), strict=True):
        lines = ax.get_lines()
        assert [line.get_label() for line in lines] == ["a", "b", "c", "all"]
        for c in range(3):
            torch.testing.assert_close(torch.as_tensor(lines[c].get_ydata()).float(),
                                       means[b][c])
        torch.testing.assert_close(torch.as_tensor(lines[3].get_ydata()).float(),
                                   means[b].mean(0))
    spread = torch.as_tensor(fig.axes[2].get_lines()[0].get_ydata()).float()
    expected = []
    for m in means:  # population std over the classes with images, averaged over channels
        rows = [r for r in m.tolist() if not any(math.isnan(x) for x in r)]
        cols = list(zip(*rows, strict=True))
        expected.append(sum(math.sqrt(sum((x - sum(c) / len(c)) ** 2 for x in c) / len(c))
                            for c in cols) / len(cols))
    torch.testing.assert_close(spread, torch.tensor(expected))
    with pytest.raises(ValueError, match="class_names needs 3 names"):
        viz.plot_class_gates(means, blocks=(0,), block_names=["s1", "s2", "s3"],
                             class_names=["a"])
    with pytest.raises(ValueError, match="block_names needs 3 names"):
        viz.plot_class_gates(means, blocks=(0,), block_names=["s1"], class_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="blocks must index the 3 blocks"):
        viz.plot_class_gates(means, blocks=(3,), block_names=["s1", "s2", "s3"],
                             class_names=["a", "b", "c"])


# ---------------------------------------------------------------------------------------------
# graphs


def _two_hop_graph() -> tuple[torch.Tensor, torch.Tensor]:
    # centre 0; neighbours 1, 2, 3; second ring 4 (via 1), 5 (via 3); 6 is three hops away
    pairs = [(1, 0), (2, 0), (3, 0), (0, 0), (0, 1), (4, 1), (5, 3), (6, 4), (2, 3), (5, 4)]
    source = torch.tensor([s for s, _ in pairs])
    target = torch.tensor([t for _, t in pairs])
    return source, target


def test_layout_puts_each_ring_at_its_hop_distance() -> None:
    source, target = _two_hop_graph()
    pos = viz.neighbourhood_layout(source, target, 0, hops=2)
    radius = {n: math.hypot(*p) for n, p in pos.items()}
    assert radius == pytest.approx({0: 0.0, 1: 1.0, 2: 1.0, 3: 1.0, 4: 2.0, 5: 2.0})
    assert pos[1] == pytest.approx((0.0, 1.0))  # ring 1 starts at the top, in id order
    # deterministic, and independent of the order of the edge list
    perm = torch.randperm(source.shape[0], generator=torch.Generator().manual_seed(0))
    assert viz.neighbourhood_layout(source[perm], target[perm], 0, hops=2) == pos
    nx = pytest.importorskip("networkx")
    graph = nx.Graph()
    graph.add_edges_from(zip(source.tolist(), target.tolist(), strict=True))
    hops = nx.single_source_shortest_path_length(graph, 0, cutoff=3)
    for node, distance in hops.items():
        if distance <= 2:
            assert radius[node] == pytest.approx(distance)
        else:
            assert node not in pos
    with pytest.raises(ValueError, match="source and target must both be"):
        viz.neighbourhood_layout(source, target[:-1], 0)
    with pytest.raises(ValueError, match="hops must be a positive int"):
        viz.neighbourhood_layout(source, target, 0, hops=0)


def test_edge_widths_are_proportional_to_attention(plt: Any) -> None:
    source, target = _two_hop_graph()
    weights = torch.tensor([[0.5, 0.1], [0.2, 0.3], [0.1, 0.4], [0.2, 0.2], [0.4, 0.5],
                            [0.6, 0.5], [0.3, 0.2], [1.0, 1.0], [0.25, 0.3], [2.0, 2.0]])
    fig = viz.plot_neighbourhood_graph(source, target, weights, 0, hops=2, max_width=5.0,
                                       node_labels=[f"c{i}" for i in range(7)])
    pos = viz.neighbourhood_layout(source, target, 0, hops=2)
    # drawn: edges into rings 0 and 1, inwards or along ring 1; left out: the self-loop (0, 0),
    # the outward edge 0 -> 1, the edge from node 6 (three hops away) and the edge 5 -> 4
    # between two nodes of ring 2
    drawn = [0, 1, 2, 5, 6, 8]
    panels = [ax for ax in fig.axes if ax.collections]
    assert len(panels) == 2  # one per head
    for h, ax in enumerate(panels):
        edges = ax.collections[0]
        widths = torch.as_tensor(edges.get_linewidths()).float()
        values = weights[drawn, h]
        torch.testing.assert_close(widths, 5.0 * values / values.max())
        assert torch.equal(widths.argsort(stable=True), values.argsort(stable=True))
        for segment, e in zip(edges.get_segments(), drawn, strict=True):
            start, end = segment.tolist()
            assert start == pytest.approx(list(pos[int(source[e])]))
            assert end == pytest.approx(list(pos[int(target[e])]))
    with pytest.raises(ValueError, match="weights must hold one coefficient per edge"):
        viz.plot_neighbourhood_graph(source, target, weights[:-1], 0)
    with pytest.raises(ValueError, match="weights must be non-negative"):
        viz.plot_neighbourhood_graph(source, target, -weights, 0)
    with pytest.raises(ValueError, match="node_labels must hold a label per node id"):
        viz.plot_neighbourhood_graph(source, target, weights, 0, node_labels=["a"])
    with pytest.raises(ValueError, match="centre must be a node id"):
        viz.plot_neighbourhood_graph(source, target, weights, 0.5)  # type: ignore[arg-type]


def test_entropy_histograms_count_every_node(plt: Any) -> None:
    entropy = torch.rand(50, 3)
    fig = viz.plot_entropy_histograms(entropy, torch.rand(50) + 0.5, label="GAT")
    panels = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in panels] == ["head 0", "head 1", "head 2"]
    for h, ax in enumerate(panels):
        bars = [p for p in ax.patches if p.get_label() != "uniform" and hasattr(p, "get_height")
                and p.get_width() > 0]
        assert sum(p.get_height() for p in bars) == entropy.shape[0]
        for bar in bars:  # each bar counts the entropies of head h in its bin
            low, high = bar.get_x(), bar.get_x() + bar.get_width()
            inside = ((entropy[:, h] >= low) & (entropy[:, h] < high)).sum()
            assert bar.get_height() == pytest.approx(float(inside), abs=1)
    with pytest.raises(ValueError, match="uniform must hold one value per node"):
        viz.plot_entropy_histograms(entropy, torch.rand(10))


# ---------------------------------------------------------------------------------------------
# pointers


def test_pointer_view_draws_the_distributions_and_the_cycles(plt: Any) -> None:
    points = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.3, 0.4]])
    weights = torch.rand(4, 5).softmax(-1)  # 4 steps over stop + 4 points
    fig = viz.plot_pointer_distributions(
        weights, input_labels=["stop", "0", "1", "2", "3"],
        step_labels=["s0", "s1", "s2", "s3"], points=points, target=[0, 1, 2],
        predicted=[0, 2, 1], target_label="true hull", predicted_label="Ptr-Net",
    )
    left, right = fig.axes[0], fig.axes[1]
    torch.testing.assert_close(_image(right).float(), weights)
    assert _ticks(right.get_xticklabels()) == ["stop", "0", "1", "2", "3"]
    lines = {line.get_label(): torch.as_tensor(line.get_xydata()) for line in left.get_lines()}
    torch.testing.assert_close(lines["true hull"].float(), points[[0, 1, 2, 0]])
    torch.testing.assert_close(lines["Ptr-Net"].float(), points[[0, 2, 1, 0]])
    with pytest.raises(ValueError, match=r"target must hold indices of points in \[0, 4\)"):
        viz.plot_pointer_distributions(weights, input_labels=list("abcde"), points=points,
                                       target=[0, 4])
    with pytest.raises(ValueError, match="input_labels must hold one label per input"):
        viz.plot_pointer_distributions(weights, input_labels=["stop"])
    with pytest.raises(ValueError, match=r"points must be \(n, 2\)"):
        viz.plot_pointer_distributions(weights, input_labels=list("abcde"),
                                       points=torch.rand(4, 3))


# ---------------------------------------------------------------------------------------------
# charts


def test_grouped_bars_draw_each_series_and_reference(plt: Any) -> None:
    fig = viz.plot_grouped_bars(["1", "2", "3"], {"paper": [0.0, 8.3, 4.0],
                                                  "ours": [1.0, 9.0, 3.5]},
                                ylabel="error (%)", references=[(5.0, "fail", "--")],
                                value_format=".1f")
    ax = fig.axes[0]
    assert [[float(b.get_height()) for b in c] for c in ax.containers] == [
        [0.0, 8.3, 4.0], [1.0, 9.0, 3.5]]
    assert [t.get_text() for t in ax.texts] == ["0.0", "8.3", "4.0", "1.0", "9.0", "3.5"]
    assert [float(line.get_ydata()[0]) for line in ax.get_lines()] == [5.0]
    assert _ticks(ax.get_xticklabels()) == ["1", "2", "3"]
    with pytest.raises(ValueError, match=r"series\['ours'\] must hold one value per group"):
        viz.plot_grouped_bars(["1"], {"ours": [1.0, 2.0]}, ylabel="y")


def test_curves_and_panels(plt: Any) -> None:
    fig = viz.plot_curves({"ours": {3: 0.5, 1: 0.9}, "paper": {1: 0.8}}, xlabel="hops",
                          ylabel="err", dashed=["paper"], integer_x=True)
    ours, paper = fig.axes[0].get_lines()
    assert list(ours.get_xdata()) == [1, 3] and list(ours.get_ydata()) == [0.9, 0.5]
    assert paper.get_linestyle() == "--" and ours.get_linestyle() == "-"
    with pytest.raises(ValueError, match="curves must map a label"):
        viz.plot_curves({}, xlabel="x", ylabel="y")
    fig = viz.plot_curve_panels({"acc": {"a": {5: 1.0, 10: 0.5}}, "ratio": {"a": {5: 1.2}}},
                                xlabel="n", span=(5, 6, "training n"), unit_interval=["acc"])
    assert [ax.get_title() for ax in fig.axes] == ["acc", "ratio"]
    assert tuple(fig.axes[0].get_ylim()) == (-0.02, 1.02)
    assert tuple(fig.axes[1].get_ylim()) != (-0.02, 1.02)


def test_faithfulness_curves_plot_the_mean_over_runs(plt: Any) -> None:
    runs = torch.rand(3, 6)
    fig = viz.plot_faithfulness_curves({
        "bert": {"deletion": {"rollout": runs, "random": runs.flip(0)},
                 "insertion": {"rollout": runs}},
        "vit": {"deletion": {"rollout": runs[:1]}, "insertion": {}},
    })
    assert [ax.get_title() for ax in fig.axes] == [
        "bert: deletion", "bert: insertion", "vit: deletion", "vit: insertion"]
    rollout_line, random_line = fig.axes[0].get_lines()
    torch.testing.assert_close(torch.as_tensor(rollout_line.get_ydata()).float(), runs.mean(0))
    assert list(rollout_line.get_xdata()) == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert random_line.get_linestyle() == "--"
    assert len(fig.axes[0].collections) == 2  # a band per method with several runs
    assert len(fig.axes[2].collections) == 0  # one run: no band
    with pytest.raises(ValueError, match="needs at least one run of at least 2 steps"):
        viz.plot_faithfulness_curves({"m": {"deletion": {"x": torch.rand(2, 1)}}})
    with pytest.raises(ValueError, match="every subject must use the modes"):
        viz.plot_faithfulness_curves({"a": {"deletion": {}}, "b": {"other": {}}})


def test_table_and_timings(plt: Any) -> None:
    fig = viz.plot_table([["ResNet-50", "25.6"], ["SE-ResNet-50", "28.1"]],
                         columns=["model", "M"], cell_colours=[["#fff", "#c8e6c9"]] * 2)
    table = fig.axes[0].tables[0]
    assert table[0, 0].get_text().get_text() == "model"
    assert table[2, 1].get_text().get_text() == "28.1"
    with pytest.raises(ValueError, match=r"cells\[1\] must hold one string per column"):
        viz.plot_table([["a", "b"], ["c"]], columns=["x", "y"])
    with pytest.raises(ValueError, match="cell_colours must have the shape of cells"):
        viz.plot_table([["a", "b"]], columns=["x", "y"], cell_colours=[["#fff"]])
    samples = {"base": [3.0, 1.0, 2.0, 10.0], "se": [2.5]}
    fig = viz.plot_timings({"batch 1": samples})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["2.5 ms", "2.5 ms"]  # medians
    offsets = [torch.as_tensor(c.get_offsets())[:, 1].tolist() for c in ax.collections[::2]]
    assert offsets == [samples["base"], samples["se"]]
    with pytest.raises(ValueError, match=r"panels\['b'\] must map each model"):
        viz.plot_timings({"b": {"m": []}})


def test_learning_curves_are_shared_with_the_report() -> None:
    from attnlab.report import plots as report_plots

    assert report_plots.plot_learning_curves is viz.plot_learning_curves
    assert report_plots.group_series is viz.group_series


# ---------------------------------------------------------------------------------------------
# the compatibility module, the gate, and nothing plotting privately


def test_plots_module_re_exports_the_same_objects() -> None:
    for name in compat.__all__:
        assert getattr(compat, name) is getattr(viz, name), name
    assert compat._pyplot is viz._backend._pyplot
    assert set(compat.__all__) == {"PlottingUnavailableError", "ascii_heatmap", "plot_attention",
                                   "plot_heads", "save_figure"}


def test_importing_viz_does_not_import_matplotlib() -> None:
    code = ("import sys, attnlab.interpret.viz, attnlab.interpret.plots; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


VIEWS = {
    "alignment": lambda: viz.plot_alignment(torch.eye(2), source=["a", "b"], target=["x", "y"]),
    "grid": lambda: viz.plot_head_layer_grid(torch.rand(1, 1, 2, 2)),
    "rollout": lambda: viz.plot_rollout(torch.eye(2)),
    "graph": lambda: viz.plot_neighbourhood_graph(torch.tensor([1]), torch.tensor([0]),
                                                  torch.tensor([1.0]), 0),
    "bars": lambda: viz.plot_grouped_bars(["a"], {"s": [1.0]}, ylabel="y"),
    "text": lambda: viz.plot_highlighted_documents([[viz.HighlightedText([["a"]], [[1.0]])]]),
}


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_views_raise_the_dedicated_error_without_matplotlib(
    view: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(viz.PlottingUnavailableError, match=r"pip install 'attnlab\[plot\]'"):
        VIEWS[view]()
    assert viz.highlight_html([["a"]], [[1.0]]).count("<span") == 1  # HTML needs no matplotlib


VIZ_DIR = SOURCE / "interpret" / "viz"
COMPAT = SOURCE / "interpret" / "plots.py"


def _private_plotting(path: Path) -> list[str]:
    """Where ``path`` imports matplotlib (type-only imports included) or uses ``_pyplot``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names = [module] + [f"{module}.{a.name}" for a in node.names]
            if any(a.name == "_pyplot" for a in node.names):
                found.append(f"line {node.lineno}: imports _pyplot from {module}")
        elif isinstance(node, ast.Name | ast.Attribute):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name == "_pyplot":
                found.append(f"line {node.lineno}: uses _pyplot")
            continue
        else:
            continue
        for name in names:
            if name == "matplotlib" or name.startswith("matplotlib."):
                found.append(f"line {node.lineno}: imports {name}")
    return found


def test_nothing_outside_viz_plots_privately() -> None:
    offenders = {}
    for path in sorted(SOURCE.rglob("*.py")):
        if path == COMPAT or VIZ_DIR in path.parents:
            continue
        found = _private_plotting(path)
        if found:
            offenders[str(path.relative_to(SOURCE))] = found
    assert not offenders, (
        "figures must be drawn by attnlab.interpret.viz; these modules draw privately: "
        f"{offenders}"
    )


def test_the_scan_finds_private_plotting(tmp_path: Path) -> None:
    cases = {
        "import matplotlib.pyplot as plt\n": "imports matplotlib.pyplot",
        "from matplotlib.figure import Figure\n": "imports matplotlib.figure",
        "from attnlab.interpret.plots import _pyplot\n": "imports _pyplot",
        "import attnlab.interpret.viz._backend as b\nb._pyplot()\n": "uses _pyplot",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import matplotlib\n":
            "imports matplotlib",
    }
    for source, expected in cases.items():
        path = tmp_path / "module.py"
        path.write_text(source)
        assert any(expected in f for f in _private_plotting(path)), source
    (tmp_path / "clean.py").write_text("from attnlab.interpret.viz import plot_alignment\n"
                                       "x = 'matplotlib'\n")
    assert _private_plotting(tmp_path / "clean.py") == []
