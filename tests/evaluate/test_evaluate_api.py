"""evaluate() with fake predictors on tiny dataset folders built under tmp_path."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from edgevision.config import ModelSpec
from edgevision.errors import DataError, EdgeVisionError
from edgevision.evaluate import EvalReport, evaluate, evaluate_agreement
from edgevision.io import write_image
from edgevision.results import Detections, InstanceMasks, SemanticMask, rle_encode

SEM_CLASSES = ["road", "car", "sky"]


# ------------------------------------------------------------------------------- semantic
def make_semantic(root: Path, n: int = 3, split: str = "val") -> list[np.ndarray]:
    """Images whose red channel encodes the label (class * 60); returns the labels."""
    rng = np.random.default_rng(0)
    (root / "images" / split).mkdir(parents=True)
    (root / "labels" / split).mkdir(parents=True)
    (root / "dataset.yaml").write_text(
        yaml.safe_dump({"classes": SEM_CLASSES, "ignore_index": 255})
    )
    labels = []
    for i in range(n):
        lab = rng.integers(0, 3, (12, 16)).astype(np.uint8)
        lab[:2, :3] = 255  # some ignored pixels
        img = np.zeros((12, 16, 3), np.uint8)
        img[..., 0] = np.where(lab == 255, 0, lab * 60)
        write_image(root / "images" / split / f"im{i}.png", img)
        write_image(root / "labels" / split / f"im{i}.png", lab)
        labels.append(lab)
    return labels


class OracleSegmenter:
    """Reads the class back out of the red channel: a perfect model."""

    def __init__(self, task: str = "semantic") -> None:
        self.spec = ModelSpec(name="oracle", task=task, class_names=list(SEM_CLASSES))
        self.calls = 0

    def __call__(self, image: np.ndarray) -> SemanticMask:
        self.calls += 1
        return SemanticMask(image[..., 0].astype(np.int64) // 60, SEM_CLASSES)


class ConstantSegmenter(OracleSegmenter):
    def __call__(self, image: np.ndarray) -> SemanticMask:
        return SemanticMask(np.zeros(image.shape[:2], np.int64), SEM_CLASSES)


def test_semantic_oracle_gives_miou_one(tmp_path):
    make_semantic(tmp_path)
    report = evaluate(OracleSegmenter(), tmp_path, "val", progress=False)
    assert isinstance(report, EvalReport)
    assert report.task == "semantic" and report.num_images == 3 and report.model == "oracle"
    assert report.metrics["miou"] == pytest.approx(1.0)
    assert report.metrics["pixel_acc"] == pytest.approx(1.0)
    assert report.metrics["per_class_iou"] == pytest.approx({c: 1.0 for c in SEM_CLASSES})
    assert report.headline == pytest.approx(1.0)
    table = report.table()
    assert "road" in table and "mIoU" in table and "1.0000" in table


def test_semantic_constant_gives_known_miou(tmp_path):
    labels = make_semantic(tmp_path)
    report = evaluate(ConstantSegmenter(), tmp_path, "val", progress=False)
    valid = np.concatenate([lab[lab != 255] for lab in labels])
    frac0 = float((valid == 0).mean())
    # predicting class 0 everywhere: IoU_0 = |class 0| / |all valid|, other classes 0
    assert report.metrics["per_class_iou"]["road"] == pytest.approx(frac0)
    assert report.metrics["per_class_iou"]["car"] == 0.0
    assert report.metrics["miou"] == pytest.approx(frac0 / 3)
    assert report.metrics["pixel_acc"] == pytest.approx(frac0)


def test_max_images_and_json(tmp_path):
    make_semantic(tmp_path, n=3)
    pred = OracleSegmenter()
    report = evaluate(pred, tmp_path, "val", max_images=2, progress=True)
    assert report.num_images == 2 and pred.calls == 2
    d = json.loads(report.to_json())
    assert d["metrics"]["miou"] == pytest.approx(1.0) and d["split"] == "val"


def test_images_scores_exactly_the_chosen_samples(tmp_path):
    """``images=[...]``: only those samples, by index (NNCF's accuracy control scores
    subsets): a constant model's mIoU on image 2 alone is that image's road share / 3."""
    labels = make_semantic(tmp_path, n=3)
    pred = OracleSegmenter()
    report = evaluate(pred, tmp_path, "val", images=[2, 0], progress=False)
    assert report.num_images == 2 and pred.calls == 2
    assert report.sequences == {"": 2}
    one = evaluate(ConstantSegmenter(), tmp_path, "val", images=[2], progress=False)
    valid = labels[2][labels[2] != 255]
    assert one.metrics["miou"] == pytest.approx(float((valid == 0).mean()) / 3)
    with pytest.raises(DataError, match="image index 3 is outside the split's 3 images"):
        evaluate(pred, tmp_path, "val", images=[3], progress=False)


def test_semantic_errors(tmp_path):
    make_semantic(tmp_path)

    class Wrong(OracleSegmenter):
        def __call__(self, image):
            return Detections.empty(SEM_CLASSES)

    with pytest.raises(EdgeVisionError, match="needs SemanticMask"):
        evaluate(Wrong(), tmp_path, progress=False)

    class Small(OracleSegmenter):
        def __call__(self, image):
            return SemanticMask(np.zeros((5, 5), np.int64), SEM_CLASSES)

    with pytest.raises(DataError, match=r"im0: prediction shape \(5, 5\)"):
        evaluate(Small(), tmp_path, progress=False)
    with pytest.raises(DataError, match="not found"):
        evaluate(OracleSegmenter(), tmp_path / "nope", progress=False)
    with pytest.raises(EdgeVisionError, match="cannot evaluate task"):
        p = OracleSegmenter()
        object.__setattr__(p.spec, "task", "depth")
        evaluate(p, tmp_path, progress=False)


def test_semantic_class_lists_must_match(tmp_path):
    make_semantic(tmp_path)

    class Renamed(OracleSegmenter):
        def __init__(self):
            super().__init__()
            self.spec = ModelSpec(name="r", task="semantic", class_names=["road", "bus", "sky"])

    with pytest.raises(DataError, match=r"model classes \['road', 'bus', 'sky'\] differ"):
        evaluate(Renamed(), tmp_path, progress=False)


def test_semantic_folder_without_class_list_uses_the_model(tmp_path):
    make_semantic(tmp_path)
    (tmp_path / "dataset.yaml").unlink()
    report = evaluate(OracleSegmenter(), tmp_path, progress=False)
    assert report.metrics["miou"] == pytest.approx(1.0)


# ----------------------------------------------------------------------------- detection
H, W = 40, 48
DET_CLASSES = ["cat", "dog"]


def key(image: np.ndarray) -> str:
    return hashlib.sha1(image.tobytes()).hexdigest()


def make_coco(root: Path, extra_category: bool = False, split: str = "val") -> dict:
    """Three noise images with rectangles; returns {image hash: (boxes, classes, masks)}."""
    rng = np.random.default_rng(1)
    (root / "images" / split).mkdir(parents=True)
    (root / "annotations").mkdir()
    cats = [{"id": 5, "name": "dog"}, {"id": 9, "name": "cat"}]  # ids and order differ
    if extra_category:
        cats.append({"id": 11, "name": "bird"})
    name_to_id = {c["name"]: c["id"] for c in cats}
    images, anns, truth = [], [], {}
    for i in range(3):
        img = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
        write_image(root / "images" / split / f"{i}.png", img)
        images.append({"id": 100 + i, "file_name": f"{i}.png", "height": H, "width": W})
        boxes, classes, masks = [], [], []
        objs = [("cat", (4 + i, 4, 20, 18 + i)), ("dog", (22, 10, 44, 36))]
        if extra_category and i == 0:
            objs.append(("bird", (30, 2, 40, 9)))
        for name, (x1, y1, x2, y2) in objs:
            m = np.zeros((H, W), bool)
            m[y1:y2, x1:x2] = True
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": 100 + i,
                    "category_id": name_to_id[name],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                    "segmentation": rle_encode(m),
                }
            )
            if name in DET_CLASSES:
                boxes.append([x1, y1, x2, y2])
                classes.append(DET_CLASSES.index(name))
                masks.append(m)
        truth[key(img)] = (np.array(boxes, np.float32), classes, np.stack(masks))
    gt = {"images": images, "annotations": anns, "categories": cats}
    (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(gt))
    return truth


class OracleDetector:
    def __init__(self, truth: dict, task: str = "detect", class_names=DET_CLASSES) -> None:
        self.truth = truth
        self.spec = ModelSpec(name="oracle-det", task=task, class_names=list(class_names))

    def __call__(self, image: np.ndarray):
        boxes, classes, masks = self.truth[key(image)]
        scores = np.full(len(boxes), 0.9)
        if self.spec.task == "instance":
            return InstanceMasks(boxes, scores, classes, DET_CLASSES, (H, W), masks=masks)
        return Detections(boxes, scores, classes, DET_CLASSES, (H, W))


@pytest.mark.parametrize("task", ["detect", "instance"])
def test_coco_oracle_gives_ap_one(tmp_path, task):
    truth = make_coco(tmp_path)
    report = evaluate(OracleDetector(truth, task), tmp_path, "val", progress=False)
    assert report.num_images == 3
    types = ["bbox", "segm"] if task == "instance" else ["bbox"]
    assert sorted(report.metrics) == types
    for t in types:
        assert report.metrics[t]["AP"] == pytest.approx(1.0)
        assert report.metrics[t]["per_class_AP"] == pytest.approx({"dog": 1.0, "cat": 1.0})
    assert report.headline == pytest.approx(1.0)
    table = report.table()
    assert "AP50" in table and "cat" in table and "dog" in table
    d = json.loads(report.to_json())  # nan (APm, APl) -> null
    assert d["metrics"]["bbox"]["APl"] is None


def test_coco_images_scores_the_chosen_images_only(tmp_path):
    truth = make_coco(tmp_path)
    scored = []

    class Recording(OracleDetector):
        def __call__(self, image):
            scored.append(key(image))
            return super().__call__(image)

    report = evaluate(Recording(truth), tmp_path, "val", images=[1], progress=False)
    assert report.num_images == 1 and len(scored) == 1
    assert scored[0] == list(truth)[1]
    assert report.headline == pytest.approx(1.0)


def test_coco_gt_category_unknown_to_model_counts_as_missed(tmp_path):
    truth = make_coco(tmp_path, extra_category=True)
    report = evaluate(OracleDetector(truth), tmp_path, progress=False)
    per_class = report.metrics["bbox"]["per_class_AP"]
    assert per_class == pytest.approx({"dog": 1.0, "cat": 1.0, "bird": 0.0})
    assert report.metrics["bbox"]["AP"] == pytest.approx(2 / 3)


def test_coco_model_class_missing_in_gt_is_an_error(tmp_path):
    truth = make_coco(tmp_path)
    with pytest.raises(DataError, match=r"model classes \['horse'\]"):
        evaluate(OracleDetector(truth, class_names=["cat", "horse"]), tmp_path, progress=False)


class BoxesOnly(OracleDetector):
    def __call__(self, image: np.ndarray):
        return Detections.empty(DET_CLASSES, (H, W))


def test_coco_missing_files_and_wrong_type(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="split 'val' not found in .*: no COCO annotations"):
        evaluate(OracleDetector({}), tmp_path / "empty", progress=False)
    truth = make_coco(tmp_path)
    with pytest.raises(EdgeVisionError, match="needs InstanceMasks"):
        evaluate(BoxesOnly(truth, "instance"), tmp_path, progress=False)
    # a detector that finds nothing: AP 0, no crash
    report = evaluate(BoxesOnly(truth, "detect"), tmp_path, progress=False)
    assert report.metrics["bbox"]["AP"] == 0.0


def test_yolo_folder_and_dataset_yaml_score_like_coco(tmp_path, coco_to_yolo):
    truth = make_coco(tmp_path / "coco")
    yolo = coco_to_yolo(tmp_path / "coco", tmp_path / "yolo", splits=("val",))
    cfg = tmp_path / "street.yaml"
    cfg.write_text("path: yolo\nval: images/val\nnames: [dog, cat]\n")
    for data in (tmp_path / "coco", yolo, cfg):
        report = evaluate(OracleDetector(truth), data, "val", progress=False)
        assert report.num_images == 3, data
        assert report.metrics["bbox"]["per_class_AP"] == pytest.approx({"dog": 1.0, "cat": 1.0})
    with pytest.raises(DataError, match="dataset YAML not found"):
        evaluate(OracleDetector(truth), tmp_path / "missing.yaml", progress=False)


class CityscapesOracle:
    """Reads the trainId back out of the red channel of the tiny Cityscapes images."""

    def __init__(self) -> None:
        from edgevision.data.semantic import CITYSCAPES_CLASSES

        self.names = list(CITYSCAPES_CLASSES)
        self.spec = ModelSpec(name="oracle", task="semantic", class_names=self.names)

    def __call__(self, image: np.ndarray) -> SemanticMask:
        red = image[..., 0].astype(np.int64)
        return SemanticMask(np.where(red == 250, 0, red // 12), self.names)


def test_cityscapes_folder_is_evaluable(cityscapes_dir):
    report = evaluate(CityscapesOracle(), cityscapes_dir, "val", progress=False)
    assert report.num_images == 2 and report.metrics["miou"] == pytest.approx(1.0)
    assert report.sequences == {"lindau": 2}
    report = evaluate(CityscapesOracle(), cityscapes_dir, "train:bochum", progress=False)
    assert report.num_images == 2 and report.metrics["miou"] == pytest.approx(1.0)


@pytest.mark.data
def test_camvid_with_oracle_labels(camvid_dir):
    """Real CamVid val (first 2 images): a predictor that returns the label scores 1.0."""
    from edgevision.data.semantic import CAMVID_CLASSES, CAMVID_IGNORE_INDEX, SemanticFolder

    ds = SemanticFolder(camvid_dir, "val")
    masks = {key(ds[i].image): ds[i].mask for i in range(2)}

    class LabelOracle:
        spec = ModelSpec(
            name="label-oracle",
            task="semantic",
            class_names=list(CAMVID_CLASSES),
            ignore_index=CAMVID_IGNORE_INDEX,
        )

        def __call__(self, image):
            return SemanticMask(masks[key(image)], CAMVID_CLASSES, ignore_index=11)

    report = evaluate(LabelOracle(), camvid_dir, "val", max_images=2, progress=False)
    assert report.num_images == 2
    assert report.metrics["miou"] == pytest.approx(1.0)
    assert len(report.metrics["per_class_iou"]) == 11


@pytest.mark.data
@pytest.mark.slow
def test_real_predictor_on_camvid(tiny_onnx, camvid_dir):
    """The runtime's Predictor (tiny untrained ONNX model) plugs into evaluate()."""
    from edgevision.runtime import Predictor, load_engine

    predictor = Predictor(load_engine(tiny_onnx))
    report = evaluate(predictor, camvid_dir, "val", max_images=2, progress=False)
    assert report.num_images == 2 and report.task == "semantic"
    assert 0.0 <= report.metrics["miou"] <= 1.0
    assert 0.0 <= report.metrics["pixel_acc"] <= 1.0


def test_yolo_predictors_are_scored_at_the_ap_score_threshold():
    """AP needs the whole precision-recall curve: a YOLO predictor without settings is scored
    at conf 0.001 (as the detection trainer does); explicit settings and other tasks are kept."""
    from types import SimpleNamespace

    from edgevision.config import ModelSpec
    from edgevision.evaluate.api import AP_POST_KWARGS, _for_ap
    from edgevision.runtime.predictor import Predictor

    def pred(post: str, **kw):
        spec = ModelSpec(name="m", task="detect", class_names=["a"], postprocess=post)
        return Predictor(SimpleNamespace(spec=spec), **kw)  # type: ignore[arg-type]

    p = _for_ap(pred("yolo"))
    assert p.post_kwargs == AP_POST_KWARGS["yolo"] and p.post_kwargs["conf_threshold"] == 0.001
    kept = pred("yolo", conf_threshold=0.3)
    assert _for_ap(kept) is kept
    yolact = pred("yolact")
    assert _for_ap(yolact) is yolact


# ------------------------------------------------------------------------------- agreement
class CarInstances:
    """An instance model of class 'car' that predicts each image's car pixels as two
    instances (score 0.9), plus a low-score instance over the whole image."""

    def __init__(self) -> None:
        self.spec = ModelSpec(name="weak", task="instance", class_names=["car"])

    def __call__(self, image: np.ndarray) -> InstanceMasks:
        car = image[..., 0] == 60
        h, w = car.shape
        left, right = car.copy(), car.copy()
        left[:, w // 2 :] = False
        right[:, : w // 2] = False
        everything = np.ones((h, w), bool)
        boxes = np.array([[0, 0, w, h]] * 3, np.float32)
        return InstanceMasks(boxes, np.array([0.9, 0.9, 0.1], np.float32), np.zeros(3, np.int64),
                             ["car"], (h, w), masks=np.stack([left, right, everything]))  # fmt: skip


def test_instance_model_on_semantic_data_scores_agreement(tmp_path):
    labels = make_semantic(tmp_path)
    report = evaluate(CarInstances(), tmp_path, "val", progress=False)
    a = report.metrics["agreement"]
    # the union of the two confident instances is the car pixels exactly; the 0.1 one is
    # below the threshold
    assert a["per_class"] == {"car": pytest.approx(1.0)} and report.headline == pytest.approx(1.0)
    assert "agreement IoU" in report.table()
    # with every instance kept, the union is the whole image: IoU = car / non-void pixels
    low = evaluate_agreement(CarInstances(), tmp_path, "val", score_threshold=0.05)
    car = sum(int((lab == 1).sum()) for lab in labels)
    valid = sum(int((lab != 255).sum()) for lab in labels)
    assert low.metrics["agreement"]["mean_iou"] == pytest.approx(car / valid)
    # a class the dataset lacks is named
    bad = CarInstances()
    bad.spec = ModelSpec(name="weak", task="instance", class_names=["dragon"])
    with pytest.raises(DataError, match="'dragon'"):
        evaluate(bad, tmp_path, "val")
