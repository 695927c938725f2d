"""Yin-Yang generator reproduces the published splits bit for bit; spike encodings."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from spikeflow.data.yinyang import encode_goeltz, encode_raster, encode_times, generate, yinyang


def _h(a: np.ndarray, dtype: str) -> str:
    return hashlib.sha256(np.ascontiguousarray(a.astype(dtype)).tobytes()).hexdigest()[:16]


@pytest.mark.parametrize("seed,size,counts,xh,yh", [
    (42, 5000, [1681, 1702, 1617], "f5a4054d56f2a058", "534d12acda4f9dbc"),
    (41, 1000, [316, 336, 348], "5eac358bdf212276", "5a4c2f605814a620"),
    (40, 1000, [350, 316, 334], "7bab3ed668ed4992", "daa0f8f4e3b37b1d"),
])
def test_published_fingerprints(seed, size, counts, xh, yh):
    x, y = generate(seed, size)
    assert np.bincount(y).tolist() == counts
    assert _h(x, "<f8") == xh and _h(y, "<i8") == yh


def test_first_rows_and_sums():
    x, y = generate(42, 5000)
    np.testing.assert_allclose(x[:3], [[0.68030754, 0.45049925, 0.31969246, 0.54950075],
                                       [0.09767211, 0.68423303, 0.90232789, 0.31576697],
                                       [0.75536141, 0.42515587, 0.24463859, 0.57484413]], atol=5e-9)
    assert y[:3].tolist() == [2, 1, 2]
    assert x[:, 0].sum() == pytest.approx(2528.3224565688233, abs=1e-9)
    np.testing.assert_allclose(x.sum(1), 2.0, atol=1e-12)


def test_split_api():
    x, y = yinyang("test").tensors
    assert len(yinyang("test", limit=5)) == 5
    assert x.shape == (1000, 4) and y.dtype == torch.int64 and int(y[0]) == 2
    with pytest.raises(ValueError, match="split"):
        yinyang("dev")


def test_encodings():
    x = torch.tensor([[0.0, 0.5, 1.0, 0.25]])
    t = encode_times(x)
    assert t.shape == (1, 5, 1)
    assert t[0, :, 0].tolist() == [0.0, 0.0, 15.0, 30.0, 7.5]  # bias first, t = 30 x
    assert encode_times(x, bias=None).shape == (1, 4, 1)
    g = encode_goeltz(x)
    assert g[0, 0, 0].item() == pytest.approx(0.9) and g[0, 3, 0].item() == pytest.approx(2.0)
    r = encode_raster(t, dt=1.0, n_steps=31)
    assert r.shape == (31, 1, 5) and r.sum() == 5 and r[15, 0, 2] == 1 and r[0, 0, 0] == 1
    with pytest.raises(ValueError, match="features"):
        encode_times(torch.zeros(3))
