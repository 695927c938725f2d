"""Offline stand-ins for the tutorials' torchvision MNIST loaders (the only other change).

``mnist_loaders`` gives DataLoaders of (images [B, 1, 28, 28] in [0, 1], labels [B]) from
spikeflow's bundled 5,000 MNIST digits, i.e. what the tutorials' transform
(ToTensor + Normalize((0,), (1,))) produces. ``QUICK`` (env SPIKEFLOW_EXAMPLES_QUICK=1) shrinks
every example to a few batches so the test suite can run them.
"""

from __future__ import annotations

import os

import torch
from torch.utils.data import DataLoader, TensorDataset

from spikeflow.data import digits, mnist5k

QUICK = os.environ.get("SPIKEFLOW_EXAMPLES_QUICK", "0") == "1"
torch.manual_seed(int(os.environ.get("SPIKEFLOW_EXAMPLES_SEED", "0")))  # reproducible runs (and comparisons)


def mnist_loaders(batch_size: int = 128) -> tuple[DataLoader, DataLoader]:
    out = []
    for split in ("train", "test"):
        x, y = mnist5k(split).tensors  # pixels in [0, 1]
        if QUICK:  # a seeded random subset (the stored digits are grouped by class)
            keep = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))[: 2 * batch_size]
            x, y = x[keep], y[keep]
        ds = TensorDataset(x.reshape(-1, 1, 28, 28), y)
        out.append(DataLoader(ds, batch_size=batch_size, shuffle=split == "train", drop_last=True,
                              generator=torch.Generator().manual_seed(0)))
    return out[0], out[1]


def digits_loaders(batch_size: int = 64) -> tuple[DataLoader, DataLoader]:
    """scikit-learn's 8x8 digits as rows-over-time sequences: x [B, 8, 8] in [0, 1]."""
    train, test = digits("train", flatten=False), digits("test", flatten=False)
    loaders = []
    for ds, shuffle in ((train, True), (test, False)):
        x, y = ds.tensors
        x = x.reshape(-1, 8, 8)
        if QUICK:
            keep = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))[: 2 * batch_size]
            x, y = x[keep], y[keep]
        loaders.append(DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle, drop_last=True,
                                  generator=torch.Generator().manual_seed(0)))
    return loaders[0], loaders[1]
