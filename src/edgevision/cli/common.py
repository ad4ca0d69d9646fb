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


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are two lines (the error, then where the help
    is) instead of the whole usage block; exit code 2 as usual. Subparsers inherit it."""

    def error(self, message: str) -> Any:  # argparse's signature is NoReturn
        self.exit(2, f"{self.prog}: error: {message}\nsee '{self.prog} --help'\n")


def _number(kind: type, low: float, strict: bool) -> Callable[[str], Any]:
    """An argparse ``type``: ``text`` as ``kind`` (int or float) above ``low`` (``strict``)
    or at least ``low``; anything else is a usage error naming the flag."""
    bound = f"> {low:g}" if strict else f">= {low:g}"

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'} {bound}, got {text!r}"
            ) from None
        if value != value or (value <= low if strict else value < low):  # NaN too
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text!r}")
        return value

    convert.__name__ = f"{kind.__name__} {bound}"  # argparse names the type in some errors
    return convert


positive_int = _number(int, 0, strict=True)
"""argparse ``type``: an integer > 0 (counts, frame rates, thread numbers)."""
nonneg_int = _number(int, 0, strict=False)
"""argparse ``type``: an integer >= 0 (caps where 0 means 'all' or 'none')."""
positive_float = _number(float, 0, strict=True)
"""argparse ``type``: a number > 0 (seconds, learning rates)."""
nonneg_float = _number(float, 0, strict=False)
"""argparse ``type``: a number >= 0 (tolerances, durations where 0 means 'no limit')."""


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


def check_outputs(args: argparse.Namespace, *files: str, folders: tuple[str, ...] = ()) -> None:
    """Check, before any work, that the output paths of the flags named ``files`` (file
    outputs) and ``folders`` (folder outputs) can be written; flags left unset are skipped.

    Raises:
        OutputError: naming the flag and the path (see
            :func:`~edgevision.errors.require_writable_output`).
    """
    from edgevision.errors import require_writable_output

    for names, folder in ((files, False), (folders, True)):
        for name in names:
            value = getattr(args, name, None)
            if value is not None:
                flag = "--" + name.replace("_", "-")
                require_writable_output(value, flag, folder=folder)


def keyed_values(items: list[str], option: str, *, folders: bool = True) -> dict[str, str]:
    """``[KEY=]VALUE`` values of a repeatable option -> ``{KEY: VALUE}``, ``"*"`` for the
    one without a key (the default for every model not named); with ``folders`` each value
    must be an existing folder.

    Raises:
        ConfigError: a key (or the default) given twice.
        DataError: a folder that does not exist.
    """
    from edgevision.errors import ConfigError, require_dir

    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.rpartition("=")
        key = key if sep else "*"
        if key in out:
            raise ConfigError(f"{option} given twice for {'the default' if key == '*' else key}")
        if folders:
            require_dir(value, f"dataset folder ({option})")
        out[key] = value
    return out


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


def add_precision_args(p: argparse.ArgumentParser) -> None:
    """``--precision-policy`` and ``--precision-engines`` of ``run`` and ``video``
    (per-frame precision in video mode: :mod:`edgevision.video.precision`)."""
    p.add_argument(
        "--precision-policy",
        default=None,
        metavar="POLICY",
        help="per-frame engine precision in video mode: fixed:fp32|fixed:mixed|fixed:int8 or "
        "adaptive[:LOW,HIGH] (cheapest engine for frames that changed less than LOW since "
        "the last network pass, the most accurate from HIGH; default 0.01,0.04); default: "
        "fixed:mixed when a mixed engine is given, else the model's own",
    )
    p.add_argument(
        "--precision-engines",
        nargs="+",
        default=None,
        metavar="DIR",
        help="component folders of the same model at other precisions (mixed: INT8 with "
        "FPN and head FP32; int8: all INT8; from 'edgevision quantize FOLDER ...'), each "
        "named by the precisions in its files",
    )
    p.add_argument(
        "--small-input",
        default=None,
        metavar="HxW",
        help="also load the 'small' engine: the mixed engine (else the model's own) at this "
        "smaller input (multiples of 32), the cheapest and lossy choice of the policy; needs "
        "DIS propagation or per-frame mode",
    )


BACKEND_CHOICES = ("auto", "onnxruntime", "openvino", "tensorrt", "torch")
"""Every command's ``--backend`` choices (:data:`edgevision.runtime.base.BACKENDS` + auto)."""


def propagate_value(text: str) -> str:
    """``--propagate``: a flow (``none``, ``featflownet``, ``dis``, ``dis:fast``,
    ``dis:medium``), a DIS flow optionally with ``+redetect[:PREC]``
    (:func:`edgevision.video.redetect.parse_propagate`)."""
    from edgevision.errors import ConfigError
    from edgevision.video.core import PROPAGATE_FLOWS
    from edgevision.video.redetect import parse_propagate

    try:
        parse_propagate(text, PROPAGATE_FLOWS)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def provider_list(text: str) -> list[str]:
    """argparse ``type``: ``"cuda,tensorrt,cpu"`` -> ``["cuda", "tensorrt", "cpu"]``."""
    items = [t.strip() for t in text.split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(f"expected EP[,EP...], got {text!r}")
    return items


def add_backend_args(p: Any, *, auto: str, engine_alias: bool = False) -> None:
    """``--backend`` and ``--providers``, the same on ``run``, ``eval``, ``video``, ``bench``
    and ``compare`` (``args.backend``, ``args.providers``: a list, empty = CPU).

    The story every command tells: ``--backend`` picks the engine (``auto`` as ``auto``
    says); ``--providers`` are ONNX Runtime's execution providers, in priority order with
    CPU appended, so they imply ``--backend onnxruntime`` (with ``auto``) and are an error
    with another backend. A GPU option on a machine without that GPU stack is a one-line
    error naming what to install, exit 2, before any model is loaded
    (:func:`edgevision.runtime.base.check_backend`).

    Args:
        p: the command's parser.
        auto: what ``auto`` means for this command (completes the help text).
        engine_alias: also accept ``--engine`` (the older spelling of ``run`` and ``video``).
    """
    flags = ("--backend", "--engine") if engine_alias else ("--backend",)
    p.add_argument(
        *flags,
        dest="backend",
        choices=BACKEND_CHOICES,
        default="auto",
        help=f"inference engine (default: auto = {auto}); tensorrt builds a cached TensorRT "
        "engine from the ONNX file (an NVIDIA GPU and pip install 'edgevision[gpu]')"
        + ("; --engine is the same option" if engine_alias else ""),
    )
    p.add_argument(
        "--providers",
        type=provider_list,
        action="extend",
        default=[],
        metavar="EP[,EP...]",
        help="ONNX Runtime execution providers in priority order, e.g. tensorrt,cuda "
        "(cpu, cuda, tensorrt or full names; CPU is always last; needs onnxruntime-gpu); "
        "implies --backend onnxruntime",
    )


def add_trt_precision(p: Any) -> None:
    """``--trt-precision`` (``args.trt_precision``) of the commands that take ``--backend
    tensorrt``; the engine cache is the same for all of them (:mod:`edgevision.runtime.tensorrt`)."""
    p.add_argument(
        "--trt-precision",
        choices=("auto", "fp32", "fp16", "int8"),
        default="auto",
        help="TensorRT precision (auto: INT8 for a Q/DQ model from 'edgevision quantize "
        "--activation-type s8 --weight-type s8', else FP32; int8 on a float model "
        "calibrates on --calib-data where the command has it); needs --backend tensorrt",
    )
