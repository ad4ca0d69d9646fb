"""``require_writable_output``: an output path is checked before any work."""

from __future__ import annotations

import os

import pytest

from edgevision.errors import OutputError, require_writable_output


def test_a_file_output(tmp_path):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    require_writable_output(tmp_path / "new.json", "--json")  # absent: fine
    require_writable_output(tmp_path / "afile", "--json")  # replaced atomically: fine
    require_writable_output(tmp_path / "missing" / "parents" / "r.json", "--json")  # created
    with pytest.raises(OutputError, match=r"--json: .*adir is a folder, not a file"):
        require_writable_output(tmp_path / "adir", "--json")
    with pytest.raises(OutputError, match=r"--json: cannot write file .*afile is a file"):
        require_writable_output(tmp_path / "afile" / "deeper" / "r.json", "--json")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(OutputError, match="broken link"):
        require_writable_output(tmp_path / "dangling" / "r.json", "--json")


def test_a_folder_output(tmp_path):
    (tmp_path / "afile").write_text("x")
    require_writable_output(tmp_path / "run", "--out", folder=True)
    require_writable_output(tmp_path, "--out", folder=True)  # an existing folder
    with pytest.raises(OutputError, match=r"--out: .*afile is a file, not a folder"):
        require_writable_output(tmp_path / "afile", "--out", folder=True)
    with pytest.raises(OutputError, match="afile is a file, not a folder"):
        require_writable_output(tmp_path / "afile" / "run", "--out", folder=True)


def test_a_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.access(ro, os.W_OK):
        pytest.skip("root (or this file system) writes read-only folders")
    with pytest.raises(OutputError, match="folder .*ro is not writable"):
        require_writable_output(ro / "r.json", "--json")
