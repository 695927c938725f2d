"""The training loop: encode -> model over time -> loss -> surrogate-gradient step.

``Trainer(model, optimizer, loss_fn, metric_fn, encode=...).fit(train_loader, test_loader, epochs)``
trains for ``epochs`` epochs with a tqdm progress bar (loss and accuracy), evaluates after
each epoch, writes ``out_dir/checkpoint.pt`` atomically every epoch and ``out_dir/metrics.json``
at the end (keeping the previous checkpoint too). ``fit(..., resume=True)`` continues from the
newest usable checkpoint and reproduces the uninterrupted run bit for bit (model, optimizer,
scheduler, every RNG and the data order are restored). Resuming with more epochs re-plans a
scheduler that has ``set_total_epochs`` (``CosineSchedule``) and refuses one whose length is
fixed; changed options (``info["config"]``) other than those in ``RESUME_MAY_CHANGE`` are refused.
``distributed=True`` trains under an initialized ``torch.distributed`` process group (see
``spikeflow.train.distributed``): DDP gradients, metrics summed over ranks, files on rank 0.

Hooks for loops that are not "spikes [T, B, ...] -> outputs [T, B, K] -> loss.backward()" (all
optional; every command-line task uses them rather than a loop of its own):

* ``forward(model, inputs) -> result`` replaces ``model(encode(inputs))`` (no time-major check;
  inputs may be a tuple of tensors and may hold +inf, e.g. EventProp spike times);
* ``train_step(model, inputs, targets) -> (outputs, loss)`` replaces forward + ``loss.backward()``
  in training (an online rule leaves its gradients in ``.grad``, or updates the weights itself
  with ``optimizer=None``); the trainer still zeroes, clips and steps the optimizer;
* ``after_step(step)`` runs after every optimizer step with a :class:`Step` (the batch, outputs,
  loss and the model's raw result), e.g. EventProp's silent-neuron weight bump;
* ``fit(..., val_loader=...)`` adds ``validation_loss``/``validation_accuracy`` to every epoch;
* a loader whose ``dataset`` has ``set_epoch`` gets ``set_epoch(epoch)`` before each epoch.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import Tensor, nn

from . import distributed as sfd
from .checkpoint import (
    CHECKPOINT_NAME,
    METRICS_NAME,
    load_latest_checkpoint,
    remove_stale_temp_files,
    save_checkpoint,
    write_json,
)
from .rundir import check_out_dir
from .seed import get_rng_state, seed_everything, set_rng_state

logger = logging.getLogger("spikeflow.train")

Batch = Any
LossFn = Callable[[Tensor, Tensor], Tensor]
MetricFn = Callable[[Tensor, Tensor], Any]
EncodeFn = Callable[[Tensor], Tensor]
EpochHook = Callable[[dict[str, Any]], None]
ForwardFn = Callable[[nn.Module, Any], Any]
TrainStepFn = Callable[[nn.Module, Any, Tensor], tuple[Tensor, Any]]


@dataclass
class Step:
    """What ``after_step`` sees after each optimizer step (``index`` counts batches from 0 per epoch)."""

    epoch: int
    index: int
    inputs: Any
    targets: Tensor
    outputs: Tensor
    loss: Tensor | None
    result: Any  # the model's raw return value, e.g. (outputs, hidden spikes)

#: Keys a training checkpoint must hold.
REQUIRED_KEYS = ("epoch", "model", "optimizer", "rng")
#: Options that may differ between a run and its resumption (everything else must match).
RESUME_MAY_CHANGE = frozenset({"epochs", "resume", "overwrite", "no_progress", "out", "device", "limit_batches"})
#: Entries every task's metrics.json holds (the schema; docs/training.md describes each).
METRICS_KEYS = ("task", "config", "test_accuracy", "best_test_accuracy", "test_loss", "train_accuracy", "train_loss",
                "epochs", "seconds", "seed", "plan", "world_size", "history")
#: Entries of every row of ``history`` (one per epoch; ``validation_loss``/``validation_accuracy`` with a val_loader).
HISTORY_KEYS = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr", "seconds")
#: Scheduler state entries that fix a schedule's length (such a scheduler cannot be extended).
_LENGTH_KEYS = ("T_max", "total_iters", "total_steps")


def _identity(x: Tensor) -> Tensor:
    return x


def _model_output(result: Any) -> Tensor:
    """Neuron stacks return (output, states); plain modules return the output."""
    out = result[0] if isinstance(result, tuple) else result
    if not isinstance(out, Tensor):
        raise TypeError(f"model: expected it to return a Tensor or (Tensor, state), got {type(out).__name__}")
    return out


def _progress_disabled(progress: bool | None) -> bool:
    """tqdm's ``disable`` flag. progress=None: a bar only when stderr is a terminal and CI is unset."""
    if progress is None:
        return bool(os.environ.get("CI")) or not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())
    return not progress


class Trainer:
    """Trains a spiking network with surrogate gradients.

    model:      maps spikes [T, B, ...] to outputs [T, B, K] (or returns (outputs, state)).
    loss_fn:    loss_fn(outputs, targets) -> scalar Tensor.
    metric_fn:  metric_fn(outputs, targets) -> accuracy in [0, 1] (optional).
    encode:     turns an input batch [B, ...] into spikes [T, B, ...] (default: identity,
                for data that is already time-major).
    scheduler:  stepped once per epoch, or after every optimizer step with
                ``scheduler_interval="step"`` (e.g. spikeflow.quant.PeriodicCosineLR).
    out_dir:    where ``checkpoint.pt`` and ``metrics.json`` go (None: nothing written).
    seed:       seeds torch, NumPy, ``random`` and the train loader's generator at ``fit``.
    grad_clip:  max global gradient norm (None: no clipping).
    progress:   show the tqdm bar (None: only on a terminal and not when ``CI`` is set).
    on_epoch_end: called with each epoch's record (a logging hook).
    tensorboard: also log to TensorBoard in out_dir/tensorboard (only if it is installed): every
                epoch record as scalars, per-neuron firing-rate histograms of each neuron layer.
    info:       extra entries for metrics.json (task name, ``config``: the options, checked on resume).
    distributed: train under the initialized torch.distributed process group: the model is
                wrapped in DDP (``spikeflow.train.distributed.wrap``), the loaders must give each
                rank its share (``distributed.loader``), metrics are summed over ranks and only
                rank 0 logs and writes files. A model sharded with FSDP2 (``distributed.shard``,
                before building the optimizer) is used as it is; its checkpoints hold the full
                state dict, gathered on rank 0.
    forward:    forward(model, inputs) -> model result, instead of model(encode(inputs)).
    train_step: train_step(model, inputs, targets) -> (outputs, loss or None), instead of the
                forward pass and loss.backward() during training (online learning rules).
    after_step: after_step(Step) after every optimizer step (e.g. a weight fix-up).
    optimizer may be None only with ``train_step`` (a rule that changes the weights itself).

    Seed before building the model too (``seed_everything``): ``fit`` reseeds every RNG, but
    the initial weights were drawn earlier.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer | None,
        loss_fn: LossFn,
        metric_fn: MetricFn | None = None,
        *,
        scheduler: Any = None,
        scheduler_interval: str = "epoch",
        encode: EncodeFn | None = None,
        device: str | torch.device = "cpu",
        out_dir: str | os.PathLike[str] | None = None,
        seed: int = 0,
        grad_clip: float | None = None,
        progress: bool | None = None,
        on_epoch_end: EpochHook | None = None,
        tensorboard: bool = False,
        info: dict[str, Any] | None = None,
        distributed: bool = False,
        forward: ForwardFn | None = None,
        train_step: TrainStepFn | None = None,
        after_step: Callable[[Step], None] | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer) and not (optimizer is None and train_step is not None):
            raise TypeError(f"optimizer: expected a torch.optim.Optimizer (None only with train_step), "
                            f"got {type(optimizer).__name__}")
        for hook_name, hook in (("forward", forward), ("train_step", train_step), ("after_step", after_step)):
            if hook is not None and not callable(hook):
                raise TypeError(f"{hook_name}: expected a callable or None, got {type(hook).__name__}")
        if not callable(loss_fn):
            raise TypeError(f"loss_fn: expected a callable, got {type(loss_fn).__name__}")
        if metric_fn is not None and not callable(metric_fn):
            raise TypeError(f"metric_fn: expected a callable or None, got {type(metric_fn).__name__}")
        if encode is not None and not callable(encode):
            raise TypeError(f"encode: expected a callable or None, got {type(encode).__name__}")
        if grad_clip is not None and (not isinstance(grad_clip, (int, float)) or not grad_clip > 0):
            raise ValueError(f"grad_clip: expected a positive number or None, got {grad_clip!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
        try:
            self.device = torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"device: expected a torch device such as 'cpu' or 'cuda', got {device!r}") from err
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device: {device!r} asked for, but CUDA is not available here (use --device cpu)")
        self.distributed = bool(distributed)
        if self.distributed:
            if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
                raise ValueError("distributed: no process group; call spikeflow.train.distributed.init() "
                                 "(under torchrun) before building the Trainer")
            import dataclasses

            self.ctx = dataclasses.replace(sfd.context(), device=self.device)
            self.net = sfd.wrap(model, self.ctx)
            self.model = sfd.unwrap(self.net)
        else:
            self.ctx = sfd.Context(device=self.device)
            self.model = model.to(self.device)
            self.net = self.model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.metric_fn = metric_fn
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"scheduler_interval: expected 'epoch' or 'step', got {scheduler_interval!r}")
        self.scheduler = scheduler
        self.scheduler_interval = scheduler_interval
        self.encode = encode or _identity
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.seed = seed
        self.grad_clip = grad_clip
        self.progress = progress
        self.on_epoch_end = on_epoch_end
        self.tensorboard = tensorboard
        self.info = dict(info or {})
        self.forward_fn = forward
        self.train_step_fn = train_step
        self.after_step = after_step
        self.history: list[dict[str, Any]] = []
        self.plan: list[dict[str, int]] = []  # [{"from_epoch", "epochs"}]: the planned length, per segment

    @property
    def is_main(self) -> bool:
        """True on the process that logs and writes files (rank 0)."""
        return self.ctx.is_main

    # -- paths --------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path | None:
        return None if self.out_dir is None else self.out_dir / CHECKPOINT_NAME

    @property
    def metrics_path(self) -> Path | None:
        return None if self.out_dir is None else self.out_dir / METRICS_NAME

    # -- one batch ----------------------------------------------------------------------
    def _split(self, batch: Batch, where: str) -> tuple[Any, Tensor]:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise TypeError(f"{where}: expected an (inputs, targets) pair from the loader, got {type(batch).__name__}")
        x, y = batch
        parts = list(x) if isinstance(x, (tuple, list)) and self.forward_fn is not None else [x]
        if not all(isinstance(p, Tensor) for p in parts) or not isinstance(y, Tensor):
            got = f"({type(x).__name__}, {type(y).__name__})"
            raise TypeError(f"{where}: expected Tensors (inputs, targets), got {got}")
        for p in parts:
            if not p.is_floating_point():
                continue
            # spike times (custom forward) use +inf for "no spike": only NaN is refused there
            bad = torch.isnan(p) if self.forward_fn is not None else ~torch.isfinite(p)
            if bad.any():
                raise ValueError(f"{where}: inputs contain NaN{'' if self.forward_fn else ' or inf'} "
                                 f"({int(bad.sum())} values)")
        moved = [p.to(self.device) for p in parts]
        inputs = (type(x)(moved) if isinstance(x, (tuple, list)) and self.forward_fn is not None else moved[0])
        return inputs, y.to(self.device)

    def _forward(self, x: Any, y: Tensor, where: str) -> tuple[Tensor, Tensor, Any]:
        """(outputs, loss, the model's raw result) for one batch."""
        if self.forward_fn is not None:
            result = self.forward_fn(self.net, x)
        else:
            spikes = self.encode(x)
            if not isinstance(spikes, Tensor):
                raise TypeError(f"encode: expected it to return a Tensor [T, B, ...], got {type(spikes).__name__}")
            if spikes.dim() < 2 or spikes.shape[1] != x.shape[0]:
                raise ValueError(f"encode: expected spikes [T, B, ...] with B={x.shape[0]} for {where}, "
                                 f"got shape {tuple(spikes.shape)}")
            result = self.net(spikes)
        out = _model_output(result)
        loss = self._check_loss(self.loss_fn(out, y), where)
        return out, loss, result

    @staticmethod
    def _check_loss(loss: Any, where: str) -> Tensor:
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            raise TypeError(f"loss_fn: expected a scalar Tensor, got {loss!r}")
        if not torch.isfinite(loss):
            raise ValueError(f"loss_fn: loss is {loss.item()} at {where} (non-finite)")
        return loss

    def _train_batch(self, x: Any, y: Tensor, epoch: int, index: int, where: str) -> tuple[Tensor, Tensor | None]:
        """One optimizer step on one batch: (outputs, loss)."""
        if self.optimizer is not None:
            self.optimizer.zero_grad(set_to_none=True)
        if self.train_step_fn is not None:
            out, loss = self.train_step_fn(self.net, x, y)
            if not isinstance(out, Tensor):
                raise TypeError(f"train_step: expected it to return (Tensor, loss), got {type(out).__name__}")
            if loss is not None:
                loss = self._check_loss(torch.as_tensor(loss).detach(), where)
            result: Any = out
        else:
            out, loss, result = self._forward(x, y, where)
            loss.backward()
        if self.optimizer is not None:
            if self.grad_clip is not None:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            self.optimizer.step()
        if self.scheduler is not None and self.scheduler_interval == "step":
            self.scheduler.step()
        if self.after_step is not None:
            self.after_step(Step(epoch, index, x, y, out, None if loss is None else loss.detach(), result))
        return out, loss

    def _metric(self, out: Tensor, y: Tensor) -> float:
        if self.metric_fn is None:
            return float("nan")
        value = self.metric_fn(out, y)
        return float(value.item() if isinstance(value, Tensor) else value)

    # -- epochs -------------------------------------------------------------------------
    def train_epoch(self, loader: Iterable[Batch], epoch: int) -> dict[str, float]:
        """One pass over ``loader``; returns mean loss and accuracy (weighted by batch size)."""
        from tqdm.auto import tqdm

        self.model.train()
        total_loss, total_correct, count = 0.0, 0.0, 0
        total = len(loader) if hasattr(loader, "__len__") else None  # type: ignore[arg-type]
        disable = _progress_disabled(self.progress) or not self.is_main
        bar = tqdm(loader, total=total, desc=f"epoch {epoch}", leave=False, disable=disable, file=sys.stderr,
                   dynamic_ncols=True)
        for i, batch in enumerate(bar):
            where = f"batch {i} of epoch {epoch}"
            x, y = self._split(batch, where)
            out, loss = self._train_batch(x, y, epoch, i, where)
            n = int(y.shape[0])
            if loss is None:
                total_loss = float("nan")
            else:
                total_loss += float(loss.detach()) * n
            with torch.no_grad():
                total_correct += self._metric(out.detach(), y) * n
            count += n
            bar.set_postfix(loss=f"{total_loss / count:.4f}", acc=f"{total_correct / count:.3f}")
        bar.close()
        if self.distributed:
            total_loss, total_correct, count_f = sfd.all_reduce_sum([total_loss, total_correct, count])
            count = int(count_f)
        if count == 0:
            raise ValueError(f"train_loader: yielded no batches in epoch {epoch}")
        loss = total_loss / count
        return {"loss": None if math.isnan(loss) else loss,
                "accuracy": None if self.metric_fn is None else total_correct / count}

    @torch.no_grad()
    def evaluate(self, loader: Iterable[Batch], name: str = "test") -> dict[str, float]:
        """Mean loss and accuracy over ``loader`` (weighted by batch size), no gradients."""
        self.model.eval()
        total_loss, total_correct, count = 0.0, 0.0, 0
        for i, batch in enumerate(loader):
            where = f"{name} batch {i}"
            x, y = self._split(batch, where)
            out, loss, _ = self._forward(x, y, where)
            n = int(y.shape[0])
            total_loss += float(loss) * n
            total_correct += self._metric(out, y) * n
            count += n
        if self.distributed:
            total_loss, total_correct, count_f = sfd.all_reduce_sum([total_loss, total_correct, count])
            count = int(count_f)
        if count == 0:
            raise ValueError(f"{name}_loader: yielded no batches")
        return {"loss": total_loss / count, "accuracy": total_correct / count}

    # -- checkpoints --------------------------------------------------------------------
    def state_dict(
        self, epoch: int, generator: torch.Generator | None, seconds: float,
        test_generator: torch.Generator | None = None,
    ) -> dict[str, Any]:
        """Everything needed to continue bit-identically after ``epoch`` (call it on every rank)."""
        rng = get_rng_state(generator)
        return {
            "format": "spikeflow.train",
            "epoch": epoch,
            "planned_epochs": self.plan[-1]["epochs"] if self.plan else epoch,
            "plan": [dict(p) for p in self.plan],
            "config": self.info.get("config"),
            "world_size": self.ctx.world_size,
            "rng_ranks": sfd.all_gather_object(rng) if self.distributed else None,
            "seconds": seconds,
            "seed": self.seed,
            "model": sfd.model_state(self.model),  # FSDP2: gathered in full on rank 0
            "optimizer": None if self.optimizer is None else sfd.optimizer_state(self.model, self.optimizer),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "rng": rng,
            "test_generator": None if test_generator is None else test_generator.get_state(),
            "history": [dict(h) for h in self.history],
        }

    def load_state_dict(
        self, checkpoint: dict[str, Any], generator: torch.Generator | None,
        test_generator: torch.Generator | None = None,
    ) -> None:
        sfd.load_model_state(self.model, checkpoint["model"])
        if self.optimizer is not None:
            sfd.load_optimizer_state(self.model, self.optimizer, checkpoint["optimizer"])
        if self.scheduler is not None and checkpoint.get("scheduler") is not None:
            self.scheduler.load_state_dict(checkpoint["scheduler"])
        ranks = checkpoint.get("rng_ranks")
        set_rng_state(ranks[self.ctx.rank] if self.distributed and ranks else checkpoint["rng"], generator)
        if test_generator is not None and checkpoint.get("test_generator") is not None:
            test_generator.set_state(checkpoint["test_generator"])
        self.history = [dict(h) for h in checkpoint.get("history", [])]
        self.plan = [dict(p) for p in checkpoint.get("plan") or []]

    def _check_resume(self, checkpoint: dict[str, Any], source: Path, epochs: int) -> None:
        """Refuse a resumption that cannot continue the checkpoint's run faithfully."""
        done = int(checkpoint["epoch"])
        if epochs < done:
            raise ValueError(f"epochs: {source} already holds {done} trained epochs; epochs={epochs} is fewer "
                             f"(ask for at least {done}, or start a new run)")
        world = int(checkpoint.get("world_size", 1))
        if world != self.ctx.world_size:
            raise ValueError(f"resume: {source} was written by {world} process(es), this run has "
                             f"{self.ctx.world_size}; resume with the same number of processes")
        saved, current = checkpoint.get("config"), self.info.get("config")
        if isinstance(saved, dict) and isinstance(current, dict):
            changed = sorted(k for k in set(saved) | set(current)
                             if k not in RESUME_MAY_CHANGE and saved.get(k) != current.get(k))
            if changed:
                diff = ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in changed)
                raise ValueError(f"resume: options differ from the run in {source} ({diff}); resume with the "
                                 "original options or start a new run")
        planned = int(checkpoint.get("planned_epochs", epochs))
        if epochs != planned and self.scheduler is not None and not hasattr(self.scheduler, "set_total_epochs"):
            state = checkpoint.get("scheduler") or {}
            fixed = [k for k in _LENGTH_KEYS if k in state]
            if fixed:
                raise ValueError(
                    f"epochs: the run in {source} planned its {type(self.scheduler).__name__} for {planned} epochs "
                    f"({fixed[0]}={state[fixed[0]]}) and it cannot be extended to {epochs}; use "
                    "spikeflow.train.CosineSchedule (extendable) or keep epochs={planned}")

    # -- the whole run ------------------------------------------------------------------
    def fit(
        self,
        train_loader: Iterable[Batch],
        test_loader: Iterable[Batch] | None = None,
        epochs: int = 1,
        resume: bool = False,
        val_loader: Iterable[Batch] | None = None,
    ) -> dict[str, Any]:
        """Train for ``epochs`` epochs in total (counting those already done when resuming).

        ``val_loader`` (optional) is evaluated after every epoch too (``validation_*`` entries).

        Returns the metrics (also written to ``out_dir/metrics.json``): final test and train
        loss/accuracy, ``epochs``, ``seconds`` and the per-epoch ``history``.
        """
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs: expected a positive int, got {epochs!r}")
        # The loaders' own generators (data order) are part of the state to restore.
        generator = getattr(train_loader, "generator", None)
        test_generator = getattr(test_loader, "generator", None)
        start_epoch, seconds_before = 1, 0.0
        if resume and self.checkpoint_path is None:
            raise ValueError("resume: needs out_dir (where the checkpoint is), got out_dir=None")
        if self.out_dir is not None:
            check_out_dir(self.out_dir)  # before any training: a bad folder fails now, not at the end
            sfd.barrier()  # every rank's write probe (a temp file) is gone before rank 0 sweeps temp files
            if self.is_main:
                remove_stale_temp_files(self.out_dir)
            sfd.barrier()
        if resume:
            path = self.checkpoint_path
            assert path is not None
            try:
                checkpoint, source = load_latest_checkpoint(path, map_location=self.device, required=REQUIRED_KEYS)
            except FileNotFoundError:
                logger.warning("resume: no checkpoint at %s, starting from scratch", path)
                resume = False
            else:
                self._check_resume(checkpoint, source, epochs)
                self.load_state_dict(checkpoint, generator, test_generator)
                start_epoch = int(checkpoint["epoch"]) + 1
                seconds_before = float(checkpoint.get("seconds", 0.0))
                planned = int(checkpoint.get("planned_epochs", epochs))
                if not self.plan:
                    self.plan = [{"from_epoch": 1, "epochs": planned}]
                if epochs != planned:
                    if self.scheduler is not None and hasattr(self.scheduler, "set_total_epochs"):
                        self.scheduler.set_total_epochs(epochs)
                    self.plan.append({"from_epoch": start_epoch, "epochs": epochs})
                    logger.warning("resume: the run planned %d epochs, continuing to %d (schedule re-planned "
                                   "from epoch %d)", planned, epochs, start_epoch)
                if self.is_main:
                    logger.info("resuming from %s after epoch %d", source, start_epoch - 1)
        if not resume:
            seed_everything(self.seed + self.ctx.rank, generator)
            self.history = []
            self.plan = [{"from_epoch": 1, "epochs": epochs}]
        writer = self._tensorboard_writer()
        started = time.perf_counter()
        for epoch in range(start_epoch, epochs + 1):
            t0 = time.perf_counter()
            sampler = getattr(train_loader, "sampler", None)
            if sampler is not None and hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)  # DistributedSampler: a new order per epoch, the same on every rank
            dataset = getattr(train_loader, "dataset", None)
            if dataset is not None and hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)  # e.g. a per-epoch augmentation seed
            lr = float(self.optimizer.param_groups[0]["lr"]) if self.optimizer is not None else None
            train = self.train_epoch(train_loader, epoch)
            val = self.evaluate(val_loader, "validation") if val_loader is not None else None
            test = self.evaluate(test_loader) if test_loader is not None else {}
            if self.scheduler is not None and self.scheduler_interval == "epoch":
                self.scheduler.step()
            record = {
                "epoch": epoch,
                "train_loss": train["loss"],
                "train_accuracy": train["accuracy"],
                "test_loss": test.get("loss"),
                "test_accuracy": test.get("accuracy"),
                "lr": lr,
                "seconds": time.perf_counter() - t0,
            }
            if val is not None:
                record["validation_loss"], record["validation_accuracy"] = val["loss"], val["accuracy"]
            self.history.append(record)
            if self.is_main:
                self._log(record, writer)
                if writer is not None:
                    self._log_firing_rates(writer, test_loader if test_loader is not None else train_loader, epoch)
            if self.checkpoint_path is not None:
                elapsed = seconds_before + time.perf_counter() - started
                state = self.state_dict(epoch, generator, elapsed, test_generator)
                if self.is_main:
                    save_checkpoint(self.checkpoint_path, state)
                sfd.barrier()
        if writer is not None:
            writer.close()
        metrics = self.metrics(seconds_before + time.perf_counter() - started)
        if self.metrics_path is not None and self.is_main:
            write_json(self.metrics_path, metrics)
        return metrics

    def metrics(self, seconds: float) -> dict[str, Any]:
        """The summary written to metrics.json."""
        last = self.history[-1] if self.history else {}
        tested = [h["test_accuracy"] for h in self.history if h.get("test_accuracy") is not None]
        validated = [h for h in self.history if h.get("validation_accuracy") is not None]
        extra: dict[str, Any] = {}
        if validated:
            best = max(validated, key=lambda h: h["validation_accuracy"])
            extra = {"validation_accuracy": last.get("validation_accuracy"),
                     "best_validation_accuracy": best["validation_accuracy"], "best_validation_epoch": best["epoch"]}
        return {
            **self.info,
            "test_accuracy": last.get("test_accuracy"),
            "best_test_accuracy": max(tested) if tested else None,
            "test_loss": last.get("test_loss"),
            "train_accuracy": last.get("train_accuracy"),
            "train_loss": last.get("train_loss"),
            **extra,
            "epochs": len(self.history),
            "seconds": seconds,
            "seed": self.seed,
            "plan": [dict(p) for p in self.plan],
            "world_size": self.ctx.world_size,
            "history": [dict(h) for h in self.history],
        }

    def _log(self, record: dict[str, Any], writer: Any) -> None:
        def fmt(v: Any) -> str:
            return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"

        val = ""
        if "validation_accuracy" in record:
            val = f" | validation loss {fmt(record['validation_loss'])} acc {fmt(record['validation_accuracy'])}"
        logger.info(
            "epoch %d: train loss %s acc %s%s | test loss %s acc %s",
            record["epoch"], fmt(record["train_loss"]), fmt(record["train_accuracy"]), val,
            fmt(record["test_loss"]), fmt(record["test_accuracy"]),
        )
        if writer is not None:
            for key, value in record.items():
                if key != "epoch" and isinstance(value, float):
                    writer.add_scalar(key, value, record["epoch"])
        if self.on_epoch_end is not None:
            self.on_epoch_end(dict(record))

    @torch.no_grad()
    def _log_firing_rates(self, writer: Any, loader: Iterable[Batch], epoch: int) -> None:
        """TensorBoard histograms of each neuron layer's per-neuron firing rate on one batch.

        Runs under a forked RNG so that logging does not change the training run."""
        from ..analysis import Monitor, neuron_rates

        generator = getattr(loader, "generator", None)
        saved = generator.get_state() if isinstance(generator, torch.Generator) else None
        with torch.random.fork_rng(devices=[]):
            batch = next(iter(loader), None)
            if saved is not None:
                generator.set_state(saved)  # type: ignore[union-attr]
            if batch is None:
                return
            x, _ = self._split(batch, "the firing-rate batch")
            self.model.eval()
            with Monitor(self.model) as mon:
                if self.forward_fn is not None:
                    self.forward_fn(self.model, x)
                else:
                    self.model(self.encode(x))
        for name in mon.names():
            rates = neuron_rates(mon.spikes(name))
            writer.add_histogram(f"firing_rate/{name}", rates, epoch)
            writer.add_scalar(f"firing_rate_mean/{name}", float(rates.mean()), epoch)

    def _tensorboard_writer(self) -> Any:
        if not self.tensorboard or self.out_dir is None or not self.is_main:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            logger.warning("tensorboard=True but TensorBoard is not installed; not logging to it")
            return None
        return SummaryWriter(log_dir=str(self.out_dir / "tensorboard"))
