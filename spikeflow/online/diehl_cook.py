"""Unsupervised STDP features in the style of Diehl & Cook (2015), for small images.

Network, per time step t (one image shown for T steps as Poisson spikes p = rate * pixel):

    I[t] = W s_in[t] - w_inh (sum_k z_k[t-1] - z[t-1])      lateral inhibition from the others
    excitatory layer: sf.AdaptiveLeaky, reset to zero, winner-take-all (``inhibition=True``:
    at most the neuron with the largest v - threshold spikes in a step); each spike raises its own
    threshold by theta_plus (homeostasis, decaying with rho ~ 1, carried across images)
    learning: sf.online.STDP on W (soft bounds [0, w_max], nearest pairing, in place), then
    each neuron's incoming weights are rescaled to the sum ``w_sum`` (Diehl & Cook's normalisation)

Evaluation freezes W and the thresholds (no adaptation) and reads the spike counts of each
image. Two readouts: a linear classifier (logistic regression) on the counts, and Diehl &
Cook's vote (each neuron labelled with the class it answers most on the training set).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..neurons import AdaptiveLeaky
from .stdp import STDP


class DiehlCook:
    """The excitatory layer, its plastic input weights and its thresholds (see the module docstring)."""

    def __init__(
        self,
        n_in: int,
        n_exc: int,
        *,
        beta: float = 0.9,
        threshold: float = 1.0,
        theta_plus: float = 0.1,
        rho: float = 0.99999,
        w_inh: float = 0.0,
        w_sum: float = 3.0,
        w_max: float = 1.0,
        a_plus: float = 0.002,
        a_minus: float = 0.0,
        tau_pre: float = 4.0,
        tau_post: float = 4.0,
        generator: torch.Generator | None = None,
    ) -> None:
        self.weight = nn.Linear(n_in, n_exc, bias=False)
        with torch.no_grad():
            self.weight.weight.copy_(torch.rand(n_exc, n_in, generator=generator) * 0.3 * w_max)
        self.w_sum, self.w_inh = float(w_sum), float(w_inh)
        self.normalise()
        self.train_neuron = AdaptiveLeaky(beta=beta, rho=rho, adaptation=theta_plus, threshold=threshold, reset="zero",
                                          inhibition=True)
        self.eval_neuron = AdaptiveLeaky(beta=beta, rho=1.0, adaptation=0.0, threshold=threshold, reset="zero",
                                         inhibition=True)
        self.stdp = STDP(self.weight, tau_pre=tau_pre, tau_post=tau_post, a_plus=a_plus, a_minus=a_minus,
                         pairing="nearest", bounds="multiplicative", w_min=0.0, w_max=w_max)
        self.theta = torch.zeros(n_exc)

    @torch.no_grad()
    def normalise(self) -> None:
        w = self.weight.weight
        w.mul_(self.w_sum / w.sum(1, keepdim=True).clamp_min(1e-12))

    @torch.no_grad()
    def run(self, spikes: Tensor, learn: bool) -> Tensor:
        """spikes [T, B, n_in] -> counts [B, n_exc]; with ``learn`` STDP updates W and theta."""
        from ..functional.states import AdaptiveState

        batch = spikes.shape[1]
        zeros = spikes.new_zeros(batch, self.theta.numel())
        state = AdaptiveState(zeros, self.theta.expand(batch, -1).clone(), zeros)
        neuron = self.train_neuron if learn else self.eval_neuron
        traces, counts = None, zeros.clone()
        for s_in in spikes.unbind(0):
            z_prev = state.z
            current = self.weight(s_in) - self.w_inh * (z_prev.sum(1, keepdim=True) - z_prev)
            z, state = neuron.step(current, state)
            counts += z
            if learn:
                traces = self.stdp.step(s_in, z, traces)
        if learn:
            self.normalise()
            self.theta = state.a.mean(0)
        return counts


def poisson(x: Tensor, steps: int, rate: float, generator: torch.Generator) -> Tensor:
    """x [B, n] in [0, 1] -> spikes [T, B, n] with probability rate * x per step."""
    p = (rate * x).clamp(0, 1).expand(steps, *x.shape)
    return (torch.rand(p.shape, generator=generator) < p).to(x.dtype)


def features(model: DiehlCook, x: Tensor, steps: int, rate: float, generator: torch.Generator,
             batch: int = 256) -> Tensor:
    return torch.cat([model.run(poisson(x[i : i + batch], steps, rate, generator), learn=False)
                      for i in range(0, len(x), batch)])


def vote_accuracy(train_counts: Tensor, y_train: Tensor, test_counts: Tensor, y_test: Tensor) -> float:
    """Diehl & Cook's readout: label each neuron by its best class, predict the class whose
    neurons fire most on average."""
    classes = int(y_train.max()) + 1
    mean = torch.stack([train_counts[y_train == c].mean(0) for c in range(classes)])  # [C, N]
    label = mean.argmax(0)
    scores = torch.stack([
        test_counts[:, label == c].mean(1) if (label == c).any() else torch.full((len(test_counts),), -1.0)
        for c in range(classes)
    ], dim=1)
    return float((scores.argmax(1) == y_test).float().mean())


def linear_readout_accuracy(train_counts: Tensor, y_train: Tensor, test_counts: Tensor, y_test: Tensor,
                            seed: int) -> float:
    """Logistic regression (scikit-learn) on standardised spike counts."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_counts.numpy())
    clf = LogisticRegression(max_iter=2000, C=1.0, random_state=seed)
    clf.fit(scaler.transform(train_counts.numpy()), y_train.numpy())
    return float(clf.score(scaler.transform(test_counts.numpy()), y_test.numpy()))
