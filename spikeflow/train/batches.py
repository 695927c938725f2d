"""Mini-batches straight from tensors, in a seeded order the trainer can checkpoint.

``TensorBatches(x, y, batch_size=32, shuffle=True, generator=g)`` yields ``(x[idx], y[idx])`` for
consecutive slices ``idx`` of ``torch.randperm(N, generator=g)`` (drawn afresh at the start of
every pass), or of ``arange(N)`` without shuffling. ``transform(inputs, generator)`` (optional)
changes each batch's inputs with the same generator (e.g. a seeded spike dropout). The
``generator`` attribute is what ``Trainer`` saves and restores, so a resumed run sees the same
batches. Unlike a DataLoader, no extra number is drawn per pass and nothing is collated.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import torch
from torch import Tensor


class TensorBatches:
    """Batches of ``tensors`` (all of length N along dim 0); the first is the input, the last the target."""

    def __init__(self, *tensors: Tensor, batch_size: int, shuffle: bool = False,
                 generator: torch.Generator | None = None,
                 transform: Callable[[Tensor, torch.Generator | None], Tensor] | None = None) -> None:
        if len(tensors) < 2:
            raise ValueError(f"tensors: expected at least (inputs, targets), got {len(tensors)} tensor(s)")
        if not all(isinstance(t, Tensor) for t in tensors):
            raise TypeError(f"tensors: expected Tensors, got {[type(t).__name__ for t in tensors]}")
        n = tensors[0].shape[0]
        if any(t.shape[0] != n for t in tensors):
            raise ValueError(f"tensors: expected the same length along dim 0, got {[t.shape[0] for t in tensors]}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
        if shuffle and generator is None:
            generator = torch.Generator()
        self.tensors, self.batch_size, self.shuffle = tensors, batch_size, shuffle
        self.generator, self.transform = generator, transform

    def __len__(self) -> int:
        return -(-self.tensors[0].shape[0] // self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        n = self.tensors[0].shape[0]
        order = torch.randperm(n, generator=self.generator) if self.shuffle else None
        for k in range(0, n, self.batch_size):
            if order is None:
                parts = [t[k:k + self.batch_size] for t in self.tensors]
            else:
                idx = order[k:k + self.batch_size]
                parts = [t[idx] for t in self.tensors]
            if self.transform is not None:
                parts[0] = self.transform(parts[0], self.generator)
            inputs = parts[0] if len(parts) == 2 else tuple(parts[:-1])
            yield inputs, parts[-1]
