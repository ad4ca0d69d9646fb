"""Fixtures for the data tests: one tiny synthetic dataset per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgevision.data.synth import SynthConfig, generate

TINY = {
    "seed": 3,
    "image_size": (64, 80),
    "train_images": 6,
    "val_images": 2,
    "train_videos": 1,
    "val_videos": 1,
    "frames": 4,
}


def _tiny_config(**kw: object) -> SynthConfig:
    return SynthConfig(**{**TINY, **kw})  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def tiny_config():
    """Factory: ``tiny_config(**overrides) -> SynthConfig`` of the tiny test dataset."""
    return _tiny_config


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic dataset (64x80 px, 6+2 images, 1+1 videos x 4 frames)."""
    out = tmp_path_factory.mktemp("synth") / "ds"
    generate(out, _tiny_config(), progress=False)
    return out
