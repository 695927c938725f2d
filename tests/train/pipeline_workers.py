"""Workers for the 2-process pipeline test and benchmark: a deep spiking MLP cut in two stages."""

from __future__ import annotations

import datetime
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor, nn

import spikeflow as sf
from spikeflow.train.pipeline import PipelineStage

T, BATCH, FEATURES, WIDTH, CLASSES = 6, 16, 20, 32, 4


def deep_mlp(depth: int = 6, width: int = WIDTH) -> sf.Sequential:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    n_in = FEATURES
    for _ in range(depth - 1):
        layers += [nn.Linear(n_in, width), sf.Leaky(beta=0.8)]
        n_in = width
    layers += [nn.Linear(n_in, CLASSES), sf.Leaky(beta=0.8)]
    return sf.Sequential(*layers)


def split(model: sf.Sequential, rank: int) -> sf.Sequential:
    """Stage 0: the first half of the layers (ending on a spiking layer), stage 1: the rest."""
    cut = 2 * (len(model) // 4)
    return sf.Sequential(*list(model)[:cut]) if rank == 0 else sf.Sequential(*list(model)[cut:])


def loss_fn(out: Tensor, y: Tensor) -> Tensor:
    return nn.functional.cross_entropy(out.sum(0), y)


def data(steps: int, batch: int = BATCH, features: int = FEATURES) -> list[tuple[Tensor, Tensor]]:
    g = torch.Generator().manual_seed(3)
    return [((torch.rand(T, batch, features, generator=g) < 0.5).float(),
             torch.randint(0, CLASSES, (batch,), generator=g)) for _ in range(steps)]


def train_single(steps: int, microbatches: int) -> dict[str, Tensor]:
    """The reference: the whole network in one process, same microbatch accumulation."""
    model = deep_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for x, y in data(steps):
        opt.zero_grad()
        for xm, ym in zip(x.chunk(microbatches, 1), y.chunk(microbatches, 0), strict=True):
            (loss_fn(model(xm)[0], ym) / microbatches).backward()
        opt.step()
    return model.state_dict()


def worker(rank: int, world: int, folder: str, steps: int, microbatches: int, modes: tuple[bool, ...],
           depth: int = 6, width: int = WIDTH, batch: int = BATCH) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=120))
    try:
        result = {}
        for pack in modes:
            stage_module = split(deep_mlp(depth, width), rank)
            stage = PipelineStage(stage_module, rank, world, pack=pack)
            opt = torch.optim.SGD(stage_module.parameters(), lr=0.5)
            batches = data(steps, batch)
            dist.barrier()
            t0 = time.perf_counter()
            losses = []
            for x, y in batches:
                losses.append(stage.train_step(x if rank == 0 else None, y if rank == world - 1 else None, loss_fn,
                                               opt, microbatches=microbatches))
            seconds = time.perf_counter() - t0
            result["packed" if pack else "float"] = {
                "state": stage_module.state_dict(), "bytes_sent": stage.bytes_sent, "seconds": seconds,
                "losses": losses,
            }
        torch.save(result, Path(folder) / f"stage{rank}.pt")
    finally:
        dist.destroy_process_group()
