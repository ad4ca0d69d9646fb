"""One name per option: ``conf``/``iou`` (as the CLI's --conf/--iou) reach the
postprocessors' ``conf_threshold``/``iou_threshold``; bad options fail at once."""

from __future__ import annotations

import pytest

from edgevision.errors import ConfigError
from edgevision.postprocess import check_options


def test_public_names_map_to_the_postprocessor():
    assert check_options("yolo", {"conf": 0.3, "iou": 0.5, "max_det": 10}) == {
        "conf_threshold": 0.3, "iou_threshold": 0.5, "max_det": 10,
    }  # fmt: skip
    assert check_options("yolo", {"conf_threshold": 0.3, "iou": None}) == {"conf_threshold": 0.3}
    assert check_options("yolact", {"conf": 0.1, "masks": False}) == {"conf_threshold": 0.1, "masks": False}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "options", "match"),
    [
        ("yolo", {"cof": 0.3}, r"'cof' does not apply .*\(yolo\); it takes: conf, iou, max_det"),
        ("semantic_argmax", {"conf": 0.3}, "'conf' does not apply"),
        ("yolo", {"conf": 0.3, "conf_threshold": 0.2}, "'conf' given twice"),
        ("yolo", {"iou": 1.5}, r"iou must be in \[0, 1\]"),
        ("yolo_nms", {"conf": 0.3}, "takes: max_det"),
    ],
)
def test_bad_options_are_one_line(name, options, match):
    with pytest.raises(ConfigError, match=match):
        check_options(name, options)
