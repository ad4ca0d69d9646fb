"""``edgevision run``: real-time inference on video streams through GStreamer.

::

    edgevision run video.mp4 --model model.onnx --out out.mp4 --meta out.jsonl
    edgevision run rtsp://cam/stream test://ball --model yolo_ret_m075 --out null
    edgevision run --list-decoders
    edgevision run --list-encoders
    edgevision run --sample sample.mp4        # write the built-in synthetic sample video
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import IO, Any

from edgevision.classnames import DATASET_COLOURS
from edgevision.cli.common import (
    add_backend_args,
    add_command,
    add_precision_args,
    add_trt_precision,
    check_outputs,
    nonneg_float,
    nonneg_int,
    pick,
    positive_float,
    positive_int,
    propagate_value,
)

SOURCES_HELP = """\
SOURCE forms:
  FILE.mp4|mkv|avi|mov|webm   a video file (H.264/H.265/MJPEG/VP8/VP9/AV1/MPEG-4)
  rtsp://HOST:PORT/PATH       an RTSP stream (reconnects with back-off if it drops)
  v4l2:///dev/videoN          a V4L2 camera
  csi://N                     a CSI camera (nvarguscamerasrc, Jetson)
  test://PATTERN?size=WxH&fps=N&frames=N   videotestsrc (PATTERN: smpte, ball, snow ...)
  FOLDER                      images in a folder, sorted by name
  'gst:FRAGMENT'              a GStreamer fragment ending in raw video

--model forms:
  FILE.onnx                   ONNX Runtime (no torch needed)
  FILE.pt|.safetensors        a checkpoint (exported to ONNX for speed; --backend torch keeps it;
                              with --video, --backend onnxruntime runs its component graphs)
  FOLDER                      YOLACT component graphs ('edgevision export CKPT --components'),
                              ONNX Runtime, each part at its own precision; --video for keyframes
  package.module:factory      factory() returns a ModelPlugin
  NAME                        an 'edgevision.models' entry point, or a registry model
                              (random weights: a pipeline check only, logged as such)

examples:
  edgevision run clip.mp4 --model m.onnx --out out.mp4 --meta out.jsonl
  edgevision run clip.mp4 --model m.onnx --meta - | jq .time      # JSONL on stdout
  EDGEVISION_MQTT_USERNAME=cam EDGEVISION_MQTT_PASSWORD=... \
    edgevision run rtsp://cam/live --model m.onnx --mqtt mqtts://broker:8883/site/cam1
  EDGEVISION_RTSP_PASSWORD=... edgevision run cam.mp4 -m m.onnx --out rtsp://0.0.0.0:8554/live
  edgevision run rtsp://127.0.0.1:8554/cam --model m.onnx --out rtsp://127.0.0.1:8555/live
  edgevision run test://ball test://smpte --model deeplabv3plus_mobilenetv2 --duration 10
  edgevision run ../shared/data/camvid/images/val --model runs/ddrnet/best.pt --out camvid.mp4
  edgevision run clip.mp4 -m cityscapes_seg.onnx --out o.mp4 --smooth-edges --no-legend
  edgevision run clip.mp4 -m yolact.onnx --out o.mp4 --meta o.jsonl --conf 0.05 --draw-conf 0.4
  edgevision run frames/ -m fastdepthseg.onnx --out o.mp4 --meta o.jsonl   # classes | depth
  edgevision run clip.mp4 -m m.onnx --backend tensorrt             # NVIDIA GPU, cached engine
  edgevision run clip.mp4 -m m.onnx --providers cuda               # ONNX Runtime's CUDA EP
  edgevision run csi://0 -m m.onnx --nvmm --size 640x360 --backend tensorrt   # Jetson
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "run", run, raw=True, epilog=SOURCES_HELP)
    p.add_argument("sources", nargs="*", metavar="SOURCE", help="input streams (see below)")
    p.add_argument("--model", "-m", help="model: .onnx, checkpoint, plugin or name (see below)")
    p.add_argument(
        "--out",
        "-o",
        default="null",
        help="FILE.mp4|.mkv, rtsp://HOST:PORT/NAME, display or null (default: null); "
        "several sources get _0, _1 ... suffixes",
    )
    p.add_argument(
        "--meta",
        metavar="FILE.jsonl",
        help="one JSON line per processed frame ('-': standard output; the summary then goes "
        "to standard error)",
    )
    p.add_argument(
        "--meta-masks",
        action="store_true",
        help="put masks (compressed COCO RLE) in --meta/--mqtt lines: one per instance, or "
        "one label mask per class of a segmentation",
    )
    mq = p.add_argument_group(
        "MQTT output",
        "one message per frame per stream (its --meta line; several sources publish to "
        "TOPIC/0, TOPIC/1 ...); reconnects with back-off; a bounded buffer whose drops the "
        "summary counts. Credentials: --mqtt-credentials FILE (user, then password, one per "
        "line), else $EDGEVISION_MQTT_USERNAME and $EDGEVISION_MQTT_PASSWORD; never in the URL",
    )
    mq.add_argument("--mqtt", metavar="URL", help="mqtt://HOST[:PORT]/TOPIC or mqtts://… (TLS)")
    mq.add_argument("--mqtt-credentials", metavar="FILE", help="user and password file (mode 600)")
    mq.add_argument("--mqtt-ca", metavar="PEM", help="CA of the broker's certificate (mqtts)")
    mq.add_argument("--mqtt-qos", type=int, choices=(0, 1, 2), default=1, help="default 1")
    mq.add_argument(
        "--mqtt-buffer",
        type=positive_int,
        default=10_000,
        help="messages held unacknowledged before new ones are dropped (default 10000)",
    )
    rtsp = p.add_argument_group(
        "RTSP output",
        "--out rtsp://127.0.0.1:PORT/NAME may be open; any other address needs a password "
        "(digest; basic inside TLS) unless --rtsp-no-auth",
    )
    rtsp.add_argument("--rtsp-user", default="edgevision", help="user name (default edgevision)")
    rtsp.add_argument(
        "--rtsp-password-file",
        metavar="FILE",
        help="password: the first line of FILE (else $EDGEVISION_RTSP_PASSWORD; never an "
        "argument, which ps would show)",
    )
    rtsp.add_argument(
        "--rtsp-no-auth",
        action="store_true",
        help="serve a non-loopback address without a password (anyone on the network)",
    )
    rtsp.add_argument("--rtsp-cert", metavar="PEM", help="TLS certificate: serve rtsps://")
    rtsp.add_argument("--rtsp-key", metavar="PEM", help="the certificate's private key")
    p.add_argument("--summary", metavar="FILE.json", help="write the run summary JSON here")
    p.add_argument(
        "--decoder",
        default="auto",
        help="auto (hardware if present, else software), hw, sw, or an element name",
    )
    p.add_argument("--list-decoders", action="store_true", help="print decoders here and exit")
    p.add_argument(
        "--nvmm",
        action="store_true",
        help="NVIDIA Jetson: convert and scale (--size) decoded NVMM frames in hardware with "
        "nvvidconv to RGBA in system memory, instead of videoconvert/videoscale on the CPU "
        "(one copy out of NVMM; the engine's input is still a system-memory array)",
    )
    p.add_argument(
        "--encoder",
        default="auto",
        help="H.264 encoder of --out FILE/rtsp: auto (hardware if present: Jetson, NVENC, "
        "VA-API; else x264enc, openh264enc), hw, sw, or an element name (see --list-encoders)",
    )
    p.add_argument("--list-encoders", action="store_true", help="print encoders here and exit")
    p.add_argument("--size", metavar="WxH", help="scale frames to this size before the model")
    leak = p.add_mutually_exclusive_group()
    leak.add_argument(
        "--leaky",
        dest="leaky",
        action="store_true",
        default=None,
        help="drop frames when the model falls behind, keeping the newest (default for live "
        "sources)",
    )
    leak.add_argument(
        "--no-leaky",
        dest="leaky",
        action="store_false",
        help="process every frame, slowing the source (default for files and folders)",
    )
    p.add_argument(
        "--queue", type=positive_int, default=2, help="frames buffered per stream (default 2)"
    )
    p.add_argument("--realtime", action="store_true", help="play files at their frame rate")
    p.add_argument(
        "--max-frames", type=nonneg_int, default=0, help="stop each stream after N frames"
    )
    p.add_argument("--duration", type=nonneg_float, default=0.0, help="stop after S seconds")
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=10.0,
        help="seconds to wait for a source's first frame (default 10)",
    )
    p.add_argument("--rtsp-transport", choices=("tcp", "udp"), default="tcp")
    p.add_argument("--rtsp-latency", type=nonneg_int, default=100, help="rtspsrc latency in ms")
    p.add_argument("--no-reconnect", action="store_true", help="end RTSP streams that drop")
    p.add_argument(
        "--reconnect-timeout",
        type=nonneg_float,
        default=30.0,
        help="give up on a dropped RTSP stream after S seconds (default 30)",
    )
    add_backend_args(
        p,
        auto="the faster of onnxruntime and openvino for the ONNX file on this host, by a "
        "cached probe; a checkpoint or name is exported to ONNX first; PyTorch for --video of "
        "a checkpoint",
        engine_alias=True,
    )
    add_trt_precision(p)
    p.add_argument("--threads", type=positive_int, default=2, help="engine threads (default 2)")
    p.add_argument(
        "--batch", type=nonneg_int, default=0, help="frames per engine call (0: #streams)"
    )
    p.add_argument(
        "--conf",
        type=float,
        default=None,
        metavar="SCORE",
        help="detection/instance models: record (--meta) objects scoring at least this "
        "(0-1; default: the model's postprocessor, 0.25 YOLO, 0.05 YOLACT); --draw-conf "
        "decides what is drawn",
    )
    draw = p.add_argument_group(
        "overlay",
        "what --out shows; --meta records every object --conf keeps. Colours: the dataset's "
        "standard palette when the model's classes are CamVid's or Cityscapes'",
    )
    draw.add_argument(
        "--draw-conf",
        type=float,
        default=0.25,
        metavar="SCORE",
        help="draw objects scoring at least this (0-1, default 0.25)",
    )
    draw.add_argument(
        "--draw-iou",
        type=float,
        default=0.5,
        metavar="IOU",
        help="draw one class per object: hide a box overlapping a higher-scored drawn box of "
        "another class by IoU above this (0-1, default 0.5, the models' NMS IoU; 1: off)",
    )
    draw.add_argument(
        "--palette",
        choices=("auto", "distinct", *DATASET_COLOURS),
        default="auto",
        help="class colours: auto (the model's dataset, else distinct), distinct, camvid, "
        "cityscapes",
    )
    draw.add_argument("--no-legend", action="store_true", help="no legend of the classes shown")
    draw.add_argument(
        "--depth-view",
        choices=("side", "blend"),
        default="side",
        help="depth + segmentation models: side (class overlay | depth colour map, an output "
        "twice as wide; default) or blend (depth colours on the frame, class boundaries)",
    )
    draw.add_argument(
        "--smooth-edges",
        action="store_true",
        help="semantic models: upsample the logits before the argmax (smooth class edges "
        "instead of the output stride's staircase); its cost is measured and printed",
    )
    p.add_argument(
        "--track",
        default="",
        metavar="TRACKER",
        help="detection/instance models: give objects ids across frames, one tracker per "
        "stream: bytetrack (Kalman motion, also matches low-score boxes) or iou; ids go into "
        "the overlay and --meta ('track_ids'), tracks started/ended into the summary; without "
        "--conf the model keeps boxes down to the tracker's low threshold (0.1)",
    )
    p.add_argument("--video", action="store_true", help="YolactEdge video mode (instance models)")
    p.add_argument(
        "--keyframes",
        default=None,
        help="video-mode keyframe policy: fixed:K | adaptive[:MAX] (default: the default "
        "path's, fixed:2)",
    )
    p.add_argument(
        "--propagate",
        nargs="?",
        const="featflownet",
        default=None,
        type=propagate_value,
        metavar="FLOW",
        help="with --video: non-keyframes warp the keyframe's masks with FLOW (featflownet, "
        "the flag alone; dis[:fast|:medium]: OpenCV's DIS optical flow, no network on "
        "non-keyframes; none: the partial feature transform; dis...+redetect[:PREC]: also "
        "re-detect without ProtoNet and fuse the boxes with the propagated masks). "
        "Default: the default path's, "
        "dis:medium",
    )
    add_precision_args(p)
    p.add_argument("--fps", type=positive_int, default=30, help="frame rate of the output video")
    p.add_argument("--sample", metavar="FILE.mp4", help="write the built-in sample video, exit")
    p.add_argument("--no-progress", action="store_true", help="no live stats")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")


def _logging(quiet: bool) -> None:
    logger = logging.getLogger("edgevision.stream")
    if not logger.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("edgevision run: %(message)s"))
        logger.addHandler(h)
        logger.propagate = False
    logger.setLevel(logging.WARNING if quiet else logging.INFO)


def run(args: argparse.Namespace) -> int:
    """Run a model on video streams (files, RTSP, cameras) through GStreamer.

    Decode SOURCEs with GStreamer (hardware decoders where this machine has them, software
    otherwise), run the model in its own thread with bounded queues (live sources hand over
    the newest frame and drop older ones when the model is slower; drops are counted), and
    write an overlay video, per-frame JSONL and a summary. Ctrl-C or SIGTERM stops it cleanly:
    outputs finalised, summary written, exit 130 (a second Ctrl-C during that shutdown is
    ignored, a third exits at once). An output that fails (a full disk, a frame size the
    encoder refuses) ends the run with a one-line error and exit 2, the summary still written.
    """
    from edgevision.errors import ConfigError

    _logging(args.quiet)
    if args.list_decoders:
        from edgevision.stream.decoders import list_decoders

        print(f"{'codec':9} {'auto picks':16} {'hardware':28} software")
        for r in list_decoders():
            print(
                f"{r['codec']:9} {r['auto'] or '-':16} {','.join(r['hardware']) or '-':28} "
                f"{','.join(r['software']) or '-'}"
            )
        return 0
    if args.list_encoders:
        from edgevision.stream.encoders import list_encoders

        print(f"{'encoder':14} {'kind':9} {'installed':10} {'family':26} package")
        for r in list_encoders():
            print(
                f"{r['element']:14} {'hardware' if r['hardware'] else 'software':9} "
                f"{('yes' + (' (auto)' if r['auto'] else '')) if r['installed'] else 'no':10} "
                f"{r['family']:26} {r['package'] or '-'}"
            )
        return 0
    if args.sample:
        from edgevision.stream.sample import make_sample_video

        check_outputs(args, "sample")

        path = make_sample_video(args.sample)
        print(f"wrote {path}")
        return 0
    if not args.sources:
        raise ConfigError("give at least one SOURCE (see 'edgevision run --help')")
    if not args.model:
        raise ConfigError("--model is required (a .onnx file, checkpoint, plugin or name)")
    check_outputs(args, "summary")
    if args.meta != "-":
        check_outputs(args, "meta")
    mqtt_flags = (args.mqtt_credentials, args.mqtt_ca)
    if any(mqtt_flags) and not args.mqtt:
        raise ConfigError("--mqtt-credentials/--mqtt-ca need --mqtt URL")
    if args.out not in ("null", "display") and "://" not in args.out:
        check_outputs(args, "out")
    if args.conf is not None and not 0.0 <= args.conf < 1.0:
        raise ConfigError(f"--conf must be in [0, 1), got {args.conf}")
    if args.precision_policy is not None:
        from edgevision.video.precision import parse_precision

        parse_precision(args.precision_policy)  # fail fast, before any pipeline starts
    from edgevision.config import parse_size
    from edgevision.runtime.base import check_backend, check_trt_precision

    if args.nvmm:
        from edgevision.stream.decoders import check_nvmm

        check_nvmm()  # not a Jetson: one line naming nvvidconv's package
    check_trt_precision(args.backend, args.trt_precision)
    check_backend(args.backend, args.providers)  # a missing GPU stack: one line, nothing loaded
    small_input = parse_size(args.small_input, "--small-input") if args.small_input else None
    for flag in ("draw_conf", "draw_iou"):
        if not 0.0 <= getattr(args, flag) <= 1.0:
            raise ConfigError(
                f"--{flag.replace('_', '-')} must be in [0, 1], got {getattr(args, flag)}"
            )
    from edgevision.stream.mqtt import MqttConfig
    from edgevision.stream.overlay import OverlayOptions
    from edgevision.stream.pipeline import RunConfig, run_stream
    from edgevision.stream.rtsp import RtspAuth, read_password
    from edgevision.stream.sources import SourceOptions, parse_wh

    size = parse_wh(args.size, "--size") if args.size else None
    rtsp_flags = (args.rtsp_password_file, args.rtsp_cert, args.rtsp_key, args.rtsp_no_auth)
    if any(rtsp_flags) and not args.out.startswith("rtsp://"):
        raise ConfigError("--rtsp-password-file/-no-auth/-cert/-key need --out rtsp://…")
    rtsp = RtspAuth(
        user=args.rtsp_user,
        password=read_password(args.rtsp_password_file) if args.out.startswith("rtsp://") else None,
        no_auth=args.rtsp_no_auth,
        cert=args.rtsp_cert,
        key=args.rtsp_key,
    )
    cfg = RunConfig(
        sources=list(args.sources),
        source=SourceOptions(
            size=size,
            decoder=args.decoder,
            leaky=args.leaky,
            queue_size=args.queue,
            realtime=args.realtime,
            max_frames=args.max_frames,
            start_timeout=args.timeout,
            rtsp_transport=args.rtsp_transport,
            rtsp_latency_ms=args.rtsp_latency,
            reconnect=not args.no_reconnect,
            reconnect_timeout=args.reconnect_timeout,
            nvmm=args.nvmm,
        ),
        rtsp=rtsp,
        overlay=OverlayOptions(
            draw_conf=args.draw_conf,
            draw_iou=args.draw_iou,
            palette=args.palette,
            legend=not args.no_legend,
            depth_view=args.depth_view,
        ),
        smooth_edges=args.smooth_edges,
        precision=args.precision_policy,
        precision_engines=list(args.precision_engines or []),
        small_input=small_input,
        engine=args.backend,
        mqtt=MqttConfig(
            args.mqtt,
            credentials=args.mqtt_credentials,
            ca=args.mqtt_ca,
            qos=args.mqtt_qos,
            buffer=args.mqtt_buffer,
        )
        if args.mqtt
        else None,
        **pick(
            args,
            "model",
            "out",
            "meta",
            "meta_masks",
            "summary",
            "providers",
            "trt_precision",
            "encoder",
            "threads",
            "batch",
            "video",
            "keyframes",
            "propagate",
            "duration",
            "fps",
            "conf",
            "track",
        ),
    )
    # SIGINT/SIGTERM: the first stops the run cleanly, the next is ignored, a third exits
    summary = run_stream(cfg, progress=not args.no_progress)
    _print_summary(summary, sys.stderr if args.meta == "-" else sys.stdout)
    return 1 if summary["errors"] else 0


def _print_summary(s: dict[str, Any], out: IO[str]) -> None:
    """The summary in a few lines on ``out`` (stderr when stdout carries ``--meta -``)."""
    lat = s["stages_ms"]["latency"]
    inf = s["stages_ms"]["inference"]
    print(
        f"{s['frames_processed']} frames in {s['wall_s']:.1f} s "
        f"({s['aggregate_fps']} FPS), {s['frames_dropped']} dropped; inference p50 "
        f"{inf.get('p50', 0)} ms, latency p99 {lat.get('p99', 0)} ms; model "
        f"{s['model']['name']}{'' if s['model'].get('trained', True) else ' (untrained)'}",
        file=out,
    )
    for st in s["streams"]:
        print(
            f"  [{st['source']}] "
            + json.dumps(
                {
                    k: st[k]
                    for k in ("frames_processed", "frames_dropped", "reconnects", "fps", "ended")
                }
                | {"decoder": st["decoder"]}
            ),
            file=out,
        )
    if s.get("encoder"):
        e = s["encoder"]
        print(f"  encoder {e['element']}: {e['reason']}", file=out)
    edges = s.get("smooth_edges")
    if edges and edges.get("cost_ms") is not None:
        print(
            f"  smooth edges: postprocess p50 {edges['postprocess_ms']:.2f} ms per batch with "
            f"logits upsampled before the argmax, {edges['plain_ms']:.2f} ms with labels "
            f"upsampled (first {edges['plain_batches']} batches): +{edges['cost_ms']:.2f} ms"
        )
    for st in s["streams"]:
        if "tracking" in st:
            t = st["tracking"]
            print(
                f"  [{st['source']}] {t['tracker']}: {t['tracks_started']} tracks started, "
                f"{t['tracks_ended']} ended, {t['tracks_active']} active at the end"
            )
    for o in s["outputs"]:  # "wrote" only for files that were finalised
        if o.startswith("rtsp://"):
            print(f"  served {o}", file=out)
    if "mqtt" in s:
        m = s["mqtt"]
        print(
            f"  mqtt {m['url']}: {m['acknowledged']}/{m['published']} acknowledged, "
            f"{m['dropped']} dropped (buffer {m['buffer']}), {m['reconnects']} reconnects",
            file=out,
        )
    for w in s.get("written", []):
        print(f"  wrote {w}", file=out)
    for e in s["errors"]:
        print(f"  error: {e}", file=sys.stderr)
