"""e-prop against an independent BPTT oracle and a hand-computed trace (learning.md 2.2, 7.4.2)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeflow import surrogate
from spikeflow.online import EProp, EPropNet


def _ce(y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(y, target)


def _net(neuron: str, kappa: float, seed: int = 0) -> EPropNet:
    torch.manual_seed(seed)
    net = EPropNet(5, 7, 3, neuron=neuron, beta=0.8, rho=0.9, adaptation=0.4, threshold=0.6, kappa=kappa,
                   surrogate=surrogate.Triangular(1.0)).double()
    with torch.no_grad():
        net.input.weight.mul_(4.0)
        net.recurrent.weight.zero_()
    return net


def _bptt_oracle(net: EPropNet, x: torch.Tensor, target: torch.Tensor) -> list[torch.Tensor]:
    """Plain autograd BPTT of E = (1/T) sum_t CE(y[t], target), written out independently:

        I[t] = W_in x[t] + W_rec z[t-1]
        LIF:  v[t] = beta v[t-1] + I[t] - sg(z[t-1]) thr,           z[t] = H(v[t] - thr)
        ALIF: a[t] = rho a[t-1] + c z[t-1];  v[t] = beta v[t-1] + I[t] - sg(z[t-1]) (thr + a[t-1])
              z[t] = H(v[t] - thr - a[t])
        y[t] = kappa y[t-1] + W_out z[t] + b
    (sg = stop-gradient: the detached reset; H has the Triangular surrogate derivative.)
    """
    spike = surrogate.Triangular(1.0)
    n = net.neuron  # the constants as stored (0.8 went through float32)
    beta, thr, kappa = n.beta.item(), n.threshold.item(), net.kappa
    rho, c = (n.rho.item(), n.adaptation.item()) if net.kind == "alif" else (0.0, 0.0)
    w_in, w_rec = net.input.weight, net.recurrent.weight
    w_out, b_out = net.readout.weight, net.readout.bias
    steps, batch = x.shape[:2]
    v = a = z = torch.zeros(batch, 7, dtype=x.dtype)
    y = torch.zeros(batch, 3, dtype=x.dtype)
    loss = torch.zeros((), dtype=x.dtype)
    for t in range(steps):
        current = x[t] @ w_in.T + z @ w_rec.T
        if net.kind == "lif":
            v = beta * v + current - z.detach() * thr
            z = spike(v - thr)
        else:
            a_prev = a
            a = rho * a + c * z
            v = beta * v + current - z.detach() * (thr + a_prev)
            z = spike(v - thr - a)
        y = kappa * y + z @ w_out.T + b_out
        loss = loss + _ce(y, target) / steps
    return list(torch.autograd.grad(loss, [w_in, w_rec, w_out, b_out]))


@pytest.mark.parametrize("neuron", ["lif", "alif"])
@pytest.mark.parametrize("kappa", [1.0, 0.7])
def test_equals_bptt_without_recurrent_weights(neuron: str, kappa: float, gen: torch.Generator) -> None:
    r"""With W_rec = 0, symmetric feedback and psi = the surrogate's derivative, e-prop is exact.

    Derivation. Write h_j = (v_j, a_j) for the neuron's own state. BPTT gives
        dE/dW_ji = sum_t dE/dz_j[t] |_direct . dz_j[t]/dW_ji |_through h_j
    where "direct" collects every path from z_j[t] to E that does not re-enter h_j. The second
    factor is exactly the eligibility e_ji[t], computed forward in time through h_j alone
    (the reset factor is detached in both). The direct paths from z_j[t] are: through other
    neurons' inputs W_rec[:, j] z_j[t], which vanish because W_rec = 0 (these are the non-local
    terms e-prop drops), and through the readout, y_k[t'] = sum_{t <= t'} kappa^(t'-t) W_kj z_j[t],
    so dE/dz_j[t]|_direct = sum_{t' >= t} kappa^(t'-t) sum_k g_k[t'] W_kj with g[t'] = dE/dy[t'].
    Swapping the sums over t and t':
        dE/dW_ji = sum_t' sum_k g_k[t'] W_kj sum_{t <= t'} kappa^(t'-t) e_ji[t]
                 = sum_t' L_j[t'] F_kappa(e_ji)[t'],
    the e-prop update with L = g W_out (symmetric feedback). The same swap gives the readout
    gradients sum_t' g[t'] zbar[t'] and sum_t' g[t'] cbar[t']. The W_rec gradient at W_rec = 0
    is also exact, since its presynaptic factor z_k[t-1] only feeds forward. No leak in the
    readout is the case kappa = 1 (a perfect integrator); kappa = 0.7 checks the filter.
    """
    net = _net(neuron, kappa)
    x = (torch.rand(15, 4, 5, generator=gen) < 0.5).double()
    target = torch.randint(0, 3, (4,), generator=gen)
    expected = _bptt_oracle(net, x, target)
    net.zero_grad()
    EProp(net, feedback="symmetric").train_sequence(x, target, _ce)
    got = [net.input.weight.grad, net.recurrent.weight.grad, net.readout.weight.grad, net.readout.bias.grad]
    assert expected[0].abs().sum() > 0 and expected[1].abs().sum() > 0
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-12)


def test_network_forward_is_the_oracle_forward(gen: torch.Generator) -> None:
    """EPropNet.forward (autograd through the neuron modules) gives the same BPTT gradient."""
    net = _net("alif", 0.7)
    x = (torch.rand(10, 3, 5, generator=gen) < 0.5).double()
    target = torch.randint(0, 3, (3,), generator=gen)
    expected = _bptt_oracle(net, x, target)
    y, _ = net(x)
    got = torch.autograd.grad(sum(_ce(y_t, target) for y_t in y) / 10, net.input.weight)[0]
    torch.testing.assert_close(got, expected[0], rtol=1e-10, atol=1e-12)


def test_one_hidden_neuron_hand_computed() -> None:
    """1 input, 1 LIF (beta 0.5, thr 1, Triangular psi = max(0, 1 - |v - 1|)), readout u = 2,
    b = 0, kappa = 0.5, step loss 0.5 (y - 1)^2 so g = y - 1, input x = 1, 1, 0, 1, w = 0.8.

    t  v                       z  psi  eps    e      F      y    g     L=2g  zbar  cbar
    0  0.8                     0  0.8  1      0.8    0.8    0    -1    -2    0     1
    1  0.4 + 0.8 = 1.2         1  0.8  1.5    1.2    1.6    2     1     2    1     1.5
    2  0.6 + 0 - 1 = -0.4      0  0    0.75   0      0.8    1     0     0    0.5   1.75
    3  -0.2 + 0.8 = 0.6        0  0.6  1.375  0.825  1.225  0.5  -0.5   -1    0.25  1.875

    dE/dw = sum L F = -1.6 + 3.2 + 0 - 1.225 = 0.375
    dE/du = sum g zbar = 0 + 1 + 0 - 0.125 = 0.875
    dE/db = sum g cbar = -1 + 1.5 + 0 - 0.9375 = -0.4375
    """
    net = EPropNet(1, 1, 1, beta=0.5, threshold=1.0, kappa=0.5, recurrent=False,
                   surrogate=surrogate.Triangular(1.0)).double()
    with torch.no_grad():
        net.input.weight.fill_(0.8)
        net.readout.weight.fill_(2.0)
        net.readout.bias.zero_()
    learner = EProp(net, feedback="symmetric")
    state, ys = None, []
    for x in (1.0, 1.0, 0.0, 1.0):
        y, _, state = learner.step(torch.tensor([[x]], dtype=torch.float64), None,
                                   lambda y, _: 0.5 * ((y - 1.0) ** 2).sum(), state)
        ys.append(y.item())
    assert ys == pytest.approx([0.0, 2.0, 1.0, 0.5], abs=1e-12)
    assert net.input.weight.grad.item() == pytest.approx(0.375, abs=1e-12)
    assert net.readout.weight.grad.item() == pytest.approx(0.875, abs=1e-12)
    assert net.readout.bias.grad.item() == pytest.approx(-0.4375, abs=1e-12)


def test_random_feedback_is_fixed_and_only_changes_hidden_updates(gen: torch.Generator) -> None:
    net = _net("lif", 0.8)
    x = (torch.rand(8, 4, 5, generator=gen) < 0.5).double()
    target = torch.randint(0, 3, (4,), generator=gen)
    grads = {}
    for fb in ("symmetric", "random"):
        net.zero_grad()
        learner = EProp(net, feedback=fb, generator=torch.Generator().manual_seed(3))
        learner.train_sequence(x, target, _ce)
        grads[fb] = [p.grad.clone() for p in (net.input.weight, net.readout.weight)]
        if fb == "random":
            before = learner.feedback_matrix().clone()
            with torch.no_grad():
                net.readout.weight.add_(1.0)
            torch.testing.assert_close(learner.feedback_matrix(), before)  # does not follow W_out
    torch.testing.assert_close(grads["random"][1], grads["symmetric"][1])   # readout: same rule
    assert not torch.allclose(grads["random"][0], grads["symmetric"][0])


def test_rate_regulariser_pushes_rates_towards_target(gen: torch.Generator) -> None:
    """With zero task loss, the regulariser alone lowers the input weights of busy neurons."""
    net = _net("lif", 0.8)
    x = (torch.rand(30, 4, 5, generator=gen) < 0.5).double()
    zero_loss = lambda y, _: 0.0 * y.sum()  # noqa: E731
    y, z = net(x, record=True)
    rate_before = z.mean().item()
    opt = torch.optim.SGD(net.parameters(), lr=5.0)
    learner = EProp(net, reg=1.0, f_target=0.0, tau_reg=10.0)
    for _ in range(5):
        opt.zero_grad()
        learner.train_sequence(x, None, zero_loss)
        opt.step()
    _, z = net(x, record=True)
    assert rate_before > 0.05 and z.mean().item() < 0.5 * rate_before


def test_bad_input_raises() -> None:
    net = EPropNet(3, 4, 2)
    with pytest.raises(ValueError, match="feedback"):
        EProp(net, feedback="transpose")
    with pytest.raises(ValueError, match=r"x: expected \[T, B, 3\]"):
        EProp(net).train_sequence(torch.zeros(5, 2, 4), None, _ce)
    with pytest.raises(ValueError, match="optimizer"):
        EProp(net).train_sequence(torch.zeros(5, 2, 3), None, _ce, update="step")
    with pytest.raises(ValueError, match="neuron"):
        EPropNet(3, 4, 2, neuron="izhikevich")


def test_per_step_updates_equal_a_manual_loop(gen: torch.Generator) -> None:
    x = (torch.rand(6, 3, 5, generator=gen) < 0.5).double()
    target = torch.randint(0, 3, (3,), generator=gen)
    a, b = _net("alif", 0.8), _net("alif", 0.8)
    opt_a = torch.optim.SGD(a.parameters(), lr=0.3)
    EProp(a).train_sequence(x, target, _ce, update="step", optimizer=opt_a)
    learner, opt_b, state = EProp(b), torch.optim.SGD(b.parameters(), lr=0.3), None
    for t in range(6):
        opt_b.zero_grad()
        _, _, state = learner.step(x[t], target, _ce, state, scale=1 / 6)
        opt_b.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert not torch.equal(a.input.weight, _net("alif", 0.8).input.weight)  # the weights did move
