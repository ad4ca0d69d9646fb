"""Progress when stderr is not a terminal: plain lines, every 10 % by default."""

from __future__ import annotations

import io

from edgevision.progress import ProgressLines, track


def test_lines_every_tenth_and_at_the_end():
    buf = io.StringIO()
    p = ProgressLines("eval val", 25, stream=buf, min_interval_s=1e9)
    for i in range(1, 26):
        p.update(i)
    lines = buf.getvalue().splitlines()
    assert [ln.split(":")[1].split()[0] for ln in lines] == [f"{n}/25" for n in (2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 25)]  # fmt: skip
    assert lines[0].startswith("eval val: 2/25 (8%)") and "ETA" in lines[0]
    assert lines[-1].startswith("eval val: 25/25 (100%)") and "ETA" not in lines[-1]


def test_a_slow_job_gets_a_line_by_time():
    buf = io.StringIO()
    p = ProgressLines("train", 1000, every=500, stream=buf, min_interval_s=0.0)
    p.start_at(100)  # resumed
    p.update(101, "loss 0.5")
    assert buf.getvalue().startswith("train: 101/1000 (10%)") and buf.getvalue().rstrip().endswith("loss 0.5")  # fmt: skip


def test_track_prints_lines_off_a_terminal(capsys):
    assert list(track(range(4), 4, "calib")) == [0, 1, 2, 3]
    err = capsys.readouterr().err.splitlines()
    assert [ln.split()[1] for ln in err] == ["1/4", "2/4", "3/4", "4/4"]
    assert list(track(range(4), 4, "calib", enabled=False)) == [0, 1, 2, 3]
    assert capsys.readouterr().err == ""
