"""Draw the figures of docs/interpret.md from a run of ``interpretability_faithfulness``.

Usage (from the repository root, after a quick run)::

    attnlab run interpretability_faithfulness --scale quick --out runs/faithfulness
    python docs/scripts/interpret_figures.py runs/faithfulness

It reads the run's ``explanations.json`` (one explained example per model, from the first
seed), ``curves.json`` (mean deletion and insertion curves) and ``faithfulness_table.md``, and
writes small PNGs to ``docs/img/interpret/`` (``--out`` to change it):

* ``transformer_explanations.png``: cross-attention, rollout, flow, relevance and gradient x
  input of one eng-fra sentence (target tokens down, source tokens across);
* ``han_explanation.png``: a Reuters document shaded by HAN's attention and by gradient x
  input;
* ``gat_explanation.png``: a Cora node's neighbours scored by each method;
* ``stn_explanation.png``: an RTS digit, the sampling mass of the ST-CNN's grid, gradient x
  input;
* ``faithfulness_curves.png``: the deletion and insertion curves of every model.

It also prints the faithfulness table, for pasting into the page.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from attnlab.interpret.viz import (
    document_line_count,
    draw_document,
    plot_attention_maps,
    plot_token_scores,
    save_figure,
)
from attnlab.interpret.viz._backend import _pyplot

DPI = 80
METHOD_TITLES = {
    "cross_attention": "cross-attention (last layer)",
    "rollout": "cross-attn x encoder rollout",
    "flow": "cross-attn x encoder flow",
    "relevance": "relevance (Chefer)",
    "gradient_x_input": "gradient x input",
}


def _scaled(values: list[float]) -> list[float]:
    top = max((abs(v) for v in values), default=0.0) or 1.0
    return [max(v, 0.0) / top for v in values]


def transformer_figure(example: dict[str, Any], out: Path) -> Path:
    source, target = example["source"], example["target"]
    names = [m for m in METHOD_TITLES if m in example["maps"]]
    maps = [torch.tensor(example["maps"][m]) for m in names]
    # rows normalised to their largest absolute value, so methods of different scales compare
    maps = [m / m.abs().amax(-1, keepdim=True).clamp_min(1e-12) for m in maps]
    fig = plot_attention_maps(
        maps, row_labels=[target] * len(maps), col_labels=[source] * len(maps),
        titles=[METHOD_TITLES[m] for m in names], xlabel="source token",
        ylabel="explained target token",
    )
    return save_figure(fig, out / "transformer_explanations.png", dpi=DPI)


def han_figure(example: dict[str, Any], out: Path) -> Path:
    plt = _pyplot()
    words = example["words"]
    lines = document_line_count(words, 80, 6)
    fig, axes = plt.subplots(1, 2, figsize=(12.4, 0.2 * lines + 0.7))
    fig.subplots_adjust(left=0.01, right=0.99, top=0.98, bottom=0.02, wspace=0.04)
    attention = [_scaled(row) for row in example["attention"]]
    flat = [v for row in example["gradient_x_input"] for v in row]
    top = max((abs(v) for v in flat), default=1.0) or 1.0
    gxi = [[max(v, 0.0) / top for v in row] for row in example["gradient_x_input"]]
    sentence = example["sentence_attention"][: len(words)]
    draw_document(axes[0], words, attention, sentence_values=_scaled(sentence),
                  sentence_labels=[f"{a:.2f}" for a in sentence],
                  title="HAN attention: word x sentence weight", line_chars=80)
    draw_document(axes[1], words, gxi, title="gradient x input (positive part)",
                  line_chars=80)
    return save_figure(fig, out / "han_explanation.png", dpi=DPI)


def gat_figure(example: dict[str, Any], out: Path) -> Path:
    plt = _pyplot()
    names = list(example["scores"])
    fig, axes = plt.subplots(1, len(names), figsize=(2.6 * len(names), 2.8))
    labels = [f"{n} c{c}" for n, c in zip(example["neighbours"], example["neighbour_classes"],
                                          strict=True)]
    for ax, name in zip(axes, names, strict=True):
        plot_token_scores(torch.tensor(example["scores"][name]), labels, title=name, ax=ax)
    fig.suptitle(f"Cora node {example['node']} (class {example['node_class']}): its "
                 "neighbours (id, class) scored", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, out / "gat_explanation.png", dpi=DPI)


def stn_figure(example: dict[str, Any], out: Path) -> Path:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.7))
    panels = ((f"input (predicted {example['label']})", example["image"], "gray"),
              ("sampling mass of the grid", example["sampling_mass"], "magma"),
              ("gradient x input", example["gradient_x_input"], "coolwarm"))
    for ax, (title, values, cmap) in zip(axes, panels, strict=True):
        t = torch.tensor(values)
        if cmap == "coolwarm":
            bound = float(t.abs().max()) or 1.0
            image = ax.imshow(t.numpy(), cmap=cmap, vmin=-bound, vmax=bound)
        else:
            image = ax.imshow(t.numpy(), cmap=cmap)
        fig.colorbar(image, ax=ax, fraction=0.046)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, out / "stn_explanation.png", dpi=DPI)


def curves_figure(curves: dict[str, Any], out: Path) -> Path:
    plt = _pyplot()
    steps = curves["steps"]
    fractions = [k / steps for k in range(steps + 1)]
    subjects = list(dict.fromkeys(key.split("/")[0] for key in curves["curves"]))
    fig, axes = plt.subplots(2, len(subjects), figsize=(2.6 * len(subjects), 4.8),
                             squeeze=False)
    for column, subject in enumerate(subjects):
        for row, mode in enumerate(("deletion", "insertion")):
            ax = axes[row][column]
            for key, values in curves["curves"].items():
                name, method, kind = key.split("/")
                if name == subject and kind == mode:
                    ax.plot(fractions, values, label=method,
                            linestyle="--" if method == "random" else "-")
            ax.set_title(f"{subject}: {mode}", fontsize=8)
            ax.set_ylim(0, 1)
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=5)
    fig.supxlabel("fraction of inputs removed (top) / inserted (bottom)", fontsize=8)
    fig.supylabel("p(explained output)", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out / "faithfulness_curves.png", dpi=DPI)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="an interpretability_faithfulness run folder")
    parser.add_argument("--out", type=Path, default=Path("docs/img/interpret"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    examples = json.loads((args.run / "explanations.json").read_text(encoding="utf-8"))
    curves = json.loads((args.run / "curves.json").read_text(encoding="utf-8"))
    drawers = {"transformer": transformer_figure, "han": han_figure, "gat": gat_figure,
               "stn": stn_figure}
    written = [drawers[name](example, args.out) for name, example in examples.items()]
    written.append(curves_figure(curves, args.out))
    for path in written:
        print(f"{path} ({path.stat().st_size / 1024:.0f} KiB)")
    print((args.run / "faithfulness_table.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
