"""What the command modules share: how a command is added, the recorded command line, and
the option shapes several commands take.

A command is a function ``run(args) -> int`` whose docstring is its help (a summary line for
the list of commands, then the description): :func:`add_command` adds its parser. Only the
standard library is imported here.
"""

from __future__ import annotations

import argparse
import inspect
import shlex
import sys
from collections.abc import Callable
from typing import Any

#: a command: parsed arguments -> exit code
Command = Callable[[argparse.Namespace], int]


def add_command(
    sub: Any, name: str, run: Command, *, raw: bool = False, epilog: str | None = None
) -> argparse.ArgumentParser:
    """Add the subcommand ``name`` to ``sub`` (an ``add_subparsers()`` action).

    ``run``'s docstring is its help: the first paragraph is the line in the list of
    commands, the rest the description of ``edgevision ... NAME --help``, reflowed unless
    ``raw`` (which keeps the line breaks of the description and ``epilog``, for lists and
    examples). Parsing sets ``args.func = run``. Returns the new parser, for its arguments.
    """
    summary, _, description = (inspect.getdoc(run) or "").partition("\n\n")
    p = sub.add_parser(
        name,
        help=" ".join(summary.split()),
        description=description or None,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter if raw else argparse.HelpFormatter,
    )
    p.set_defaults(func=run)
    return p


def add_group(sub: Any, name: str, *, help: str, description: str, dest: str) -> Any:
    """Add ``name`` as a command group: returns its required ``add_subparsers()`` action,
    whose choice is stored in ``args.<dest>`` and shown as ``DEST``."""
    p = sub.add_parser(name, help=help, description=description)
    return p.add_subparsers(dest=dest, metavar=dest.upper(), required=True)


def add_overrides(p: Any, *flags: str, help: str, dest: str | None = None) -> None:
    """A repeatable ``KEY=VALUE`` option (``--set``-like), collected in a list (default [])."""
    p.add_argument(*flags, dest=dest, action="append", default=[], metavar="KEY=VALUE", help=help)


def pick(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """``{name: args.name}``: the flags that pass unchanged to API parameters of their name."""
    return {name: getattr(args, name) for name in names}


def command_line(args: argparse.Namespace) -> str:
    """The command line as given (``edgevision ...``, shell-quoted), for run records."""
    return shlex.join(["edgevision", *getattr(args, "argv", sys.argv[1:])])


def print_wrote(files: Any) -> int:
    """Print ``wrote FILE`` for each written file; returns 0 (the exit code)."""
    for f in files:
        print(f"wrote {f}")
    return 0
