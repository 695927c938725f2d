"""Tiny data and models for the trainer tests: fast, deterministic."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

import spikeflow as sf
import spikeflow.train  # noqa: F401  (sf.train is not imported by spikeflow itself)


def count_loss(out: Tensor, y: Tensor) -> Tensor:
    """Cross-entropy on spike counts (written here so the trainer tests need only torch)."""
    return nn.functional.cross_entropy(out.sum(0), y)


def count_accuracy(out: Tensor, y: Tensor) -> float:
    return float((out.sum(0).argmax(-1) == y).float().mean())


def rate_encode(x: Tensor, steps: int = 6) -> Tensor:
    """Bernoulli rate code on the global RNG (so the checkpoint's RNG state matters)."""
    return torch.bernoulli(x.clamp(0, 1).unsqueeze(0).expand(steps, *x.shape))


def make_loader(n: int = 48, batch_size: int = 8, seed: int = 0) -> DataLoader:
    g = torch.Generator().manual_seed(1234)
    x = torch.rand(n, 12, generator=g)
    y = (x[:, :6].sum(1) > x[:, 6:].sum(1)).long()  # a learnable two-class rule
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(seed))


def make_model() -> nn.Module:
    return sf.Sequential(nn.Linear(12, 16), sf.Leaky(beta=0.8), nn.Linear(16, 2), sf.Leaky(beta=0.8))


def make_trainer(out_dir, model: nn.Module | None = None, seed: int = 0, lr: float = 1e-2, **kw) -> sf.train.Trainer:
    model = make_model() if model is None else model
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    return sf.train.Trainer(model, opt, count_loss, count_accuracy, scheduler=sched, encode=rate_encode,
                            out_dir=out_dir, seed=seed, progress=False, **kw)




# -- for the tests that run ``spikeflow train`` in subprocesses and compare whole runs -------
TIMING_KEYS = ("seconds", "total_seconds", "cpu_seconds")


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a ``spikeflow train`` subprocess: one thread, this sys.path, no CI."""
    import os
    import sys

    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path), **extra)
    env.pop("CI", None)
    return env


def without_time(metrics: dict) -> dict:
    """metrics.json without what differs between two identical runs (timings, paths, options)."""
    out = {k: v for k, v in metrics.items() if k not in (*TIMING_KEYS, "raster", "config")}
    out["history"] = [{k: v for k, v in h.items() if k not in TIMING_KEYS} for h in metrics["history"]]
    return out
