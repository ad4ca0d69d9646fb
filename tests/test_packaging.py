"""The wheel: built from a copy of the tracked files, its version from a git tag (or the
fallback without git metadata), installed with every extra into a clean virtual environment,
and ``python -m edgevision`` run from there.

Offline: the build uses this environment's setuptools + setuptools-scm
(``--no-build-isolation``), the install takes ``--no-deps --no-index``, and the clean
environment sees this one's third-party packages through a ``.pth`` line (which does not run
this environment's editable-install hook, so ``import edgevision`` finds only the wheel).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXTRAS = ("onnx", "openvino", "stream", "train")

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    """The environment without this checkout's ``PYTHONPATH`` / pretend versions."""
    drop = ("PYTHONPATH", "SETUPTOOLS_SCM_PRETEND_VERSION", "PIP_REQUIRE_VIRTUALENV")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}


def _run(*cmd: str | Path, cwd: Path | None = None) -> str:
    p = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300
    )
    assert p.returncode == 0, f"{cmd}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p.stdout


def _git(repo: Path, *args: str) -> str:
    return _run("git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tracked files of this checkout (with uncommitted edits), without git metadata."""
    if shutil.which("git") is None:
        pytest.skip("needs git")
    out = tmp_path_factory.mktemp("src") / "edgevision"
    files = _run("git", "-C", REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for rel in filter(None, files.split("\0")):
        src = REPO / rel
        if src.is_file() and not rel.startswith(("tests/", "docs/", "weights/")):
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, out / rel)
    return out


def _scm_version(root: Path) -> str:
    return _run(sys.executable, "-m", "setuptools_scm", "--root", root).strip()


def test_version_comes_from_the_git_tag_with_a_fallback(source, tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(source, tree)
    assert _scm_version(tree) == "0.1.0+unknown"  # a source archive: no git metadata
    _git(tree, "init", "-q")
    _git(tree, "add", "-A")
    _git(tree, "commit", "-q", "-m", "c1")
    # a clone without tags: one commit after the fallback
    assert _scm_version(tree).startswith("0.1.1.dev1+unknown.g")
    _git(tree, "tag", "-a", "v2.3.4", "-m", "r")
    assert _scm_version(tree) == "2.3.4"
    (tree / "CHANGELOG.md").write_text("x\n")
    _git(tree, "commit", "-qam", "c2")
    assert _scm_version(tree).startswith("2.3.5.dev1+g")


def test_wheel_installs_with_every_extra_into_a_clean_venv(source, tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(source, tree)
    _git(tree, "init", "-q")
    _git(tree, "add", "-A")
    _git(tree, "commit", "-q", "-m", "release")
    _git(tree, "tag", "-a", "v9.8.7", "-m", "r")
    dist = tmp_path / "dist"
    pip = (sys.executable, "-m", "pip")
    _run(*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", dist, tree)
    (wheel,) = dist.glob("edgevision-9.8.7-*.whl")
    assert wheel.name.endswith("-py3-none-any.whl")

    names = zipfile.ZipFile(wheel).namelist()
    assert "edgevision/py.typed" in names and "edgevision/_scm_version.py" in names
    assert "edgevision/__main__.py" in names and not any(n.startswith("tests/") for n in names)
    meta = zipfile.ZipFile(wheel).read("edgevision-9.8.7.dist-info/METADATA").decode()
    for extra in EXTRAS:
        assert f"Provides-Extra: {extra}" in meta
    assert 'Requires-Dist: torch>=2.1; extra == "train"' in meta
    assert "Requires-Dist: numpy" in meta

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    py = venv / "bin" / "python"
    _run(
        *pip,
        "--python",
        py,
        "install",
        "-q",
        "--no-deps",
        "--no-index",
        f"{wheel}[{','.join(EXTRAS)}]",
    )
    site = Path(_run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    (site / "_outer_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    assert _run(py, "-m", "edgevision", "--version").strip() == "edgevision 9.8.7"
    where = _run(py, "-c", "import edgevision; print(edgevision.__file__, edgevision.__version__)")
    path, version = where.split()
    assert Path(path).is_relative_to(site) and version == "9.8.7"
    assert "yolo_ret_m075" in _run(py, "-m", "edgevision", "models")
    assert (venv / "bin" / "edgevision").is_file()  # the console script
