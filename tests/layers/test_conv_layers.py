"""Layers for convolutional SNNs: BNTT, tdBN, folding, sequence dropout, pooling, recurrent wrapper."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import spikeflow as sf
from spikeflow.layers import (
    AvgPool2d,
    BatchNormThroughTime,
    Flatten,
    MaxPool2d,
    RecurrentNeuron,
    SequenceDropout,
    StepAffine,
    TDBatchNorm,
    fold_batchnorm,
    time_distributed,
)


def _steps_with_different_scales(gen: torch.Generator) -> torch.Tensor:
    # step t has mean t and std t + 1, so pooled statistics would not normalise each step
    t = torch.arange(4.0).reshape(4, 1, 1, 1, 1)
    return t + (t + 1) * torch.randn(4, 16, 3, 5, 5, generator=gen)


def test_bntt_normalises_each_step_with_its_own_statistics(gen) -> None:
    x = _steps_with_different_scales(gen)
    y, state = BatchNormThroughTime(3, time_steps=4)(x)
    assert state == 4
    per_step_mean = y.mean(dim=(1, 3, 4))
    per_step_std = y.std(dim=(1, 3, 4), unbiased=False)
    torch.testing.assert_close(per_step_mean, torch.zeros(4, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(per_step_std, torch.ones(4, 3), atol=1e-3, rtol=0)
    # plain BN over [T*B] pools the steps: step 0 is then far from unit variance
    pooled = time_distributed(nn.BatchNorm2d(3), x)
    assert pooled[0].std() < 0.6


def test_bntt_step_by_step_equals_the_sequence_and_eval_equals_its_folded_form(gen) -> None:
    torch.manual_seed(0)
    x = _steps_with_different_scales(gen)
    bn = BatchNormThroughTime(3, time_steps=4, bias=True)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2.0)
        bn.bias.uniform_(-1, 1)
    seq, _ = bn(x)
    state, steps = None, []
    for t in range(4):
        y_t, state = bn.step(x[t], state)
        steps.append(y_t)
    torch.testing.assert_close(torch.stack(steps), seq)
    for _ in range(60):
        bn(x)
    bn.eval()
    expected, _ = bn(x)
    folded = bn.folded()
    assert isinstance(folded, StepAffine) and not folded.time_invariant()
    torch.testing.assert_close(folded(x)[0], expected, atol=1e-5, rtol=1e-5)
    # eval uses each step's running statistics: after many updates on x, close to x's batch statistics
    torch.testing.assert_close(expected, seq, atol=0.02, rtol=0)


def test_bntt_rejects_more_steps_than_it_has_statistics_for() -> None:
    with pytest.raises(ValueError, match="exceed the 4 time steps"):
        BatchNormThroughTime(3, time_steps=4)(torch.zeros(5, 2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"\[T, B, 3, \.\.\.\]"):
        BatchNormThroughTime(3, time_steps=4)(torch.zeros(2, 2, 5, 4, 4))


def test_bntt_gradients_match_finite_differences() -> None:
    torch.manual_seed(0)
    bn = BatchNormThroughTime(2, time_steps=3, bias=True).double()
    x = torch.randn(3, 4, 2, 2, dtype=torch.float64, requires_grad=True)
    w = torch.rand(3, 4, 2, 2, dtype=torch.float64)  # a random readout, so the gradient is not trivially zero
    assert torch.autograd.gradcheck(lambda x: bn(x)[0] * w, (x,))


def test_tdbn_statistics_over_time_and_batch_scaled_by_alpha_threshold(gen) -> None:
    x = torch.randn(5, 8, 3, 4, 4, generator=gen) * 3 + 1
    bn = TDBatchNorm(3, threshold=0.5, alpha=0.5)
    y = time_distributed(bn, x)
    expected = F.batch_norm(x.reshape(40, 3, 4, 4), None, None, training=True) * 0.25
    torch.testing.assert_close(y.reshape(40, 3, 4, 4), expected, atol=1e-5, rtol=1e-5)
    assert abs(float(y.detach().std()) - 0.25) < 0.01


@pytest.mark.parametrize("layer,bn,shape", [
    (nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), (6, 3, 5, 5)),
    (nn.Conv2d(3, 4, 3, bias=False), TDBatchNorm(4, threshold=2.0), (6, 3, 5, 5)),
    (nn.Conv1d(3, 4, 3), nn.BatchNorm1d(4), (6, 3, 7)),
    (nn.Linear(5, 4), nn.BatchNorm1d(4), (6, 5)),
])
def test_folding_batchnorm_into_the_layer_before_is_exact(layer, bn, shape) -> None:
    torch.manual_seed(0)
    layer, bn = layer.double(), bn.double()
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 2)
        bn.bias.uniform_(-1, 1)
    bn.eval()
    x = torch.randn(*shape, dtype=torch.float64)
    folded = fold_batchnorm(layer, bn)
    torch.testing.assert_close(folded(x), bn(layer(x)), atol=1e-12, rtol=1e-12)
    assert layer.weight is not folded.weight  # the original is left alone


def test_folding_a_bntt_needs_equal_steps() -> None:
    bn = BatchNormThroughTime(4, time_steps=3)
    bn.eval()
    conv = nn.Conv2d(2, 4, 3)
    folded = fold_batchnorm(conv, bn)  # fresh statistics: every step is the same
    x = torch.randn(2, 2, 5, 5)
    torch.testing.assert_close(folded(x), bn(conv(x).unsqueeze(0))[0][0], atol=1e-6, rtol=1e-6)
    with torch.no_grad():
        bn.running_mean[1] += 1
    with pytest.raises(ValueError, match="different statistics or scales per time step"):
        fold_batchnorm(conv, bn)


def test_sequence_dropout_keeps_one_mask_for_the_whole_sequence() -> None:
    torch.manual_seed(0)
    drop = SequenceDropout(0.4)
    y, mask = drop(torch.ones(6, 50, 40))
    assert torch.equal(y, y[:1].expand_as(y))  # same neurons dropped at every step
    assert 0.3 < float((y[0] == 0).float().mean()) < 0.5
    kept = y[y != 0]
    torch.testing.assert_close(kept, torch.full_like(kept, 1 / 0.6))
    stepped = [drop.step(torch.ones(50, 40), mask)[0] for _ in range(3)]
    assert all(torch.equal(s, y[0]) for s in stepped)
    drop.eval()
    x = torch.rand(3, 2, 4)
    assert torch.equal(drop(x)[0], x)
    with pytest.raises(ValueError, match="p: expected a drop probability"):
        SequenceDropout(1.0)


def test_pooling_and_flatten_inside_sequential_on_spike_maps() -> None:
    x = torch.zeros(2, 1, 1, 4, 4)
    x[0, 0, 0, 0, 0] = 1.0  # one spike in the top-left window at step 0
    net = sf.Sequential(MaxPool2d(2), Flatten())
    y, _ = net(x)
    assert y.shape == (2, 1, 4) and y[0, 0].tolist() == [1, 0, 0, 0] and y[1].sum() == 0
    y, _ = sf.Sequential(AvgPool2d(2), Flatten())(x)
    assert y[0, 0].tolist() == [0.25, 0, 0, 0]


@pytest.mark.parametrize("norm", [None, "tdbn", "bntt"])
def test_cnn_with_norms_runs_the_fused_kernels_like_the_reference(norm) -> None:
    from spikeflow.models import mnist_scnn

    torch.manual_seed(0)
    x = (torch.rand(4, 3, 1, 28, 28) < 0.5).float()
    grads = []
    outs = []
    for backend in ("cpu", "reference"):
        torch.manual_seed(1)
        net = mnist_scnn((4, 6), norm=norm, time_steps=4, beta=0.8, threshold=0.5, backend=backend)
        out, _ = net(x)
        out.sum().backward()
        outs.append(out)
        grads.append(net[0].weight.grad)
    assert outs[0].sum() > 0
    torch.testing.assert_close(outs[0], outs[1])
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5, rtol=1e-4)


def test_recurrent_wrapper_feeds_the_last_output_back() -> None:
    torch.manual_seed(0)
    layer = RecurrentNeuron(sf.AdaptiveLeaky(beta=0.9, rho=0.95, adaptation=0.2), 5)
    x = torch.rand(7, 2, 5) * 2
    y, state = layer(x)
    # by hand: the neuron's own step with the feedback added
    inner, prev, outs = None, torch.zeros(2, 5), []
    for t in range(7):
        out, inner = layer.neuron.step(x[t] + layer.recurrent(prev), inner)
        outs.append(out)
        prev = out
    torch.testing.assert_close(y, torch.stack(outs))
    assert y.sum() > 0 and torch.equal(state[1], y[-1])
    y.sum().backward()
    assert layer.recurrent.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"\[B, 5\]"):
        layer(torch.rand(3, 2, 4))
