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
``SyncBatchNorm`` on CUDA and, since torch's runs on GPUs only, to
``spikeflow.train.syncbn.GlobalBatchNorm`` on CPU (the same global-batch statistics through
differentiable all-reduces); spikeflow's TDBatchNorm/BNTT keep per-rank statistics (a
warning). Then it wraps the model in ``DistributedDataParallel`` without the
per-forward buffer sync (``forward_sync_buffers=False``, ``broadcast_buffers=False`` on older
torch): DDP's default broadcasts rank 0's *buffers* at every forward, which
overwrites the neuron state of libraries that keep the membrane in a buffer (snnTorch's
``init_hidden``). spikeflow keeps neuron state out of modules (it is passed and returned), so
state is always local to a rank; the flag guards user modules. Gradients are averaged over
ranks, so with a loss that is a batch mean, N ranks on B/N samples each take the same step as
one process on B samples (up to float rounding).

Without ``torchrun`` (no ``WORLD_SIZE`` in the environment) ``init`` returns a one-process
context and ``wrap`` returns the model unchanged, so one script runs both ways.

For models too large to replicate on every rank, :func:`shard` applies FSDP2
(``torch.distributed.fsdp.fully_shard``; runs on CPU with gloo as well as on CUDA with nccl):
each rank holds 1/N of every parameter and of the optimizer state. Build the optimizer *after*
``shard``; save and load with :func:`model_state` / :func:`optimizer_state` (full, unsharded
state dicts, gathered on rank 0) and :func:`load_model_state` / :func:`load_optimizer_state`.
``Trainer(distributed=True)`` does this itself when given a sharded model.

CLI tasks share their ``--distributed`` wiring: :func:`session` (join under torchrun, leave at
the end) and :func:`task_loaders` (one process: a shuffled loader; under torchrun: each rank's
share of every global batch).
"""

from __future__ import annotations

import datetime
import inspect
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler, Sampler

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


#: spikeflow's batch norms through time: their statistics stay per rank under DDP (wrap warns).
_PER_RANK_NORMS = frozenset({"TDBatchNorm", "BatchNormThroughTime"})


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def wrap(model: nn.Module, ctx: Context | None = None, *, sync_batchnorm: bool = True, **ddp_kwargs: Any) -> nn.Module:
    """Move ``model`` to the context's device; BN synchronized over ranks (SyncBatchNorm on CUDA,
    GlobalBatchNorm elsewhere); wrap in DDP.

    The per-forward buffer broadcast is off by default (see the module docstring); other keyword
    arguments go to ``DistributedDataParallel``. One process: returns the moved model.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    ctx = context() if ctx is None else ctx
    if is_sharded(model):
        return model  # FSDP2 (see shard) already synchronizes gradients: no DDP on top
    model = model.to(ctx.device)
    if not (dist.is_available() and dist.is_initialized()):
        return model
    if sync_batchnorm and has_batchnorm(model):
        if ctx.device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        else:  # torch's SyncBatchNorm runs on GPUs only: the same statistics through differentiable all-reduces
            from .syncbn import convert_global_batchnorm

            model = convert_global_batchnorm(model)
    per_rank = sorted({type(m).__name__ for m in model.modules() if type(m).__name__ in _PER_RANK_NORMS})
    if per_rank:
        logger.warning("wrap: %s normalise each rank's batch on its own (not converted to a synchronized "
                       "batch norm); results differ slightly from one process on the global batch",
                       ", ".join(per_rank))
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


class SubsetShardSampler(Sampler[int]):
    """Each epoch ``num_samples`` distinct indices of ``range(dataset_len)``, drawn from ``seed +
    epoch`` (the same on every rank); rank ``r`` takes the ``r``-th slice of every global batch of
    ``batch_size`` (so a global batch holds the same samples whatever the world size). The last,
    short global batch is padded (repeating its first indices) to a multiple of ``world_size``, so
    every rank runs the same number of steps. Call ``set_epoch`` each epoch."""

    def __init__(self, dataset_len: int, num_samples: int, batch_size: int, rank: int, world_size: int,
                 seed: int = 0) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank: expected 0 <= rank < world_size={world_size}, got {rank}")
        if not 0 < num_samples <= dataset_len:
            raise ValueError(f"num_samples: expected 1..{dataset_len} (the dataset's length), got {num_samples}")
        if batch_size < 1 or batch_size % world_size:
            raise ValueError(f"batch_size: expected a positive multiple of the world size {world_size}, "
                             f"got {batch_size}")
        self.dataset_len, self.num_samples, self.batch_size = dataset_len, num_samples, batch_size
        self.rank, self.world_size, self.seed, self.epoch = rank, world_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _shares(self) -> list[list[int]]:
        """This rank's indices, one list per global batch."""
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.dataset_len, generator=g)[: self.num_samples].tolist()
        shares = []
        for start in range(0, self.num_samples, self.batch_size):
            chunk = order[start:start + self.batch_size]
            chunk += chunk[: -len(chunk) % self.world_size]  # pad a short last batch to a multiple of the world
            per = len(chunk) // self.world_size
            shares.append(chunk[self.rank * per:(self.rank + 1) * per])
        return shares

    def __iter__(self) -> Iterator[int]:
        return iter([i for share in self._shares() for i in share])

    def __len__(self) -> int:
        return sum(len(share) for share in self._shares())



def loader(
    dataset: Dataset,
    batch_size: int,
    ctx: Context | None = None,
    *,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = False,
    num_samples: int | None = None,
    **kwargs: Any,
) -> DataLoader:
    """A DataLoader over this rank's share of ``dataset``; ``batch_size`` is the *global* batch.

    Training (shuffle=True): a DistributedSampler (call ``loader.sampler.set_epoch(epoch)``
    each epoch; the Trainer does). The global batch must divide by the world size. An uneven
    last batch is kept (DistributedSampler pads the epoch by repeating a few samples so every
    rank runs the same number of steps) unless ``drop_last``. With ``num_samples``: each epoch a
    fresh random subset of that many samples (:class:`SubsetShardSampler`). Evaluation
    (shuffle=False): a :class:`ShardSampler` (no padding, every sample once).
    """
    ctx = context() if ctx is None else ctx
    if batch_size % ctx.world_size:
        raise ValueError(f"batch_size: expected a multiple of the world size {ctx.world_size}, got {batch_size}")
    sampler: Sampler[int]
    if num_samples is not None:
        if not shuffle or drop_last:
            raise ValueError("num_samples: draws a shuffled subset; it needs shuffle=True and drop_last=False")
        # every share but the last holds batch_size // world indices: plain batching keeps the shares
        sampler = SubsetShardSampler(len(dataset), num_samples, batch_size, ctx.rank, ctx.world_size,  # type: ignore[arg-type]
                                     seed)
    elif shuffle:
        sampler = DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=seed,
                                     drop_last=drop_last)
    else:
        sampler = ShardSampler(len(dataset), ctx.rank, ctx.world_size)  # type: ignore[arg-type]
    return DataLoader(dataset, batch_size=batch_size // ctx.world_size, sampler=sampler, drop_last=drop_last,
                      **kwargs)


def task_loaders(
    train_set: Dataset,
    test_set: Dataset,
    batch_size: int,
    ctx: Context,
    *,
    seed: int,
    generator: torch.Generator | None = None,
    test_batch_size: int = 256,
    num_samples: int | None = None,
    collate_fn: Any = None,
) -> tuple[DataLoader, DataLoader]:
    """A CLI task's (train, test) loaders; ``batch_size`` is the global batch.

    One process (``ctx.distributed`` false): the train set shuffled by ``generator`` (a random
    subset of ``num_samples`` each epoch when given) and the test set in order, ``test_batch_size``
    at a time. Under a process group: :func:`loader`'s per-rank shares, the test set split across
    ranks (``test_batch_size`` per rank). ``collate_fn`` goes to every DataLoader (e.g. padding
    variable-length sequences per batch).
    """
    if ctx.distributed:
        train = loader(train_set, batch_size, ctx, shuffle=True, seed=seed, num_samples=num_samples,
                       collate_fn=collate_fn)
        return train, loader(test_set, test_batch_size * ctx.world_size, ctx, shuffle=False, collate_fn=collate_fn)
    if num_samples is None:
        train = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=generator, collate_fn=collate_fn)
    else:
        sampler = RandomSampler(train_set, num_samples=num_samples, generator=generator)  # type: ignore[arg-type]
        train = DataLoader(train_set, batch_size=batch_size, sampler=sampler, generator=generator,
                           collate_fn=collate_fn)
    return train, DataLoader(test_set, batch_size=test_batch_size, shuffle=False, collate_fn=collate_fn)


@contextmanager
def session(enabled: bool, device: str | torch.device | None = None) -> Iterator[Context]:
    """The process group of a CLI task's ``--distributed`` run: joined here, left at the end.

    enabled=False: a one-process Context on ``device``. enabled=True outside torchrun (no
    WORLD_SIZE in the environment): ValueError saying how to launch.
    """
    if not enabled:
        yield Context(device=torch.device(device if device is not None else "cpu"))
        return
    if os.environ.get("WORLD_SIZE") is None:
        raise ValueError("--distributed: no WORLD_SIZE in the environment; launch with torchrun, e.g. "
                         "torchrun --standalone --nproc_per_node=2 -m spikeflow train TASK --distributed")
    ctx = init(device=device)
    try:
        yield ctx
    finally:
        shutdown()


@contextmanager
def main_first(ctx: Context) -> Iterator[None]:
    """Rank 0 runs the block first (e.g. building a data cache on disk), the other ranks after it
    (reading what rank 0 wrote), so no two processes write the same files. One process: just runs."""
    if ctx.distributed and not ctx.is_main:
        barrier()
    yield
    if ctx.distributed and ctx.is_main:
        barrier()


# -- FSDP2 --------------------------------------------------------------------------------
def is_sharded(model: nn.Module) -> bool:
    """True for a model that :func:`shard` (``fully_shard``) has sharded."""
    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:  # pragma: no cover - torch without FSDP2
        return False
    return isinstance(model, FSDPModule)


def shard(model: nn.Module, ctx: Context | None = None, units: Sequence[nn.Module] | None = None) -> nn.Module:
    """FSDP2: shard ``model``'s parameters (and so its optimizer state) across the ranks.

    ``units`` (e.g. the transformer/recurrent blocks) are sharded each on its own, so only one
    unit's full parameters exist at a time in forward and backward; the rest of the model is the
    root unit. Needs an initialized process group (gloo on CPU or nccl on CUDA). Returns the
    same module, now an ``FSDPModule`` whose parameters are ``DTensor`` shards; build the
    optimizer after this call.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if not (dist.is_available() and dist.is_initialized()):
        raise ValueError("shard: no process group; call spikeflow.train.distributed.init() under torchrun first")
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    ctx = context() if ctx is None else ctx
    model = model.to(ctx.device)
    mesh = init_device_mesh(ctx.device.type, (ctx.world_size,))
    for unit in units or ():
        if not any(unit is m for m in model.modules()):
            raise ValueError(f"units: {type(unit).__name__} is not a submodule of the model")
        fully_shard(unit, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def _full_options(**kwargs: Any) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **kwargs)


def model_state(model: nn.Module) -> dict[str, Any]:
    """``model.state_dict()``; for a sharded model the full (gathered) state, on CPU, on rank 0
    (an empty dict on the other ranks). Call it on every rank (a collective when sharded)."""
    if not is_sharded(model):
        return model.state_dict()
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(model, options=_full_options(cpu_offload=True))


def optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """``optimizer.state_dict()``; for a sharded model the full state keyed by parameter name,
    on rank 0 (as :func:`model_state`)."""
    if not is_sharded(model):
        return optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    return get_optimizer_state_dict(model, optimizer, options=_full_options(cpu_offload=True))


def load_model_state(model: nn.Module, state: dict[str, Any]) -> None:
    """Load a full state dict (every rank holds it) into a plain or sharded model."""
    if not is_sharded(model):
        model.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import set_model_state_dict

    set_model_state_dict(model, state, options=_full_options())


def load_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Load what :func:`optimizer_state` gave (every rank holds it) into ``optimizer``."""
    if not is_sharded(model):
        optimizer.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    set_optimizer_state_dict(model, optimizer, state, options=_full_options())


def all_reduce_sum(values: Sequence[float], device: torch.device | str | None = None) -> list[float]:
    """Sum ``values`` over ranks (float64; identity without a process group). device: where the
    reduction runs (default: CUDA's current device under nccl, else CPU)."""
    if not (dist.is_available() and dist.is_initialized()):
        return [float(v) for v in values]
    if device is None:
        device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
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


def all_gather_cat(tensor: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """Every rank's ``tensor`` (detached) concatenated along dim 0 in rank order: the global batch of a
    per-sample tensor, e.g. for a weight rule that must see the whole batch the same way on every
    rank. The other dims may differ between ranks (e.g. a spike-slot count K): shorter ones are
    padded with ``fill`` (``inf`` for spike times: no spike). Without a process group: ``tensor``."""
    if not (dist.is_available() and dist.is_initialized()):
        return tensor
    tensor = tensor.detach()
    shapes = all_gather_object(tuple(tensor.shape))
    if any(len(shape) != tensor.dim() for shape in shapes):
        raise ValueError(f"tensor: expected the same number of dims on every rank, got shapes {shapes}")
    full = [max(shape[d] for shape in shapes) for d in range(tensor.dim())]
    padded = tensor.new_full(full, fill)
    padded[tuple(slice(0, n) for n in tensor.shape)] = tensor
    parts = [torch.empty_like(padded) for _ in shapes]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([part[: shape[0]] for part, shape in zip(parts, shapes, strict=True)])


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

