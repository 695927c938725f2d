"""first_spike_time: forward values and the documented backward (single-flip derivative)."""

import pytest
import torch

import spikeflow as sf
from spikeflow import losses as L
from spikeflow.metrics import first_spike_time


def _column(values):
    return torch.tensor(values, dtype=torch.float64).view(-1, 1, 1)


def test_forward_index_of_first_spike_or_T():
    s = torch.zeros(5, 1, 4)
    s[0, 0, 0] = 1
    s[3, 0, 1] = 1
    s[4, 0, 1] = 1
    s[2, 0, 3] = 0.5  # graded spike: any non-zero value counts
    assert first_spike_time(s).tolist() == [[0.0, 3.0, 5.0, 2.0]]
    assert L.first_spike_time is first_spike_time


@pytest.mark.parametrize(
    "train,grad",
    [
        ([0, 0, 1, 0, 1, 0], [-2, -1, -2, 0, 0, 0]),  # k=2, next spike k2=4
        ([0, 0, 0, 0], [-4, -3, -2, -1]),  # silent: t = T = 4
        ([0, 1, 0, 0], [-1, -3, 0, 0]),  # k=1, no second spike -> k2 = T = 4
        ([1, 1, 0], [-1, 0, 0]),
    ],
)
def test_flip_gradient_hand_values(train, grad):
    s = _column(train).requires_grad_()
    first_spike_time(s).sum().backward()
    assert s.grad.view(-1).tolist() == grad


def test_flip_gradient_is_exact_single_flip_difference_and_never_positive():
    g = torch.Generator().manual_seed(0)
    s = (torch.rand(7, 3, 5, generator=g) < 0.3).double().requires_grad_()
    t0 = first_spike_time(s)
    t0.sum().backward()
    assert (s.grad <= 0).all()
    base = s.detach()
    for u in range(7):
        flipped = base.clone()
        flipped[u] = 1 - flipped[u]
        change = first_spike_time(flipped) - t0.detach()
        assert torch.equal(change, s.grad[u] * (flipped[u] - base[u]))


def test_sign_gradient_matches_snntorch_estimator():
    s = _column([0, 1, 0, 1]).repeat(1, 1, 2)
    s[:, 0, 1] = 0  # second neuron silent -> -1 at the last step
    s.requires_grad_()
    first_spike_time(s, grad="sign").sum().backward()
    assert s.grad[:, 0, 0].tolist() == [0, -1, 0, 0]
    assert s.grad[:, 0, 1].tolist() == [0, 0, 0, -1]


def test_dtype_and_bool_input():
    assert first_spike_time(torch.zeros(3, 2, 2, dtype=torch.float64)).dtype == torch.float64
    t = first_spike_time(torch.zeros(3, 2, 2, dtype=torch.bool))
    assert t.dtype == torch.float32 and t.eq(3).all()


def test_rejects_missing_time_axis_and_bad_grad_name():
    with pytest.raises(ValueError, match="spikes"):
        first_spike_time(torch.zeros(4))
    with pytest.raises(ValueError, match="grad"):
        first_spike_time(torch.zeros(3, 2, 2), grad="exact")


def test_temporal_loss_training_makes_target_fire_first():
    """Through a Leaky neuron: minimising CETemporalLoss moves the target class's spike earlier."""
    torch.manual_seed(0)
    current = torch.full((1, 1, 2), 0.3).requires_grad_()  # constant input current per neuron
    lif = sf.Leaky(beta=0.9)
    opt = torch.optim.SGD([current], lr=0.05)
    y = torch.tensor([0])
    loss_fn = L.CETemporalLoss()
    before = None
    for _ in range(3):
        spikes, _ = lif(current.expand(12, 1, 2))
        times = first_spike_time(spikes.detach())
        before = times if before is None else before
        opt.zero_grad()
        loss_fn(spikes, y).backward()
        opt.step()
    spikes, _ = lif(current.expand(12, 1, 2))
    after = first_spike_time(spikes)
    assert after[0, 0] < before[0, 0]
    assert after[0, 0] < after[0, 1]
