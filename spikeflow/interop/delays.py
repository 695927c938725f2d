"""NIR export of the learnable delays (delays rounded to whole steps, values in time units).

LearnableDelay -> one nir.Delay (per-neuron delays d * dt). DelayedLinear has no single NIR
node; it is written as the sum of one branch per distinct integer delay k:

    entry (nir.Delay 0) -> nir.Delay(k dt) -> nir.Linear(W masked to the synapses with delay k) -> exit

(the bias on the first branch's nir.Affine, the exit an identity nir.Scale summing the
branches). Importers that know nir.Delay and edge sums (spikeflow does) run it exactly.
Rounding warns with DelayRoundingWarning when it moves a delay.
"""

from __future__ import annotations

import nir
import numpy as np

from ..layers.learnable_delay import DelayedLinear, LearnableDelay


def learnable_delay_node(name: str, m: LearnableDelay, in_shape: tuple[int, ...], dt: float) -> nir.Delay:
    steps = m.integer_steps(f"module {name!r}").numpy().astype(np.float64)
    return nir.Delay(delay=np.broadcast_to(steps, in_shape).astype(np.float64) * dt)


def delayed_linear_nodes(name: str, m: DelayedLinear, dt: float) -> tuple[dict[str, nir.NIRNode],
                                                                          list[tuple[str, str]], str, str]:
    """(nodes, edges, entry, exit) of the branch expansion above."""
    steps = m.integer_steps(f"module {name!r}").numpy()
    weight = m.weight.detach().cpu().numpy().astype(np.float32)
    n_in, n_out = weight.shape[1], weight.shape[0]
    entry, exit_ = name, f"{name}.sum"
    nodes: dict[str, nir.NIRNode] = {
        entry: nir.Delay(delay=np.zeros(n_in)),
        exit_: nir.Scale(scale=np.ones(n_out, dtype=np.float32)),
    }
    edges: list[tuple[str, str]] = []
    ks = sorted(int(k) for k in np.unique(steps))
    for n, k in enumerate(ks):
        w = np.where(steps == k, weight, np.float32(0))
        d_node, w_node = f"{name}.d{k}", f"{name}.w{k}"
        nodes[d_node] = nir.Delay(delay=np.full(n_in, k * dt))
        if n == 0 and m.bias is not None:
            nodes[w_node] = nir.Affine(weight=w, bias=m.bias.detach().cpu().numpy().astype(np.float32))
        else:
            nodes[w_node] = nir.Linear(weight=w)
        edges += [(entry, d_node), (d_node, w_node), (w_node, exit_)]
    return nodes, edges, entry, exit_
