"""Class-balanced weights (effective number of samples) and cached per-class counts."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

from edgevision.data.semantic import SemanticFolder
from edgevision.errors import ConfigError
from edgevision.io import write_image
from edgevision.losses import class_balanced as cb
from edgevision.losses.class_balanced import (
    class_balanced_weights,
    class_counts,
    default_cache_dir,
    effective_number,
    effective_number_weights,
)

CLASSES = ["a", "b", "c"]
IGNORE = 255


def _write_sample(root, split, name, mask):
    mask = np.asarray(mask, dtype=np.uint8)
    write_image(root / "images" / split / f"{name}.png", np.zeros((*mask.shape, 3), np.uint8))
    write_image(root / "labels" / split / f"{name}.png", mask)


def _fake_dataset(root):
    """3 classes, 2 train images of 4x5: class a everywhere, b in one image, c nowhere."""
    root.mkdir()
    (root / "dataset.yaml").write_text(f"classes: {CLASSES}\nignore_index: {IGNORE}\n")
    m0 = np.zeros((4, 5), np.uint8)
    m0[0, :] = 1  # 5 px of b
    m0[3, :2] = IGNORE  # 2 ignored
    _write_sample(root, "train", "s0", m0)
    _write_sample(root, "train", "s1", np.zeros((4, 5), np.uint8))
    return root


# ------------------------------------------------------------------------------------------
# the formula
# ------------------------------------------------------------------------------------------
def test_hand_values():
    # raw 1/(1-β^n): n=1 -> 2, n=2 -> 4/3; normalised to sum 2
    np.testing.assert_allclose(effective_number_weights([1, 2], 0.5), [1.2, 0.8])
    np.testing.assert_allclose(effective_number([1, 2, 1000], 0.9), [1.0, 1.9, 10.0])
    np.testing.assert_allclose(effective_number([3, 7], 1.0), [3.0, 7.0])


def test_beta_zero_is_uniform():
    np.testing.assert_array_equal(effective_number_weights([1, 10, 10**9], 0.0), np.ones(3))


@pytest.mark.parametrize("beta", [1.0 - 1e-12, 1.0])
def test_beta_to_one_is_inverse_frequency(beta):
    counts = np.array([1e6, 1e4, 1e2])
    inv = (1 / counts) * 3 / (1 / counts).sum()
    np.testing.assert_allclose(effective_number_weights(counts, beta), inv, rtol=1e-5)


def test_huge_counts_near_one_no_nan():
    counts = np.array([1e12, 5e11, 1.0])
    w = effective_number_weights(counts, 1.0 - 1e-15)
    assert np.all(np.isfinite(w)) and w.sum() == pytest.approx(3)
    np.testing.assert_allclose(w[0] / w[1], 0.5, rtol=1e-3)
    # β^n underflow (β far from 1, huge n): saturated, equal weights
    np.testing.assert_allclose(effective_number_weights(counts[:2], 0.9), [1.0, 1.0])


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.99, 0.9999, 1 - 1e-9, 1.0])
def test_normalised_to_num_classes(beta):
    w = effective_number_weights([5, 50, 500, 5000], beta)
    assert w.sum() == pytest.approx(4) and np.all(np.diff(w) <= 1e-12)  # rarer -> larger


def test_zero_count_class_gets_zero_and_warns():
    with pytest.warns(UserWarning, match=r"classes \[1\]"):
        w = effective_number_weights([10, 0, 20], 0.99)
    assert w[1] == 0 and w[[0, 2]].sum() == pytest.approx(2) and w[0] > w[2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        effective_number_weights([10, 0], 0.99, warn_missing=False)


def test_bad_inputs():
    with pytest.raises(ConfigError, match="beta"):
        effective_number_weights([1, 2], 1.5)
    with pytest.raises(ValueError, match="every class count is 0"):
        effective_number_weights([0, 0], 0.9)
    with pytest.raises(ValueError, match=">= 0"):
        effective_number_weights([1, -1], 0.9)


# ------------------------------------------------------------------------------------------
# counts and cache
# ------------------------------------------------------------------------------------------
def test_counts_and_cache(tmp_path, monkeypatch):
    root = _fake_dataset(tmp_path / "ds")
    cache = tmp_path / "cache"
    ds = SemanticFolder(root, "train")
    first = class_counts(ds, cache_dir=cache)
    assert not first.from_cache and first.cache_file is not None and first.cache_file.is_file()
    assert first.cache_file.parent.parent == cache
    assert not (root / ".edgevision_cache").exists()
    np.testing.assert_array_equal(first.pixels, [40 - 5 - 2, 5, 0])
    np.testing.assert_array_equal(first.images, [2, 1, 0])
    assert first.num_images == 2 and first.ignored_pixels == 2

    calls = []
    real = cb._count

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(cb, "_count", counting)
    again = class_counts(SemanticFolder(root, "train"), cache_dir=cache)
    assert again.from_cache and not calls and again.to_dict() == first.to_dict()

    # a changed file list recomputes
    _write_sample(root, "train", "s2", np.full((4, 5), 2, np.uint8))
    changed = class_counts(SemanticFolder(root, "train"), cache_dir=cache)
    assert len(calls) == 1 and not changed.from_cache
    np.testing.assert_array_equal(changed.images, [2, 1, 1])
    assert class_counts(SemanticFolder(root, "train"), cache_dir=cache).from_cache

    # a rewritten label (new mtime/size) recomputes, a corrupt cache too
    import os

    lab = root / "labels" / "train" / "s2.png"
    write_image(lab, np.full((4, 5), 1, np.uint8))
    st = lab.stat()
    os.utime(lab, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert class_counts(SemanticFolder(root, "train"), cache_dir=cache).pixels[2] == 0
    changed.cache_file.write_text("{not json")
    assert not class_counts(SemanticFolder(root, "train"), cache_dir=cache).from_cache
    assert len(calls) == 3
    assert json.loads(changed.cache_file.read_text())["split"] == "train"

    class_counts(SemanticFolder(root, "train"), cache_dir=cache, use_cache=False)
    assert len(calls) == 4


def test_default_cache_dir_respects_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("EDGEVISION_CACHE", raising=False)  # it comes first
    assert default_cache_dir() == tmp_path / "xdg" / "edgevision"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "edgevision"


def test_weights_of_a_split(tmp_path):
    ds = SemanticFolder(_fake_dataset(tmp_path / "ds"), "train")
    with pytest.warns(UserWarning, match="no samples"):
        w = class_balanced_weights(ds, beta=1.0, unit="pixels", cache_dir=tmp_path / "c")
    assert w.dtype == np.float32
    np.testing.assert_allclose(w, [2 * 5 / 38, 2 * 33 / 38, 0], rtol=1e-6)
    with pytest.warns(UserWarning):
        wi = class_balanced_weights(ds, beta=1.0, unit="images", cache_dir=tmp_path / "c")
    np.testing.assert_allclose(wi, [2 / 3, 4 / 3, 0], rtol=1e-6)
    with pytest.raises(ConfigError, match="unit"):
        class_balanced_weights(ds, unit="boxes", cache_dir=tmp_path / "c")


def test_class_balanced_imports_without_torch():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('torch is blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import edgevision.losses\n"
        "from edgevision.losses import effective_number_weights\n"
        "from edgevision.losses.class_balanced import class_counts\n"
        "assert 'torch' not in sys.modules\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
