"""finetune_video: YolactEdge's end-to-end fine-tuning on warped features (pairs, resume)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgevision.errors import CheckpointError, ConfigError  # noqa: E402
from edgevision.models.flow.warp import warp  # noqa: E402
from edgevision.train import video as tv  # noqa: E402
from edgevision.train.video import VideoPairs, finetune_video  # noqa: E402


@pytest.fixture(scope="module")
def videos(synth_videos):
    """Two 96x128 training videos with strong motion, exact flow and instances."""
    return synth_videos(seed=4, size=(96, 128), videos=2, frames=4, speed=0.06, pan=0.04)


def test_pairs_carry_an_exact_flow_and_matching_targets_flipped_or_not(videos, tiny_yolact_video):
    m = tiny_yolact_video((80, 96))  # stretched unevenly from 96x128
    pairs = VideoPairs(videos, "train", m.spec, max_gap=3)
    draws = [(0, 0, 2, False), (0, 0, 2, True), (1, 2, 1, False)]
    b = pairs.batch(draws)
    assert b.key.shape == b.cur.shape == (3, 3, 80, 96) and list(b.gaps) == [2, 2, -1]
    # keyframe after the current frame: the synthetic flow is known; before it: unknown
    assert float(b.valid[0].mean()) > 0.5 and float(b.valid[2].sum()) == 0
    for i in (0, 1):  # warping the keyframe with the flow gives the current frame back
        v = b.valid[i : i + 1]
        err_w = float(((warp(b.key[i : i + 1], b.flow[i : i + 1]) - b.cur[i : i + 1]).abs() * v)
                      .sum() / v.sum())  # fmt: skip
        err_u = float(((b.key[i : i + 1] - b.cur[i : i + 1]).abs() * v).sum() / v.sum())
        assert err_w < 0.5 * err_u, (i, err_w, err_u)
    # the flipped pair is the mirror image, its flow mirrored with u negated
    assert torch.allclose(b.cur[1], b.cur[0].flip(-1)) and torch.allclose(
        b.key[1], b.key[0].flip(-1)
    )
    assert torch.allclose(b.flow[1, 0], -b.flow[0, 0].flip(-1))
    assert torch.allclose(b.flow[1, 1], b.flow[0, 1].flip(-1))
    # boxes follow the masks (normalised xyxy) in both
    h, w = 80, 96
    for i in (0, 1):
        t = b.targets
        assert len(t.labels[i]) == len(t.masks[i]) == len(t.boxes[i]) > 0
        for box, mask in zip(t.boxes[i], t.masks[i]):
            ys, xs = torch.nonzero(mask > 0, as_tuple=True)
            ext = torch.tensor([xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h])
            assert torch.allclose(box, ext, atol=2.5 / min(h, w)), (box, ext)
    assert torch.equal(b.targets.labels[0], b.targets.labels[1])


def test_finetune_trains_the_heads_not_the_backbone_and_resumes_exactly(
    videos, tiny_yolact_video, tmp_path, monkeypatch, one_torch_thread
):
    _model = tiny_yolact_video
    kw = dict(steps=4, batch_size=2, lr=1e-3, max_gap=2, seed=3, save_every=1)
    ref = _model()
    b0 = {k: v.clone() for k, v in ref.state_dict().items()}
    rows = finetune_video(ref, videos, **kw)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert all(np.isfinite(r["loss"]) and r["loss"] > 0 for r in rows)
    assert {"video", "frame"} <= set(rows[0])
    after = ref.state_dict()
    changed = {k for k in b0 if b0[k].is_floating_point() and not torch.equal(b0[k], after[k])}
    assert any(k.startswith("head.") for k in changed)
    assert any(k.startswith("flownet.") for k in changed)
    assert any(k.startswith("fpn.") for k in changed)
    assert not any(k.startswith(("backbone_lower.", "backbone_upper.")) for k in changed)
    assert all(p.requires_grad for p in ref.parameters())  # unfrozen afterwards

    # Ctrl-C after two steps: the state is saved; the next call continues to the same weights
    state = tmp_path / "vft.state.pt"
    real, calls = tv.video_losses, {"n": 0}

    def interrupt_third(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(tv, "video_losses", interrupt_third)
    m = _model()
    with pytest.raises(KeyboardInterrupt):
        finetune_video(m, videos, state_path=state, tag="a", **kw)
    assert state.is_file()
    monkeypatch.setattr(tv, "video_losses", real)
    m = _model()
    rows2 = finetune_video(m, videos, state_path=state, tag="a", **kw)
    assert [r["step"] for r in rows2] == [1, 2, 3, 4]
    for k, v in m.state_dict().items():
        assert torch.allclose(v.float(), after[k].float(), atol=1e-6), k
    with pytest.raises(CheckpointError, match="other settings"):
        finetune_video(_model(), videos, state_path=state, tag="b", **kw)


def test_finetune_refusals(videos, tiny_yolact_video):
    _model = tiny_yolact_video
    with pytest.raises(ConfigError, match="video model"):
        finetune_video(_model(video=False), videos, steps=1)
    with pytest.raises(ConfigError, match="steps"):
        finetune_video(_model(), videos, steps=0)
    from edgevision.train.instance import InstanceTrainConfig

    with pytest.raises(ConfigError, match="video_steps"):
        InstanceTrainConfig(video_steps=-1)
    with pytest.raises(ConfigError, match="video_frame_weight"):
        InstanceTrainConfig(video_frame_weight=-0.5)


def test_a_pickle_payload_in_the_resume_state_is_refused_not_run(
    videos, tiny_yolact_video, tmp_path
):
    """``OUT/video_ft.state.pt`` is read with weights_only=True: a planted ``__reduce__``
    payload is refused with a one-line reason and never runs (it used to run)."""
    import pathlib

    class Payload:
        def __reduce__(self):
            return (pathlib.Path.touch, (tmp_path / "pwned",))

    state = tmp_path / "video_ft.state.pt"
    torch.save({"settings": Payload()}, state)
    with pytest.raises(CheckpointError, match="refused video fine-tuning state"):
        finetune_video(tiny_yolact_video(), videos, steps=1, state_path=state)
    assert not (tmp_path / "pwned").exists()
