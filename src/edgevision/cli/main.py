"""``edgevision`` console script.

Each subcommand lives in its own module ``edgevision.cli.<name>`` exposing
``register(subparsers)``, which adds its parser with
:func:`~edgevision.cli.common.add_command` (the help is the docstring of the command's
``run(args) -> int``, which parsing sets as ``func``). Modules are
imported when the parser is built, but heavy libraries (torch, onnxruntime) are imported only
inside ``func``. User errors (:class:`EdgeVisionError`) print one line and exit non-zero;
so does any ``OSError`` that escapes a command (a disk that filled up, a file removed under
it: one line naming the file, exit 2), and usage errors (two lines, exit 2); ``--debug``
shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Sequence

from edgevision.errors import EdgeVisionError

SUBCOMMANDS = (
    "models",
    "data",
    "export",
    "bench",
    "eval",
    "train",
    "convert",
    "ship",
    "report",
    "run",
    "quantize",
    "compare",
    "video",
)


def build_parser() -> argparse.ArgumentParser:
    from edgevision import __version__
    from edgevision.cli.common import Parser

    parser = Parser(
        prog="edgevision",
        description="Real-time computer vision on small machines: models, export, benchmark.",
    )
    parser.add_argument("--version", action="version", version=f"edgevision {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(f"edgevision.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 user error, 130 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or bool(os.environ.get("EDGEVISION_DEBUG"))
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv  # the command line as given, for run records (e.g. model cards)
    # the command as errors name it: 'edgevision data synth', 'edgevision report weak'
    parts = (args.command, getattr(args, "data_command", None), getattr(args, "kind", None))
    name = " ".join(p for p in parts if p)
    try:
        return int(args.func(args) or 0)
    except EdgeVisionError as e:
        if debug:
            raise
        print(f"edgevision {name}: error: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:  # the last resort: commands check their paths before work
        if debug:
            raise
        where = f": {e.filename}" if e.filename else ""
        print(f"edgevision {name}: error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"edgevision {name}: interrupted", file=sys.stderr)
        return 130


def entrypoint() -> None:
    code = main()
    # the command is over (outputs finalised): a Ctrl-C or SIGTERM while the interpreter
    # exits (which can take a while) must not turn its exit status into a kill. SIG_IGN, not
    # a Python handler: Python resets its own handlers to the default while it exits.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(code)
