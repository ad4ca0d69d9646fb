"""``train(cfg)`` with ``cfg.pretrained``: every task's config has the field, and the one loop
checks the file before it reads the dataset or writes anything (the import itself:
tests/models/test_pretrained.py; a run that starts from one: tests/cli/test_train_cli.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from edgevision.errors import CheckpointError
from edgevision.registry import list_models
from edgevision.tasks import TASKS
from edgevision.train.run import train


@pytest.mark.parametrize("task", sorted(TASKS))
def test_a_missing_pretrained_file_stops_every_task_before_any_work(task, tmp_path):
    cls = TASKS[task].load("config")
    cfg = cls(
        model=list_models(task=task)[0],
        data=str(tmp_path / "no-dataset-read"),
        out=str(tmp_path / "run"),
        pretrained=str(tmp_path / "nope.pth"),
    )
    with pytest.raises(CheckpointError, match="pretrained weights not found: .*nope.pth"):
        train(cfg, quiet=True)
    assert not (tmp_path / "run").exists()
