"""The synthetic generator: determinism, layout, atomic output, exact flow, COCO loading."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgevision.data.flow import read_flow, read_flow_valid, warp_backward
from edgevision.data.synth import SEMANTIC_CLASSES, SynthConfig, generate
from edgevision.errors import ConfigError, DataError
from edgevision.io import read_image, read_mask


def _files(root: Path, patterns: tuple[str, ...]) -> dict[str, bytes]:
    out = {}
    for pat in patterns:
        for p in sorted(root.glob(pat)):
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


DETERMINISTIC = (
    "labels/*/*.png",
    "annotations/*.json",
    "videos/*/*/labels/*.png",
    "videos/*/*/instances/*.png",
    "videos/*/*/flow/*",
    "*.txt",
    "dataset.yaml",
    "README.md",
    "images/*/*",
    "videos/*/*/*.png",
)


def test_same_seed_gives_identical_files(tmp_path, synth_dir, tiny_config):
    again = tmp_path / "again"
    generate(again, tiny_config(), progress=False)
    a, b = _files(synth_dir, DETERMINISTIC), _files(again, DETERMINISTIC)
    assert len(a) > 20
    assert a.keys() == b.keys()
    diff = [k for k in a if a[k] != b[k]]
    assert not diff, f"files differ between two runs with the same seed: {diff[:5]}"


def test_other_seed_differs(tmp_path, synth_dir, tiny_config):
    other = tmp_path / "other"
    generate(other, tiny_config(seed=4, val_images=0, train_videos=0, val_videos=0), progress=False)
    a = (synth_dir / "labels/train/train_00000.png").read_bytes()
    assert a != (other / "labels/train/train_00000.png").read_bytes()


def test_layout(synth_dir):
    d = synth_dir
    for rel in (
        "README.md",
        "dataset.yaml",
        "train.txt",
        "val.txt",
        "annotations/instances_train.json",
        "annotations/ytvis_val.json",
        "videos/train/train_vid000.mp4",
        "videos/val/val_vid000/00003.png",
        "videos/train/train_vid000/flow/00002.flo",
        "videos/train/train_vid000/flow/00002_valid.png",
        "videos/train/train_vid000/labels/00000.png",
        "videos/train/train_vid000/instances/00000.png",
    ):
        assert (d / rel).is_file(), rel
    assert not (d / "videos/train/train_vid000/flow/00003.flo").exists()  # T-1 flows
    names = (d / "train.txt").read_text().split()
    assert len(names) == 6
    img = read_image(d / "images/train" / f"{names[0]}.jpg")
    lab = read_mask(d / "labels/train" / f"{names[0]}.png")
    assert img.shape == (64, 80, 3) and lab.shape == (64, 80)
    assert lab.max() < len(SEMANTIC_CLASSES)
    assert img.std() > 5  # textured, not flat
    assert not list(d.parent.glob(".*partial*"))


def test_mp4_is_readable(synth_dir):
    import cv2

    cap = cv2.VideoCapture(str(synth_dir / "videos/train/train_vid000.mp4"))
    try:
        n = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            assert frame.shape == (64, 80, 3)
            n += 1
    finally:
        cap.release()
    assert n == 4


def test_flow_warps_next_frame_onto_current(tmp_path):
    """Warping frame t+1 back with the GT flow reproduces frame t on valid pixels."""
    cfg = SynthConfig(
        seed=1,
        image_size=(128, 160),
        train_images=0,
        val_images=0,
        train_videos=1,
        val_videos=0,
        frames=3,
        min_objects=4,
        max_objects=6,
        max_speed=0.03,
        max_pan=0.02,
        write_mp4=False,
    )
    generate(tmp_path / "f", cfg, progress=False)
    v = tmp_path / "f/videos/train/train_vid000"
    for t in range(2):
        f0 = read_image(v / f"{t:05d}.png").astype(np.float32)
        f1 = read_image(v / f"{t + 1:05d}.png")
        flow = read_flow(v / f"flow/{t:05d}.flo")
        valid = read_flow_valid(v / f"flow/{t:05d}_valid.png")
        assert flow.shape == (128, 160, 2) and flow.dtype == np.float32
        assert 0.7 < valid.mean() < 1.0  # some occlusion / out-of-view, mostly valid
        assert np.abs(flow[valid]).max() > 0.5  # things move
        warped = warp_backward(f1, flow).astype(np.float32)
        err = np.abs(warped - f0).mean(axis=-1)[valid].mean()
        err_zero = np.abs(f1.astype(np.float32) - f0).mean(axis=-1)[valid].mean()
        assert err < 1.0, err
        assert err < err_zero / 5, (err, err_zero)


def test_coco_json_loads_in_faster_coco_eval(synth_dir):
    from faster_coco_eval import COCO

    coco = COCO(str(synth_dir / "annotations/instances_train.json"))
    assert len(coco.getImgIds()) == 6
    assert sorted(c["name"] for c in coco.loadCats(coco.getCatIds())) == sorted(
        SEMANTIC_CLASSES[1:]
    )
    anns = coco.loadAnns(coco.getAnnIds())
    assert anns
    kinds = {type(a["segmentation"]).__name__ for a in anns}
    assert kinds == {"list", "dict"}  # polygons (unoccluded) and compressed RLE
    for a in anns:
        m = coco.annToMask(a)
        assert int(m.sum()) == a["area"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_coco_json_matches_pycocotools(synth_dir):
    pycoco = pytest.importorskip("pycocotools.coco")
    from faster_coco_eval import COCO

    path = str(synth_dir / "annotations/instances_train.json")
    a, b = COCO(path), pycoco.COCO(path)
    for ann in a.loadAnns(a.getAnnIds()):
        assert np.array_equal(a.annToMask(ann), b.annToMask(ann))


def test_ytvis_json_is_consistent(synth_dir):
    data = json.loads((synth_dir / "annotations/ytvis_train.json").read_text())
    assert len(data["videos"]) == 1 and data["videos"][0]["length"] == 4
    for a in data["annotations"]:
        assert len(a["segmentations"]) == len(a["bboxes"]) == len(a["areas"]) == 4
        for s, b, ar in zip(a["segmentations"], a["bboxes"], a["areas"]):
            assert (s is None) == (b is None) == (ar is None)


def test_refuses_non_empty_out(tmp_path, tiny_config):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(DataError, match="not empty"):
        generate(out, tiny_config(), progress=False)
    with pytest.raises(DataError, match="refusing to overwrite"):
        generate(out, tiny_config(), progress=False, overwrite=True)
    assert (out / "mine.txt").read_text() == "keep me"


def test_overwrite_replaces_own_dataset(tmp_path, tiny_config):
    out = tmp_path / "ds"
    small = tiny_config(train_images=1, val_images=0, train_videos=0, val_videos=0)
    generate(out, small, progress=False)
    generate(
        out,
        tiny_config(train_images=2, val_images=0, train_videos=0, val_videos=0),
        progress=False,
        overwrite=True,
    )
    assert len((out / "train.txt").read_text().split()) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_interrupted_run_leaves_nothing(tmp_path, tiny_config, monkeypatch):
    from edgevision.data.synth import writer as gen_mod

    calls = {"n": 0}
    real = gen_mod.render_frame

    def flaky(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(gen_mod, "render_frame", flaky)
    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path / "ds", tiny_config(), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_config_is_checked():
    with pytest.raises(ConfigError, match="image_size"):
        SynthConfig(image_size=(16, 16))
    with pytest.raises(ConfigError, match="frames"):
        SynthConfig(frames=1)
    with pytest.raises(ConfigError, match="flow_format"):
        SynthConfig(flow_format="png")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="motion_range"):
        SynthConfig(motion_range=(2.0, 1.0))
    with pytest.raises(ConfigError, match="max_scale_rate"):
        SynthConfig(max_scale_rate=0.2, motion_range=(1.0, 3.0))


def test_motion_range_scales_each_video_and_default_draws_nothing():
    """One motion factor per video in ``motion_range`` scales its speeds; the default (1, 1)
    leaves the random stream (so every existing seed's scenes) unchanged."""
    import numpy as np

    from edgevision.data.synth.render import make_scene

    cfg = SynthConfig(image_size=(64, 64), max_rotation=0.0, max_scale_rate=0.0, max_pan=0.0)
    a = make_scene(np.random.default_rng(1), cfg, 3, still=False)
    b = make_scene(np.random.default_rng(1), cfg, 3, still=False)
    assert a.motion == 1.0 and np.array_equal(a.objects[0].poses, b.objects[0].poses)
    fast_cfg = SynthConfig(image_size=(64, 64), max_rotation=0.0, max_scale_rate=0.0,
                           max_pan=0.0, motion_range=(3.0, 3.0))  # fmt: skip
    fast = make_scene(np.random.default_rng(1), fast_cfg, 3, still=False)
    assert fast.motion == pytest.approx(3.0)
    # same objects (the factor is drawn first, then the scene): displacement per frame x3
    step = lambda s: np.abs(s.objects[0].poses[1, :, 2] - s.objects[0].poses[0, :, 2]).sum()  # noqa: E731
    rng = np.random.default_rng(1)
    rng.uniform()  # the factor's draw
    same = make_scene(rng, cfg, 3, still=False)
    assert step(fast) == pytest.approx(3 * step(same), rel=1e-6)
    assert make_scene(np.random.default_rng(1), fast_cfg, 1, still=True).motion == 1.0


#: ``make_scene(default_rng(5), SynthConfig(image_size=(64, 64)), 1, still=True)``: each object's
#: pose, rounded to 1e-6, as written by the generator before ``still_frames`` existed (commit
#: 3b5b82b); a default still must keep drawing exactly this
GOLDEN_STILL = [
    [[-0.98233, 0.187155, 35.381362], [-0.187155, -0.98233, 49.849868]],
    [[0.992905, 0.118906, -3.834357], [-0.118906, 0.992905, 6.758655]],
    [[-0.934779, -0.355231, 41.808929], [0.355231, -0.934779, 28.114676]],
    [[-0.932563, -0.361007, 38.75783], [0.361007, -0.932563, 46.289165]],
    [[0.415203, -0.909729, 32.024417], [0.909729, 0.415203, -7.180342]],
    [[-0.851043, 0.525096, 23.162727], [-0.525096, -0.851043, 34.154967]],
]


def test_still_frames_gives_still_images_the_sizes_and_border_cuts_of_long_videos():
    """``still_frames=N`` shows each still object at a random frame of N frames of motion:
    sizes beyond ``max_radius`` and objects cut by the border, as in long videos; the default
    (1) leaves every existing seed's stills unchanged."""
    import numpy as np

    from edgevision.data.synth.render import make_scene

    with pytest.raises(ConfigError, match="still_frames"):
        SynthConfig(still_frames=0)

    def stills(**kw):
        cfg = SynthConfig(image_size=(64, 64), min_visible=0.0, **kw)
        rng = np.random.default_rng(5)
        return [o for _ in range(60) for o in make_scene(rng, cfg, 1, still=True).objects]

    def scale(o):  # the pose's linear part: 1 at the sampled size
        return float(np.sqrt(abs(np.linalg.det(o.poses[0][:, :2]))))

    def centre_out(o):  # centre of the texture mapped into the image, outside it
        c = (o.texture.shape[0] - 1) / 2.0
        x, y = o.poses[0][:, :2] @ [c, c] + o.poses[0][:, 2]
        return not (0 <= x < 64 and 0 <= y < 64)

    plain, moved = stills(), stills(still_frames=60)
    assert all(o.poses.shape == (1, 2, 3) for o in plain + moved)
    assert all(abs(scale(o) - 1.0) < 1e-9 for o in plain) and not any(map(centre_out, plain))
    assert max(map(scale, moved)) > 1.5 and any(map(centre_out, moved))
    # the option is recorded in dataset.yaml only when set (a default run stays byte-identical)
    from edgevision.data.synth.writer import _dataset_yaml

    assert "still_frames" not in _dataset_yaml(SynthConfig())
    assert "still_frames: 60" in _dataset_yaml(SynthConfig(still_frames=60))
    # a default still's scene, as the generator drew it before the option existed
    scene = make_scene(np.random.default_rng(5), SynthConfig(image_size=(64, 64)), 1, still=True)
    assert [np.round(o.poses[0], 6).tolist() for o in scene.objects] == GOLDEN_STILL


# ------------------------------------------------------------------------------------------
# depth and panoptic truth (additive options)
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def synth_extra(tmp_path_factory, tiny_config):
    out = tmp_path_factory.mktemp("synth_extra") / "ds"
    generate(out, tiny_config(depth=True, panoptic=True), progress=False)
    return out


def test_depth_and_panoptic_only_add_files(synth_dir, synth_extra):
    def every_file(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    base, extra = every_file(synth_dir), every_file(synth_extra)
    changed = sorted(k for k in base if base[k] != extra.get(k))
    assert changed == ["README.md", "dataset.yaml"]
    added = {k.split("/")[0] for k in set(extra) - set(base)}
    assert added == {"annotations", "depth", "panoptic", "videos"}
    assert "depth" not in (synth_dir / "dataset.yaml").read_text()
    assert "depth: true" in (synth_extra / "dataset.yaml").read_text()


def test_depth_follows_the_layers(synth_extra):
    from edgevision.data.synth.render import BG_FAR, BG_NEAR, OBJ_FAR, OBJ_NEAR

    depth = np.load(synth_extra / "depth/train/train_00000.npy")
    label = read_mask(synth_extra / "labels/train/train_00000.png")
    assert depth.dtype == np.float32 and depth.shape == label.shape
    bg = label == 0
    # the background plane: exact inverse-linear rows, far at the top, near at the bottom
    rows = np.arange(64) / 63.0
    want = (1.0 / (1.0 / BG_FAR + (1.0 / BG_NEAR - 1.0 / BG_FAR) * rows)).astype(np.float32)
    ys, xs = np.nonzero(bg)
    np.testing.assert_array_equal(depth[ys, xs], want[ys])
    # still images: objects unscaled, within the object range and nearer than the ground
    assert depth[~bg].min() >= OBJ_NEAR - 1e-5 and depth[~bg].max() <= OBJ_FAR + 1e-5
    frames = sorted((synth_extra / "videos/train/train_vid000/depth").glob("*.npy"))
    assert len(frames) == 4


def test_panoptic_truth_matches_instances_and_labels(synth_extra):
    from edgevision.results import panoptic_rgb_to_id

    pan = json.loads((synth_extra / "annotations/panoptic_train.json").read_text())
    inst = json.loads((synth_extra / "annotations/instances_train.json").read_text())
    cats = {c["id"]: c for c in pan["categories"]}
    assert cats[5]["name"] == "background" and cats[5]["isthing"] == 0
    assert all(cats[k]["isthing"] == 1 for k in (1, 2, 3, 4))
    for ann, img in zip(pan["annotations"], pan["images"]):
        ids = panoptic_rgb_to_id(read_image(synth_extra / "panoptic/train" / ann["file_name"]))
        label = read_mask(synth_extra / "labels/train" / ann["file_name"])
        seg_ids, counts = np.unique(ids, return_counts=True)
        info = {s["id"]: s for s in ann["segments_info"]}
        assert sorted(info) == seg_ids.tolist()  # every pixel in exactly one segment
        for sid, n in zip(seg_ids, counts):
            s = info[int(sid)]
            assert s["area"] == n
            sem = 0 if s["category_id"] == 5 else s["category_id"]
            assert (label[ids == sid] == sem).all()
        things = sorted(s["area"] for s in ann["segments_info"] if s["category_id"] != 5)
        coco = sorted(a["area"] for a in inst["annotations"] if a["image_id"] == img["id"])
        assert things == coco
