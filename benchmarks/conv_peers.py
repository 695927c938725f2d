"""Spiking CNN training step: spikeflow (fused / reference) vs snnTorch vs SpikingJelly, one process.

Network (``spikeflow.models.mnist_scnn``, the ``spikeflow train mnist5k --model scnn`` model):
[T, B, 1, 28, 28] -> Conv(1->12, k5) MaxPool 2 Leaky -> Conv(12->32, k5) MaxPool 2 Leaky
-> Flatten -> Linear(512->10) Leaky; beta 0.5, threshold 1, subtract reset, ATan(2) surrogate.
One training step = forward, cross-entropy on output spike counts, backward (no optimizer
step, so that every row keeps the same weights).
Input: rate-coded (Bernoulli) mnist5k training images, T = 10, B = 64 (the task's defaults).

  spikeflow fused      backend "cpu": numba forward and hand-written backward through time
  spikeflow reference  backend "reference": the torch step under autograd
  snnTorch             snn.Leaky(beta=0.5) (delayed subtract reset, detached: same equations),
                       convs over all steps at once, neuron loop over time
  SpikingJelly         multi-step layer.Conv2d / MaxPool2d and LIFNode(tau=2, decay_input=False,
                       v_reset=None, detach_reset=True); its soft reset acts in the same step
                       (v = h - s thr), so its spike trains differ slightly from the others'
  floor: no neurons    the convs, pools and Linear alone (ReLU in place of the neurons): the
                       part a conv+neuron fusion cannot remove
  floor, conv step by step  the same, with the layers called once per time step (what fusing the
                       conv into the neuron's time loop would mean on CPU)

Rows share weights and input; spike counts are printed. Rounds visit the rows in shuffled
order; medians of wall time and of process CPU time per step are printed, and per epoch
(4000 images = 63 steps). The machine may be shared: the load average is printed.

    python benchmarks/conv_peers.py [--threads 2] [--rounds 5] [--steps-per-round 4]
"""

from __future__ import annotations

import argparse
import copy
import os
import random
import statistics
import time
import warnings
from typing import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from spikeflow import encoding
from spikeflow.models import mnist_scnn

warnings.filterwarnings("ignore")
T, B, BETA = 10, 64, 0.5
EPOCH_STEPS = -(-4000 // B)
Step = Callable[[Tensor, Tensor], Tensor]


def weights(seed: int = 0) -> list[nn.Module]:
    torch.manual_seed(seed)
    layers = [nn.Conv2d(1, 12, 5), nn.Conv2d(12, 32, 5), nn.Linear(512, 10)]
    with torch.no_grad():  # stronger than torch's default init, so that the output layer spikes
        layers[0].weight.mul_(3.0)
        layers[1].weight.mul_(4.0)
        layers[2].weight.mul_(20.0)
    return layers


def count_loss(out: Tensor, y: Tensor) -> Tensor:
    return F.cross_entropy(out.sum(0), y)


def trainer(forward: Callable[[Tensor], Tensor], params: list[nn.Parameter]) -> Step:
    opt = torch.optim.Adam(params, lr=1e-3)

    def step(x: Tensor, y: Tensor) -> Tensor:
        out = forward(x)
        loss = count_loss(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        return out.detach()  # no optimizer step: every row keeps the same weights for the spike check

    step.opt = opt  # type: ignore[attr-defined]
    return step


def build(base: list[nn.Module]) -> dict[str, tuple[Step, Callable[[], None]]]:
    rows: dict[str, tuple[Step, Callable[[], None]]] = {}

    def spikeflow_row(backend: str) -> tuple[Step, Callable[[], None]]:
        net = mnist_scnn(backend=backend)
        for i, src in zip((0, 3, 7), base, strict=True):
            net[i].load_state_dict(src.state_dict())
        params = list(net.parameters())
        step = trainer(lambda x: net(x)[0], params)
        return step, lambda: step.opt.step()  # type: ignore[attr-defined]

    rows["spikeflow fused (cpu)"] = spikeflow_row("cpu")
    rows["spikeflow reference"] = spikeflow_row("reference")

    c1, c2, fc = (copy.deepcopy(m) for m in base)
    floor_params = [p for m in (c1, c2, fc) for p in m.parameters()]

    def floor(x: Tensor) -> Tensor:
        t, b = x.shape[:2]
        h = F.relu(F.max_pool2d(c1(x.flatten(0, 1)), 2))
        h = F.relu(F.max_pool2d(c2(h), 2))
        return fc(h.flatten(1)).reshape(t, b, -1)

    step = trainer(floor, floor_params)
    rows["floor: no neurons"] = (step, lambda: step.opt.step())  # type: ignore[attr-defined]

    def floor_per_step(x: Tensor) -> Tensor:  # the layout a conv+neuron fusion forces: one conv call per step
        outs = []
        for x_t in x.unbind(0):
            h = F.relu(F.max_pool2d(c1(x_t), 2))
            h = F.relu(F.max_pool2d(c2(h), 2))
            outs.append(fc(h.flatten(1)))
        return torch.stack(outs)

    step = trainer(floor_per_step, floor_params)
    rows["floor, conv step by step"] = (step, lambda: step.opt.step())  # type: ignore[attr-defined]

    try:
        import snntorch as snn

        s1, s2, sf_ = (copy.deepcopy(m) for m in base)
        lifs = [snn.Leaky(beta=BETA) for _ in range(3)]

        def snntorch_forward(x: Tensor) -> Tensor:
            t, b = x.shape[:2]
            cur1 = F.max_pool2d(s1(x.flatten(0, 1)), 2).reshape(t, b, 12, 12, 12)
            mem = lifs[0].init_leaky()
            spk1 = []
            for k in range(t):
                s, mem = lifs[0](cur1[k], mem)
                spk1.append(s)
            cur2 = F.max_pool2d(s2(torch.stack(spk1).flatten(0, 1)), 2).reshape(t, b, 512)
            mem = lifs[1].init_leaky()
            spk2 = []
            for k in range(t):
                s, mem = lifs[1](cur2[k], mem)
                spk2.append(s)
            cur3 = sf_(torch.stack(spk2))
            mem = lifs[2].init_leaky()
            out = []
            for k in range(t):
                s, mem = lifs[2](cur3[k], mem)
                out.append(s)
            return torch.stack(out)

        step = trainer(snntorch_forward, [p for m in (s1, s2, sf_) for p in m.parameters()])
        rows["snnTorch Leaky"] = (step, lambda: step.opt.step())  # type: ignore[attr-defined]
    except ImportError:
        print("# snntorch not installed: row skipped")

    try:
        from spikingjelly.activation_based import functional as sjf
        from spikingjelly.activation_based import layer, neuron, surrogate

        j1, j2, jf = (copy.deepcopy(m) for m in base)
        conv1 = layer.Conv2d(1, 12, 5, step_mode="m")
        conv2 = layer.Conv2d(12, 32, 5, step_mode="m")
        lin = layer.Linear(512, 10, step_mode="m")
        for dst, src in ((conv1, j1), (conv2, j2), (lin, jf)):
            dst.load_state_dict(src.state_dict())

        def lif() -> nn.Module:
            return neuron.LIFNode(tau=1 / (1 - BETA), decay_input=False, v_reset=None, detach_reset=True,
                                  surrogate_function=surrogate.ATan(), step_mode="m")

        sj = nn.Sequential(conv1, layer.MaxPool2d(2, step_mode="m"), lif(), conv2,
                           layer.MaxPool2d(2, step_mode="m"), lif(), layer.Flatten(step_mode="m"), lin, lif())

        def sj_forward(x: Tensor) -> Tensor:
            sjf.reset_net(sj)
            return sj(x)

        step = trainer(sj_forward, list(sj.parameters()))
        rows["SpikingJelly LIFNode (m)"] = (step, lambda: step.opt.step())  # type: ignore[attr-defined]
    except ImportError:
        print("# spikingjelly not installed: row skipped")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps-per-round", type=int, default=4)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from spikeflow.tasks.mnist5k_models import mnist5k_images

    images, labels = mnist5k_images("train")
    gen = torch.Generator().manual_seed(0)
    idx = torch.randperm(images.shape[0], generator=gen)[:B * args.steps_per_round]
    batches = [(encoding.rate(images[idx[k:k + B]], num_steps=T, generator=gen), labels[idx[k:k + B]])
               for k in range(0, len(idx), B)]
    rows = build(weights())
    print(f"# threads {args.threads}, load average at start {os.getloadavg()}, T={T} B={B}, "
          f"{args.rounds} rounds x {args.steps_per_round} steps")
    counts = {name: ("-" if name.startswith("floor") else f"{float(step(*batches[0]).sum()):.0f}")
              for name, (step, _) in rows.items()}  # also the warm-up (numba JIT)
    wall: dict[str, list[float]] = {n: [] for n in rows}
    cpu: dict[str, list[float]] = {n: [] for n in rows}
    order = list(rows)
    for _ in range(args.rounds):
        random.shuffle(order)
        for name in order:
            step, _ = rows[name]
            t0, c0 = time.perf_counter(), time.process_time()
            for x, y in batches:
                step(x, y)
            wall[name].append((time.perf_counter() - t0) / len(batches))
            cpu[name].append((time.process_time() - c0) / len(batches))
    fused = "spikeflow fused (cpu)"
    w0, c0 = statistics.median(wall[fused]), statistics.median(cpu[fused])
    print(f"{'row':28s} {'wall ms/step':>12s} {'cpu ms/step':>12s} {'wall s/epoch':>12s} {'cpu s/epoch':>12s} "
          f"{'wall x fused':>12s} {'cpu x fused':>12s} {'out spikes':>10s}")
    for name in rows:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(f"{name:28s} {1e3 * w:12.1f} {1e3 * c:12.1f} {EPOCH_STEPS * w:12.2f} {EPOCH_STEPS * c:12.2f} "
              f"{w / w0:12.2f} {c / c0:12.2f} {counts[name]:>10s}")
    floor = statistics.median(cpu["floor: no neurons"])
    print(f"# neurons' share of the fused step (cpu time): {100 * (c0 - floor) / c0:.0f}% "
          f"(fused {1e3 * c0:.1f} ms, floor {1e3 * floor:.1f} ms): the most a conv+neuron fusion could save")
    per_step = statistics.median(cpu["floor, conv step by step"])
    print(f"# the same layers with the conv called once per step: +{1e3 * (per_step - floor):.1f} ms cpu per step "
          f"vs batched over T*B (the layout a fused conv+neuron kernel would need)")
    print(f"# load average at end {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
