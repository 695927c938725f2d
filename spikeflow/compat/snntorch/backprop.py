"""snnTorch's ``backprop`` training helpers for networks built with ``init_hidden=True``.

``net(x_t)`` must return ``(spk, mem)`` (or ``(spk, syn, mem)``, ``(spk, exc, inh, mem)``) of
its last layer for one step. Every batch starts from rest (``utils.reset(net)``); the loss of
each window of ``K`` steps is back-propagated and the hidden state detached after it.
Returns the mean loss over batches.
"""

from __future__ import annotations

from typing import Any

import torch

from . import utils

__all__ = ["TBPTT", "BPTT"]

_MEMBRANE_LOSSES = {"mse_membrane_loss", "ce_max_membrane_loss"}


def TBPTT(net: torch.nn.Module, dataloader: Any, optimizer: Any, criterion: Any, num_steps: Any = False,  # noqa: N802
          time_var: bool = True, time_first: bool = True, regularization: Any = False, device: Any = "cpu",
          K: Any = 1) -> Tensor:  # noqa: N803
    if num_steps and time_var:
        raise ValueError("num_steps: not an argument for time-varying data (time_var=True); T comes from the data")
    if not num_steps and not time_var:
        raise ValueError("num_steps: expected a positive int for static data (time_var=False)")
    if not time_var and not time_first:
        raise ValueError("time_first: only meaningful for time-varying data")
    use_mem = getattr(criterion, "__name__", "") in _MEMBRANE_LOSSES
    net = net.to(device)
    total, batches = 0.0, 0
    for data, targets in dataloader:
        batches += 1
        net.train()
        data, targets = data.to(device), targets.to(device)
        if time_var and not time_first:
            data = data.transpose(0, 1)
        steps = data.shape[0] if time_var else int(num_steps)
        window = steps if K is False or K is None else int(K)
        if window < 1 or window > steps:
            raise ValueError(f"K: expected 1 <= K <= num_steps = {steps}, got {K!r}")
        utils.reset(net)
        spk_rec: list[torch.Tensor] = []
        mem_rec: list[torch.Tensor] = []
        for step in range(steps):
            outs = net(data[step] if time_var else data)
            spk_rec.append(outs[0])
            mem_rec.append(outs[-1])
            if len(spk_rec) == window or step == steps - 1:
                rec = torch.stack(mem_rec if use_mem else spk_rec)
                loss = criterion(rec, targets)
                if regularization:
                    loss = loss + regularization(torch.stack(spk_rec))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(spk_rec) / steps
                utils.detach_hidden(net)
                spk_rec, mem_rec = [], []
    if batches == 0:
        raise ValueError("dataloader: expected at least one batch, got none")
    return torch.tensor(total / batches)


def BPTT(net: torch.nn.Module, dataloader: Any, optimizer: Any, criterion: Any, num_steps: Any = False,  # noqa: N802
         time_var: bool = True, time_first: bool = True, regularization: Any = False, device: Any = "cpu") -> Tensor:
    """Backpropagation through the whole sequence: TBPTT with one window per batch."""
    return TBPTT(net, dataloader, optimizer, criterion, num_steps, time_var, time_first, regularization, device,
                 K=False)


Tensor = torch.Tensor
