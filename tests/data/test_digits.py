"""The bundled 8x8 digits: sizes, scaling, a stratified and reproducible split."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("sklearn")

from spikeflow.data import digits, digits_tensors  # noqa: E402


def test_split_sizes_and_ranges():
    train, test = digits("train"), digits("test")
    assert len(train) == 1437 and len(test) == 360
    x, y = train.tensors
    assert x.shape == (1437, 64) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0  # 0..16 scaled to [0, 1]
    assert set(y.tolist()) == set(range(10))


def test_split_is_stratified_and_disjoint():
    x_tr, y_tr, x_te, y_te = digits_tensors()
    all_counts = torch.bincount(torch.cat([y_tr, y_te]), minlength=10).float()
    test_counts = torch.bincount(y_te, minlength=10).float()
    assert torch.all((test_counts - 0.2 * all_counts).abs() <= 1.0)  # each class 20 % +- 1 image
    rows_tr = {tuple(r) for r in x_tr.tolist()}
    overlap = sum(tuple(r) in rows_tr for r in x_te.tolist())
    assert overlap < 5  # only a few images of the dataset are exact duplicates of each other


def test_split_is_fixed_by_the_seed():
    a, b, c = digits_tensors(seed=0), digits_tensors(seed=0), digits_tensors(seed=1)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not torch.equal(a[3], c[3])


def test_unflattened_images_and_limit():
    ds = digits("test", flatten=False, limit=10)
    assert len(ds) == 10 and ds.tensors[0].shape == (10, 8, 8)


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        digits("validation")
    with pytest.raises(ValueError, match="limit"):
        digits("train", limit=0)
    with pytest.raises(TypeError, match="seed"):
        digits_tensors(seed="0")  # type: ignore[arg-type]
