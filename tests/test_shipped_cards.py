"""Every shipped model card reproduces: ``edgevision eval`` run exactly as the card says gives
the card's numbers.

For each ``weights/NAME/`` (``card.json``, ``README.md``, ``train_config.yaml``, weights):
the card's ``eval_command`` runs in a subprocess from the repository root, as printed under
"Reproduce" in its README. Where it evaluates on a derived dataset (``runs/camvid_boxes``,
``runs/synth_video``), that folder is first made by the ``edgevision data ...`` command the
card's ``data.folder`` names, with the card's seed and settings, into a session temporary
folder. The eval's metrics (``--json``) must equal every number in ``card.json`` to the
precision the README prints them at (percent with 2 decimals: within 0.005 percentage
points), and the README's bold headline numbers must be the eval's, printed the same way.

About 80 s on 2 CPU cores: 4-10 s per eval, 15 s to make the derived datasets.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("safetensors")

import edgevision
from edgevision.checkpoint import read_spec
from edgevision.io import file_sha256

pytestmark = [pytest.mark.slow, pytest.mark.data]

REPO = Path(__file__).resolve().parents[1]
CARDS = sorted(p.parent.name for p in (REPO / "weights").glob("*/card.json"))
# README bold headline label -> the metric it shows (path in the eval report's metrics)
HEADLINES = {
    "PQ": "pq",
    "depth δ<1.25": "delta1",
    "mIoU": "miou",
    "box AP": "bbox.AP",
    "mask AP": "segm.AP",
    "agreement": "agreement.mean_iou",
}
TIMEOUT_S = 600
NEWER_METRICS = {"scale"}
"""Metrics ``eval`` reports that a card written before they existed may lack (depth
``scale``: 2026-12-06)."""


def _env() -> dict[str, str]:
    """The child runs this tree's edgevision, not an installed one."""
    src = str(Path(edgevision.__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, path]) if path else src}


def _edgevision(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run an ``edgevision ...`` command line (as split by shlex) from the repository root."""
    assert argv[0] == "edgevision", argv
    r = subprocess.run(
        [sys.executable, "-m", "edgevision", *argv[1:]],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert r.returncode == 0, f"{shlex.join(argv)} exited {r.returncode}:\n{r.stderr[-3000:]}"
    return r


def _option(argv: list[str], name: str) -> str:
    assert argv.count(name) == 1, (name, argv)
    return argv[argv.index(name) + 1]


def _replace_option(argv: list[str], name: str, value: str) -> list[str]:
    i = argv.index(name)
    return [*argv[: i + 1], value, *argv[i + 2 :]]


@pytest.fixture(scope="session")
def derived(tmp_path_factory: pytest.TempPathFactory):
    """``derived(data_command) -> folder``: run a card's ``edgevision data ...`` command with
    its ``--out`` moved into a session temporary folder (once per command)."""
    made: dict[str, Path] = {}

    def make(command: str, others: dict[str, str] | None = None) -> Path:
        """``others``: ``--out`` folder -> command, for commands that read another derived
        folder (``data depth-mix ... runs/depthseg/synth53``): those are made first."""
        if command not in made:
            argv = shlex.split(command)
            own = _option(argv, "--out")
            deps = {k: v for k, v in (others or {}).items() if k != own}
            argv = [str(make(deps[t], others)) if t in deps else t for t in argv]
            out = tmp_path_factory.mktemp("card_data") / Path(own).name
            _edgevision(_replace_option(argv, "--out", str(out)))
            made[command] = out
        return made[command]

    return make


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        out.update(_flat(v, key) if isinstance(v, dict) else {key: v})
    return out


def _headlines(readme: str) -> dict[str, str]:
    """The README's bold headline numbers as printed: ``{"mIoU": "63.00", ...}``."""
    found = dict(
        re.findall(r"\*\*(PQ|depth δ<1.25|mIoU|box AP|mask AP|agreement) (\d+\.\d+)\*\*", readme)
    )
    assert found, "no headline number in README.md"
    return found


def test_every_shipped_model_has_a_card():
    folders = sorted(p for p in (REPO / "weights").iterdir() if p.is_dir())
    assert [p.name for p in folders] == CARDS and len(CARDS) == 12
    for p in folders:
        names = {f.name for f in p.iterdir()}
        assert {"card.json", "README.md", "train_config.yaml", f"{p.name}.safetensors"} <= names


@pytest.mark.parametrize("name", CARDS)
def test_card_numbers_reproduce(name, derived, tmp_path):
    d = REPO / "weights" / name
    card = json.loads((d / "card.json").read_text())
    readme = (d / "README.md").read_text()

    # the weights and their input size are the card's
    weights = d / card["file"]
    assert file_sha256(weights) == card["sha256"]
    assert list(read_spec(weights).input_size) == card["input_size"]

    # the eval command, exactly as the card gives it (also the README's "Reproduce" line)
    command = card["eval_command"]
    assert f"Reproduce: `{command}`" in readme
    argv = shlex.split(command)
    assert argv[:3] == ["edgevision", "eval", str(weights.relative_to(REPO))]
    assert _option(argv, "--split") == card["data"]["measured_split"]
    data = _option(argv, "--data")
    # a derived dataset: made by the card's own 'edgevision data ...' command for that folder
    commands = [c.strip() for c in re.findall(r"edgevision data [^;()]+", card["data"]["folder"])]
    outs = {_option(shlex.split(c), "--out"): c for c in commands}
    makers = [c for c in commands if _option(shlex.split(c), "--out") == data]
    if makers:
        assert len(makers) == 1, makers
        argv = _replace_option(argv, "--data", str(derived(makers[0], outs)))
    else:
        assert (REPO / data).is_dir(), f"{data}: not a folder and no command makes it"
    report_path = tmp_path / "report.json"
    _edgevision([*argv, "--json", str(report_path)])
    report = json.loads(report_path.read_text())
    assert report["task"] == card["task"] and report["split"] == card["data"]["measured_split"]
    assert report["num_images"] == card["data"]["measured_images"]

    # the tolerance is half a unit in the last digit the README prints (in percent)
    printed = _headlines(readme)
    decimals = {len(v.split(".")[1]) for v in printed.values()}
    assert len(decimals) == 1, printed
    tol = 0.5 * 10.0 ** -decimals.pop() / 100 + 1e-12
    want, got = _flat(card["metrics"]), _flat(report["metrics"])
    assert want.keys() <= got.keys(), want.keys() - got.keys()
    assert got.keys() - want.keys() <= NEWER_METRICS, got.keys() - want.keys()
    for key, w in want.items():
        g = got[key]
        if isinstance(w, float) and isinstance(g, (int, float)):
            assert math.isclose(g, w, rel_tol=0, abs_tol=tol), (key, g, w)
        else:  # counts, thresholds, None (no objects of that size)
            assert g == w, (key, g, w)
    for label, text in printed.items():
        value = 100 * _flat(report["metrics"])[HEADLINES[label]]
        assert abs(value - float(text)) <= 100 * tol, (label, value, text)
