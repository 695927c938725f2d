"""snnTorch's ``utils``: ``reset(net)`` for one network, and the dataset helpers."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["reset", "detach_hidden", "data_subset", "valid_split"]


def reset(net: nn.Module) -> None:
    """Clear the hidden state of every compat neuron inside ``net`` (and only inside ``net``)."""
    from ._neurons import SpikingNeuron

    if not isinstance(net, nn.Module):
        raise TypeError(f"net: expected a torch.nn.Module, got {type(net).__name__}")
    for module in net.modules():
        if isinstance(module, SpikingNeuron):
            module.reset_mem()


def detach_hidden(net: nn.Module) -> None:
    """Detach the hidden state of every compat neuron inside ``net`` (truncated BPTT)."""
    from ._neurons import SpikingNeuron

    for module in net.modules():
        if isinstance(module, SpikingNeuron):
            module.detach_hidden()


def data_subset(dataset: Any, subset: int, idx: int = 0) -> Any:
    """Keep every ``subset``-th sample of a dataset with ``.data`` and ``.targets`` (in place)."""
    if isinstance(subset, bool) or not isinstance(subset, int) or subset < 1:
        raise ValueError(f"subset: expected an int >= 1, got {subset!r}")
    if subset > 1:
        n = len(dataset.data)
        keep = torch.arange(idx % subset, n, subset)
        dataset.data = dataset.data[keep]
        targets = dataset.targets
        dataset.targets = targets[keep] if isinstance(targets, torch.Tensor) else [targets[i] for i in keep.tolist()]
    return dataset


def valid_split(ds_train: Any, ds_val: Any, split: float, seed: int = 0) -> tuple[Any, Any]:
    """Split off a fraction ``split`` of ``ds_train`` as validation (indices shuffled with ``seed``)."""
    if not 0 < split < 1:
        raise ValueError(f"split: expected a fraction in (0, 1), got {split!r}")
    n = len(ds_train)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = int(n * split)
    subset = torch.utils.data.Subset
    return subset(ds_train, perm[n_val:].tolist()), subset(ds_val, perm[:n_val].tolist())
