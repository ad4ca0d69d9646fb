"""Scenes of textured, moving, occluding shapes rendered from continuous definitions.

Every layer (the background and each object) is a texture image plus, per frame, a 2×3
affine ``A_t`` mapping texture pixel coordinates to image pixel coordinates (pixel centres at
integers, as in OpenCV). A frame is the background texture warped by ``A_bg,t``
(:func:`cv2.warpAffine`, bilinear) with the objects composited back to front, each object's
texture warped by its own ``A_k,t`` and cut by its polygon (the shape's vertices mapped by
``A_k,t``, rasterised with COCO's polygon rasteriser so the written polygon annotations decode
to exactly the same masks). Because texture and geometry move together, the forward flow of a
pixel ``x`` on layer ``k`` is exact: ``A_k,t+1 · A_k,t⁻¹ · x − x``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from edgevision.data.synth.config import THING_CLASSES, SynthConfig

__all__ = ["Frame", "Scene", "frame_depth", "make_scene", "render_frame", "scene_flow"]

#: depth model of the scenes (metres): the background is a ground plane seen from above,
#: ``BG_FAR`` at the top row and ``BG_NEAR`` at the bottom row (inverse depth linear in the
#: row); objects are fronto-parallel, the back one at ``OBJ_FAR``, the front one at
#: ``OBJ_NEAR`` (inverse order of drawing, so nearer objects occlude farther ones), each
#: divided by its current scale (an object that grows comes closer)
BG_FAR, BG_NEAR = 60.0, 10.0
OBJ_FAR, OBJ_NEAR = 6.0, 2.0

# hue (degrees) of each thing class; objects vary around it
_CLASS_HUES = (5.0, 125.0, 225.0, 50.0)


# ------------------------------------------------------------------------------------------
# textures and shapes
# ------------------------------------------------------------------------------------------
def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    """One colour, h in degrees, s and v in 0–1 -> (3,) float32 in 0–255."""
    h6 = (h % 360.0) / 60.0
    i = int(h6) % 6
    f = h6 - math.floor(h6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.array(rgb, dtype=np.float32) * 255.0


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """``(h, w)`` float32 smooth noise in about -1..1 (bicubic upsampled random grid)."""
    import cv2

    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    big = cv2.resize(grid, (int(gw * cell), int(gh * cell)), interpolation=cv2.INTER_CUBIC)
    return np.clip(big[:h, :w] * 0.6, -1.0, 1.0)


def _stripes(rng: np.random.Generator, h: int, w: int, period: float) -> np.ndarray:
    """``(h, w)`` float32 sinusoidal stripes in -1..1 at a random angle."""
    phi = rng.uniform(0, math.pi)
    phase = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.sin((xx * math.cos(phi) + yy * math.sin(phi)) * (2 * math.pi / period) + phase)


def make_texture(
    rng: np.random.Generator, h: int, w: int, base: np.ndarray, second: np.ndarray, scale: float
) -> np.ndarray:
    """A smooth, non-flat colour texture: noise and/or stripes blending two colours.

    Args:
        rng: random generator.
        h: height in pixels.
        w: width in pixels.
        base: ``(3,)`` first colour, 0–255.
        second: ``(3,)`` second colour, 0–255.
        scale: feature size in pixels (noise cell / stripe period).

    Returns:
        ``(h, w, 3)`` float32 in 0–255.
    """
    kind = rng.integers(0, 3)  # 0 noise, 1 stripes, 2 both
    if kind == 0:
        t = _smooth_noise(rng, h, w, scale)
    elif kind == 1:
        t = _stripes(rng, h, w, scale)
    else:
        t = 0.6 * _smooth_noise(rng, h, w, scale * 1.5) + 0.4 * _stripes(rng, h, w, scale)
    a = (t * 0.5 + 0.5)[..., None]  # 0..1
    shade = 1.0 + 0.25 * _smooth_noise(rng, h, w, scale * 3)[..., None]
    tex = (base * (1 - a) + second * a) * shade
    return np.clip(tex, 0, 255).astype(np.float32)


def shape_polygon(kind: int, rng: np.random.Generator) -> np.ndarray:
    """Vertices ``(V, 2)`` of thing class ``kind`` in units of the object radius (|v| <= 1)."""
    name = THING_CLASSES[kind]
    if name == "circle":
        a = np.linspace(0, 2 * math.pi, 48, endpoint=False)
        return np.stack([np.cos(a), np.sin(a)], 1)
    if name == "rectangle":
        ar = rng.uniform(0.45, 1.0)
        hw, hh = 0.95 / math.sqrt(1 + ar * ar), 0.95 * ar / math.sqrt(1 + ar * ar)
        return np.array([[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]])
    if name == "triangle":
        a = np.deg2rad([-90.0, 30.0, 150.0]) + rng.uniform(-0.2, 0.2, 3)
        return np.stack([np.cos(a), np.sin(a)], 1)
    if name == "star":
        a = np.linspace(-math.pi / 2, 1.5 * math.pi, 10, endpoint=False)
        r = np.where(np.arange(10) % 2 == 0, 1.0, rng.uniform(0.4, 0.5))
        return np.stack([r * np.cos(a), r * np.sin(a)], 1)
    raise ValueError(f"unknown shape {name}")  # pragma: no cover


# ------------------------------------------------------------------------------------------
# scenes
# ------------------------------------------------------------------------------------------
@dataclass
class Layer:
    """A textured layer and its per-frame poses.

    Attributes:
        texture: ``(th, tw, 3)`` float32 texture, 0–255.
        poses: ``(T, 2, 3)`` float64 affines, texture pixel coords -> image pixel coords.
        polygon: ``(V, 2)`` vertices in texture pixel coords (``None`` for the background).
        class_index: thing class index (``-1`` for the background).
    """

    texture: np.ndarray
    poses: np.ndarray
    polygon: np.ndarray | None = None
    class_index: int = -1


@dataclass
class Scene:
    """Background plus objects listed back to front (``objects[-1]`` is on top)."""

    size: tuple[int, int]
    background: Layer
    objects: list[Layer] = field(default_factory=list)
    motion: float = 1.0
    """The video's motion factor (``SynthConfig.motion_range``), 1 for still images."""

    @property
    def num_frames(self) -> int:
        return int(self.background.poses.shape[0])

    @property
    def layers(self) -> list[Layer]:
        return [self.background, *self.objects]


@dataclass
class Frame:
    """One rendered frame.

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB.
        layer_map: ``(H, W)`` int32, 0 = background, ``k + 1`` = ``scene.objects[k]``.
        polygons: per object, ``(V, 2)`` vertices in COCO pixel-corner coordinates (rounded
            to 1/100 px, exactly what was rasterised).
        full_masks: per object, ``(H, W)`` bool mask before occlusion.
    """

    image: np.ndarray
    layer_map: np.ndarray
    polygons: list[np.ndarray]
    full_masks: list[np.ndarray]

    def visible_mask(self, k: int) -> np.ndarray:
        """``(H, W)`` bool mask of object ``k`` after occlusion."""
        return self.layer_map == k + 1


def _affine(scale: float, angle: float, tx: float, ty: float, cx: float, cy: float) -> np.ndarray:
    """``x = scale · R(angle) · (u − c) + t`` as a 2×3 matrix."""
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    return np.array([[c, -s, tx - (c * cx - s * cy)], [s, c, ty - (s * cx + c * cy)]])


def _rasterise(poly_corner: np.ndarray, h: int, w: int) -> np.ndarray:
    """Polygon in pixel-corner coordinates -> ``(H, W)`` bool (COCO's rasteriser)."""
    from edgevision.results import coco_mask_api

    api = coco_mask_api()
    rle = api.frPyObjects([poly_corner.reshape(-1).tolist()], h, w)
    return np.asarray(api.decode(rle), dtype=bool).reshape(h, w)


def _object_layer(rng: np.random.Generator, cfg: SynthConfig, n_frames: int, kind: int) -> Layer:
    h, w = cfg.image_size
    side = min(h, w)
    radius = rng.uniform(cfg.min_radius, cfg.max_radius) * side
    tsize = math.ceil(2 * radius * 1.1) + 8
    hue = _CLASS_HUES[kind] + rng.uniform(-18, 18)
    base = _hsv_to_rgb(hue, rng.uniform(0.55, 0.95), rng.uniform(0.6, 0.95))
    second = _hsv_to_rgb(hue + rng.uniform(-25, 25), rng.uniform(0.3, 0.9), rng.uniform(0.3, 1.0))
    tex = make_texture(rng, tsize, tsize, base, second, rng.uniform(0.2, 0.45) * radius + 6)
    centre_tex = (tsize - 1) / 2.0
    poly = shape_polygon(kind, rng) * radius + centre_tex

    x0, y0 = rng.uniform(0.12, 0.88) * w, rng.uniform(0.12, 0.88) * h
    speed = rng.uniform(0.2, 1.0) * cfg.max_speed * side
    direction = rng.uniform(0, 2 * math.pi)
    vx, vy = speed * math.cos(direction), speed * math.sin(direction)
    a0 = rng.uniform(0, 2 * math.pi)
    omega = math.radians(rng.uniform(-1, 1) * cfg.max_rotation)
    srate = rng.uniform(-1, 1) * cfg.max_scale_rate
    # centre the motion on the sampled position so the object stays in view longer
    tmid = (n_frames - 1) / 2.0
    poses = np.stack(
        [
            _affine(
                (1 + srate) ** (t - tmid),
                a0 + omega * (t - tmid),
                x0 + vx * (t - tmid),
                y0 + vy * (t - tmid),
                centre_tex,
                centre_tex,
            )
            for t in range(n_frames)
        ]
    )
    return Layer(tex, poses, poly, kind)


def _background_layer(rng: np.random.Generator, cfg: SynthConfig, n_frames: int) -> Layer:
    h, w = cfg.image_size
    side = min(h, w)
    speed = rng.uniform(0.2, 1.0) * cfg.max_pan * side
    direction = rng.uniform(0, 2 * math.pi)
    vx, vy = speed * math.cos(direction), speed * math.sin(direction)
    margin = math.ceil(speed * n_frames) + 8
    th, tw = h + 2 * margin, w + 2 * margin
    hue = rng.uniform(0, 360)
    base = _hsv_to_rgb(hue, rng.uniform(0.05, 0.35), rng.uniform(0.35, 0.8))
    second = _hsv_to_rgb(hue + rng.uniform(60, 300), rng.uniform(0.05, 0.4), rng.uniform(0.2, 0.9))
    tex = make_texture(rng, th, tw, base, second, rng.uniform(0.04, 0.12) * side + 8)
    tmid = (n_frames - 1) / 2.0
    poses = np.stack(
        [
            np.array([[1.0, 0.0, -margin + vx * (t - tmid)], [0.0, 1.0, -margin + vy * (t - tmid)]])
            for t in range(n_frames)
        ]
    )
    return Layer(tex, poses)


def make_scene(rng: np.random.Generator, cfg: SynthConfig, n_frames: int, *, still: bool) -> Scene:
    """Sample a scene: textured background and ``min_objects..max_objects`` shapes.

    For still images (``still=True``) objects are placed so that each keeps at least
    ``cfg.min_visible`` of its in-view area visible (with ``cfg.still_frames > 1``, each at a
    random frame of its motion over that many frames); videos have free motion (objects may cross,
    occlude each other completely or leave the view for a while).
    """
    h, w = cfg.image_size
    motion = 1.0
    lo, hi = (float(v) for v in cfg.motion_range)
    if not still and (lo, hi) != (1.0, 1.0):  # one factor per video; no draw by default
        motion = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        cfg = replace(
            cfg,
            max_speed=cfg.max_speed * motion,
            max_rotation=cfg.max_rotation * motion,
            max_scale_rate=cfg.max_scale_rate * motion,
            max_pan=cfg.max_pan * motion,
            motion_range=(1.0, 1.0),
        )
    bg = _background_layer(rng, cfg, n_frames)
    n = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    objects: list[Layer] = []
    placed: list[tuple[int, np.ndarray]] = []  # (full area, visible mask), still images only
    for _ in range(n):
        kind = int(rng.integers(0, len(THING_CLASSES)))
        for _try in range(20):
            if still and cfg.still_frames > 1:  # a random moment of a long video's motion
                obj = _object_layer(rng, cfg, cfg.still_frames, kind)
                t = int(rng.integers(0, cfg.still_frames))
                obj = replace(obj, poses=obj.poses[t : t + 1])
            else:
                obj = _object_layer(rng, cfg, n_frames, kind)
            if not still:
                break
            m = _rasterise(_corner_polygon(obj, 0), h, w)
            if not m.any():
                continue
            if all((vis & ~m).sum() >= cfg.min_visible * area for area, vis in placed):
                placed = [(area, vis & ~m) for area, vis in placed]
                placed.append((int(m.sum()), m))
                break
        else:
            continue
        objects.append(obj)
    return Scene((h, w), bg, objects, motion)


def _corner_polygon(layer: Layer, t: int) -> np.ndarray:
    """Layer polygon at frame ``t`` in COCO pixel-corner coordinates, rounded to 0.01 px."""
    assert layer.polygon is not None
    a = layer.poses[t]
    pts = layer.polygon @ a[:, :2].T + a[:, 2]
    return np.round(pts + 0.5, 2)


def _warp_roi(tex: np.ndarray, a: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """Texture warped by affine ``a`` into the image box ``[x0, x1) × [y0, y1)``."""
    import cv2

    m = a.copy()
    m[:, 2] -= (x0, y0)
    return cv2.warpAffine(
        tex, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )


def render_frame(
    scene: Scene, t: int, *, rng: np.random.Generator | None = None, noise_std: float = 0.0
) -> Frame:
    """Render frame ``t`` of ``scene``.

    Args:
        scene: the scene.
        t: frame index.
        rng: generator for pixel noise (needed when ``noise_std > 0``).
        noise_std: Gaussian noise std, 0–255 scale.
    """
    h, w = scene.size
    bg = scene.background
    img = _warp_roi(bg.texture, bg.poses[t], 0, 0, w, h)
    layer_map = np.zeros((h, w), dtype=np.int32)
    polys, fulls = [], []
    for k, obj in enumerate(scene.objects):
        poly = _corner_polygon(obj, t)
        full = _rasterise(poly, h, w)
        polys.append(poly)
        fulls.append(full)
        if not full.any():
            continue
        ys, xs = np.nonzero(full)
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        roi = full[y0:y1, x0:x1]
        tex = _warp_roi(obj.texture, obj.poses[t], x0, y0, x1, y1)
        img[y0:y1, x0:x1][roi] = tex[roi]
        layer_map[y0:y1, x0:x1][roi] = k + 1
    if noise_std > 0:
        if rng is None:
            raise ValueError("noise_std > 0 needs rng")
        img = img + rng.normal(0.0, noise_std, img.shape).astype(np.float32)
    image = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return Frame(image, layer_map, polys, fulls)


def _to3(a: np.ndarray) -> np.ndarray:
    return np.vstack([a, [0.0, 0.0, 1.0]])


def scene_flow(
    scene: Scene, t: int, layer_t: np.ndarray, layer_t1: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact forward flow from frame ``t`` to ``t+1`` and its validity.

    Args:
        scene: the scene.
        t: frame index (``< num_frames - 1``).
        layer_t: ``(H, W)`` layer map of frame ``t``.
        layer_t1: ``(H, W)`` layer map of frame ``t+1``.

    Returns:
        ``flow (H, W, 2)`` float32 ``(dx, dy)`` pixels, and ``valid (H, W)`` bool: the point
        lands inside frame ``t+1`` and all four pixels around where it lands show the same
        layer (not occluded, not on an edge), so bilinear warping is exact up to resampling.
    """
    h, w = scene.size
    rel = np.stack(
        [
            (_to3(layer.poses[t + 1]) @ np.linalg.inv(_to3(layer.poses[t])))[:2]
            for layer in scene.layers
        ]
    )  # (L, 2, 3)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    m = rel[layer_t]  # (H, W, 2, 3)
    nx = m[..., 0, 0] * xx + m[..., 0, 1] * yy + m[..., 0, 2]
    ny = m[..., 1, 0] * xx + m[..., 1, 1] * yy + m[..., 1, 2]
    flow = np.stack([nx - xx, ny - yy], axis=-1).astype(np.float32)
    valid = (nx >= 0) & (nx <= w - 1) & (ny >= 0) & (ny <= h - 1)
    fx = np.clip(np.floor(nx), 0, w - 1).astype(np.intp)
    fy = np.clip(np.floor(ny), 0, h - 1).astype(np.intp)
    cx, cy = np.minimum(fx + 1, w - 1), np.minimum(fy + 1, h - 1)
    for yi, xi in ((fy, fx), (fy, cx), (cy, fx), (cy, cx)):
        valid &= layer_t1[yi, xi] == layer_t
    return flow, valid


def frame_depth(scene: Scene, t: int, layer_map: np.ndarray) -> np.ndarray:
    """Exact depth of frame ``t`` under the scenes' depth model (:data:`BG_FAR` …).

    Draws no random numbers, so writing depth changes nothing else a seed gives.

    Args:
        scene: the scene.
        t: frame index.
        layer_map: ``(H, W)`` layer map of the frame (:attr:`Frame.layer_map`).

    Returns:
        ``(H, W)`` float32 depth in metres of the layer visible at each pixel.
    """
    h, _ = scene.size
    rows = np.arange(h, dtype=np.float64) / max(h - 1, 1)
    bg = 1.0 / (1.0 / BG_FAR + (1.0 / BG_NEAR - 1.0 / BG_FAR) * rows)
    n = len(scene.objects)
    per_layer = np.zeros(n + 1)
    for k, obj in enumerate(scene.objects):
        base = OBJ_FAR + (OBJ_NEAR - OBJ_FAR) * (k / max(n - 1, 1) if n > 1 else 1.0)
        scale = math.sqrt(abs(float(np.linalg.det(obj.poses[t][:, :2]))))
        per_layer[k + 1] = base / scale
    depth = per_layer[layer_map]
    depth = np.where(layer_map == 0, bg[:, None], depth)
    return depth.astype(np.float32)  # type: ignore[no-any-return]


def scene_summary(scene: Scene) -> dict[str, Any]:
    """Small JSON-safe description (class of each object, back to front)."""
    return {"objects": [THING_CLASSES[o.class_index] for o in scene.objects]}
