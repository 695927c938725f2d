"""``torch.distributed`` for spiking networks: a thin helper for your own training loop.

Launch with ``torchrun`` (one process per CPU socket or GPU)::

    torchrun --standalone --nproc_per_node=2 my_train.py

and in ``my_train.py``::

    from spikeflow.train import distributed as sfd

    ctx = sfd.init()                       # reads RANK/WORLD_SIZE/LOCAL_RANK from torchrun
    model = sfd.wrap(build_model(), ctx)   # SyncBatchNorm where BN is used, then DDP
    loader = sfd.loader(train_set, batch_size=64, ctx=ctx, seed=0)   # 64 = global batch
    for epoch in range(epochs):
        loader.sampler.set_epoch(epoch)    # a new shuffle each epoch, the same on every rank
        for x, y in loader:
            ...                            # forward, loss (a batch mean), backward, step
        if ctx.is_main:
            torch.save(...)                # log, write metrics and checkpoints on rank 0 only
    sfd.shutdown()

What it does: ``init`` opens a process group (gloo on CPU, nccl on GPU) with a ``timeout``, so
a hung collective fails instead of blocking forever. ``wrap`` converts BatchNorm to
``SyncBatchNorm`` (on CUDA; torch has no CPU SyncBatchNorm, so on CPU BN keeps per-rank
statistics, with a warning) and wraps the model in ``DistributedDataParallel`` without the
per-forward buffer sync (``forward_sync_buffers=False``, ``broadcast_buffers=False`` on older
torch): DDP's default broadcasts rank 0's *buffers* at every forward, which
overwrites the neuron state of libraries that keep the membrane in a buffer (snnTorch's
``init_hidden``). spikeflow keeps neuron state out of modules (it is passed and returned), so
state is always local to a rank; the flag guards user modules. Gradients are averaged over
ranks, so with a loss that is a batch mean, N ranks on B/N samples each take the same step as
one process on B samples (up to float rounding).

Without ``torchrun`` (no ``WORLD_SIZE`` in the environment) ``init`` returns a one-process
context and ``wrap`` returns the model unchanged, so one script runs both ways.
"""

from __future__ import annotations

import datetime
import inspect
import logging
import os
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

logger = logging.getLogger("spikeflow.train")

DEFAULT_TIMEOUT = datetime.timedelta(minutes=10)


@dataclass(frozen=True)
class Context:
    """Where this process stands: rank, world size, local rank, device, backend."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the one that logs and writes files)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1 or self.backend is not None


def _env_int(name: str) -> int | None:
    text = os.environ.get(name)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError as err:
        raise ValueError(f"{name}: expected an integer in the environment, got {text!r}") from err


def init(
    backend: str | None = None,
    device: str | torch.device | None = None,
    timeout: datetime.timedelta | float = DEFAULT_TIMEOUT,
) -> Context:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT).

    backend: "gloo" (CPU) or "nccl" (CUDA); default nccl when CUDA is available and the device
    is not "cpu", else gloo. device: default cuda:LOCAL_RANK with nccl, else cpu.
    timeout: a collective that waits longer raises instead of hanging (seconds or timedelta).
    Without WORLD_SIZE in the environment, returns a one-process Context and starts nothing.
    """
    if isinstance(timeout, (int, float)):
        if not timeout > 0:
            raise ValueError(f"timeout: expected a positive number of seconds, got {timeout!r}")
        timeout = datetime.timedelta(seconds=float(timeout))
    world = _env_int("WORLD_SIZE")
    rank, local_rank = _env_int("RANK"), _env_int("LOCAL_RANK")
    if world is None:
        dev = torch.device(device) if device is not None else torch.device("cpu")
        return Context(device=dev)
    if rank is None:
        raise ValueError("RANK: WORLD_SIZE is set but RANK is not (launch with torchrun)")
    local_rank = rank if local_rank is None else local_rank
    want_cuda = torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda")
    if backend is None:
        backend = "nccl" if want_cuda else "gloo"
    if backend not in ("gloo", "nccl", "mpi"):
        raise ValueError(f"backend: expected 'gloo', 'nccl' or 'mpi', got {backend!r}")
    if device is None:
        dev = torch.device("cuda", local_rank) if backend == "nccl" else torch.device("cpu")
    else:
        dev = torch.device(device)
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=world, timeout=timeout)
    return Context(rank=rank, world_size=world, local_rank=local_rank, device=dev, backend=backend)


def context() -> Context:
    """The Context of an already initialized process group (or a one-process Context)."""
    if not (dist.is_available() and dist.is_initialized()):
        return Context()
    backend = dist.get_backend()
    local = _env_int("LOCAL_RANK")
    rank = dist.get_rank()
    dev = torch.device("cuda", local if local is not None else rank) if backend == "nccl" else torch.device("cpu")
    return Context(rank=rank, world_size=dist.get_world_size(), local_rank=local if local is not None else rank,
                   device=dev, backend=str(backend))


def shutdown() -> None:
    """Leave the process group (no-op without one)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def wrap(model: nn.Module, ctx: Context | None = None, *, sync_batchnorm: bool = True, **ddp_kwargs: Any) -> nn.Module:
    """Move ``model`` to the context's device; SyncBatchNorm where BN is used (CUDA); wrap in DDP.

    The per-forward buffer broadcast is off by default (see the module docstring); other keyword
    arguments go to ``DistributedDataParallel``. One process: returns the moved model.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    ctx = context() if ctx is None else ctx
    model = model.to(ctx.device)
    if not (dist.is_available() and dist.is_initialized()):
        return model
    if sync_batchnorm and has_batchnorm(model):
        if ctx.device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        else:  # torch's SyncBatchNorm runs on GPUs only
            logger.warning("wrap: BatchNorm on %s keeps per-rank batch statistics (SyncBatchNorm needs CUDA); "
                           "results differ slightly from one process on the global batch", ctx.device)
    if "broadcast_buffers" not in ddp_kwargs and "forward_sync_buffers" not in ddp_kwargs:
        # No buffer broadcast at each forward (buffers are still synced once, at wrapping).
        params = inspect.signature(nn.parallel.DistributedDataParallel.__init__).parameters
        ddp_kwargs["forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers"] = False
    if ctx.device.type == "cuda":
        ddp_kwargs.setdefault("device_ids", [ctx.device.index])
    return nn.parallel.DistributedDataParallel(model, **ddp_kwargs)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (what to save with ``state_dict``)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


class ShardSampler(Sampler[int]):
    """Every ``world_size``-th index from ``rank``, in order, without padding (for evaluation:
    every sample counted once; all-reduce the sums and counts, see :func:`all_reduce_sum`)."""

    def __init__(self, dataset_len: int, rank: int, world_size: int) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank: expected 0 <= rank < world_size={world_size}, got {rank}")
        self.indices = list(range(rank, dataset_len, world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def loader(
    dataset: Dataset,
    batch_size: int,
    ctx: Context | None = None,
    *,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = False,
    **kwargs: Any,
) -> DataLoader:
    """A DataLoader over this rank's share of ``dataset``; ``batch_size`` is the *global* batch.

    Training (shuffle=True): a DistributedSampler (call ``loader.sampler.set_epoch(epoch)``
    each epoch). The global batch must divide by the world size. An uneven last batch is kept
    (DistributedSampler pads the epoch by repeating a few samples so every rank runs the same
    number of steps) unless ``drop_last``. Evaluation (shuffle=False): a :class:`ShardSampler`
    (no padding, every sample once).
    """
    ctx = context() if ctx is None else ctx
    if batch_size % ctx.world_size:
        raise ValueError(f"batch_size: expected a multiple of the world size {ctx.world_size}, got {batch_size}")
    sampler: Sampler[int]
    if shuffle:
        sampler = DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=seed,
                                     drop_last=drop_last)
    else:
        sampler = ShardSampler(len(dataset), ctx.rank, ctx.world_size)  # type: ignore[arg-type]
    return DataLoader(dataset, batch_size=batch_size // ctx.world_size, sampler=sampler, drop_last=drop_last,
                      **kwargs)


def all_reduce_sum(values: Sequence[float], device: torch.device | str = "cpu") -> list[float]:
    """Sum ``values`` over ranks (float64; identity without a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return [float(v) for v in t.tolist()]


def all_gather_object(obj: Any) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` (``[obj]`` without a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (``obj`` itself without a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()

