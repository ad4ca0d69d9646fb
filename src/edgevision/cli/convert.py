"""``edgevision convert``: a public pretrained checkpoint -> an edgevision checkpoint."""

from __future__ import annotations

import argparse

from edgevision.cli.common import add_command, check_outputs


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "convert", run)
    p.add_argument("src", nargs="?", help="the public checkpoint (.pth/.pt/.safetensors)")
    p.add_argument(
        "-o", "--out", metavar="OUT", help="edgevision checkpoint to write (.pt or .safetensors)"
    )
    p.add_argument("--model", help="registry model to fill (see 'edgevision models')")
    p.add_argument(
        "--from",
        dest="source",
        metavar="SOURCE",
        help="the checkpoint's source (default: recognised by its tensor names; see --list)",
    )
    p.add_argument("--list", action="store_true", help="list the sources and where to get them")


def run(args: argparse.Namespace) -> int:
    """Convert pretrained weights into an edgevision checkpoint.

    Fill registry model --model from a public checkpoint (torchvision ImageNet MobileNetV2,
    torchvision/timm ResNet-50/101, the official DDRNet-23-slim, official YOLACT/YolactEdge,
    YOLOv5 state dicts) through that source's mapping table, print the report (matched /
    missing / shape-mismatched / unused tensors) and write OUT with the model's spec; refused
    when under 95% of the backbone's tensors match. The file is read with
    torch.load(weights_only=True): a pickled module is refused. OUT is what
    'edgevision train MODEL --pretrained OUT' starts from (the original file works there too).
    """
    from edgevision.errors import ConfigError

    if args.list:
        from edgevision.models.pretrained import get_source, list_sources

        for name in list_sources():
            s = get_source(name)
            print(f"{name}: {s.title}\n  get it: {s.where}")
        return 0
    missing = [
        flag
        for flag, v in (("SRC", args.src), ("-o OUT", args.out), ("--model", args.model))
        if not v
    ]
    if missing:
        raise ConfigError(f"convert needs {', '.join(missing)} (or --list)")
    check_outputs(args, "out")
    from edgevision.models.pretrained import convert

    report = convert(args.src, args.out, model=args.model, source=args.source)
    print("\n".join(report.lines()))
    print(f"wrote {args.out}")
    return 0
