"""The task table: names, aliases, lazy references, and that it stays the only place."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from edgevision.errors import ConfigError
from edgevision.registry import MANIFEST, get_entry
from edgevision.tasks import TASKS, get_task, task_names

SRC = Path(__file__).resolve().parents[1] / "src" / "edgevision"


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("semantic", "semantic"),
        ("seg", "semantic"),
        ("Segmentation", "semantic"),
        ("detect", "detect"),
        ("det", "detect"),
        ("detection", "detect"),
        ("instance", "instance"),
        (" inst ", "instance"),
        ("pan", "panoptic"),
        ("Depth_Seg", "depthseg"),
    ],
)
def test_aliases_map_to_one_task(alias, name):
    assert get_task(alias).name == name
    assert get_task(get_task(alias)) is TASKS[name]


def test_unknown_task_is_a_config_error_listing_the_tasks():
    with pytest.raises(ConfigError, match="unknown task 'keypoints'; tasks: semantic, detect"):
        get_task("keypoints")


@pytest.mark.parametrize("name", task_names())
def test_lazy_references_resolve(name):
    t = TASKS[name]
    cfg_cls = t.load("config")
    assert dataclasses.is_dataclass(cfg_cls)
    fields = {f.name for f in dataclasses.fields(cfg_cls)}
    assert {"model", "data", "epochs", "seed", "out", "device", "channels_last"} <= fields
    assert callable(t.load("parts")) and t.training_parts() is t.load("parts")
    assert t.load("after_training") is None or callable(t.load("after_training"))
    import edgevision.results as results

    assert hasattr(results, t.result_type)
    assert t.dense != bool(t.coco_types)
    assert t.better(0.6, 0.5) is t.higher_is_better


def test_a_task_without_training_parts_is_refused_in_one_line():
    t = dataclasses.replace(TASKS["semantic"], name="keypoints", title="keypoints", parts="")
    with pytest.raises(ConfigError, match="task 'keypoints' .* cannot be trained"):
        t.training_parts()


def test_every_registered_model_has_a_task():
    for name in MANIFEST:
        assert get_entry(name).task in TASKS


def test_importing_the_table_imports_nothing_heavy():
    code = (
        "import sys, edgevision.tasks; "
        "bad = [m for m in ('torch', 'onnxruntime', 'edgevision.train', 'edgevision.registry') "
        "if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _task_string_comparisons(path: Path) -> list[int]:
    """Lines comparing with a task name: ``x == "detect"``, ``t in ("semantic", ...)``, and
    per-task dict tables (``"segmentation" in annotation`` is a key lookup, not a task
    comparison)."""
    names = {n for t in TASKS.values() for n in (t.name, *t.aliases)}

    def named(e: ast.expr) -> bool:
        return isinstance(e, ast.Constant) and isinstance(e.value, str) and e.value in names

    canonical = set(TASKS)
    hits = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Dict):  # a per-task table: {"semantic": ..., "detect": ...}
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
            if len(keys & canonical) >= 2:
                hits.append(node.lineno)
        if not isinstance(node, ast.Compare):
            continue
        left = node.left
        for op, right in zip(node.ops, node.comparators):
            if (isinstance(op, (ast.Eq, ast.NotEq)) and (named(left) or named(right))) or (
                isinstance(op, (ast.In, ast.NotIn))
                and isinstance(right, (ast.Tuple, ast.List, ast.Set))
                and any(named(e) for e in right.elts)
            ):
                hits.append(node.lineno)
            left = right
    return hits


def test_no_task_string_comparison_outside_the_table():
    found = {
        str(p.relative_to(SRC)): lines
        for p in sorted(SRC.rglob("*.py"))
        if p.name != "tasks.py" and (lines := _task_string_comparisons(p))
    }
    assert found == {}, f"compare task names only in edgevision/tasks.py: {found}"
