"""``edgevision models``: list registered architectures."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from edgevision.cli.common import add_command


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "models", run)
    p.add_argument("pattern", nargs="?", default="*", help="glob on model names (default: *)")
    p.add_argument("--task", choices=["detect", "semantic", "instance"], help="only this task")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--weights",
        action="store_true",
        help="list the shipped weights (names every command takes) instead of architectures",
    )


def run(args: argparse.Namespace) -> int:
    """List registered models.

    List registered model architectures (glob pattern, e.g. 'yolo*'); with --weights, the
    shipped weights (trained checkpoints with a model card), whose names every command and
    edgevision.load() take.
    """
    if args.weights:
        return _weights(args)
    from edgevision.registry import get_entry, list_models

    rows: list[dict[str, Any]] = []
    for name in list_models(args.pattern, task=args.task):
        e = get_entry(name)
        rows.append(
            {
                "name": name,
                "task": e.task,
                "input": f"{e.input_size[0]}x{e.input_size[1]}",
                "classes": len(e.class_names),
                "components": list(e.components),
                "description": e.description,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} model(s)")
    table.add_column("name", no_wrap=True, min_width=max((len(r["name"]) for r in rows), default=4))
    for col in ("task", "input", "classes"):
        table.add_column(col, no_wrap=True, min_width=len(col) + 1)
    table.add_column("components", overflow="fold", max_width=40)
    table.add_column("description", overflow="fold", ratio=1)
    for r in rows:
        table.add_row(
            r["name"],
            r["task"],
            r["input"],
            str(r["classes"]),
            ",".join(r["components"]),
            r["description"],
        )
    # a pipe or file gets a wide table rather than rich's 80-column default
    Console(width=None if sys.stdout.isatty() else 160).print(table)
    return 0


def _weights(args: argparse.Namespace) -> int:
    import fnmatch

    from edgevision.tasks import get_task
    from edgevision.weights import list_weights

    want = get_task(args.task).name if args.task else None
    rows = [
        {
            "name": e.name,
            "model": e.model,
            "task": e.task,
            "file": str(e.file),
            "present": e.file.is_file(),
            "url": e.url,
            "card": str(e.card),
        }
        for e in list_weights().values()
        if fnmatch.fnmatch(e.name, args.pattern) and (want is None or e.task == want)
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        where = r["file"] if r["present"] else f"not here (download: {r['url'] or 'no URL'})"
        print(f"{r['name']:36s} {r['task']:9s} {r['model']:28s} {where}")
    print(f"{len(rows)} shipped weights; card: weights/NAME/README.md")
    return 0
