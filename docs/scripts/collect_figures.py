"""Copy a few small figures of a finished run folder into the documentation's Gallery.

Usage (from the repository root, after ``attnlab reproduce --scale quick``)::

    python docs/scripts/collect_figures.py runs/reproduce-quick-<time>

For every experiment folder of the run that finished and drew figures (``run.json`` and
``plots/``), at most ``--per-experiment`` PNGs (default 3) are copied to
``docs/gallery/img/<experiment>/``, with their captions in ``figures.json`` beside them; the
Gallery pages show them when the site is built. The experiment's own figures come before its
learning curves. Images wider than ``--max-width`` pixels are scaled down, and large ones are
reduced to a 256-colour palette, so that the whole Gallery stays under ``--budget-mb``
(default 3 MB); the script fails, leaving the files in place for inspection, when it does not.
An experiment's folder is replaced only when the run has figures for it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from PIL import Image

GALLERY = Path(__file__).resolve().parents[1] / "gallery" / "img"
#: above this size a figure is also reduced to a 256-colour palette
PALETTE_ABOVE_BYTES = 120_000


def _experiment_folders(run: Path) -> list[Path]:
    """The experiment folders of a reproduce folder (or ``run`` itself for a single run)."""
    if (run / "run.json").is_file():
        return [run]
    summary = run / "summary.json"
    if summary.is_file():
        runs = json.loads(summary.read_text(encoding="utf-8")).get("runs", [])
        return [run / r["dir"] for r in runs if (run / r["dir"] / "run.json").is_file()]
    return sorted(p.parent for p in run.glob("*/run.json"))


def _choose(folder: Path, record: dict[str, Any], count: int) -> list[tuple[Path, str]]:
    """Up to ``count`` (png, caption) of one run, learning curves last."""
    listed = [(folder / p["file"], str(p.get("caption", ""))) for p in record.get("plots", [])]
    known = {path.name for path, _ in listed}
    listed += [(p, "") for p in sorted((folder / "plots").glob("*.png")) if p.name not in known]
    pngs = [(p, c) for p, c in listed if p.suffix == ".png" and p.is_file()]
    pngs.sort(key=lambda item: "learning_curves" in item[0].name)  # stable: keeps run order
    return pngs[:count]


def _write_small(source: Path, target: Path, max_width: int) -> int:
    """Save ``source`` as ``target``, scaled down to ``max_width``; the bytes written."""
    with Image.open(source) as image:
        image.load()
        picture = image.convert("RGBA") if image.mode not in ("RGB", "RGBA") else image.copy()
    if picture.width > max_width:
        height = round(picture.height * max_width / picture.width)
        picture = picture.resize((max_width, height), Image.Resampling.LANCZOS)
    picture.save(target, "PNG", optimize=True)
    if target.stat().st_size > PALETTE_ABOVE_BYTES:
        picture.convert("RGB").quantize(colors=256).save(target, "PNG", optimize=True)
    return target.stat().st_size


def collect(run: Path, *, per_experiment: int, max_width: int, gallery: Path = GALLERY) -> int:
    """Copy the figures of ``run`` into ``gallery``; the number of experiments updated."""
    updated = 0
    for folder in _experiment_folders(run):
        record = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        if record.get("status") != "finished":
            continue
        chosen = _choose(folder, record, per_experiment)
        if not chosen:
            continue
        name = str(record.get("experiment", folder.name))
        target = gallery / name
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        figures = []
        for source, caption in chosen:
            size = _write_small(source, target / source.name, max_width)
            figures.append({"file": source.name, "caption": caption})
            print(f"{name}/{source.name}: {size / 1024:.0f} KiB")
        index = {"run": str(record.get("scale", "")), "figures": figures}
        (target / "figures.json").write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
        updated += 1
    return updated


def main(argv: list[str] | None = None) -> int:
    """The command line; exit status 1 when the Gallery is over its budget or nothing was found."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished `attnlab reproduce` (or run) folder")
    parser.add_argument("--per-experiment", type=int, default=3)
    parser.add_argument("--max-width", type=int, default=900)
    parser.add_argument("--budget-mb", type=float, default=3.0)
    args = parser.parse_args(argv)
    if not args.run.is_dir():
        parser.error(f"run folder {args.run} does not exist")
    updated = collect(args.run, per_experiment=args.per_experiment, max_width=args.max_width)
    total = sum(p.stat().st_size for p in GALLERY.rglob("*") if p.is_file())
    print(f"{updated} experiments updated; the Gallery's images take {total / 1e6:.2f} MB")
    if updated == 0:
        print("no finished experiment with figures found", file=sys.stderr)
        return 1
    if total > args.budget_mb * 1e6:
        print(f"over the {args.budget_mb} MB budget: lower --max-width", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
