"""``attnlab data list`` and ``attnlab data fetch NAME`` (arguments in :mod:`attnlab.cli`):
the datasets, where they are looked for, and a checksum-verified download of those that can be
fetched automatically.

``list`` says, for every registered dataset, the folder searched (``--data-dir``, else
``$ATTNLAB_DATA``, else the user cache), how many of its files are there, and how to get the
rest. ``fetch`` downloads and verifies a dataset into that folder; a dataset without a public
download (eng-fra) gets a message saying where to obtain it and where to put it. Nothing is
downloaded by any other command.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attnlab.data.errors import DataError
from attnlab.data.resources import RESOURCES, Resource, resolve_data_root

__all__ = ["DOWNLOADERS", "cmd_data", "dataset_status"]

EXIT_USAGE = 2


def _archive_downloaders() -> dict[str, Callable[[Path], Path]]:
    from attnlab.data.babi import download_babi
    from attnlab.data.reuters import download_reuters

    return {"babi": download_babi, "docs-reuters21578": download_reuters}


#: Datasets shipped as one archive upstream: fetched by their own downloader (each member is
#: verified against its pinned checksum before it is installed).
DOWNLOADERS: tuple[str, ...] = ("babi", "docs-reuters21578")


def _resources() -> list[Resource]:
    import attnlab.data  # noqa: F401  (registers every built-in dataset)

    return list(RESOURCES.values())


def _downloadable(resource: Resource) -> bool:
    return resource.name in DOWNLOADERS or all(spec.urls for spec in resource.files)


def _how_to_get(resource: Resource, folder: Path | None = None) -> str:
    if _downloadable(resource):
        return f"attnlab data fetch {resource.name}"
    where = f" from {resource.homepage}" if resource.homepage else ""
    files = ", ".join(spec.name for spec in resource.files)
    into = f" {folder}" if folder is not None else " its folder"
    return f"cannot be downloaded automatically: obtain it{where} and copy {files} into{into}"


def dataset_status(resource: Resource, data_dir: str | Path | None) -> dict[str, Any]:
    """Folder, files present / expected, missing file names and how to get them."""
    root, origin = resolve_data_root(data_dir)
    missing = resource.missing_files(data_dir)
    return {
        "name": resource.name,
        "description": resource.description,
        "folder": str(root / resource.name),
        "root_from": origin,
        "files": len(resource.files),
        "present": len(resource.files) - len(missing),
        "missing": missing,
        "get": _how_to_get(resource, root / resource.name) if missing else "",
    }


def _list(args: argparse.Namespace) -> int:
    rows = [dataset_status(r, args.data_dir) for r in _resources()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    root, origin = resolve_data_root(args.data_dir)
    print(f"data root: {root} (from the {origin})\n")
    for row in rows:
        state = ("complete" if not row["missing"]
                 else f"{row['present']} of {row['files']} files present")
        print(f"{row['name']}: {state}")
        if row["description"]:
            print(f"    {row['description']}")
        print(f"    folder: {row['folder']}")
        if row["missing"]:
            shown = ", ".join(row["missing"][:4])
            more = f" and {len(row['missing']) - 4} more" if len(row["missing"]) > 4 else ""
            print(f"    missing: {shown}{more}")
            print(f"    get it: {row['get']}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    _resources()
    try:
        resource = RESOURCES[args.name]
    except LookupError as error:
        print(f"attnlab data fetch: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    root, _ = resolve_data_root(args.data_dir)
    folder = root / resource.name
    if not resource.missing_files(args.data_dir) and not args.verify:
        print(f"{resource.name}: all {len(resource.files)} files already in {folder} "
              "(--verify checks their sha256)")
        return 0
    try:
        if resource.name in DOWNLOADERS:
            _archive_downloaders()[resource.name](root)
        elif _downloadable(resource):
            for spec in resource.files:
                resource.fetch(spec.name, data_dir=args.data_dir, download=True,
                               progress=not args.quiet)
        else:
            print(f"attnlab data fetch: error: {resource.name} "
                  f"{_how_to_get(resource, folder)}", file=sys.stderr)
            return EXIT_USAGE
        for spec in resource.files:  # verify everything, downloaded or already there
            if spec.name not in resource.missing_files(args.data_dir):
                resource.fetch(spec.name, data_dir=args.data_dir, download=False)
    except DataError as error:
        print(f"attnlab data fetch: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    missing = resource.missing_files(args.data_dir)
    print(f"{resource.name}: {len(resource.files) - len(missing)} of {len(resource.files)} "
          f"files verified in {folder}")
    if missing:
        print(f"    still missing (no public copy): {', '.join(missing)}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    """``attnlab data list | fetch NAME``."""
    return _list(args) if args.data_command == "list" else _fetch(args)
