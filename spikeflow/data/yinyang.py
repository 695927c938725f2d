"""The Yin-Yang data set (Kriener, Goeltz & Petrovici), regenerated exactly, and its spike codes.

Generator (lkriener/yin_yang_data_set ``dataset.py``): a fresh ``numpy.random.RandomState(seed)``
per split; per sample draw ``goal = randint(3)``, then draw ``(x, y) = rand(2) * 2 r_big`` until the
point lies in the big circle and its class equals ``goal``. Features ``[x, y, 1-x, 1-y]``.
Splits: train seed 42 (5000), validation seed 41 (1000), test seed 40 (1000).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .base import DatasetInfo, TensorSet, check_limit, check_split

SPLITS = {"train": (42, 5000), "validation": (41, 1000), "test": (40, 1000)}
R_SMALL, R_BIG = 0.1, 0.5


def _which_class(x: float, y: float) -> int:
    d_right = math.sqrt((x - 1.5 * R_BIG) ** 2 + (y - R_BIG) ** 2)
    d_left = math.sqrt((x - 0.5 * R_BIG) ** 2 + (y - R_BIG) ** 2)
    if d_right < R_SMALL or d_left < R_SMALL:
        return 2
    is_yin = (d_right <= R_SMALL) or (R_SMALL < d_left <= 0.5 * R_BIG) or (y > R_BIG and d_right > 0.5 * R_BIG)
    return int(is_yin)


def generate(seed: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(features float64 [size, 4], labels int64 [size]) from the published procedure."""
    rng = np.random.RandomState(seed)
    feats = np.empty((size, 4), dtype=np.float64)
    labels = np.empty(size, dtype=np.int64)
    for n in range(size):
        goal = rng.randint(3)
        while True:
            x, y = rng.rand(2) * 2.0 * R_BIG
            if math.sqrt((x - R_BIG) ** 2 + (y - R_BIG) ** 2) > R_BIG:
                continue
            if _which_class(x, y) == goal:
                break
        feats[n] = (x, y, 1.0 - x, 1.0 - y)
        labels[n] = goal
    return feats, labels


def yinyang(split: str = "train", *, limit: int | None = None) -> TensorSet:
    """A published split: features float32 [4] (x, y, 1-x, 1-y), label int64; ``.tensors`` = (x [N, 4], y [N])."""
    check_split(split, tuple(SPLITS))
    limit = check_limit(limit)
    feats, labels = generate(*SPLITS[split])
    x, y = torch.from_numpy(feats).float(), torch.from_numpy(labels)
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return TensorSet(x, y, info=DatasetInfo(name="yinyang", split=split, num_classes=3, sample_shape=(4,)))


def encode_times(features: Tensor, *, t_min: float = 0.0, t_max: float = 30.0, bias: float | None = 0.0) -> Tensor:
    """Spike-time code: one spike per feature at t_min + x (t_max - t_min), plus an optional bias
    spike (Wunderlich & Pehle: t_min 0, t_max 30 ms, bias at 0). Returns times [B, F(+1), 1]."""
    if not isinstance(features, Tensor) or features.dim() != 2:
        raise ValueError(f"features: expected a tensor [B, F], got {getattr(features, 'shape', type(features))}")
    if not t_max > t_min:
        raise ValueError(f"t_max: expected > t_min={t_min}, got {t_max}")
    times = t_min + features * (t_max - t_min)
    if bias is not None:
        times = torch.cat([times.new_full((times.shape[0], 1), float(bias)), times], 1)
    return times[:, :, None]


def encode_goeltz(features: Tensor) -> Tensor:
    """Goeltz et al. (Fast & Deep) code in units of tau_syn: 0.15 + 1.85 x, bias at 0.9."""
    return encode_times(features, t_min=0.15, t_max=2.0, bias=0.9)


def encode_raster(times: Tensor, dt: float, n_steps: int) -> Tensor:
    """Spike times [B, N, K] -> binary raster [T, B, N] (spike in step floor(t/dt))."""
    B, N, _ = times.shape
    out = torch.zeros(n_steps, B, N, dtype=torch.float32)
    ok = torch.isfinite(times) & (times >= 0) & (times < n_steps * dt)
    b, i, k = ok.nonzero(as_tuple=True)
    n = (times[b, i, k] / dt).floor().long().clamp(0, n_steps - 1)
    out.index_put_((n, b, i), torch.ones_like(n, dtype=torch.float32), accumulate=True)
    return out
