"""Build-time generators of the documentation site (an mkdocs hook, see ``hooks:`` in mkdocs.yml).

Everything that would go stale if typed by hand is generated here from the code:

* the taxonomy table of the Concepts page, from ``attnlab.list_mechanisms()``;
* the index of ``attnlab.__all__`` on the API page, pointing at each name's subpackage page;
* one Gallery page per registered experiment (``attnlab.experiments.list_experiments()``): claim,
  paper, targets, the experiment's own README.md and the figures that
  ``docs/scripts/collect_figures.py`` copied into ``docs/gallery/img/<name>/``;
* the Performance tables, from ``benchmarks/results.json`` when it exists, else BENCHMARKS.md.

The build also fails (before rendering anything) when a public name has no docstring of its own.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]

#: the public subpackages, each with an API page ``api/<name>.md``
SUBPACKAGES = (
    "core", "mechanisms", "architectures", "vision", "interpret", "train", "data", "metrics",
    "report", "bench", "experiments",
)
#: the four axes of the survey's taxonomy, in the survey's order
AXES = ("sequences", "levels", "positions", "representations")
#: nn.Module hooks whose meaning nn.Module already documents
INHERITED_CONTRACT = frozenset({"extra_repr"})

TAXONOMY_MARKER = "<!-- generated: taxonomy -->"
API_INDEX_MARKER = "<!-- generated: api-index -->"
BENCHMARKS_MARKER = "<!-- generated: benchmarks -->"
GALLERY_MARKER = "<!-- generated: gallery-index -->"


# ---------------------------------------------------------------------------------------------
# public names and their docstrings


def _own_doc(obj: Any) -> str:
    """The object's own docstring; the text a dataclass or NamedTuple writes for itself counts
    as none."""
    doc = obj.__doc__ if isinstance(obj.__doc__, str) else ""
    name = getattr(obj, "__name__", "")
    if name and doc.startswith(name + "("):
        return ""
    return doc.strip()


def public_objects() -> Iterator[tuple[str, Any]]:
    """(dotted name, object) for every public name: the packages, the classes and functions of
    their ``__all__``, and the public methods and properties those classes define."""
    for package in ("attnlab", *(f"attnlab.{s}" for s in SUBPACKAGES)):
        module = importlib.import_module(package)
        yield package, module
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            yield f"{package}.{name}", obj
            if not inspect.isclass(obj) or not obj.__module__.startswith("attnlab"):
                continue
            for member, value in vars(obj).items():
                if member.startswith("_") or member in INHERITED_CONTRACT:
                    continue
                if isinstance(value, (staticmethod, classmethod)):
                    value = value.__func__
                if inspect.isfunction(value) or isinstance(value, property):
                    yield f"{package}.{name}.{member}", value


def missing_docstrings() -> list[str]:
    """The public names without a docstring of their own, sorted."""
    return sorted({name for name, obj in public_objects() if not _own_doc(obj)})


# ---------------------------------------------------------------------------------------------
# where each object is documented


def shadowed(sub: str) -> list[str]:
    """Canonical paths of the names of ``attnlab.<sub>.__all__`` that share their name with a
    submodule (``attnlab.core.attend`` the function and the module): the page renders them
    from where they are defined."""
    import sys

    module = importlib.import_module(f"attnlab.{sub}")
    paths = []
    for name in module.__all__:
        obj = getattr(module, name)
        if f"attnlab.{sub}.{name}" in sys.modules and not inspect.ismodule(obj):
            paths.append(f"{obj.__module__}.{obj.__qualname__}")
    return paths


def api_locations() -> dict[int, str]:
    """id(object) -> the dotted name under which a subpackage page documents it."""
    where: dict[int, str] = {}
    for sub in SUBPACKAGES:
        module = importlib.import_module(f"attnlab.{sub}")
        moved = {p.rsplit(".", 1)[-1]: p for p in shadowed(sub)}
        for name in module.__all__:
            where.setdefault(id(getattr(module, name)), moved.get(name, f"attnlab.{sub}.{name}"))
    return where


def _same_name(name: str, obj: Any) -> str | None:
    """The subpackage path exporting ``obj`` under ``name`` itself (an alias such as
    ``BahdanauAttention`` keeps its own name), unless a submodule shadows it."""
    for sub in SUBPACKAGES:
        module = importlib.import_module(f"attnlab.{sub}")
        if name in module.__all__ and getattr(module, name) is obj:
            return None if f"{obj.__module__}.{obj.__qualname__}" in shadowed(sub) else (
                f"attnlab.{sub}.{name}"
            )
    return None


def _ref(obj: Any, label: str, where: Mapping[int, str]) -> str:
    """A cross-reference to the API page documenting ``obj``, or code text if none does."""
    target = where.get(id(obj))
    return f"[`{label}`][{target}]" if target else f"`{label}`"


def _short_authors(authors: str) -> str:
    """``"Luong, Pham, Manning"`` -> ``"Luong et al."``; one or two names stay as they are."""
    names = [a.strip() for a in re.split(r",| and ", authors) if a.strip()]
    if len(names) <= 2:
        return " and ".join(names)
    return f"{names[0]} et al."


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# ---------------------------------------------------------------------------------------------
# Concepts: the taxonomy table


def taxonomy_markdown() -> str:
    """The registry's mechanisms as a table (one row each, one column per axis), then each
    axis value with the mechanisms carrying it."""
    import attnlab

    where = api_locations()
    entries = attnlab.list_mechanisms()
    head = ["name", "class", *AXES, "paper"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    by_value: dict[tuple[str, str], list[str]] = {}
    for entry in entries:
        tags = [", ".join(entry.tags.get(axis, ())) for axis in AXES]
        for axis in AXES:
            for value in entry.tags.get(axis, ()):
                by_value.setdefault((axis, value), []).append(entry.name)
        paper = entry.paper
        cited = f"[{_short_authors(paper.authors)} {paper.year}]({paper.url})" if paper else ""
        row = [f"`{entry.name}`", _ref(entry.cls, entry.cls.__name__, where), *tags, cited]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", f"{len(entries)} mechanisms are registered.", ""]
    lines += ["### By axis", "", "| axis | value | mechanisms |", "|---|---|---|"]
    for axis in AXES:
        values = sorted(v for a, v in by_value if a == axis)
        for value in values:
            names = ", ".join(f"`{n}`" for n in by_value[(axis, value)])
            lines.append(f"| {axis} | {value} | {names} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# API: the top-level names


def api_index_markdown() -> str:
    """A table of ``attnlab.__all__`` linking each name to the subpackage page documenting it;
    names no subpackage exports are documented right here."""
    import attnlab

    where = api_locations()
    lines = ["| name | documented as |", "|---|---|"]
    here = []
    for name in sorted(attnlab.__all__, key=str.lower):
        obj = getattr(attnlab, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        target = _same_name(name, obj) or where.get(id(obj))
        if target is None:
            here.append(name)
            lines.append(f"| `{name}` | [`attnlab.{name}`][attnlab.{name}] (below) |")
        else:
            lines.append(f"| `{name}` | [`{target}`][{target}] |")
    lines += [""]
    for name in here:
        lines += [f"::: attnlab.{name}", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Gallery


def _shift_headings(text: str, by: int = 1) -> str:
    """Demote every ATX heading outside fenced code by ``by`` levels."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and re.match(r"#{1,5} ", line):
            line = "#" * by + line
        out.append(line)
    return "\n".join(out)


def _unlink_relative(text: str) -> str:
    """Relative links of a README point into the source tree, not the site: keep their text."""
    return re.sub(r"\[([^\]]+)\]\((?!https?://|#|mailto:)[^)]+\)", r"\1", text)


def experiment_readme(name: str) -> str:
    """The experiment's README.md, its title dropped and its headings demoted."""
    import attnlab.experiments

    path = Path(attnlab.experiments.__file__).parent / name / "README.md"
    if not path.is_file():
        return ""
    lines = path.read_text(encoding="utf-8").splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return _unlink_relative(_shift_headings("\n".join(lines)))


def _figures(name: str, docs_dir: Path) -> list[tuple[str, str]]:
    """(file name, caption) of the figures collected for ``name``."""
    folder = docs_dir / "gallery" / "img" / name
    index = folder / "figures.json"
    if not index.is_file():
        return []
    figures = json.loads(index.read_text(encoding="utf-8")).get("figures", [])
    return [(f["file"], f.get("caption", "")) for f in figures if (folder / f["file"]).is_file()]


def _number(value: float) -> str:
    return f"{value:.4g}"


def gallery_page(experiment: Any, docs_dir: Path) -> str:
    """The Markdown page of one registered experiment."""
    lines = [f"# {experiment.name}", "", f"**Claim.** {experiment.claim}", ""]
    paper = experiment.paper
    if paper is not None:
        lines += [f"**Paper.** {paper.authors} ({paper.year}), *{paper.title}*, <{paper.url}>", ""]
    else:
        lines += ["**Paper.** none: this experiment reproduces no paper.", ""]
    times = ", ".join(f"{s} ~{experiment.cpu_time[s]:.0f} s" for s in experiment.cpu_time)
    lines += [f"**Expected time on a 2-core CPU.** {times}.", ""]
    lines += [f"**Run it.** `attnlab run {experiment.name} --scale quick --check`", ""]
    if experiment.datasets:
        lines += ["**Data.**", ""]
        for data in experiment.datasets:
            fallback = f" (without it: {data.fallback})" if data.fallback else ""
            lines.append(f"- `{data.name}`: {_cell(data.description)}{fallback}")
        lines.append("")
    lines += ["## Targets", ""]
    if experiment.targets:
        lines += [
            "| metric | number | what the number is | tolerance | better | checked at |",
            "|---|---|---|---|---|---|",
        ]
        for t in experiment.targets:
            lines.append(
                f"| `{_cell(t.metric)}` | {_number(t.paper)} | {t.paper_origin} | "
                f"{_number(t.tolerance)} | {t.direction} | {', '.join(t.scales)} |"
            )
        lines += [
            "",
            "*printed*: the paper prints the number; *derived*: arithmetic on printed numbers; "
            "*project*: this project's own anchor, not a paper number. Sources:",
            "",
        ]
        lines += [f"- `{_cell(t.metric)}`: {_cell(t.source)}" for t in experiment.targets]
        lines.append("")
    else:
        lines += ["This experiment checks no number; it reports measurements.", ""]
    figures = _figures(experiment.name, docs_dir)
    if figures:
        lines += ["## Figures", "", "From a `quick` run of `attnlab reproduce`.", ""]
        for file, caption in figures:
            lines += [f"![{_cell(caption) or file}](img/{experiment.name}/{file})", ""]
            if caption:
                lines += [f"*{_cell(caption)}*", ""]
    readme = experiment_readme(experiment.name)
    if readme.strip():
        lines += ["## The experiment's README", "", readme.strip(), ""]
    return "\n".join(lines)


def gallery_index(experiments: Sequence[Any]) -> str:
    """The Gallery's table of contents."""
    lines = ["| experiment | paper | claim |", "|---|---|---|"]
    for e in experiments:
        paper = f"{_short_authors(e.paper.authors)} {e.paper.year}" if e.paper else "-"
        claim = e.claim if len(e.claim) <= 160 else e.claim[:157].rstrip() + "..."
        lines.append(f"| [{e.name}]({e.name}.md) | {_cell(paper)} | {_cell(claim)} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Performance


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.3g}"


def _suite_table(suite: Mapping[str, Any]) -> list[str]:
    peers = list(suite.get("peers", {}))
    head = ["case", "variant", "median ms", "IQR ms", "peak MiB", "GFLOP/s"]
    head += [f"vs {p}" for p in peers]
    lines = [
        f"### {suite.get('name', '?')}",
        "",
        f"{_cell(suite.get('description', ''))} ({suite.get('scale', '?')} sizes)",
        "",
    ]
    if str(suite.get("status", "ok")) != "ok":
        lines += [f"Status: {_cell(suite.get('status'))}.", ""]
    rows = suite.get("rows", [])
    if not rows:
        return lines
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        label = row.get("variant", "")
        if row.get("peer"):
            label += " (peer)"
        median = _ms(row.get("median_s")) if row.get("median_s") is not None else row.get("status")
        iqr = (
            f"{_ms(row.get('q1_s'))}-{_ms(row.get('q3_s'))}" if row.get("q1_s") is not None else ""
        )
        peak = "-" if row.get("peak_mib") is None else f"{row['peak_mib']:.1f}"
        gflops = "" if row.get("gflops") is None else f"{row['gflops']:.1f}"
        ratios = []
        for p in peers:
            value = row.get("ratios", {}).get(p)
            ratios.append(f"{value:.2f}x" if isinstance(value, (int, float)) else str(value or ""))
        cells = [row.get("case", ""), label, median, iqr, peak, gflops, *ratios]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines.append("")
    return lines


def benchmarks_from_json(document: Mapping[str, Any]) -> str:
    """The machine, the target verdicts and one table per suite of an ``attnlab bench --json``
    document."""
    from attnlab.bench.command import markdown_document

    head = markdown_document(document, "").split("\n## Tables\n")[0]
    lines = [_shift_headings(_drop_title(head)).strip(), "", "## Tables", ""]
    lines.append("Ratios are the peer's median time divided by attnlab's (> 1: attnlab is faster).")
    lines.append("")
    for suite in document.get("suites", []):
        lines += _suite_table(suite)
    return "\n".join(lines) + "\n"


def _drop_title(text: str) -> str:
    lines = text.splitlines()
    return "\n".join(lines[1:] if lines and lines[0].startswith("# ") else lines)


def benchmarks_markdown(root: Path = ROOT) -> str:
    """The Performance page's results: ``benchmarks/results.json`` when committed, else
    BENCHMARKS.md's content, else a note saying how to produce them."""
    results = root / "benchmarks" / "results.json"
    if results.is_file():
        source = "`benchmarks/results.json`"
        body = benchmarks_from_json(json.loads(results.read_text(encoding="utf-8")))
    elif (root / "BENCHMARKS.md").is_file():
        source = "`BENCHMARKS.md`"
        body = _shift_headings(_drop_title((root / "BENCHMARKS.md").read_text(encoding="utf-8")))
    else:
        return "No benchmark results are committed yet.\n"
    return f"*Generated at build time from {source}.*\n\n{body.strip()}\n"


# ---------------------------------------------------------------------------------------------
# mkdocs events


def _experiments() -> list[Any]:
    from attnlab.experiments import list_experiments

    return sorted(list_experiments(), key=lambda e: e.name)


def on_config(config: Any) -> Any:
    """Fail on missing docstrings; put one Gallery entry per experiment into the nav."""
    missing = missing_docstrings()
    if missing:
        raise PluginError(
            f"{len(missing)} public names have no docstring: " + ", ".join(missing[:40])
        )
    pages: list[Any] = [{"Overview": "gallery/index.md"}]
    pages += [{e.name: f"gallery/{e.name}.md"} for e in _experiments()]
    for item in config["nav"] or []:
        if isinstance(item, dict) and "Gallery" in item:
            item["Gallery"] = pages
    return config


def on_files(files: Files, config: Any) -> Files:
    """Add the generated Gallery pages."""
    docs_dir = Path(config["docs_dir"])
    for experiment in _experiments():
        files.append(
            File.generated(
                config, f"gallery/{experiment.name}.md", content=gallery_page(experiment, docs_dir)
            )
        )
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Fill the generated sections of the hand-written pages."""
    generators = {
        TAXONOMY_MARKER: taxonomy_markdown,
        API_INDEX_MARKER: api_index_markdown,
        BENCHMARKS_MARKER: benchmarks_markdown,
        GALLERY_MARKER: lambda: gallery_index(_experiments()),
    }
    for marker, generate in generators.items():
        if marker in markdown:
            markdown = markdown.replace(marker, generate())
    for sub in SUBPACKAGES:
        if page.file.src_uri == f"api/{sub}.md":
            for path in shadowed(sub):
                markdown += f"\n::: {path}\n    options:\n      show_root_full_path: false\n"
    return markdown
