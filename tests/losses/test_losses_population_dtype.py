"""Population-code variants, float32/float64 paths (snnTorch #428) and gradient flow."""

import pytest
import torch

from spikeflow import losses as L

T, B, C, P = 5, 4, 3, 4


def _spikes(dtype=torch.float32, seed=0, outputs=C * P):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, outputs, generator=g) < 0.4).to(dtype)


Y = torch.tensor([0, 2, 1, 2])


def _group_sum(s):
    return s.reshape(T, B, C, P).sum(-1)


@pytest.mark.parametrize("make", [L.CERateLoss, L.CECountLoss])
def test_population_ce_equals_plain_loss_on_summed_groups(make):
    s = _spikes()
    assert make(num_classes=C)(s, Y).item() == pytest.approx(make()(_group_sum(s), Y).item(), rel=1e-6)


def test_population_mse_count_targets_scale_with_population():
    s = _spikes()
    pop = L.MSECountLoss(correct_rate=0.8, incorrect_rate=0.2, num_classes=C)(s, Y)
    counts = _group_sum(s).sum(0)
    goal = torch.full((B, C), 0.2 * T * P)
    goal[torch.arange(B), Y] = 0.8 * T * P
    assert pop.item() == pytest.approx(((counts - goal) ** 2).mean().item() / T, rel=1e-6)


@pytest.mark.parametrize("make", [L.CEMaxMembraneLoss, L.MSEMembraneLoss, L.CETemporalLoss, L.MSETemporalLoss])
def test_population_of_identical_copies_equals_single_neuron(make):
    """Mean-pooled losses: P identical copies of each neuron give the plain loss."""
    s = _spikes(outputs=C)
    copies = s.repeat_interleave(P, dim=2)
    assert make(num_classes=C)(copies, Y).item() == pytest.approx(make()(s, Y).item(), rel=1e-6)


def test_population_temporal_uses_group_mean_time():
    s = torch.zeros(4, 1, 4)
    s[0, 0, 0] = 1  # class 0: neuron times 0 and 4 (silent) -> mean 2
    s[1, 0, 2] = 1
    s[3, 0, 3] = 1  # class 1: times 1 and 3 -> mean 2
    y = torch.tensor([0])
    got = L.MSETemporalLoss(on_target=0, off_target=4, num_classes=2)(s, y)
    assert got.item() == pytest.approx(((2 / 4) ** 2 + ((2 - 4) / 4) ** 2) / 2)


ALL = [
    lambda: L.CERateLoss(num_classes=C),
    lambda: L.CECountLoss(num_classes=C),
    lambda: L.CEMaxMembraneLoss(num_classes=C),
    lambda: L.MSECountLoss(num_classes=C),
    lambda: L.MSEMembraneLoss(num_classes=C),
    lambda: L.MSETemporalLoss(num_classes=C),
    lambda: L.CETemporalLoss(num_classes=C),
]


@pytest.mark.parametrize("make", ALL)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_population_losses_keep_dtype_and_pass_gradients(make, dtype):
    s = _spikes(dtype).requires_grad_()
    loss_fn = make()
    loss = loss_fn(s, Y)
    assert loss.dtype == dtype and torch.isfinite(loss)
    loss.backward()
    assert s.grad is not None and s.grad.dtype == dtype
    assert torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_class_weight_given_in_other_dtype_follows_outputs(dtype):
    w = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64 if dtype == torch.float32 else torch.float32)
    for loss_fn in (L.CECountLoss(num_classes=C, weight=w), L.MSECountLoss(num_classes=C, weight=w)):
        assert loss_fn(_spikes(dtype), Y).dtype == dtype


def test_count_losses_gradcheck_float64():
    """The count/rate/membrane losses are smooth in the outputs: analytic == numeric gradient."""
    g = torch.Generator().manual_seed(2)
    x = torch.rand(3, 2, 6, generator=g, dtype=torch.float64).requires_grad_()
    y = torch.tensor([1, 0])
    for loss_fn in (
        L.CERateLoss(num_classes=2),
        L.CECountLoss(num_classes=2),
        L.MSECountLoss(num_classes=2),
        L.MSEMembraneLoss(num_classes=2),
        L.CEMaxMembraneLoss(num_classes=2),
    ):
        assert torch.autograd.gradcheck(lambda v, f=loss_fn: f(v, y), (x,))


def test_ce_count_gradient_raises_target_class_spikes():
    s = _spikes(outputs=C).requires_grad_()
    L.CECountLoss()(s, Y).backward()
    target_grad = s.grad[:, torch.arange(B), Y]
    assert (target_grad < 0).all()  # descent increases the target class's spikes


def test_losses_work_on_cuda_when_present():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA")
    s = _spikes().cuda().requires_grad_()
    for make in ALL:
        make().cuda()(s, Y.cuda()).backward()
    assert s.grad.is_cuda
