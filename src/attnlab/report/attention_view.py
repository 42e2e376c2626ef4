"""An interactive view of token attention for report pages: layer, head and query chosen live.

The data are token attention maps: for each example (a sentence, say), one or more maps (the
encoder self-attention, the decoder self-attention and the cross-attention of a Transformer, or
the one alignment of a recurrent encoder-decoder), each with its query tokens, its key tokens and
its weights ``(layers, heads, Lq, Lk)``. :func:`view_data` turns them into a JSON document, cut to
the size limits below; :func:`render_view` turns that document into an HTML fragment in which the
reader picks the example, the map, the layer, the head (or the mean of the heads) and the query
token. Pointing at (or focusing) a query token shows where it attends; clicking it (or a row of
the heat map) keeps it. The key tokens are shaded by their weight (the shade's opacity is the
square root of the weight, so that small weights stay visible), the strongest is outlined, and a
heat map shows the whole ``Lq x Lk`` matrix of the chosen layer and head.

The fragment needs nothing but itself: its style sheet and script are inline, the data sit in a
``<script type="application/json">`` block (with ``<``, ``>`` and ``&`` written as JSON escapes,
so no token can end the block), and the script writes every token into the page with
``textContent``, never as markup. A page that holds the fragment must allow exactly that script
by its hash: :data:`SCRIPT_SOURCE` is the Content-Security-Policy source to add
(``script-src 'sha256-...'``); nothing else may run, and nothing is fetched.

**URL state.** The fragment of the page's address sets the view, e.g.
``report.html#example=0&view=cross&layer=1&head=3&query=4``: ``example``, ``layer``, ``head`` and
``query`` are 0-based indices (``head=mean`` for the mean of the heads), ``view`` is a map's name.
Unknown or out-of-range values are ignored and named in the view's ``data-fragment-error``
attribute. Every view of the page follows the fragment, and follows it again when it changes.

**What the page shows** (for tests and scripts): the view's element carries ``data-example``,
``data-view``, ``data-layer``, ``data-head`` (``mean`` or the index) and ``data-query`` (the query
shown); each key token (``.attn-key``) and each heat-map cell (``td.attn-cell``) carries its
weight as ``data-weight``, with three decimals, and the strongest key token has the class
``attn-top``.

**Size limits** (so that a report stays small): at most :data:`MAX_EXAMPLES` examples, at most
:data:`MAX_TOKENS` query and key tokens per map (longer maps keep their first tokens), token labels
cut to :data:`MAX_TOKEN_CHARS` characters, weights rounded to :data:`DECIMALS` decimals, and at
most :data:`MAX_WEIGHTS` numbers in all (a map that would pass the budget is left out). What was
cut is listed under the view. At the limits the data take about 0.6 MB.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attnlab.report.files import ReportError, atomic_write_text, read_json
from attnlab.report.markup import escape as _e

__all__ = [
    "DECIMALS",
    "MAX_EXAMPLES",
    "MAX_TOKENS",
    "MAX_TOKEN_CHARS",
    "MAX_WEIGHTS",
    "SCRIPT_SOURCE",
    "VIEW_FILE",
    "AttentionExample",
    "AttentionMap",
    "read_view_data",
    "render_page",
    "render_view",
    "validate_view_data",
    "view_data",
    "write_view_data",
]

#: The file in a run folder that holds the view's data (written by the experiments that have
#: token attention to show; the report embeds it).
VIEW_FILE = "attention_view.json"
#: Most examples embedded.
MAX_EXAMPLES = 4
#: Most query tokens and most key tokens of one map.
MAX_TOKENS = 64
#: Longest token label, in characters.
MAX_TOKEN_CHARS = 40
#: Most weights embedded, over every map of every example (about 6 bytes each).
MAX_WEIGHTS = 100_000
#: Decimals kept of every weight.
DECIMALS = 3

_FORMAT = "attnlab-attention-view"
_VERSION = 1
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def _nested(weights: Any) -> Any:
    """Nested lists of ``weights`` (a tensor, an array or lists)."""
    if hasattr(weights, "detach"):
        weights = weights.detach()
    if hasattr(weights, "cpu"):
        weights = weights.cpu()
    if hasattr(weights, "tolist"):
        return weights.tolist()
    return weights


def _depth(value: Any) -> int:
    depth = 0
    while isinstance(value, (list, tuple)):
        if not value:
            return -1
        value = value[0]
        depth += 1
    return depth


@dataclass(frozen=True)
class AttentionMap:
    """The token attention of one kind (say, the cross-attention) for one example.

    Args:
        name: a short name for the URL fragment (``view=NAME``): lower-case letters, digits,
            ``_`` and ``-``, starting with a letter, at most 32 characters.
        weights: the weights, a tensor, array or nested lists: ``(layers, heads, Lq, Lk)``,
            ``(heads, Lq, Lk)`` (one layer) or ``(Lq, Lk)`` (one layer, one head); each row a
            distribution over the keys.
        queries: the ``Lq`` query tokens.
        keys: the ``Lk`` key tokens.
        title: what the map is, for people (default: ``name``).

    Shape:
        weights: ``(layers, heads, Lq, Lk)`` after construction.

    Raises:
        ValueError: a bad name, a rank other than 2-4, rows of the wrong length, a weight that
            is not a finite number in ``[0, 1]``, or token counts that do not match.

    Example:
        >>> m = AttentionMap("cross", [[0.25, 0.75], [1.0, 0.0]], queries=["a", "b"],
        ...                  keys=["x", "y"])
        >>> m.num_layers, m.num_heads, len(m.weights[0][0])
        (1, 1, 2)
    """

    name: str
    weights: Any
    queries: Sequence[str]
    keys: Sequence[str]
    title: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(
                "name must be lower-case letters, digits, '_' or '-' (a letter first, at most "
                f"32 characters), got {self.name!r}"
            )
        for label, tokens in (("queries", self.queries), ("keys", self.keys)):
            if isinstance(tokens, str) or not all(isinstance(t, str) for t in tokens):
                raise ValueError(f"{label} must be a sequence of token strings")
            if not tokens:
                raise ValueError(f"{label} must not be empty")
        weights = _nested(self.weights)
        depth = _depth(weights)
        if depth not in (2, 3, 4):
            raise ValueError(
                "weights must be (layers, heads, Lq, Lk), (heads, Lq, Lk) or (Lq, Lk) with no "
                f"empty dimension, got {depth if depth >= 0 else 'an empty'} dimension(s)"
            )
        weights = [[weights]] if depth == 2 else [weights] if depth == 3 else weights
        rows, cols = len(self.queries), len(self.keys)
        checked: list[list[list[list[float]]]] = []
        for layer in weights:
            heads: list[list[list[float]]] = []
            for head in layer:
                if len(head) != rows or any(len(row) != cols for row in head):
                    raise ValueError(
                        f"weights of map {self.name!r} must be (layers, heads, {rows}, {cols}) "
                        f"for {rows} queries and {cols} keys; a head has {len(head)} rows of "
                        f"lengths {sorted({len(r) for r in head})}"
                    )
                matrix = [[float(w) for w in row] for row in head]
                if not all(math.isfinite(w) and -1e-6 <= w <= 1 + 1e-6 for r in matrix for w in r):
                    raise ValueError(f"weights of map {self.name!r} must be finite and in [0, 1]")
                heads.append(matrix)
            if len(heads) != len(weights[0]):
                raise ValueError(f"every layer of map {self.name!r} must have the same heads")
            checked.append(heads)
        object.__setattr__(self, "weights", checked)
        object.__setattr__(self, "queries", tuple(self.queries))
        object.__setattr__(self, "keys", tuple(self.keys))
        object.__setattr__(self, "title", str(self.title or self.name))

    @property
    def num_layers(self) -> int:
        """How many layers the map has."""
        return len(self.weights)

    @property
    def num_heads(self) -> int:
        """How many heads each layer has."""
        return len(self.weights[0])


@dataclass(frozen=True)
class AttentionExample:
    """The attention maps of one input.

    Args:
        title: what the input is (the sentence, say), shown above the view.
        maps: its maps; their names must differ.

    Raises:
        ValueError: no map, or two maps of one name.
    """

    title: str
    maps: Sequence[AttentionMap]

    def __post_init__(self) -> None:
        maps = tuple(self.maps)
        if not maps or not all(isinstance(m, AttentionMap) for m in maps):
            raise ValueError("maps must be a non-empty sequence of AttentionMap")
        names = [m.name for m in maps]
        if len(set(names)) != len(names):
            raise ValueError(f"map names must differ, got {names}")
        object.__setattr__(self, "maps", maps)
        object.__setattr__(self, "title", str(self.title))


def _label(token: str) -> str:
    return token if len(token) <= MAX_TOKEN_CHARS else token[: MAX_TOKEN_CHARS - 1] + "…"


def view_data(
    examples: Sequence[AttentionExample],
    *,
    max_examples: int = MAX_EXAMPLES,
    max_tokens: int = MAX_TOKENS,
    max_weights: int = MAX_WEIGHTS,
) -> dict[str, Any]:
    """The JSON document of the view: ``examples`` cut to the size limits, weights rounded.

    Args:
        examples: the inputs with their maps.
        max_examples: most examples kept (the first ones).
        max_tokens: most query and key tokens kept per map (the first ones).
        max_weights: most numbers kept in all; a map that would pass it is left out.

    Returns:
        ``{"format", "version", "examples": [{"title", "maps": [{"name", "title", "queries",
        "keys", "weights"}]}], "notes": [what was cut]}``, weights rounded to
        :data:`DECIMALS` decimals.

    Raises:
        ValueError: no example, or a limit below 1.

    Example:
        >>> m = AttentionMap("self", [[0.12345, 0.87655], [0.5, 0.5]], queries=["a", "b"],
        ...                  keys=["a", "b"])
        >>> data = view_data([AttentionExample("a b", [m])])
        >>> data["examples"][0]["maps"][0]["weights"]
        [[[[0.123, 0.877], [0.5, 0.5]]]]
    """
    if not examples:
        raise ValueError("examples must not be empty")
    for label, limit in (("max_examples", max_examples), ("max_tokens", max_tokens),
                         ("max_weights", max_weights)):
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"{label} must be an integer >= 1, got {limit!r}")
    notes: list[str] = []
    if len(examples) > max_examples:
        notes.append(f"{len(examples)} examples, the first {max_examples} kept")
    budget = max_weights
    kept: list[dict[str, Any]] = []
    for number, example in enumerate(examples[:max_examples]):
        maps: list[dict[str, Any]] = []
        for m in example.maps:
            rows, cols = min(len(m.queries), max_tokens), min(len(m.keys), max_tokens)
            where = f"example {number}, {m.title}"
            if rows < len(m.queries) or cols < len(m.keys):
                notes.append(f"{where}: {len(m.queries)} x {len(m.keys)} tokens cut to the first "
                             f"{rows} x {cols}")
            size = m.num_layers * m.num_heads * rows * cols
            if size > budget:
                notes.append(f"{where}: left out ({size} weights; {budget} of the "
                             f"{max_weights} allowed were left)")
                continue
            budget -= size
            maps.append({
                "name": m.name,
                "title": m.title,
                "queries": [_label(t) for t in m.queries[:rows]],
                "keys": [_label(t) for t in m.keys[:cols]],
                "weights": [
                    [[[round(w, DECIMALS) for w in row[:cols]] for row in head[:rows]]
                     for head in layer]
                    for layer in m.weights
                ],
            })
        if maps:
            kept.append({"title": example.title, "maps": maps})
        else:
            notes.append(f"example {number}: left out (no map within the size limit)")
    return {"format": _FORMAT, "version": _VERSION, "examples": kept, "notes": notes}


def _is_weight(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and 0 <= value <= 1)


def validate_view_data(data: Any) -> dict[str, Any]:
    """Check a view document read from a run folder (anyone may have written it).

    Returns:
        ``data`` itself when it is a view document within the size limits.

    Raises:
        ValueError: what is wrong, first problem only.
    """
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        raise ValueError(f"not an attention view document (format must be {_FORMAT!r})")
    if data.get("version") != _VERSION:
        raise ValueError(f"unsupported view version {data.get('version')!r} (expected 1)")
    examples, notes = data.get("examples"), data.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise ValueError("notes must be a list of strings")
    if not isinstance(examples, list) or not 1 <= len(examples) <= MAX_EXAMPLES:
        raise ValueError(f"examples must be a list of 1 to {MAX_EXAMPLES} examples")
    total = 0
    for i, example in enumerate(examples):
        maps = example.get("maps") if isinstance(example, dict) else None
        if not isinstance(example, dict) or not isinstance(example.get("title"), str):
            raise ValueError(f"example {i} must be an object with a title")
        if not isinstance(maps, list) or not maps:
            raise ValueError(f"example {i} must have a non-empty list of maps")
        names: set[str] = set()
        for m in maps:
            if not isinstance(m, dict):
                raise ValueError(f"example {i}: a map must be an object")
            name = m.get("name")
            if not isinstance(name, str) or not _NAME.fullmatch(name) or name in names:
                raise ValueError(f"example {i}: bad or repeated map name {name!r}")
            names.add(name)
            queries: Any = m.get("queries")
            keys: Any = m.get("keys")
            weights: Any = m.get("weights")
            if not isinstance(m.get("title"), str):
                raise ValueError(f"example {i}, map {name}: title must be a string")
            for label, tokens in (("queries", queries), ("keys", keys)):
                if (not isinstance(tokens, list) or not 1 <= len(tokens) <= MAX_TOKENS
                        or not all(isinstance(t, str) and len(t) <= MAX_TOKEN_CHARS
                                   for t in tokens)):
                    raise ValueError(f"example {i}, map {name}: {label} must be 1 to "
                                     f"{MAX_TOKENS} strings of at most {MAX_TOKEN_CHARS} "
                                     "characters")
            ok = isinstance(weights, list) and weights and all(
                isinstance(layer, list) and layer and len(layer) == len(weights[0])
                and all(isinstance(head, list) and len(head) == len(queries)
                        and all(isinstance(row, list) and len(row) == len(keys)
                                and all(_is_weight(w) for w in row) for row in head)
                        for head in layer)
                for layer in weights
            )
            if not ok or not isinstance(weights, list):
                raise ValueError(f"example {i}, map {name}: weights must be (layers, heads, "
                                 f"{len(queries)}, {len(keys)}) numbers in [0, 1]")
            total += len(weights) * len(weights[0]) * len(queries) * len(keys)
    if total > MAX_WEIGHTS:
        raise ValueError(f"{total} weights, more than the {MAX_WEIGHTS} a view may embed")
    return data


def write_view_data(path: str | Path, examples: Sequence[AttentionExample]) -> Path:
    """Write :func:`view_data` of ``examples`` to ``path`` (atomically); returns the path."""
    text = json.dumps(view_data(examples), ensure_ascii=False, separators=(",", ":"))
    return atomic_write_text(Path(path), text + "\n")


def read_view_data(path: str | Path) -> dict[str, Any]:
    """Read and check a file written by :func:`write_view_data`.

    Raises:
        ReportError: the file is missing, unreadable, or not a valid view document.
    """
    data = read_json(path)
    try:
        return validate_view_data(data)
    except ValueError as error:
        raise ReportError(f"{path}: {error}") from None


# ---------------------------------------------------------------------------------------------
# the fragment

_CSS = """
.attn-view{margin:.5rem 0 1.5rem;font-size:.9rem}
.attn-controls label{margin-right:1rem;white-space:nowrap}
.attn-controls select{font:inherit;margin-left:.2rem}
.attn-title,.attn-caption{margin:.4rem 0}.attn-caption{color:#57606a}
.attn-tokens{display:flex;flex-wrap:wrap;gap:.25rem;margin:.3rem 0 .6rem;align-items:baseline}
.attn-tokens b{margin-right:.4rem;font-weight:600}
.attn-token{padding:.05rem .35rem;border:1px solid #d0d7de;border-radius:.3rem;
font-family:ui-monospace,SFMono-Regular,Menlo,monospace;white-space:pre}
.attn-query{cursor:pointer}.attn-query.attn-pinned{border-color:#0550ae}
.attn-query.attn-selected{background:#0550ae;color:#fff}
.attn-key.attn-top{outline:2px solid #cf222e;outline-offset:1px}
.attn-heat{border-collapse:collapse;font-size:.7rem;margin:.3rem 0}
.attn-heat th,.attn-heat td{border:1px solid #eaeef2;padding:0;text-align:center}
.attn-heat td.attn-cell{width:14px;height:14px;min-width:14px}
.attn-heat thead th{writing-mode:vertical-rl;transform:rotate(180deg);padding:.2rem 0;
font-weight:400;max-height:8rem;overflow:hidden;white-space:pre}
.attn-heat tbody th{text-align:right;font-weight:400;padding:0 .3rem;cursor:pointer;
white-space:pre}
.attn-heat tr.attn-row-selected th{background:#0550ae;color:#fff}
.attn-heat tr.attn-row-selected td{box-shadow:inset 0 2px 0 #0550ae,inset 0 -2px 0 #0550ae}
"""

# The one script of a page with views: it builds every ".attn-view" of the page that is not yet
# built, from the JSON block inside it, and follows the address's fragment. Tokens are written
# with textContent only.
_SCRIPT = """(function(){"use strict";
function make(tag,cls,text){var e=document.createElement(tag);if(cls){e.className=cls;}
if(text!==undefined){e.textContent=text;}return e;}
function fragment(){var out={},h=window.location.hash.replace(/^#/,"");
h.split("&").forEach(function(part){var i=part.indexOf("=");if(i<1){return;}
try{out[decodeURIComponent(part.slice(0,i))]=decodeURIComponent(part.slice(i+1));}catch(e){}});
return out;}
// the square root makes small weights visible; the order of the weights is kept
function shade(w){return "rgba(9,105,218,"+Math.sqrt(Math.max(0,Math.min(1,w))).toFixed(3)+")";}
function index(text,n){return /^[0-9]+$/.test(text)&&Number(text)<n?Number(text):-1;}
function setup(root){
if(root.getAttribute("data-ready")==="1"){return;}
var block=root.querySelector("script.attn-data"),data;
try{data=JSON.parse(block.textContent);}
catch(e){root.setAttribute("data-error","unreadable data");return;}
var examples=data.examples;
if(!examples||!examples.length){root.setAttribute("data-error","no example");return;}
var state={example:0,view:0,layer:0,head:-1,query:0},shown=0,cells=[],keySpans=[],
querySpans=[],rows=[];
var controls=make("div","attn-controls");
function select(label,set){var wrap=make("label","",label+" "),s=make("select");
wrap.appendChild(s);controls.appendChild(wrap);
s.addEventListener("change",function(){set(Number(s.value));build();});return s;}
var exampleSel=select("example",function(v){state.example=v;}),
viewSel=select("attention",function(v){state.view=v;}),
layerSel=select("layer",function(v){state.layer=v;}),
headSel=select("head",function(v){state.head=v;});
var title=make("p","attn-title"),queries=make("div","attn-tokens"),
keys=make("div","attn-tokens"),caption=make("p","attn-caption"),
heat=make("table","attn-heat");
[controls,title,queries,keys,caption,heat].forEach(function(e){root.appendChild(e);});
function options(sel,items,value){sel.textContent="";items.forEach(function(item){
var o=make("option","",item[1]);o.value=String(item[0]);sel.appendChild(o);});
sel.value=String(value);}
function current(){return examples[state.example].maps[state.view];}
function clamp(){var ex=examples[state.example];if(state.view>=ex.maps.length){state.view=0;}
var m=current();if(state.layer>=m.weights.length){state.layer=0;}
if(state.head>=m.weights[0].length){state.head=-1;}
if(state.query>=m.queries.length){state.query=0;}}
function matrix(){var m=current(),layer=m.weights[state.layer];
if(state.head>=0){return layer[state.head];}
return m.queries.map(function(q,i){return m.keys.map(function(k,j){var s=0;
for(var h=0;h<layer.length;h++){s+=layer[h][i][j];}return s/layer.length;});});}
function pick(i){state.query=i;shown=i;paint();}
function build(){clamp();shown=state.query;var ex=examples[state.example],m=current();
options(exampleSel,examples.map(function(e,i){return [i,i+": "+e.title];}),state.example);
exampleSel.parentNode.hidden=examples.length<2;
options(viewSel,ex.maps.map(function(mm,i){return [i,mm.title];}),state.view);
options(layerSel,m.weights.map(function(l,i){return [i,String(i)];}),state.layer);
options(headSel,[[-1,"mean of heads"]].concat(m.weights[0].map(function(h,i){
return [i,String(i)];})),state.head);
title.textContent=ex.title;
queries.textContent="";keys.textContent="";heat.textContent="";
queries.appendChild(make("b","","query"));keys.appendChild(make("b","","keys"));
querySpans=m.queries.map(function(tok,i){var s=make("span","attn-token attn-query",tok);
s.setAttribute("data-index",String(i));s.tabIndex=0;
s.addEventListener("click",function(){pick(i);});
s.addEventListener("keydown",function(ev){if(ev.key==="Enter"||ev.key===" "){pick(i);}});
s.addEventListener("mouseenter",function(){shown=i;paint();});
s.addEventListener("focus",function(){shown=i;paint();});
s.addEventListener("mouseleave",function(){shown=state.query;paint();});
s.addEventListener("blur",function(){shown=state.query;paint();});
queries.appendChild(s);return s;});
keySpans=m.keys.map(function(tok,j){var s=make("span","attn-token attn-key",tok);
s.setAttribute("data-index",String(j));keys.appendChild(s);return s;});
var head=make("thead"),top=make("tr");top.appendChild(make("th"));
m.keys.forEach(function(k){top.appendChild(make("th","",k));});head.appendChild(top);
var body=make("tbody");cells=[];rows=[];
m.queries.forEach(function(q,i){var tr=make("tr"),th=make("th","",q),line=[];
th.addEventListener("click",function(){pick(i);});tr.appendChild(th);
m.keys.forEach(function(){var td=make("td","attn-cell");tr.appendChild(td);line.push(td);});
body.appendChild(tr);cells.push(line);rows.push(tr);});
heat.appendChild(head);heat.appendChild(body);paint();}
function paint(){var m=current(),w=matrix(),row=w[shown],best=0;
row.forEach(function(v,j){if(v>row[best]){best=j;}});
keySpans.forEach(function(s,j){var v=row[j];s.style.backgroundColor=shade(v);
s.style.color=v>0.45?"#fff":"";s.setAttribute("data-weight",v.toFixed(3));
s.title=v.toFixed(3);s.classList.toggle("attn-top",j===best);});
querySpans.forEach(function(s,i){s.classList.toggle("attn-selected",i===shown);
s.classList.toggle("attn-pinned",i===state.query);});
cells.forEach(function(line,i){rows[i].classList.toggle("attn-row-selected",i===shown);
line.forEach(function(td,j){var v=w[i][j];td.style.backgroundColor=shade(v);
td.setAttribute("data-weight",v.toFixed(3));
td.title=m.queries[i]+" \\u2192 "+m.keys[j]+": "+v.toFixed(3);});});
caption.textContent="\\u201c"+m.queries[shown]+"\\u201d attends most to \\u201c"+m.keys[best]+
"\\u201d ("+row[best].toFixed(3)+"), "+(state.head<0?"mean of "+m.weights[0].length+" heads":
"head "+state.head)+", layer "+state.layer+".";
root.setAttribute("data-example",String(state.example));root.setAttribute("data-view",m.name);
root.setAttribute("data-layer",String(state.layer));
root.setAttribute("data-head",state.head<0?"mean":String(state.head));
root.setAttribute("data-query",String(shown));}
function follow(){var f=fragment(),bad=[];
if("example" in f){var e=index(f.example,examples.length);
if(e<0){bad.push("example");}else{state.example=e;}}
var maps=examples[state.example].maps;
if("view" in f){var v=-1;maps.forEach(function(mm,i){if(mm.name===f.view){v=i;}});
if(v<0){bad.push("view");}else{state.view=v;}}
clamp();var m=current();
if("layer" in f){var l=index(f.layer,m.weights.length);
if(l<0){bad.push("layer");}else{state.layer=l;}}
if("head" in f){var h=f.head==="mean"?-1:index(f.head,m.weights[0].length);
if(f.head!=="mean"&&h<0){bad.push("head");}else{state.head=h;}}
if("query" in f){var q=index(f.query,m.queries.length);
if(q<0){bad.push("query");}else{state.query=q;}}
if(bad.length){root.setAttribute("data-fragment-error",bad.join(" "));}
else{root.removeAttribute("data-fragment-error");}build();}
follow();window.addEventListener("hashchange",follow);root.setAttribute("data-ready","1");}
Array.prototype.forEach.call(document.querySelectorAll(".attn-view"),setup);
})();"""

#: The Content-Security-Policy source that lets a page run the view's script and nothing else.
SCRIPT_SOURCE = (
    "'sha256-" + base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode("ascii")
    + "'"
)


def _json_block(data: Mapping[str, Any]) -> str:
    """``data`` as JSON that no string can break out of inside a ``<script>`` block."""
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_view(data: Mapping[str, Any], *, view_id: str = "attn-view-0") -> str:
    """The HTML fragment showing a view document (from :func:`view_data`).

    The fragment holds its style sheet, its data and its script; the page must allow the script
    with :data:`SCRIPT_SOURCE` in its Content-Security-Policy. Several fragments may share a
    page (each builds only its own view).

    Args:
        data: a view document; it is checked with :func:`validate_view_data`.
        view_id: the ``id`` of the view's element (letters, digits, ``-``, ``_``).

    Raises:
        ValueError: ``data`` is not a valid view document, or ``view_id`` is not a plain name.
    """
    validate_view_data(data)
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", view_id):
        raise ValueError(f"view_id must be letters, digits, '-' or '_', got {view_id!r}")
    notes = data.get("notes") or []
    cut = ""
    if notes:
        items = "".join(f"<li>{_e(n)}</li>" for n in notes)
        cut = f'<div class="attn-caption">Cut to the size limits:<ul>{items}</ul></div>'
    return (
        f"<style>{_CSS}</style>\n"
        f'<div class="attn-view" id="{view_id}">'
        f'<script type="application/json" class="attn-data">{_json_block(data)}</script>'
        '<noscript><p class="attn-caption">The interactive attention view needs '
        "JavaScript.</p></noscript></div>\n"
        f"{cut}<script>{_SCRIPT}</script>"
    )


#: The policy of a standalone page: inline style, the view's script, nothing fetched.
_PAGE_CSP = (
    f"default-src 'none'; script-src {SCRIPT_SOURCE}; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'"
)


def render_page(data: Mapping[str, Any], *, title: str, intro: str = "") -> str:
    """A complete HTML page holding one view.

    Args:
        data: a view document (from :func:`view_data`).
        title: the page title (escaped here).
        intro: a paragraph of text above the view (escaped here).

    Returns:
        The page; it fetches nothing and runs nothing but the view's script.
    """
    body = f"<h1>{_e(title)}</h1>\n"
    if intro:
        body += f"<p>{_e(intro)}</p>\n"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{_PAGE_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n"
        "<style>body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1200px;"
        "padding:0 1rem;color:#1d232a}</style>\n</head>\n<body>\n"
        + body + render_view(data) + "\n</body>\n</html>\n"
    )
