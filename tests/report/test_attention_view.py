"""The interactive attention view: its data (caps, rounding, checks), its escaping, its place in
report.html, and, in headless Chromium, that the map shown is the one the URL or the reader
chose (the key tokens and heat-map cells carry the weights of that layer, head and query)."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from attnlab.report.attention_view import (
    MAX_EXAMPLES,
    MAX_TOKENS,
    SCRIPT_SOURCE,
    VIEW_FILE,
    AttentionExample,
    AttentionMap,
    render_page,
    render_view,
    validate_view_data,
    view_data,
    write_view_data,
)
from attnlab.report.html import load_run, render_report
from report.chromium import require_chromium, run_chromium

# token texts that would become markup if the view wrote them as HTML (the first ends the data
# block and adds an element with id "pwned")
HOSTILE = ["</script><b id=pwned>", "a&amp;b", '"q"', "<b>", "é ü"]


def distributions(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Random rows that sum to one, far from uniform (so heads differ clearly)."""
    raw = rng.exponential(size=shape) ** 3
    return raw / raw.sum(-1, keepdims=True)


@pytest.fixture
def maps() -> dict[str, tuple[np.ndarray, list[str], list[str]]]:
    rng = np.random.default_rng(0)
    source = ["x", *HOSTILE[:3], "<eos>"]  # 5 tokens
    target = ["<bos>", HOSTILE[3], HOSTILE[4], "."]  # 4 tokens
    return {
        "encoder": (distributions(rng, 2, 3, 5, 5), source, source),
        "cross": (distributions(rng, 2, 3, 4, 5), target, source),
    }


def example_of(maps: dict[str, tuple[np.ndarray, list[str], list[str]]]) -> AttentionExample:
    return AttentionExample("a <sentence> & more", [
        AttentionMap(name, weights, queries=queries, keys=keys, title=f"{name} attention")
        for name, (weights, queries, keys) in maps.items()
    ])


# ---------------------------------------------------------------------------------------------
# data


def test_view_data_rounds_and_keeps_the_layout(maps: dict[str, Any]) -> None:
    data = view_data([example_of(maps)])
    assert validate_view_data(data) is data
    (example,) = data["examples"]
    for entry in example["maps"]:
        weights, queries, keys = maps[entry["name"]]
        assert entry["queries"] == queries and entry["keys"] == keys
        got = np.array(entry["weights"])
        assert got.shape == weights.shape
        for index in np.ndindex(*weights.shape):  # literal: Python's round of every weight
            assert got[index] == round(float(weights[index]), 3)
    assert data["notes"] == []


def test_shapes_two_and_three_mean_one_layer() -> None:
    one = AttentionMap("m", [[0.5, 0.5]], queries=["q"], keys=["a", "b"])
    heads = AttentionMap("m", [[[0.5, 0.5]], [[1.0, 0.0]]], queries=["q"], keys=["a", "b"])
    assert (one.num_layers, one.num_heads) == (1, 1)
    assert (heads.num_layers, heads.num_heads) == (1, 2)
    assert heads.weights[0][1] == [[1.0, 0.0]]


def test_caps_cut_tokens_examples_and_the_weight_budget() -> None:
    rng = np.random.default_rng(1)
    long = [f"t{i}" for i in range(MAX_TOKENS + 6)]
    weights = distributions(rng, 1, 2, len(long), len(long))
    big = AttentionMap("self", weights, queries=long, keys=long)
    examples = [AttentionExample(f"e{i}", [big]) for i in range(MAX_EXAMPLES + 2)]
    data = view_data(examples)
    assert len(data["examples"]) == MAX_EXAMPLES
    entry = data["examples"][0]["maps"][0]
    assert entry["queries"] == long[:MAX_TOKENS] and entry["keys"] == long[:MAX_TOKENS]
    assert np.array(entry["weights"]).shape == (1, 2, MAX_TOKENS, MAX_TOKENS)
    assert entry["weights"][0][1][5][7] == round(float(weights[0, 1, 5, 7]), 3)
    assert any("first 4 kept" in n for n in data["notes"])
    assert any("cut to the first 64 x 64" in n for n in data["notes"])

    # a budget of one map and a half: the second example's map is left out, and said so
    per_map = 2 * MAX_TOKENS * MAX_TOKENS
    data = view_data(examples[:2], max_weights=per_map + per_map // 2)
    assert len(data["examples"]) == 1
    assert any("example 1" in n and "left out" in n for n in data["notes"])
    validate_view_data(data)

    long_token = AttentionMap("m", [[1.0]], queries=["x" * 100], keys=["y"])
    label = view_data([AttentionExample("", [long_token])])["examples"][0]["maps"][0]["queries"][0]
    assert len(label) == 40 and label.startswith("x" * 39)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"name": "Bad Name"}, "name"),
    ({"weights": [0.5, 0.5]}, "dimension"),
    ({"weights": [[0.5, 0.5, 0.0]]}, "rows of lengths"),
    ({"weights": [[math.nan, 1.0]]}, r"finite and in \[0, 1\]"),
    ({"weights": [[1.5, -0.5]]}, r"finite and in \[0, 1\]"),
    ({"queries": []}, "queries must not be empty"),
    ({"keys": "ab"}, "keys must be a sequence"),
])
def test_bad_maps_are_refused(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"name": "m", "weights": [[0.5, 0.5]], "queries": ["q"],
                            "keys": ["a", "b"], **kwargs}
    with pytest.raises(ValueError, match=match):
        AttentionMap(args.pop("name"), args.pop("weights"), **args)


def test_examples_and_limits_are_checked() -> None:
    m = AttentionMap("m", [[1.0]], queries=["q"], keys=["k"])
    with pytest.raises(ValueError, match="names must differ"):
        AttentionExample("x", [m, m])
    with pytest.raises(ValueError, match="non-empty"):
        AttentionExample("x", [])
    with pytest.raises(ValueError, match="examples must not be empty"):
        view_data([])
    with pytest.raises(ValueError, match="max_tokens"):
        view_data([AttentionExample("x", [m])], max_tokens=0)


def _doc(**entry_changes: Any) -> dict[str, Any]:
    entry = {"name": "m", "title": "t", "queries": ["q"], "keys": ["a", "b"],
             "weights": [[[[0.25, 0.75]]]], **entry_changes}
    return {"format": "attnlab-attention-view", "version": 1, "notes": [],
            "examples": [{"title": "x", "maps": [entry]}]}


@pytest.mark.parametrize(("doc", "match"), [
    ({"format": "other"}, "not an attention view"),
    (_doc(weights=[[[[0.25, 1.75]]]]), "weights must be"),
    (_doc(weights=[[[[0.25]]]]), "weights must be"),
    (_doc(weights=[[[[0.25, "0.75"]]]]), "weights must be"),
    (_doc(keys=["a"] * (MAX_TOKENS + 1)), "keys must be 1 to 64"),
    (_doc(name="<b>"), "bad or repeated map name"),
    (_doc(title=3), "title must be a string"),
])
def test_documents_from_a_run_folder_are_checked(doc: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        validate_view_data(doc)
    validate_view_data(_doc())  # the control passes


# ---------------------------------------------------------------------------------------------
# markup


class Elements(HTMLParser):
    """Start tags with attributes, the text of <script> blocks, and the view's elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[tuple[dict[str, str], str]] = []
        self.root: dict[str, str] = {}
        self.keys: list[tuple[dict[str, str], str]] = []
        self.queries: list[tuple[dict[str, str], str]] = []
        self.cells: list[float] = []
        self._open: list[tuple[str, dict[str, str], list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append((tag, values))
        classes = values.get("class", "").split()
        if tag == "div" and "attn-view" in classes:
            self.root = values
        if tag == "td" and "attn-cell" in classes:
            self.cells.append(float(values["data-weight"]))
        if tag in ("script", "span"):
            self._open.append((tag, values, []))

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1][2].append(data)

    def handle_endtag(self, tag: str) -> None:
        if not self._open or self._open[-1][0] != tag:
            return
        _, values, text = self._open.pop()
        classes = values.get("class", "").split()
        if tag == "script":
            self.scripts.append((values, "".join(text)))
        elif "attn-key" in classes:
            self.keys.append((values, "".join(text)))
        elif "attn-query" in classes:
            self.queries.append((values, "".join(text)))


def parse(page: str) -> Elements:
    parser = Elements()
    parser.feed(page)
    return parser


def test_page_escapes_tokens_and_allows_only_its_script(maps: dict[str, Any]) -> None:
    data = view_data([example_of(maps)])
    page = render_page(data, title="<title> & more")
    found = parse(page)
    # two script blocks: the data (JSON, never run) and the view's script
    assert [attrs.get("type") for attrs, _ in found.scripts] == ["application/json", None]
    assert HOSTILE[0] not in page and HOSTILE[3] not in page
    assert json.loads(found.scripts[0][1]) == data  # the tokens round-trip exactly
    # the policy names the hash of exactly the script on the page, and allows nothing else
    script = found.scripts[1][1]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"'sha256-{digest}'" == SCRIPT_SOURCE
    csp = [a["content"] for t, a in found.tags if a.get("http-equiv") == "Content-Security-Policy"]
    assert csp == [f"default-src 'none'; script-src {SCRIPT_SOURCE}; style-src 'unsafe-inline'; "
                   "base-uri 'none'; form-action 'none'"]
    assert "<title>&lt;title&gt; &amp; more</title>" in page
    assert "innerHTML" not in script and "eval(" not in script


def test_render_view_refuses_bad_input(maps: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="not an attention view"):
        render_view({"examples": []})
    with pytest.raises(ValueError, match="view_id"):
        render_view(view_data([example_of(maps)]), view_id='x" onload="y')


def _run_folder(folder: Path, examples: list[AttentionExample] | None) -> Path:
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"experiment": "toy", "status": "finished"}))
    if examples is not None:
        write_view_data(folder / VIEW_FILE, examples)
    return folder


def test_report_embeds_the_view_only_when_the_run_has_one(
    maps: dict[str, Any], tmp_path: Path
) -> None:
    with_view = load_run(_run_folder(tmp_path / "a", [example_of(maps)]))
    without = load_run(_run_folder(tmp_path / "b", None))
    assert with_view.attention == view_data([example_of(maps)])
    page = render_report([with_view])
    assert f"script-src {SCRIPT_SOURCE}" in page and 'id="attn-view-0"' in page
    plain = render_report([without])
    assert "<script" not in plain and "script-src" not in plain
    both = render_report([without, with_view])
    assert 'id="attn-view-1"' in both and both.count('class="attn-view"') == 1

    broken = tmp_path / "c"
    _run_folder(broken, None)
    (broken / VIEW_FILE).write_text(json.dumps(_doc(weights=[[[[2.0, 0.0]]]])))
    record = load_run(broken)
    assert record.attention is None
    assert any("attention view not shown" in p for p in record.problems)
    assert "<script" not in render_report([record])


# ---------------------------------------------------------------------------------------------
# in the browser


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_chromium()


def _expected_row(weights: np.ndarray, layer: int, head: str, query: int) -> np.ndarray:
    rounded = np.round(weights[layer], 3)  # (heads, Lq, Lk), as embedded
    return rounded.mean(0)[query] if head == "mean" else rounded[int(head), query]


def _open(chromium: str, tmp_path: Path, page: Path, fragment: str = "") -> Elements:
    done = run_chromium(chromium, tmp_path, "--dump-dom", "--virtual-time-budget=2000",
                        page.resolve().as_uri() + fragment)
    found = parse(done.stdout)
    assert found.root.get("data-ready") == "1", (done.stdout[:500], done.stderr[-1500:])
    return found


def _check_shown(found: Elements, maps: dict[str, Any], view: str, layer: int, head: str,
                 query: int) -> None:
    weights, queries, keys = maps[view]
    root = found.root
    assert (root["data-view"], root["data-layer"], root["data-head"], root["data-query"]) == (
        view, str(layer), head, str(query))
    expected = _expected_row(weights, layer, head, query)
    shown = np.array([float(attrs["data-weight"]) for attrs, _ in found.keys])
    assert [text for _, text in found.keys] == keys  # tokens shown as text, never as markup
    assert [text for _, text in found.queries] == queries
    tolerance = 6e-4 if head == "mean" else 0.0  # the mean is rounded again
    assert np.abs(shown - expected).max() <= tolerance + 1e-12, (shown, expected)
    top = [int(a["data-index"]) for a, _ in found.keys if "attn-top" in a["class"].split()]
    assert top == [int(np.argmax(expected))]
    selected = [int(a["data-index"]) for a, _ in found.queries if "attn-selected" in a["class"]]
    assert selected == [query]
    # the heat map holds the whole matrix of that layer and head
    matrix = np.round(weights[layer], 3).mean(0) if head == "mean" else np.round(
        weights[layer, int(head)], 3)
    assert np.abs(np.array(found.cells) - matrix.ravel()).max() <= tolerance + 1e-12
    # the check can tell heads apart: every other head's row differs visibly
    for other in ["mean", *map(str, range(weights.shape[1]))]:
        if other != head:
            assert np.abs(_expected_row(weights, layer, other, query) - expected).max() > 0.01


@pytest.mark.parametrize(("view", "layer", "head", "query"), [
    ("cross", 1, "2", 3),
    ("cross", 0, "0", 1),
    ("encoder", 1, "mean", 4),
    ("encoder", 0, "1", 2),
])
def test_the_url_fragment_picks_the_map_shown(
    chromium: str, maps: dict[str, Any], tmp_path: Path, view: str, layer: int, head: str,
    query: int,
) -> None:
    page = tmp_path / "view.html"
    page.write_text(render_page(view_data([example_of(maps)]), title="view"))
    found = _open(chromium, tmp_path, page,
                  f"#view={view}&layer={layer}&head={head}&query={query}")
    assert "data-fragment-error" not in found.root
    _check_shown(found, maps, view, layer, head, query)
    assert not any(a.get("id") == "pwned" for _, a in found.tags)


def test_a_bad_fragment_is_named_and_ignored(
    chromium: str, maps: dict[str, Any], tmp_path: Path
) -> None:
    page = tmp_path / "view.html"
    page.write_text(render_page(view_data([example_of(maps)]), title="view"))
    found = _open(chromium, tmp_path, page, "#view=cross&layer=7&head=3&query=1")
    assert found.root["data-fragment-error"] == "layer head"
    _check_shown(found, maps, "cross", 0, "mean", 1)  # the valid parts are followed


def test_a_combined_report_runs_every_view_under_its_policy(
    chromium: str, maps: dict[str, Any], tmp_path: Path
) -> None:
    """report.html's policy allows the view's script: both runs' views are built, and both
    follow the fragment."""
    runs = [_run_folder(tmp_path / name, [example_of(maps)]) for name in ("a", "b")]
    page = tmp_path / "report.html"
    page.write_text(render_report([load_run(r) for r in runs]))
    done = run_chromium(chromium, tmp_path, "--dump-dom", "--virtual-time-budget=2000",
                        page.resolve().as_uri() + "#view=cross&layer=1&head=0&query=2")
    roots = [a for t, a in parse(done.stdout).tags if "attn-view" in a.get("class", "").split()]
    assert len(roots) == 2, done.stderr[-1500:]
    for root in roots:
        assert root.get("data-ready") == "1"
        assert (root["data-view"], root["data-layer"], root["data-head"],
                root["data-query"]) == ("cross", "1", "0", "2")


# A probe run after the view is built: it acts as a reader would (choose layer and head in the
# selects, click a query token, point at another one, leave it) and writes what the view showed
# after each step into the page.
_PROBE = """(function(){var root=document.querySelector('.attn-view'),steps=[];
function snap(){steps.push({view:root.getAttribute('data-view'),
layer:root.getAttribute('data-layer'),head:root.getAttribute('data-head'),
query:root.getAttribute('data-query'),
keys:Array.prototype.map.call(root.querySelectorAll('.attn-key'),function(s){
return s.getAttribute('data-weight');})});}
function choose(index,value){var s=root.querySelectorAll('select')[index];s.value=value;
s.dispatchEvent(new Event('change'));}
choose(1,'1');choose(2,'1');choose(3,'2');snap();
root.querySelectorAll('.attn-query')[3].click();snap();
var q=root.querySelectorAll('.attn-query')[1];
q.dispatchEvent(new MouseEvent('mouseenter'));snap();
q.dispatchEvent(new MouseEvent('mouseleave'));snap();
choose(3,'-1');snap();
document.body.setAttribute('data-steps',JSON.stringify(steps));})();"""


def test_reader_actions_change_the_map_shown(
    chromium: str, maps: dict[str, Any], tmp_path: Path
) -> None:
    text = render_page(view_data([example_of(maps)]), title="view")
    digest = base64.b64encode(hashlib.sha256(_PROBE.encode()).digest()).decode()
    probed = text.replace(f"script-src {SCRIPT_SOURCE};",
                          f"script-src {SCRIPT_SOURCE} 'sha256-{digest}';", 1)
    assert probed != text
    page = tmp_path / "probe.html"
    page.write_text(probed.replace("</body>", f"<script>{_PROBE}</script></body>"))
    done = run_chromium(chromium, tmp_path, "--dump-dom", "--virtual-time-budget=2000",
                        page.resolve().as_uri())
    match = re.search(r'data-steps="([^"]*)"', done.stdout)
    assert match, f"probe did not run: {done.stdout[:500]} {done.stderr[-1500:]}"
    steps = json.loads(html.unescape(match.group(1)))
    weights = maps["cross"][0]
    # selects: 0 example (hidden, one example), 1 attention (cross), 2 layer, 3 head
    expected = [("1", "2", 0), ("1", "2", 3), ("1", "2", 1), ("1", "2", 3), ("1", "mean", 3)]
    assert len(steps) == len(expected)
    for step, (layer, head, query) in zip(steps, expected, strict=True):
        assert (step["view"], step["layer"], step["head"], step["query"]) == (
            "cross", layer, head, str(query))
        row = _expected_row(weights, int(layer), head, query)
        shown = np.array([float(w) for w in step["keys"]])
        assert np.abs(shown - row).max() <= (6e-4 if head == "mean" else 0.0) + 1e-12


# ---------------------------------------------------------------------------------------------
# an experiment's data: the Seq2Seq alignments of bahdanau2015_length


def test_alignment_examples_take_the_decoded_rows_and_tokens() -> None:
    import torch

    from attnlab.data.translation import PairDataset
    from attnlab.experiments.bahdanau2015_length.attention_view import alignment_examples
    from attnlab.experiments.bahdanau2015_length.common import Decoded

    data = PairDataset([([5, 6], [7]), ([5, 6, 7], [8, 9])])  # ids; EOS (2) appended
    rng = np.random.default_rng(2)
    full = torch.tensor(distributions(rng, 2, 4, 4))  # (examples, T_out, S) as decoded
    # the first output hit the length limit (no EOS): only the rows decoded are shown
    decoded = Decoded(hypotheses=[[7, 7, 7, 7], [8, 9]], src_lengths=[2, 3],
                      weights=[full[0], full[1]])
    examples = alignment_examples(decoded, data, [1, 0], symbol=lambda i: f"s{i}")
    second, first = (e.maps[0] for e in examples)
    assert second.keys == ("s5", "s6", "s7", "s2") and second.queries == ("s8", "s9", "s2")
    assert np.array(second.weights).shape == (1, 1, 3, 4)
    assert np.allclose(np.array(second.weights)[0, 0], full[1, :3, :4].numpy())
    assert first.keys == ("s5", "s6", "s2") and first.queries == ("s7",) * 4
    assert np.allclose(np.array(first.weights)[0, 0], full[0, :4, :3].numpy())
    assert examples[0].title == "source length 3: s5 s6 s7"
    with pytest.raises(ValueError, match="no alignments"):
        alignment_examples(Decoded([[7]], [2], None), data, [0], symbol=str)
