"""Agreement with snntorch.functional 1.0 where the semantics match, and the deliberate differences."""

import pytest
import torch

from spikeflow import losses as L
from spikeflow import metrics as M

SF = pytest.importorskip("snntorch.functional")

T, B, C, P = 6, 5, 3, 4


def _spikes(outputs, seed=0, p=0.4):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, outputs, generator=g) < p).float()


def _firing_everywhere(outputs, seed=0):
    """Spikes in which every neuron fires at least once (snnTorch reports silent neurons at T-1, we at T)."""
    s = _spikes(outputs, seed)
    s[-1] = 1.0
    return s


Y = torch.tensor([0, 2, 1, 1, 0])


@pytest.mark.parametrize("pop", [False, True])
def test_ce_count_matches(pop):
    s = _spikes(C * P if pop else C)
    ours = L.CECountLoss(num_classes=C if pop else None)(s, Y)
    theirs = SF.ce_count_loss(population_code=pop, num_classes=C if pop else False)(s, Y)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6)


def test_ce_max_membrane_matches():
    mem = torch.randn(T, B, C, generator=torch.Generator().manual_seed(1))
    assert L.CEMaxMembraneLoss()(mem, Y).item() == pytest.approx(SF.ce_max_membrane_loss()(mem, Y).item(), rel=1e-6)


@pytest.mark.parametrize("pop", [False, True])
@pytest.mark.parametrize("on,off", [(1.0, 0.0), (0.5, 0.0)])
def test_mse_count_matches_when_targets_are_integral(pop, on, off):
    """snnTorch truncates r * T * P to an int; with T * r * P integral both agree."""
    s = _spikes(C * P if pop else C)
    ours = L.MSECountLoss(on, off, num_classes=C if pop else None)(s, Y)
    theirs = SF.mse_count_loss(on, off, population_code=pop, num_classes=C if pop else False)(s, Y)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6)


def test_mse_membrane_matches():
    mem = torch.randn(T, B, C, generator=torch.Generator().manual_seed(2))
    ours = L.MSEMembraneLoss(on_target=0.9, off_target=0.1)(mem, Y)
    theirs = SF.mse_membrane_loss(on_target=0.9, off_target=0.1)(mem, Y)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6)


def test_mse_temporal_matches_with_explicit_targets_and_sign_gradient():
    s1 = _firing_everywhere(C).requires_grad_()
    s2 = s1.detach().clone().requires_grad_()
    ours = L.MSETemporalLoss(on_target=1, off_target=4, grad="sign")(s1, Y)
    theirs = SF.mse_temporal_loss(on_target=1, off_target=4)(s2, Y.clone())
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6)
    ours.backward()
    theirs.backward()
    assert torch.allclose(s1.grad, s2.grad)


def test_ce_temporal_matches_when_every_neuron_fires():
    s = _firing_everywhere(C, seed=3)
    assert L.CETemporalLoss()(s, Y).item() == pytest.approx(SF.ce_temporal_loss()(s, Y).item(), rel=1e-6)


def test_deliberate_difference_silent_neuron_time():
    """A silent neuron: snnTorch's time is T-1 (same as a spike at the last step), ours is T."""
    s = torch.zeros(T, 1, 2)
    s[-1, 0, 0] = 1.0
    _, ties = SF.SpikeTime()(s, torch.tensor([0]))[0].unique(return_counts=True)
    assert ties.tolist() == [2]  # snnTorch cannot tell "fired last" from "never fired"
    assert M.first_spike_time(s).tolist() == [[T - 1, T]]


def test_deliberate_difference_ce_rate_is_ce_of_the_mean_rate():
    """snnTorch's ce_rate_loss averages CE(s[t]) over steps; ours is CE(mean_t s)."""
    s = _spikes(C, seed=4)
    per_step = sum(torch.nn.functional.cross_entropy(s[t], Y) for t in range(T)) / T
    assert SF.ce_rate_loss()(s, Y).item() == pytest.approx(per_step.item(), rel=1e-6)
    ours = torch.nn.functional.cross_entropy(s.mean(0), Y)
    assert L.CERateLoss()(s, Y).item() == pytest.approx(ours.item(), rel=1e-6)


def test_float64_population_losses_work_where_snntorch_needs_float32():
    """snnTorch #428: its population/rate losses build float32 buffers (a float64 input gives a float32
    loss in 1.0.0); ours follow the input dtype."""
    s = _spikes(C * P).double().requires_grad_()
    for loss_fn in (L.CECountLoss(num_classes=C), L.MSECountLoss(num_classes=C), L.CERateLoss(num_classes=C)):
        loss = loss_fn(s, Y)
        assert loss.dtype == torch.float64
        loss.backward()


@pytest.mark.parametrize("pop", [False, True])
def test_accuracy_rate_matches(pop):
    for seed in range(4):
        s = _spikes(C * P if pop else C, seed)
        theirs = SF.accuracy_rate(s, Y, population_code=pop, num_classes=C if pop else False)
        assert M.accuracy_rate(s, Y, num_classes=C if pop else None) == pytest.approx(float(theirs))


def test_accuracy_first_spike_matches_temporal_when_every_neuron_fires():
    for seed in range(4):
        s = _firing_everywhere(C, seed)
        assert M.accuracy_first_spike(s, Y) == pytest.approx(float(SF.accuracy_temporal(s, Y)))
