"""Worker functions for the 2-process DDP tests (spawned; results go to files in ``folder``)."""

from __future__ import annotations

import datetime
import os
import signal
import threading
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import Tensor, nn

import spikeflow as sf
from spikeflow.train import distributed as sfd


def spawn_with_timeout(fn, args, nprocs: int, timeout: float) -> None:  # type: ignore[no-untyped-def]
    """mp.spawn, but a run that is not done within ``timeout`` seconds is killed and raises."""
    ctx = mp.start_processes(fn, args=args, nprocs=nprocs, join=False, start_method="spawn")
    done = threading.Event()
    result: list[BaseException] = []

    def join() -> None:
        try:
            while not ctx.join(timeout=1.0):
                if done.is_set():
                    return
        except BaseException as err:  # noqa: BLE001 - reported below
            result.append(err)
        done.set()

    thread = threading.Thread(target=join, daemon=True)
    thread.start()
    if not done.wait(timeout):
        done.set()
        for p in ctx.processes:
            if p.is_alive():
                os.kill(p.pid, signal.SIGKILL)
        raise TimeoutError(f"the {nprocs}-process run did not finish within {timeout} s (a hung collective?)")
    if result:
        raise result[0]


STEPS, T, GLOBAL_BATCH, LR = 4, 5, 16, 0.5


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return sf.Sequential(nn.Linear(12, 16), sf.Leaky(beta=0.8), nn.Linear(16, 16), sf.Synaptic(alpha=0.7, beta=0.8),
                         nn.Linear(16, 3), sf.Leaky(beta=0.8))


def batches() -> list[tuple[Tensor, Tensor]]:
    g = torch.Generator().manual_seed(5)
    return [((torch.rand(T, GLOBAL_BATCH, 12, generator=g) < 0.4).float(),
             torch.randint(0, 3, (GLOBAL_BATCH,), generator=g)) for _ in range(STEPS)]


def train(model: nn.Module, data: list[tuple[Tensor, Tensor]]) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    for x, y in data:
        out, _ = model(x)
        loss = nn.functional.cross_entropy(out.sum(0), y)  # a batch mean: DDP's average equals it
        opt.zero_grad()
        loss.backward()
        opt.step()


class BufferLeaky(nn.Module):
    """A neuron that keeps its membrane in a registered buffer (as snnTorch's init_hidden does)."""

    def __init__(self, beta: float = 0.8) -> None:
        super().__init__()
        self.beta = beta
        self.register_buffer("mem", torch.zeros(0))

    def forward(self, x_t: Tensor) -> Tensor:
        mem = x_t * 0 if self.mem.numel() == 0 else self.mem
        mem = self.beta * mem + x_t
        spk = (mem > 1.0).float() + mem - mem.detach()  # straight-through, enough for a forward check
        self.mem = (mem * (1 - spk.detach())).detach()
        return spk


class StepNeuron(nn.Module):
    """A spikeflow neuron driven one step at a time, its state passed in and returned."""

    def __init__(self, neuron: nn.Module) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 6)
        self.neuron = neuron

    def forward(self, x_t: Tensor, state=None):  # type: ignore[no-untyped-def]
        return self.neuron.step(self.fc(x_t) * 2.0, state)


class BufferNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 6)
        self.neuron = BufferLeaky()

    def forward(self, x_t: Tensor, state=None):  # type: ignore[no-untyped-def]
        return self.neuron(self.fc(x_t) * 2.0), None


NEURONS = {
    "Leaky": lambda: sf.Leaky(beta=0.8),
    "IF": lambda: sf.IF(),
    "Synaptic": lambda: sf.Synaptic(alpha=0.7, beta=0.8),
    "AdaptiveLeaky": lambda: sf.AdaptiveLeaky(beta=0.8, rho=0.9),
}


def run_steps(net: nn.Module, x: Tensor) -> Tensor:
    """Per-step forward with gradients on (what makes DDP broadcast buffers each call)."""
    state, outs = None, []
    for t in range(x.shape[0]):
        out, state = net(x[t], state)
        outs.append(out)
    seq = torch.stack(outs)
    seq.sum().backward()
    return seq.detach()


def state_locality(rank: int) -> dict[str, bool]:
    """For each neuron: does a DDP replica (default DDP flags) give the same spikes as a local run?"""
    g = torch.Generator().manual_seed(100 + rank)  # each rank its own input
    x = torch.rand(8, 3, 4, generator=g) * (1.0 + rank)
    kinds = {name: (lambda make=make: StepNeuron(make())) for name, make in NEURONS.items()}
    kinds["BufferLeaky"] = BufferNet
    result = {}
    for name, build in kinds.items():
        torch.manual_seed(1)
        local = build()
        torch.manual_seed(1)
        replica = nn.parallel.DistributedDataParallel(build())  # DDP's default: buffers synced every forward
        expected = run_steps(local, x)
        got = run_steps(replica, x)
        result[name] = bool(torch.equal(expected, got))
        torch.manual_seed(1)
        guarded = sfd.wrap(build())  # spikeflow's helper: no per-forward buffer sync
        result[name + "+wrap"] = bool(torch.equal(expected, run_steps(guarded, x)))
    return result


def join_group(rank: int, world: int, folder: str) -> None:
    """One thread, torchrun's environment variables, and the gloo group through a file in ``folder``."""
    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=60))


def worker(rank: int, world: int, folder: str) -> None:
    join_group(rank, world, folder)
    try:
        ctx = sfd.context()
        model = sfd.wrap(mlp(), ctx)
        share = GLOBAL_BATCH // world
        data = [(x[:, rank * share:(rank + 1) * share], y[rank * share:(rank + 1) * share]) for x, y in batches()]
        train(model, data)
        result = {"state": sfd.unwrap(model).state_dict(), "locality": state_locality(rank)}
        torch.save(result, Path(folder) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


# -- the CLI tasks' models on the Trainer: DDP (spiking CNN) and FSDP2 (language model) ----------
# float64 so that the different summation order of 2 ranks cannot flip a spike or a ternary weight.
CONV_N, CONV_BATCH, CONV_T = 24, 8, 3
LM_VOCAB, LM_LEN, LM_N, LM_SAMPLES, LM_BATCH, LM_EPOCHS = 11, 8, 40, 16, 8, 2


def conv_data() -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(7)
    return torch.rand(CONV_N, 1, 28, 28, generator=g, dtype=torch.float64), torch.randint(0, 10, (CONV_N,),
                                                                                              generator=g)


def conv_model() -> nn.Module:
    from spikeflow.models import mnist_scnn

    torch.manual_seed(3)
    return mnist_scnn(channels=(4, 8), beta=0.5, threshold=0.5).double()  # Conv, MaxPool, Leaky x3


def conv_encode(x: Tensor) -> Tensor:
    """The image as the input current at each of CONV_T steps (deterministic, unlike a rate code)."""
    return x.unsqueeze(0).expand(CONV_T, *x.shape)


def conv_trainer(model: nn.Module, distributed: bool, out_dir=None):  # type: ignore[no-untyped-def]
    from spikeflow import losses, metrics
    from spikeflow.train import Trainer

    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    return Trainer(model, opt, losses.CECountLoss(), metrics.accuracy_rate, encode=conv_encode,
                   scheduler=torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.85), seed=0, progress=False,
                   distributed=distributed, out_dir=out_dir)


def bn_model() -> nn.Module:
    from spikeflow.tasks.mnist5k_models import OneStep, ann_cnn

    torch.manual_seed(6)
    return OneStep(ann_cnn(channels=(4, 8), hidden=16)).double()  # Conv-BN-ReLU-AvgPool x2, Linear x2


def bn_trainer(model: nn.Module, distributed: bool):  # type: ignore[no-untyped-def]
    from spikeflow.tasks.mnist5k_models import _one_step, _one_step_accuracy, _one_step_loss
    from spikeflow.train import Trainer

    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    return Trainer(model, opt, _one_step_loss, _one_step_accuracy, encode=_one_step, seed=0, progress=False,
                   distributed=distributed)


def lm_data() -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(11)
    ids = torch.randint(0, LM_VOCAB, (LM_N, LM_LEN + 1), generator=g)
    return ids[:, :-1], ids[:, 1:]


def lm_model() -> nn.Module:
    from spikeflow.models.mmfree_lm import MatMulFreeLM

    torch.manual_seed(4)
    return MatMulFreeLM(LM_VOCAB, d=16, layers=2, chunk=4).double()


def lm_trainer(model: nn.Module, distributed: bool, steps_per_epoch: int, out_dir=None):  # type: ignore[no-untyped-def]
    from spikeflow.train import Trainer
    from spikeflow.train.charlm import StepCosine, _accuracy, _loss, _time_major

    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    return Trainer(model, opt, _loss, _accuracy, scheduler=StepCosine(opt, LM_EPOCHS, steps_per_epoch),
                   scheduler_interval="step", encode=_time_major, grad_clip=1.0, seed=0, progress=False,
                   distributed=distributed, out_dir=out_dir)


def lm_loaders(ctx: sfd.Context):  # type: ignore[no-untyped-def]
    from torch.utils.data import TensorDataset

    x, y = lm_data()
    return sfd.task_loaders(TensorDataset(x, y), TensorDataset(x[:6], y[:6]), LM_BATCH, ctx, seed=5,
                            test_batch_size=2, num_samples=LM_SAMPLES)


def task_worker(rank: int, world: int, folder: str) -> None:
    import shutil

    from torch.utils.data import TensorDataset

    join_group(rank, world, folder)
    try:
        ctx = sfd.context()
        # spiking CNN under DDP, through the loaders every CLI task uses
        x, y = conv_data()
        train_loader, _ = sfd.task_loaders(TensorDataset(x, y), TensorDataset(x, y), CONV_BATCH, ctx, seed=9)
        trainer = conv_trainer(conv_model(), distributed=True)
        trainer.fit(train_loader, None, epochs=2)
        result: dict = {"conv": trainer.model.state_dict()}
        # the ReLU CNN with BatchNorm (mnist5k --model cnn): BN statistics over the global batch
        trainer = bn_trainer(bn_model(), distributed=True)
        trainer.fit(train_loader, None, epochs=2)
        result["bn"] = trainer.model.state_dict()
        result["bn_types"] = sorted({type(m).__name__ for m in trainer.model.modules() if "Norm" in type(m).__name__})

        # the language model under FSDP2: 2 epochs straight; then epoch 2 again from epoch 1's checkpoint
        def fsdp_trainer(out_dir: Path):  # type: ignore[no-untyped-def]
            model = lm_model()
            sfd.shard(model, ctx, units=list(model.blocks))
            train, test = lm_loaders(ctx)
            return lm_trainer(model, True, len(train), out_dir), train, test

        straight, again = Path(folder) / "fsdp_straight", Path(folder) / "fsdp_resumed"
        trainer, train, test = fsdp_trainer(straight)
        result["sharded"] = sfd.is_sharded(trainer.model) and type(next(trainer.model.parameters())).__name__
        result["lm_metrics"] = trainer.fit(train, test, epochs=LM_EPOCHS)
        result["lm"] = sfd.model_state(trainer.model)
        if rank == 0:
            again.mkdir()
            shutil.copy(straight / "checkpoint.prev.pt", again / "checkpoint.pt")  # epoch 1's
        dist.barrier()
        trainer, train, test = fsdp_trainer(again)
        result["lm_resumed_metrics"] = trainer.fit(train, test, epochs=LM_EPOCHS, resume=True)
        result["lm_resumed"] = sfd.model_state(trainer.model)
        torch.save(result, Path(folder) / f"task_rank{rank}.pt")
    finally:
        dist.destroy_process_group()
