"""e-prop (Bellec et al. 2020) for a recurrent LIF or ALIF layer with a leaky readout.

Network (``EPropNet``), for input x[t] [B, n_in]; p[t] = (x[t], z[t-1]) is what the layer's
synapses see and W = (W_in, W_rec) its weights:

    I[t] = W p[t] = W_in x[t] + W_rec z[t-1]
    LIF  (sf.Leaky step):         v[t] = beta v[t-1] + I[t] - z[t-1] thr,  z[t] = H(v[t] - thr)
    ALIF (sf.AdaptiveLeaky step): a[t] = rho a[t-1] + c z[t-1],  b[t] = thr + a[t]
                                  v[t] = beta v[t-1] + I[t] - z[t-1] b[t-1],  z[t] = H(v[t] - b[t])
    readout: y[t] = kappa y[t-1] + W_out z[t] + b_out
(the reset factor z[t-1] is detached, as in the neuron modules.)

Eligibility traces (forward-mode derivatives through the neuron's own state only), with the
pseudo-derivative psi[t] = surrogate'(v[t] - b[t]):

    LIF:  eps_v[t] = beta eps_v[t-1] + p[t]                         (a presynaptic trace)
          e[t]     = psi[t] eps_v[t]
    ALIF: eps_a[t] = rho eps_a[t-1] + c psi[t-1] (eps_v[t-1] - eps_a[t-1])   (slow component)
          eps_v[t] = beta eps_v[t-1] + p[t] - z[t-1] eps_a[t-1]
          e[t]     = psi[t] (eps_v[t] - eps_a[t])

Learning signal from g[t] = dE[t]/dy[t] (E = sum_t E[t]): L[t] = g[t] B with B = W_out
(symmetric feedback) or a fixed random matrix (random feedback). Gradients, summed over
batch and time:

    dE/dW     ~ sum_t L[t] F_kappa(e)[t],   F_kappa(e)[t] = kappa F_kappa(e)[t-1] + e[t]
    dE/dW_out = sum_t g[t] x zbar[t],       zbar[t] = kappa zbar[t-1] + z[t]
    dE/db_out = sum_t g[t] cbar[t],         cbar[t] = kappa cbar[t-1] + 1
    firing-rate regulariser: + reg (f[t] - f_target) mean_b e[t] at every step, f[t] the
    running mean rate of each neuron (exponential, time constant tau_reg steps).

Memory is the traces ([B, n_rec, n_in + n_rec] per synapse), constant in T.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import torch
from torch import Tensor, nn

from ..functional.states import AdaptiveState, LeakyState
from ..neurons import AdaptiveLeaky, Leaky

NEURONS = ("lif", "alif")
FEEDBACK = ("symmetric", "random")
UPDATES = ("accumulate", "step")


class EPropNet(nn.Module):
    """Recurrent LIF/ALIF layer (``n_rec``) with a leaky readout (``n_out``); see the module docstring.

    ``net(x)`` runs x [T, B, n_in] under autograd (so BPTT works on the same network) and
    returns the readout y [T, B, n_out]; ``net(x, record=True)`` also returns the spikes.
    ``recurrent=False`` leaves out W_rec (a feed-forward hidden layer).
    """

    def __init__(
        self,
        n_in: int,
        n_rec: int,
        n_out: int,
        *,
        neuron: str = "lif",
        beta: float = 0.9,
        threshold: float = 1.0,
        rho: float = 0.99,
        adaptation: float = 0.1,
        kappa: float = 0.9,
        recurrent: bool = True,
        surrogate: Any = "triangular",
    ) -> None:
        super().__init__()
        for name, v in (("n_in", n_in), ("n_rec", n_rec), ("n_out", n_out)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected a positive int, got {v!r}")
        if neuron not in NEURONS:
            raise ValueError(f"neuron: expected one of {NEURONS}, got {neuron!r}")
        if not 0.0 <= kappa <= 1.0:
            raise ValueError(f"kappa: expected a readout decay in [0, 1], got {kappa!r}")
        self.kind = neuron
        self.kappa = float(kappa)
        self.input = nn.Linear(n_in, n_rec, bias=False)
        self.recurrent = nn.Linear(n_rec, n_rec, bias=False) if recurrent else None
        self.readout = nn.Linear(n_rec, n_out)
        if neuron == "lif":
            self.neuron: nn.Module = Leaky(beta=beta, threshold=threshold, surrogate=surrogate)
        else:
            self.neuron = AdaptiveLeaky(beta=beta, rho=rho, adaptation=adaptation, threshold=threshold,
                                        surrogate=surrogate)
        self.n_in, self.n_rec, self.n_out = n_in, n_rec, n_out

    @property
    def hidden_weights(self) -> list[nn.Parameter]:
        """[W_in] or [W_in, W_rec]: the weights e-prop updates through eligibility traces."""
        return [self.input.weight] + ([] if self.recurrent is None else [self.recurrent.weight])

    def init_state(self, x_t: Tensor) -> "NetState":
        b = x_t.shape[0]
        zeros = x_t.new_zeros(b, self.n_rec)
        neuron = LeakyState(zeros) if self.kind == "lif" else AdaptiveState(zeros, zeros, zeros)
        return NetState(neuron, zeros, x_t.new_zeros(b, self.n_out))

    def step(self, x_t: Tensor, state: "NetState | None" = None) -> tuple[Tensor, Tensor, "NetState"]:
        """One step: x_t [B, n_in] -> (readout y [B, n_out], spikes z [B, n_rec], new state)."""
        if not isinstance(x_t, Tensor) or x_t.dim() != 2 or x_t.shape[1] != self.n_in:
            got = tuple(x_t.shape) if isinstance(x_t, Tensor) else type(x_t).__name__
            raise ValueError(f"x_t: expected [B, {self.n_in}], got {got}")
        state = self.init_state(x_t) if state is None else state
        current = self.input(x_t)
        if self.recurrent is not None:
            current = current + self.recurrent(state.z)
        z, neuron = self.neuron.step(current, state.neuron)
        y = self.kappa * state.y + self.readout(z)
        return y, z, NetState(neuron, z, y)

    def forward(self, x: Tensor, state: "NetState | None" = None, record: bool = False):  # type: ignore[no-untyped-def]
        if not isinstance(x, Tensor) or x.dim() != 3:
            raise ValueError(f"x: expected a time-major Tensor [T, B, {self.n_in}], got {getattr(x, 'shape', x)}")
        ys, zs = [], []
        for x_t in x.unbind(0):
            y, z, state = self.step(x_t, state)
            ys.append(y)
            zs.append(z)
        out = torch.stack(ys)
        return (out, torch.stack(zs)) if record else (out, state)


class NetState(NamedTuple):
    """Neuron state, last spikes z [B, n_rec], readout y [B, n_out]."""

    neuron: Any
    z: Tensor
    y: Tensor


class EPropState(NamedTuple):
    """The network state plus every trace e-prop keeps (all without gradient)."""

    net: NetState
    eps_v: Tensor        # LIF: [B, P] presynaptic trace; ALIF: [B, N, P]
    eps_a: Tensor | None  # ALIF: [B, N, P]
    psi: Tensor          # last pseudo-derivative [B, N]
    filtered: Tensor     # F_kappa(e) [B, N, P]
    zbar: Tensor         # kappa-filtered spikes [B, N]
    cbar: Tensor         # kappa-filtered ones [B, 1]
    rate: Tensor         # running firing rate [N]


def _surrogate_of(neuron: nn.Module) -> Any:
    return neuron.opts.surrogate


class EProp:
    """e-prop learner for an :class:`EPropNet` (see the module docstring).

    feedback: "symmetric" (B = W_out, current value) or "random" (fixed, drawn from
    ``generator``, scaled like W_out's initialisation). reg: firing-rate regularisation
    strength (0 = off), f_target: target spikes per step, tau_reg: steps of the rate average.
    """

    def __init__(
        self,
        net: EPropNet,
        *,
        feedback: str = "symmetric",
        reg: float = 0.0,
        f_target: float = 0.01,
        tau_reg: float = 500.0,
        generator: torch.Generator | None = None,
    ) -> None:
        if not isinstance(net, EPropNet):
            raise TypeError(f"net: expected an EPropNet, got {type(net).__name__}")
        if feedback not in FEEDBACK:
            raise ValueError(f"feedback: expected one of {FEEDBACK}, got {feedback!r}")
        for name, v, low in (("reg", reg, 0.0), ("f_target", f_target, 0.0), ("tau_reg", tau_reg, 1.0)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < low:
                raise ValueError(f"{name}: expected a finite number >= {low}, got {v!r}")
        opts = net.neuron.opts
        if opts.reset != "subtract" or not opts.reset_delay or opts.inhibition or not opts.detach:
            raise ValueError(
                f"net.neuron: e-prop needs the delayed, detached subtract reset without inhibition, got {opts}"
            )
        for name in ("beta", "rho", "adaptation"):
            value = getattr(net.neuron, name, None)
            if isinstance(value, Tensor) and value.numel() != 1:
                raise ValueError(f"net.neuron.{name}: e-prop here needs one value per layer, got shape "
                                 f"{tuple(value.shape)}")
        self.net, self.feedback = net, feedback
        self.reg, self.f_target, self.rate_decay = float(reg), float(f_target), 1.0 - 1.0 / float(tau_reg)
        self.B: Tensor | None = None
        if feedback == "random":
            w = net.readout.weight
            bound = 1.0 / math.sqrt(net.n_rec)
            rand = torch.rand(w.shape, generator=generator, dtype=w.dtype) * 2 - 1
            self.B = (rand * bound).to(w.device)

    def feedback_matrix(self) -> Tensor:
        """[n_out, n_rec]: maps dE/dy to the learning signal of each hidden neuron."""
        return self.net.readout.weight.detach() if self.B is None else self.B

    def init_state(self, x_t: Tensor) -> EPropState:
        net = self.net
        b, n = x_t.shape[0], net.n_rec
        p = net.n_in + (n if net.recurrent is not None else 0)
        z = x_t.new_zeros
        alif = net.kind == "alif"
        return EPropState(
            net.init_state(x_t), z(b, n, p) if alif else z(b, p), z(b, n, p) if alif else None, z(b, n),
            z(b, n, p), z(b, n), z(b, 1), z(n),
        )

    @torch.no_grad()
    def _params(self) -> tuple[float, float, float, Tensor | float]:
        prm = self.net.neuron.params(self.net.input.weight)
        return (float(prm["beta"]), float(prm.get("rho", 0.0)), float(prm.get("adaptation", 0.0)), prm["threshold"])

    def step(
        self,
        x_t: Tensor,
        target: Any,
        loss_fn: Callable[[Tensor, Any], Tensor],
        state: EPropState | None = None,
        scale: float = 1.0,
    ) -> tuple[Tensor, Tensor, EPropState]:
        """Advance one step and add this step's e-prop gradients to ``.grad``.

        The step loss is ``scale * loss_fn(y[t], target)``. Returns (y [B, n_out], loss, state).
        """
        net = self.net
        state = self.init_state(x_t) if state is None else state
        beta, rho, c, thr = self._params()
        with torch.no_grad():
            pre = x_t if net.recurrent is None else torch.cat([x_t, state.net.z], dim=1)
            y, z, ns = net.step(x_t, state.net)
            if net.kind == "lif":
                eps_v = beta * state.eps_v + pre
                eps_a = None
                psi = _surrogate_of(net.neuron).grad(ns.neuron.v - thr, z)
                e = psi.unsqueeze(2) * eps_v.unsqueeze(1)
            else:
                # eps_a[t] from t-1 values; eps_v[t] uses eps_a[t-1] (the reset subtracts b[t-1])
                eps_a = rho * state.eps_a + c * state.psi.unsqueeze(2) * (state.eps_v - state.eps_a)
                eps_v = beta * state.eps_v + pre.unsqueeze(1) - state.net.z.unsqueeze(2) * state.eps_a
                psi = _surrogate_of(net.neuron).grad(ns.neuron.v - (thr + ns.neuron.a), z)
                e = psi.unsqueeze(2) * (eps_v - eps_a)
            kappa = net.kappa
            filtered = kappa * state.filtered + e
            zbar = kappa * state.zbar + z
            cbar = kappa * state.cbar + 1
            rate = self.rate_decay * state.rate + (1 - self.rate_decay) * z.mean(0)
        y_req = y.detach().requires_grad_(True)
        with torch.enable_grad():
            loss = scale * loss_fn(y_req, target)
            if not isinstance(loss, Tensor) or loss.numel() != 1:
                raise TypeError(f"loss_fn: expected a scalar Tensor per step, got {loss!r}")
            (g,) = torch.autograd.grad(loss, y_req, allow_unused=True)
        with torch.no_grad():
            g = torch.zeros_like(y) if g is None else g
            signal = g @ self.feedback_matrix()                       # [B, N]
            grad_w = torch.einsum("bn,bnp->np", signal, filtered)
            if self.reg > 0:
                grad_w += self.reg * (rate - self.f_target).unsqueeze(1) * e.mean(0)
            grads = [grad_w[:, : net.n_in]]
            if net.recurrent is not None:
                grads.append(grad_w[:, net.n_in :])
            grads += [g.transpose(0, 1) @ zbar, (g * cbar).sum(0)]
            params = [*net.hidden_weights, net.readout.weight, net.readout.bias]
            for prm, gr in zip(params, grads, strict=True):
                if prm.grad is None:
                    prm.grad = gr.to(prm.dtype).clone()
                else:
                    prm.grad.add_(gr.to(prm.dtype))
        new = EPropState(ns, eps_v, eps_a, psi, filtered, zbar, cbar, rate)
        return y, loss.detach(), new

    def train_sequence(
        self,
        x: Tensor,
        target: Any,
        loss_fn: Callable[[Tensor, Any], Tensor],
        *,
        update: str = "accumulate",
        optimizer: torch.optim.Optimizer | None = None,
        state: EPropState | None = None,
    ) -> tuple[Tensor, Tensor]:
        """E = (1/T) sum_t loss_fn(y[t], target) over x [T, B, n_in], online.

        update "accumulate": gradients add up in ``.grad`` (zero before, optimizer step after).
        update "step": ``optimizer`` zero_grad + step after every time step.
        Returns (readout y [T, B, n_out], E), both detached.
        """
        if update not in UPDATES:
            raise ValueError(f"update: expected one of {UPDATES}, got {update!r}")
        if update == "step" and not isinstance(optimizer, torch.optim.Optimizer):
            raise ValueError(f"optimizer: update='step' needs a torch optimizer, got {type(optimizer).__name__}")
        if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[2] != self.net.n_in:
            raise ValueError(f"x: expected [T, B, {self.net.n_in}], got {getattr(x, 'shape', type(x))}")
        steps = x.shape[0]
        ys = x.new_empty(steps, x.shape[1], self.net.n_out)  # filled in place, one allocation
        total = x.new_zeros(())
        for t, x_t in enumerate(x.unbind(0)):
            if update == "step":
                optimizer.zero_grad(set_to_none=True)  # type: ignore[union-attr]
            y, loss, state = self.step(x_t, target, loss_fn, state, scale=1.0 / steps)
            if update == "step":
                optimizer.step()  # type: ignore[union-attr]
            ys[t] = y
            total = total + loss
        return ys, total
