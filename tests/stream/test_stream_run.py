"""The pipeline end to end on this machine's GStreamer: files, test://, folders, fragments,
batching, per-stream state, leaky drops, bad inputs, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgevision.stream.gst import StreamError
from edgevision.stream.pipeline import RunConfig, run_stream
from edgevision.stream.sources import SourceOptions

from .videos import count_frames

pytestmark = pytest.mark.gst

EV = [sys.executable, "-m", "edgevision"]


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_file_to_mp4_jsonl_and_summary(tiny_video, tmp_path, stub_module):
    plugin = stub_module.make()
    cfg = RunConfig(
        [str(tiny_video)],
        "stub",
        out=str(tmp_path / "o.mp4"),
        meta=str(tmp_path / "o.jsonl"),
        summary=str(tmp_path / "s.json"),
    )
    s = run_stream(cfg, plugin=plugin, progress=False)
    lines = _jsonl(tmp_path / "o.jsonl")
    assert [d["frame"] for d in lines] == list(range(24))  # files: no drops, every frame
    assert lines[0]["result"]["type"] == "detections"
    assert lines[0]["result"]["image_size"] == [120, 160]
    assert count_frames(tmp_path / "o.mp4") == 24
    assert not list(tmp_path.glob(".*partial"))
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["frames_processed"] == s["frames_processed"] == 24
    st = saved["streams"][0]
    assert st["frames_dropped"] == 0 and st["ended"] == "eos"
    assert st["decoder"]["codec"] == "H.264" and st["decoder"]["hardware"] is False
    assert set(saved["stages_ms"]) >= {"preprocess", "inference", "postprocess", "latency"}


def test_mkv_file_with_forced_decoder_and_scaling(tiny_video, tmp_path, stub_module):
    from edgevision.stream.outputs import Mp4Sink

    sink = Mp4Sink(tmp_path / "v.mkv", fps=10)  # H.264 in Matroska
    for t in range(6):
        sink.write(np.full((48, 64, 3), 40 * t, np.uint8), t / 10)
    sink.close()
    cfg = RunConfig(
        [str(tmp_path / "v.mkv")],
        "stub",
        meta=str(tmp_path / "m.jsonl"),
        source=SourceOptions(decoder="avdec_h264", size=(32, 24)),
    )
    s = run_stream(cfg, plugin=stub_module.make(), progress=False)
    assert s["frames_processed"] == 6
    assert s["streams"][0]["decoder"]["element"] == "avdec_h264"
    assert _jsonl(tmp_path / "m.jsonl")[0]["result"]["image_size"] == [24, 32]


def test_test_source_and_fragment(tmp_path, stub_module):
    cfg = RunConfig(
        [
            "test://ball?size=64x48&fps=60&frames=8",
            "gst:videotestsrc num-buffers=5 ! video/x-raw,width=40,height=30",
        ],
        "stub",
        meta=str(tmp_path / "m.jsonl"),
    )
    s = run_stream(cfg, plugin=stub_module.make(), progress=False)
    a, b = s["streams"]
    assert a["frames_processed"] + a["frames_dropped"] == 8  # live: leaky, every frame counted
    assert b["frames_processed"] + b["frames_dropped"] == 5
    sizes = {d["stream"]: d["result"]["image_size"] for d in _jsonl(tmp_path / "m.jsonl")}
    assert sizes == {0: [48, 64], 1: [30, 40]}


def _folder(path: Path, n: int, size=(24, 32)) -> Path:
    import cv2

    path.mkdir()
    for i in range(n):
        cv2.imwrite(str(path / f"{i:03d}.png"), np.full((*size, 3), i * 10, np.uint8))
    return path


def test_folders_batch_across_streams(tmp_path, stub_module):
    a, b = _folder(tmp_path / "a", 6), _folder(tmp_path / "b", 6, (20, 20))
    plugin = stub_module.make()
    s = run_stream(
        RunConfig([str(a), str(b)], "stub", out=str(tmp_path / "o.mp4")),
        plugin=plugin,
        progress=False,
    )
    assert [x["frames_processed"] for x in s["streams"]] == [6, 6]
    assert s["batch"] == 2 and max(plugin.batch_sizes) == 2 and sum(plugin.batch_sizes) == 12
    assert count_frames(tmp_path / "o_0.mp4") == 6 and count_frames(tmp_path / "o_1.mp4") == 6


def test_stateful_plugin_keeps_state_per_stream(tmp_path, stub_module):
    a, b = _folder(tmp_path / "a", 4), _folder(tmp_path / "b", 7)
    s = run_stream(
        RunConfig([str(a), str(b)], "counter", meta=str(tmp_path / "m.jsonl")),
        plugin=stub_module.Counter(),
        progress=False,
    )
    assert s["batch"] == 1
    lines = _jsonl(tmp_path / "m.jsonl")
    for stream, n in ((0, 4), (1, 7)):
        scores = [d["result"]["scores"][0] for d in lines if d["stream"] == stream]
        assert scores == pytest.approx([(i + 1) / 1000 for i in range(n)], abs=1e-6)


def test_slow_model_on_live_source_drops_oldest_and_counts(stub_module):
    plugin = stub_module.Stub(delay=0.1)
    cfg = RunConfig(["test://smpte?size=32x24&fps=30&frames=30"], "slow")
    s = run_stream(cfg, plugin=plugin, progress=False)
    st = s["streams"][0]
    assert st["frames_dropped"] > 0
    assert st["frames_processed"] + st["frames_dropped"] == 30
    assert s["frames_dropped"] == st["frames_dropped"]


def test_bad_fragment_and_corrupt_file(tmp_path, stub_module):
    with pytest.raises(StreamError, match="bad pipeline fragment"):
        run_stream(
            RunConfig(["gst:videotestsrc ! nosuchelement42"], "stub"),
            plugin=stub_module.make(),
            progress=False,
        )
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    t = time.monotonic()
    with pytest.raises(StreamError, match="bad.mp4"):
        run_stream(
            RunConfig([str(bad)], "stub", source=SourceOptions(start_timeout=5)),
            plugin=stub_module.make(),
            progress=False,
        )
    assert time.monotonic() - t < 5


def test_truncated_file_ends_without_hanging(tiny_video, tmp_path, stub_module):
    cut = tmp_path / "cut.mp4"
    data = tiny_video.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    try:
        s = run_stream(
            RunConfig([str(cut)], "stub", source=SourceOptions(start_timeout=5)),
            plugin=stub_module.make(),
            progress=False,
        )
    except StreamError as e:  # mp4 without its index: a clear error is fine too
        assert "cut.mp4" in str(e)
    else:
        assert s["frames_processed"] < 24


def test_unreachable_rtsp_fails_fast(stub_module):
    url = f"rtsp://127.0.0.1:{_free_port()}/nothing"
    t = time.monotonic()
    with pytest.raises(StreamError, match="nothing"):
        run_stream(
            RunConfig([url], "stub", source=SourceOptions(start_timeout=3)),
            plugin=stub_module.make(),
            progress=False,
        )
    assert time.monotonic() - t < 6


def _cli(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*EV, "run", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def _readonly_dir(tmp_path: Path) -> Path:
    if os.geteuid() == 0:  # root ignores file modes; sysfs refuses new files even to root
        return Path("/sys")
    d = tmp_path / "ro"
    d.mkdir(exist_ok=True)
    d.chmod(0o555)
    return d


def test_cli_bad_inputs_one_line_exit_2(tmp_path, stub_env, tiny_video):
    cases = [
        ([str(tmp_path / "missing.mp4"), "--model", "evstub:make"], "source not found"),
        (["gst:videotestsrc ! ! x", "--model", "evstub:make"], "bad pipeline fragment"),
        ([str(tiny_video), "--model", "evstub:not_a_plugin"], "is not a ModelPlugin"),
        (
            [
                str(tiny_video),
                "--model",
                "evstub:make",
                "--out",
                str(_readonly_dir(tmp_path) / "o.mp4"),
            ],
            "cannot write to output folder",
        ),
        ([str(tiny_video), "--model", "evstub:make", "--decoder", "hw"], "no hardware H.264"),
        (
            [
                str(tiny_video),
                "--model",
                "evstub:make",
                "--meta",
                str(_readonly_dir(tmp_path) / "m.jsonl"),
            ],
            "cannot write to output folder",
        ),
        ([str(tiny_video), "--model", "evstub:make", "--out", "display"], "no display"),
        (["csi://0", "--model", "evstub:make"], "nvarguscamerasrc"),
        (["v4l2:///dev/video77", "--model", "evstub:make"], "camera not found"),
        ([str(tiny_video), "--model", "evstub:make", "--conf", "1.5"], "--conf must be in"),
        ([str(tiny_video), "-m", "evstub:make", "--draw-conf", "2"], "--draw-conf must be in"),
        ([str(tiny_video), "-m", "evstub:make", "--smooth-edges"], "--smooth-edges needs a model"),
    ]
    for args, match in cases:
        r = _cli(args, stub_env)
        assert r.returncode == 2, (args, r.stderr)
        errors = [ln for ln in r.stderr.splitlines() if ln.startswith("edgevision run: error")]
        assert len(errors) == 1 and match in errors[0], (args, r.stderr)
        assert "Traceback" not in r.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_sigint_finalises_mp4_and_jsonl(tmp_path, stub_env, sig):
    out, meta = tmp_path / "o.mp4", tmp_path / "o.jsonl"
    p = subprocess.Popen(
        [
            *EV,
            "run",
            "test://ball?size=64x48&fps=30",
            "--model",
            "evstub:make",
            "--out",
            str(out),
            "--meta",
            str(meta),
            "--summary",
            str(tmp_path / "s.json"),
        ],
        env={**stub_env, "PYTHONFAULTHANDLER": "1"},  # SIGABRT dumps every thread's stack
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell's background job ('make test &') inherits SIGINT ignored, and Python then
        # installs no KeyboardInterrupt handler: give the child the default, as a terminal does
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        # generous limits: on a loaded machine start-up alone can take tens of seconds
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and p.poll() is None:
            if meta.exists() and len(meta.read_text().splitlines()) >= 10:
                break
            time.sleep(0.1)
        assert meta.exists() and len(meta.read_text().splitlines()) >= 10, "no frames in 120 s"
        p.send_signal(sig)
        try:
            _, err = p.communicate(timeout=90)
        except subprocess.TimeoutExpired:  # hung: fail with where each thread is stuck
            p.send_signal(signal.SIGABRT)
            _, err = p.communicate(timeout=30)
            pytest.fail(f"no exit within 90 s of {sig.name}; thread stacks:\n{err[-6000:]}")
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, err
    lines = _jsonl(meta)  # every line complete
    assert len(lines) >= 10
    assert count_frames(out) == len(lines)
    assert json.loads((tmp_path / "s.json").read_text())["interrupted"] is True


@pytest.mark.data
def test_camvid_frames_as_folder_source(camvid_dir, tmp_path, stub_module):
    cfg = RunConfig(
        [str(camvid_dir / "images" / "val")],
        "stub",
        meta=str(tmp_path / "m.jsonl"),
        source=SourceOptions(max_frames=3),
    )
    s = run_stream(cfg, plugin=stub_module.make(), progress=False)
    assert s["frames_processed"] == 3
    assert _jsonl(tmp_path / "m.jsonl")[0]["result"]["image_size"] == [360, 480]


def test_plugin_failing_mid_run_is_one_clear_error(tmp_path, stub_module):
    from edgevision.stream.plugins import PluginError

    class Fails(stub_module.Stub):
        def infer(self, x):
            if len(self.batch_sizes) >= 2:
                raise ValueError("bad tensor")
            return super().infer(x)

    out = tmp_path / "o.mp4"
    cfg = RunConfig(["test://ball?size=32x24&fps=30&frames=60"], "fails", out=str(out))
    with pytest.raises(PluginError, match="'stub' failed during the run: ValueError: bad tensor"):
        run_stream(cfg, plugin=Fails(), progress=False)
    assert out.is_file()  # what was written before the failure is finalised


def _encode(path: Path, enc: str, mux: str) -> Path:
    subprocess.run(
        [
            "gst-launch-1.0",
            "-q",
            "videotestsrc",
            "num-buffers=5",
            "!",
            "video/x-raw,width=32,height=24,framerate=10/1",
            "!",
            "videoconvert",
            "!",
            enc,
            "!",
            mux,
            "!",
            "filesink",
            f"location={path}",
        ],
        check=True,
        timeout=30,
        capture_output=True,
    )
    return path


def test_mjpeg_avi_and_unsupported_codec(tmp_path, stub_module):
    avi = _encode(tmp_path / "m.avi", "jpegenc", "avimux")
    s = run_stream(RunConfig([str(avi)], "stub"), plugin=stub_module.make(), progress=False)
    assert s["frames_processed"] == 5
    assert s["streams"][0]["decoder"]["codec"] == "MJPEG"
    theora = _encode(tmp_path / "t.mkv", "theoraenc", "matroskamux")
    with pytest.raises(StreamError, match="unsupported codec 'video/x-theora'"):
        run_stream(RunConfig([str(theora)], "stub"), plugin=stub_module.make(), progress=False)


def test_missing_decoder_in_faked_registry(tiny_video, stub_module):
    with pytest.raises(StreamError, match="no H.264 decoder installed"):
        run_stream(
            RunConfig([str(tiny_video)], "stub"),
            plugin=stub_module.make(),
            progress=False,
            available=lambda element, caps: False,
        )


@pytest.mark.parametrize(
    ("name", "chain", "codec", "decoder"),
    [
        ("h265.mkv", ["x265enc", "h265parse", "matroskamux"], "H.265", "avdec_h265"),
        ("vp8.webm", ["vp8enc", "webmmux"], "VP8", "vp8dec"),
        ("vp9.webm", ["vp9enc", "webmmux"], "VP9", "vp9dec"),
        ("h264.mov", ["openh264enc", "h264parse", "qtmux"], "H.264", "avdec_h264"),
        ("mpeg4.avi", ["avenc_mpeg4", "avimux"], "MPEG-4 (DivX)", "avdec_mpeg4"),
    ],
)
def test_containers_and_codecs_decode_in_software(
    tmp_path, stub_module, name, chain, codec, decoder
):
    from edgevision.stream.gst import gst

    Gst = gst()
    for el in (*chain, decoder):
        if Gst.ElementFactory.find(el) is None:
            pytest.skip(f"GStreamer element {el} is not installed here")
    f = tmp_path / name
    pipe = ["videotestsrc", "num-buffers=5", "!", "video/x-raw,width=64,height=48,framerate=10/1",
            "!", "videoconvert"]  # fmt: skip
    for el in chain:
        pipe += ["!", el]
    subprocess.run(["gst-launch-1.0", "-q", *pipe, "!", "filesink", f"location={f}"],
                   check=True, timeout=30, capture_output=True)  # fmt: skip
    s = run_stream(RunConfig([str(f)], "stub"), plugin=stub_module.make(), progress=False)
    assert s["frames_processed"] == 5
    dec = s["streams"][0]["decoder"]
    assert (dec["codec"], dec["element"], dec["hardware"]) == (codec, decoder, False)


@pytest.mark.parametrize(
    "source",
    [
        "test://ball ! filesink location={x} videotestsrc",
        "test://ball ! filesrc location={secret} ! filesink location={x} videotestsrc",
    ],
)
def test_test_source_text_cannot_inject_pipeline_elements(tmp_path, source):
    """``run 'test://ball ! filesink location=X videotestsrc'`` exited 0 and wrote X (the
    pattern was pasted into the pipeline description): now a one-line error, exit 2, and
    nothing written."""
    x, secret = tmp_path / "X", tmp_path / "secret.txt"
    secret.write_text("private")
    r = subprocess.run(
        [sys.executable, "-m", "edgevision", "run", source.format(x=x, secret=secret),
         "--model", "yolov5n", "--out", str(tmp_path / "o.mp4")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "unknown test pattern" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not x.exists() and not (tmp_path / "o.mp4").exists()


def test_smooth_edges_cost_is_measured_and_printed(tiny_onnx, tiny_video, tmp_path, stub_env):
    """``--smooth-edges``: the semantic model's logits are upsampled before the argmax; the
    plain postprocess is timed on the same outputs, and the run prints the difference."""
    r = _cli(
        [
            str(tiny_video),
            "--model",
            str(tiny_onnx),
            "--smooth-edges",
            "--max-frames",
            "6",
            "--no-progress",
            "--summary",
            str(tmp_path / "s.json"),
            "--out",
            str(tmp_path / "o.mp4"),
        ],
        stub_env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    edges = json.loads((tmp_path / "s.json").read_text())["smooth_edges"]
    assert edges["plain_batches"] >= 1 and edges["postprocess_ms"] > 0 and edges["plain_ms"] > 0
    assert edges["cost_ms"] == pytest.approx(edges["postprocess_ms"] - edges["plain_ms"], abs=1e-3)
    line = next(ln for ln in r.stdout.splitlines() if "smooth edges:" in ln)
    assert f"+{edges['cost_ms']:.2f} ms" in line and f"{edges['plain_ms']:.2f} ms" in line
    assert count_frames(tmp_path / "o.mp4") == 6


@pytest.mark.parametrize("masks", [False, True], ids=["plain", "meta-masks"])
def test_segmentation_metadata_lines(tmp_path, stub_module, masks):
    """A segmentation frame's line: wall-clock time, class fractions, component counts, and
    compressed COCO RLE label masks only with ``meta_masks``."""
    from datetime import datetime, timezone

    from edgevision.data.coco import decode_segmentation
    from edgevision.results import SemanticMask

    class Seg(stub_module.Stub):
        task = "semantic"

        def postprocess(self, raw, ctx):
            out = []
            for h, w in raw:
                cm = np.zeros((h, w), np.int64)
                cm[: h // 4, : w // 4] = 1
                cm[-h // 4 :, -w // 4 :] = 1
                out.append(SemanticMask(cm, ["road", "car"]))
            return out

    cfg = RunConfig(
        ["test://ball?size=32x24&fps=30&frames=5"],
        "seg",
        meta=str(tmp_path / "m.jsonl"),
        meta_masks=masks,
    )
    t0 = datetime.now(timezone.utc)
    run_stream(cfg, plugin=Seg(), progress=False)
    lines = _jsonl(tmp_path / "m.jsonl")
    assert lines
    r = lines[0]["result"]
    assert r["components"] == {"road": 1, "car": 2}
    assert r["class_fractions"]["car"] == pytest.approx(2 * 6 * 8 / (24 * 32), abs=1e-4)
    t = datetime.fromisoformat(lines[0]["time"].replace("Z", "+00:00"))
    assert lines[0]["time"].endswith("Z") and abs((t - t0).total_seconds()) < 60
    assert ("masks_rle" in r) is masks
    if masks:
        car = decode_segmentation(r["masks_rle"]["car"], 24, 32)
        assert car.sum() == 2 * 6 * 8 and car[0, 0] and car[-1, -1]


def _video_size(path: Path) -> tuple[int, int, int]:
    """``(frames, height, width)`` of a video file."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    h, w = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
    cap.release()
    return count_frames(path), h, w


def _shape_frames(path: Path, n: int, size=(96, 128)) -> Path:
    """``n`` PNG frames of a filled circle on a grey ground, moving right."""
    import cv2

    path.mkdir()
    for i in range(n):
        img = np.full((*size, 3), 120, np.uint8)
        cv2.circle(img, (30 + 10 * i, size[0] // 2), 18, (200, 40, 40), -1)
        cv2.imwrite(str(path / f"{i:03d}.png"), img)
    return path


@pytest.mark.parametrize(
    "name, view, width",
    [
        ("efficientps_mobilenetv2", None, 128),
        ("fastdepthseg_mobilenetv2", None, 256),  # side by side: classes | depth
        ("fastdepthseg_mobilenetv2", "blend", 128),
    ],
    ids=["panoptic", "depthseg-side", "depthseg-blend"],
)
def test_multi_head_models_run_with_overlay_and_metadata(
    name, view, width, tiny_multi_onnx, tmp_path, stub_env
):
    """``edgevision run`` on a folder with a tiny untrained panoptic / depthseg ONNX model:
    an overlay video of every frame (depthseg side by side by default: twice as wide) and a
    JSONL line per frame with the task's fields."""
    frames = _shape_frames(tmp_path / "frames", 4)
    out, meta = tmp_path / "o.mp4", tmp_path / "m.jsonl"
    args = [str(frames), "--model", str(tiny_multi_onnx(name)), "--out", str(out),
            "--meta", str(meta), "--no-progress"]  # fmt: skip
    r = _cli(args + (["--depth-view", view] if view else []), stub_env, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert _video_size(out) == (4, 96, width)
    lines = _jsonl(meta)
    assert [d["frame"] for d in lines] == [0, 1, 2, 3]
    shapes = {"background", "circle", "rectangle", "triangle", "star"}
    for d in lines:
        res = d["result"]
        assert res["image_size"] == [96, 128]
        assert set(res["class_fractions"]) <= shapes
        assert sum(res["class_fractions"].values()) == pytest.approx(1.0, abs=1e-3)
        if res["type"] == "panoptic":
            segs = res["segments"]
            assert segs and len({s["id"] for s in segs}) == len(segs)
            for s in segs:
                assert set(s) == {"id", "class_id", "label", "isthing", "area", "bbox"}
                assert s["label"] in shapes and s["area"] > 0 and s["bbox"][2] > 0
            assert sum(s["area"] for s in segs) <= 96 * 128
        else:
            assert res["type"] == "depthseg"
            dep = res["depth"]
            assert 0 < dep["min"] <= dep["median"] <= dep["max"] < 80.0  # max_depth 80 m
            assert set(res["depth_by_class"]) == set(res["class_fractions"])
