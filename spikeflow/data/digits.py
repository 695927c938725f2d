"""scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes), ready for spike coding.

Pixels are scaled from 0..16 to [0, 1]. The split is a stratified 80/20 ``train_test_split``
with a fixed seed: 1437 training and 360 test images, each class in the same proportion.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from .base import DatasetInfo, TensorSet, check_limit, check_split

NUM_CLASSES = 10
NUM_FEATURES = 64
TEST_FRACTION = 0.2
SPLITS = ("train", "test")


def _load_sklearn():  # type: ignore[no-untyped-def]
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as err:  # pragma: no cover - the data extra is missing
        raise ImportError(
            "spikeflow.data.digits needs scikit-learn: pip install 'spikeflow[data]'"
        ) from err
    return load_digits, train_test_split


@functools.lru_cache(maxsize=4)
def _split(seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """All images and labels and the train/test indices (cached: callers get fresh copies)."""
    load_digits, train_test_split = _load_sklearn()
    bunch = load_digits()
    x = torch.as_tensor(bunch.data, dtype=torch.float32) / 16.0
    y = torch.as_tensor(bunch.target, dtype=torch.int64)
    idx_train, idx_test = train_test_split(
        torch.arange(len(y)).numpy(), test_size=TEST_FRACTION, stratify=bunch.target, random_state=seed
    )
    return x, y, torch.as_tensor(idx_train), torch.as_tensor(idx_test)


def digits_tensors(seed: int = 0, flatten: bool = True) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(x_train, y_train, x_test, y_test): images float32 in [0, 1] as [N, 64] (or [N, 8, 8]
    with ``flatten=False``), labels int64 [N]."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
    x, y, idx_train, idx_test = _split(seed)
    if not flatten:
        x = x.reshape(-1, 8, 8)
    return x[idx_train], y[idx_train], x[idx_test], y[idx_test]


def digits(split: str = "train", seed: int = 0, flatten: bool = True, *, limit: int | None = None) -> TensorSet:
    """The ``"train"`` (1437) or ``"test"`` (360) split: images float32 in [0, 1] ([64] or [8, 8]), label int64.

    ``limit`` keeps only the first ``limit`` samples (for quick tests).
    """
    check_split(split, SPLITS)
    limit = check_limit(limit)
    x_train, y_train, x_test, y_test = digits_tensors(seed, flatten)
    x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
    if limit is not None:
        x, y = x[:limit], y[:limit]
    info = DatasetInfo(name="digits", split=split, num_classes=10, sample_shape=tuple(x.shape[1:]))
    return TensorSet(x, y, info=info)
