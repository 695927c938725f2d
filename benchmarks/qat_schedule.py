"""Learning-rate schedules at equal epochs for quantization-aware training on digits, selected on a validation split.

The digits train split (1437 images) is cut into 1150 for training and 287 for validation
(a fixed permutation, independent of the training seed); every schedule trains the same
network (``spikeflow train digits``'s spiking MLP, 4-bit weights and 8-bit state by default)
for the same epochs with Adam at lr 1e-2, and the table shows the final validation accuracy
(what a selection may use), the final test accuracy (reported, never used to select) and the
test accuracy after the epoch with the best validation accuracy (early stopping, as the periodic
schedule's paper reports), mean +- std over seeds. Runs are in this process (a repeated run is bit-identical).

    python benchmarks/qat_schedule.py --seeds 0 1 2 3 4 --epochs 10
    python benchmarks/qat_schedule.py --schedules "step (x0.1 at 50%, 75%)" "periodic, 3 half-cycles (down-up-down)" \
        --lrs 3e-3 1e-2 3e-2 --seeds 0 1 2 3 4 5 6 7 8 9 --threads 1
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from typing import Any, Callable

import torch
from torch.utils.data import DataLoader, Subset

from spikeflow import encoding, losses, metrics
from spikeflow.data import digits
from spikeflow.models import spiking_mlp
from spikeflow.quant import PeriodicCosineLR, quantize
from spikeflow.train.seed import seed_everything
from spikeflow.train.trainer import Trainer

Schedule = Callable[[torch.optim.Optimizer, int, int], tuple[Any, str]]  # (opt, epochs, steps/epoch)


def step_schedule(opt: torch.optim.Optimizer, epochs: int, spe: int) -> tuple[Any, str]:
    milestones = sorted({max(1, epochs // 2), max(1, (3 * epochs) // 4)})  # as --schedule step
    return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.1), "epoch"


def periodic(half_cycles: int, restart: bool = False) -> Schedule:
    def make(opt: torch.optim.Optimizer, epochs: int, spe: int) -> tuple[Any, str]:
        return PeriodicCosineLR(opt, period=max(1, round(epochs * spe / half_cycles)), restart=restart), "step"

    return make


def paper_tmax(opt: torch.optim.Optimizer, epochs: int, spe: int) -> tuple[Any, str]:
    """T_max = 10 epochs of iterations (the paper's MNIST/FMNIST setting), whatever the run length."""
    return PeriodicCosineLR(opt, period=10 * spe), "step"


SCHEDULES: dict[str, Schedule] = {
    "step (x0.1 at 50%, 75%)": step_schedule,
    "periodic, 3 half-cycles (down-up-down)": periodic(3),
    "periodic, 5 half-cycles": periodic(5),
    "periodic, restarts, 2 cycles": periodic(2, restart=True),
    "periodic, restarts, 3 cycles": periodic(3, restart=True),
    "cosine per iteration, 1 half-cycle": periodic(1),
    "paper T_max = 10 epochs": paper_tmax,
}


def run(schedule: Schedule, seed: int, epochs: int, weight_bits: int | None, state_bits: int | None,
        steps: int = 10, lr: float = 1e-2) -> tuple[float, float, float]:
    """(final validation accuracy, final test accuracy, test accuracy after the epoch with the best
    validation accuracy, the last such epoch on ties) of one run. The per-epoch test evaluation runs
    under a forked RNG, so it does not change the training run."""
    train_all, test = digits("train"), digits("test")
    order = torch.randperm(len(train_all), generator=torch.Generator().manual_seed(1234))
    val = Subset(train_all, order[:287].tolist())
    train = Subset(train_all, order[287:].tolist())
    generator = seed_everything(seed)
    loader = DataLoader(train, batch_size=64, shuffle=True, generator=generator)
    model = spiking_mlp(64, 128, 10, 1, beta=0.9)
    if weight_bits is not None or state_bits is not None:
        model = quantize(model, weight_bits=weight_bits, state_bits=state_bits)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler, interval = schedule(opt, epochs, len(loader))
    encode = lambda x: encoding.rate(x, num_steps=steps)  # noqa: E731

    @torch.no_grad()
    def test_accuracy() -> float:
        was_training = model.training
        model.eval()
        x, y = test.tensors
        out = model(encode(x))
        model.train(was_training)
        return float(metrics.accuracy_rate(out[0] if isinstance(out, tuple) else out, y))

    per_epoch: list[tuple[float, float]] = []  # (validation, test) after each epoch

    def on_epoch_end(record: dict[str, Any]) -> None:
        with torch.random.fork_rng(devices=[]):
            per_epoch.append((record["test_accuracy"], test_accuracy()))

    trainer = Trainer(model, opt, losses.CECountLoss(), lambda out, y: metrics.accuracy_rate(out, y),
                      scheduler=scheduler, scheduler_interval=interval, encode=encode, seed=seed, progress=False,
                      on_epoch_end=on_epoch_end)
    trainer.fit(loader, DataLoader(val, batch_size=256), epochs=epochs)
    best = max(range(len(per_epoch)), key=lambda i: (per_epoch[i][0], i))
    return (*per_epoch[-1], per_epoch[best][1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--weight-bits", type=int, default=4, help="0: float weights")
    parser.add_argument("--state-bits", type=int, default=8, help="0: float state")
    parser.add_argument("--schedules", nargs="*", default=list(SCHEDULES), choices=list(SCHEDULES))
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-2],
                        help="Adam learning rates to run every schedule at; with several, a last table takes each "
                             "schedule at the rate with the best validation mean (default 1e-2)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.disable(logging.INFO)
    wb, sb = args.weight_bits or None, args.state_bits or None
    rows: dict[tuple[str, float], tuple[list[float], list[float], list[float], float]] = {}
    for name in args.schedules:
        for lr in args.lrs:
            t0, vals, tests, picked = time.perf_counter(), [], [], []
            for seed in args.seeds:
                v, t, b = run(SCHEDULES[name], seed, args.epochs, wb, sb, lr=lr)
                vals.append(v)
                tests.append(t)
                picked.append(b)
            rows[(name, lr)] = (vals, tests, picked, time.perf_counter() - t0)
            print(f"{name}, lr {lr:g}: val {[round(v, 4) for v in vals]} test {[round(t, 4) for t in tests]} "
                  f"test at the best validation epoch {[round(b, 4) for b in picked]}", flush=True)

    def ms(xs: list[float]) -> str:
        return f"{statistics.mean(xs):.4f} +- {statistics.stdev(xs) if len(xs) > 1 else 0.0:.4f}"

    print(f"\ndigits, weight bits {wb}, state bits {sb}, {args.epochs} epochs, seeds {args.seeds}\n")
    print("| schedule | lr | validation (mean +- std) | test (mean +- std) | test at the best validation epoch "
          "| seconds |")
    print("|---|---|---|---|---|---|")
    for (name, lr), (vals, tests, picked, secs) in rows.items():
        print(f"| {name} | {lr:g} | {ms(vals)} | {ms(tests)} | {ms(picked)} | {secs:.0f} |")
    if len(args.lrs) > 1:  # each schedule at the learning rate its validation mean prefers
        print("\n| schedule | lr chosen on validation | validation | test |")
        print("|---|---|---|---|")
        for name in args.schedules:
            lr = max(args.lrs, key=lambda r: statistics.mean(rows[(name, r)][0]))
            vals, tests, _, _ = rows[(name, lr)]
            print(f"| {name} | {lr:g} | {ms(vals)} | {ms(tests)} |")


if __name__ == "__main__":
    main()
