"""Pipeline-parallel training of a deep spiking network, with bit-packed spikes between stages.

Each process holds one *stage* (consecutive layers whose last layer spikes). A stage's output
spikes are binary, so they cross to the next process as bits: 8 spikes per byte, 32x fewer
bytes than float32. The backward pass is exact: the next stage unpacks the bits into the very
same 0/1 values, so its gradient with respect to them is the gradient the unsplit network would
compute; that gradient (dense, float) is sent back and continues through the surrogate
derivative of the stage that spiked.

Schedule: GPipe. The global batch is cut into ``microbatches``; every microbatch runs forward
through all stages, then backward (the loss is scaled by 1/microbatches so the accumulated
gradients equal those of the whole batch); then every stage takes its optimizer step.

Why not ``torch.distributed.pipelining``: its stages exchange activations and their gradients
as one differentiable tensor; a uint8 tensor of packed bits carries no gradient, so the bits
cannot be the stage boundary there. This module uses point-to-point ``isend``/``recv`` (gloo on
CPU, nccl on GPU) and is about 150 lines you can read.

    stage = PipelineStage(my_layers, rank, world_size, pack=True)
    loss = stage.train_step(x if rank == 0 else None, y if rank == world_size - 1 else None,
                            loss_fn, optimizer, microbatches=4)    # loss on the last rank, else None
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import Tensor, nn

_BITS = 2 ** torch.arange(8, dtype=torch.uint8)  # bit i of a byte holds spike i of a group of 8
_MAX_DIMS = 6


def pack_spikes(spikes: Tensor) -> Tensor:
    """Binary spikes (any shape, values 0 or 1) -> uint8 [ceil(numel / 8)], 8 spikes per byte."""
    if not isinstance(spikes, Tensor):
        raise TypeError(f"spikes: expected a Tensor, got {type(spikes).__name__}")
    flat = spikes.detach().reshape(-1)
    if not bool(((flat == 0) | (flat == 1)).all()):
        bad = flat[(flat != 0) & (flat != 1)][:3].tolist()
        raise ValueError(f"spikes: expected only 0 and 1 to pack as bits, got values such as {bad}")
    pad = (-flat.numel()) % 8
    bits = torch.cat([flat.to(torch.uint8), flat.new_zeros(pad, dtype=torch.uint8)]).view(-1, 8)
    return (bits * _BITS.to(bits.device)).sum(1, dtype=torch.uint8)


def unpack_spikes(packed: Tensor, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> Tensor:
    """Inverse of :func:`pack_spikes`: uint8 [ceil(numel / 8)] -> spikes of ``shape`` and ``dtype``."""
    if not isinstance(packed, Tensor) or packed.dtype != torch.uint8:
        got = packed.dtype if isinstance(packed, Tensor) else type(packed).__name__
        raise TypeError(f"packed: expected a uint8 Tensor, got {got}")
    numel = 1
    for n in shape:
        numel *= int(n)
    if packed.numel() != (numel + 7) // 8:
        raise ValueError(f"packed: {packed.numel()} bytes cannot hold shape {tuple(shape)} ({numel} spikes)")
    bits = (packed.unsqueeze(1) & _BITS.to(packed.device)) != 0
    return bits.reshape(-1)[:numel].reshape(shape).to(dtype)


def _grad_of(t: Tensor) -> Tensor:
    return t.grad if t.grad is not None else torch.zeros_like(t)


class PipelineStage:
    """One stage of a pipeline: ``module`` maps the previous stage's spikes (or the input, on
    rank 0) to spikes (or, on the last rank, to the outputs the loss takes).

    module:  returns a Tensor or (Tensor, state) (spikeflow stacks return their state too).
    pack:    send spikes as bits (uint8) instead of float32; the result is the same.
    ``bytes_sent`` counts the payload bytes this process has put on the wire.
    """

    def __init__(self, module: nn.Module, rank: int, world_size: int, pack: bool = True,
                 device: torch.device | str = "cpu") -> None:
        if not isinstance(module, nn.Module):
            raise TypeError(f"module: expected a torch.nn.Module, got {type(module).__name__}")
        if world_size < 2 or not 0 <= rank < world_size:
            raise ValueError(f"rank, world_size: expected 0 <= rank < world_size and world_size >= 2, got "
                             f"{rank}, {world_size}")
        self.module, self.rank, self.world = module, rank, world_size
        self.pack, self.device = pack, torch.device(device)
        self.bytes_sent = 0
        self._pending: list[Any] = []

    @property
    def is_first(self) -> bool:
        return self.rank == 0

    @property
    def is_last(self) -> bool:
        return self.rank == self.world - 1

    # -- wire ----------------------------------------------------------------------------
    def _isend(self, t: Tensor, dst: int) -> None:
        t = t.contiguous()
        self._pending.append((dist.isend(t, dst), t))  # keep t alive until the send completes
        self.bytes_sent += t.numel() * t.element_size()

    def _send_shape(self, shape: tuple[int, ...], dst: int) -> None:
        if len(shape) > _MAX_DIMS:
            raise ValueError(f"stage output: at most {_MAX_DIMS} dims, got shape {shape}")
        header = torch.tensor(list(shape) + [0] * (_MAX_DIMS - len(shape)) + [len(shape)], dtype=torch.int64)
        self._pending.append((dist.isend(header, dst), header))  # metadata, not counted as payload

    def _recv_shape(self, src: int) -> tuple[int, ...]:
        header = torch.empty(_MAX_DIMS + 1, dtype=torch.int64)
        dist.recv(header, src)
        return tuple(int(v) for v in header[: int(header[-1])])

    def _send_spikes(self, spikes: Tensor) -> None:
        self._send_shape(tuple(spikes.shape), self.rank + 1)
        payload = pack_spikes(spikes) if self.pack else spikes.detach().to(torch.float32)
        self._isend(payload.cpu() if self.device.type == "cpu" else payload, self.rank + 1)

    def _recv_spikes(self) -> Tensor:
        shape = self._recv_shape(self.rank - 1)
        numel = 1
        for n in shape:
            numel *= n
        if self.pack:
            packed = torch.empty((numel + 7) // 8, dtype=torch.uint8, device=self.device)
            dist.recv(packed, self.rank - 1)
            return unpack_spikes(packed, shape)
        spikes = torch.empty(shape, dtype=torch.float32, device=self.device)
        dist.recv(spikes, self.rank - 1)
        return spikes

    def _wait(self) -> None:
        for work, _ in self._pending:
            work.wait()
        self._pending.clear()

    # -- one step ------------------------------------------------------------------------
    def _run(self, x: Tensor) -> Tensor:
        out = self.module(x)
        return out[0] if isinstance(out, tuple) else out

    def train_step(
        self,
        x: Tensor | None,
        y: Tensor | None,
        loss_fn: Callable[[Tensor, Tensor], Tensor],
        optimizer: torch.optim.Optimizer,
        microbatches: int = 1,
        batch_dim: int = 1,
    ) -> float | None:
        """Forward and backward every microbatch through the pipeline, then ``optimizer.step()``.

        x: the input batch (rank 0 only; time-major [T, B, ...], so batch_dim=1), y: the targets
        (last rank only, batch first). Returns the mean loss on the last rank, None elsewhere.
        """
        if self.is_first and x is None:
            raise ValueError("x: rank 0 needs the input batch, got None")
        if not self.is_first and x is not None:
            raise ValueError(f"x: only rank 0 takes the input batch; rank {self.rank} got one (pass None)")
        if self.is_last and y is None:
            raise ValueError(f"y: the last rank ({self.rank}) needs the targets, got None")
        if microbatches < 1:
            raise ValueError(f"microbatches: expected a positive int, got {microbatches}")
        for name, t, dim in (("x", x, batch_dim), ("y", y, 0)):
            if t is not None and t.shape[dim] % microbatches:
                raise ValueError(f"{name}: batch size {t.shape[dim]} (dim {dim}) must divide into {microbatches} "
                                 "equal microbatches (the loss of each is scaled by 1/microbatches)")
        xs = list(torch.chunk(x, microbatches, dim=batch_dim)) if x is not None else [None] * microbatches
        ys = list(torch.chunk(y, microbatches, dim=0)) if y is not None else [None] * microbatches
        if len(xs) != microbatches or len(ys) != microbatches:
            raise ValueError(f"microbatches: the batch is too small for {microbatches} microbatches")
        optimizer.zero_grad(set_to_none=True)
        saved: list[tuple[Tensor | None, Tensor]] = []
        total = 0.0
        for m in range(microbatches):
            given = xs[m]
            inp = given if given is not None else self._recv_spikes().requires_grad_(True)
            out = self._run(inp)
            if self.is_last:
                target = ys[m]
                assert target is not None
                loss = loss_fn(out, target) / microbatches
                loss.backward()  # the last stage starts each microbatch's backward at once
                total += float(loss.detach())
                if not self.is_first:
                    self._isend(_grad_of(inp), self.rank - 1)
            else:
                self._send_spikes(out)
                saved.append((None if self.is_first else inp, out))
        for sent_in, sent_out in saved:  # gradients arrive in the order the microbatches were sent (FIFO)
            grad = torch.empty(sent_out.shape, dtype=sent_out.dtype, device=sent_out.device)
            dist.recv(grad, self.rank + 1)
            sent_out.backward(grad)
            if sent_in is not None:
                self._isend(_grad_of(sent_in), self.rank - 1)
        self._wait()
        optimizer.step()
        return total if self.is_last else None
