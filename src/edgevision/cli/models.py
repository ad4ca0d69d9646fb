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


def run(args: argparse.Namespace) -> int:
    """List registered models.

    List registered model architectures (glob pattern, e.g. 'yolo*').
    """
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
