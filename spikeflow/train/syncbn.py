"""Batch norm over the global batch of all ranks, on any device (torch's SyncBatchNorm is CUDA-only).

In training, per channel c over the samples of every rank (N values in all)::

    mean_c = sum x / N,   var_c = sum (x - mean_c)^2 / N,   y = weight (x - mean_c) / sqrt(var_c + eps) + bias

with the sums all-reduced by torch's functional collectives, which are differentiable (the
backward of a sum all-reduce all-reduces the gradients), so each rank's gradient includes the
dependence of the statistics on the other ranks' samples, as in one process on the global
batch. Running statistics are updated as ``nn.BatchNorm`` does (unbiased variance, momentum or
a cumulative average). Outside training or without a process group it is plain ``nn.BatchNorm``.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn


def _all_reduce_sum(t: Tensor) -> Tensor:
    """Differentiable sum over ranks (torch >= 2.5: functional collectives; older: distributed.nn)."""
    try:
        from torch.distributed import _functional_collectives as funcol
    except ImportError:  # pragma: no cover - older torch
        from torch.distributed.nn.functional import all_reduce

        return all_reduce(t)
    return funcol.wait_tensor(funcol.all_reduce(t, "sum", dist.group.WORLD))


def sync_batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None,
                    bias: Tensor | None, momentum: float, eps: float) -> Tensor:
    """Training-mode batch norm of x [B, C, ...] over the batches of every rank; updates the
    running statistics in place (``momentum``: the new statistics' weight)."""
    if x.dim() < 2:
        raise ValueError(f"x: expected [B, C, ...], got shape {tuple(x.shape)}")
    dims = [0, *range(2, x.dim())]
    shape = [1, x.shape[1]] + [1] * (x.dim() - 2)
    count = torch.full((1,), float(x.numel() // x.shape[1]), dtype=x.dtype, device=x.device)
    sums = _all_reduce_sum(torch.cat([x.sum(dims), count]))
    n = sums[-1]
    mean = sums[:-1] / n
    centred = x - mean.reshape(shape)
    var = _all_reduce_sum(centred.square().sum(dims)) / n  # two passes: no cancellation in E[x^2] - mean^2
    y = centred * torch.rsqrt(var + eps).reshape(shape)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    if running_mean is not None and running_var is not None:
        with torch.no_grad():
            total = float(n)
            unbiased = var * (total / max(total - 1.0, 1.0))
            running_mean.mul_(1 - momentum).add_(mean.detach().to(running_mean.dtype), alpha=momentum)
            running_var.mul_(1 - momentum).add_(unbiased.detach().to(running_var.dtype), alpha=momentum)
    return y


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """``nn.BatchNorm1d/2d/3d`` whose training statistics span every rank's batch (any device).

    Same parameters and buffers as the BatchNorm it replaces (:func:`convert_global_batchnorm`),
    so state dicts are interchangeable."""

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"input: expected at least 2 dimensions [B, C, ...], got shape {tuple(input.shape)}")

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        grouped = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        if not (self.training and grouped):
            return super().forward(input)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average, as nn.BatchNorm
                momentum = 1.0 / float(self.num_batches_tracked)
        track = self.track_running_stats
        return sync_batch_norm(input, self.running_mean if track else None, self.running_var if track else None,
                               self.weight, self.bias, momentum, self.eps)


def convert_global_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every ``nn.BatchNorm1d/2d/3d`` in ``module`` by a :class:`GlobalBatchNorm` holding
    the same parameters and buffers; returns the (possibly new) module."""
    out = module
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
        out = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                              module.track_running_stats)
        with torch.no_grad():
            if module.affine:
                out.weight = module.weight
                out.bias = module.bias
            if module.track_running_stats:
                out.running_mean = module.running_mean
                out.running_var = module.running_var
                out.num_batches_tracked = module.num_batches_tracked
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, convert_global_batchnorm(child))
    return out
