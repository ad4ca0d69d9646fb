"""Fixtures shared by the quantization tests."""

from __future__ import annotations

from typing import Any

import pytest


def _randomize_batchnorm(bn: Any) -> Any:
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    bn.weight.data.uniform_(0.5, 1.5)
    bn.bias.data.uniform_(-0.5, 0.5)
    return bn


@pytest.fixture
def randomize_batchnorm() -> Any:
    """``f(bn)``: give a fresh ``BatchNorm2d`` non-trivial statistics and affine parameters
    (in place), so that folding or rewriting it shows in the output."""
    return _randomize_batchnorm
