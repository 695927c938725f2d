"""ANN -> SNN conversion: rates converge to the ReLU activations, BN folding, signed neurons."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import spikeflow as sf
from spikeflow.convert import (
    SignedIF,
    activation_scales,
    convert,
    evaluate_over_time,
    fold_ann,
    relu_outputs,
    run_constant_input,
    signed_if_step,
)
from spikeflow.convert.signed import SignedIFState


def _ann() -> nn.Sequential:
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                        nn.Dropout(0.5), nn.Linear(36, 8), nn.ReLU(), nn.Linear(8, 3))
    with torch.no_grad():
        bn = ann[1]
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.1, 0.3)
    return ann.eval()


def test_fold_ann_folds_batchnorm_exactly_and_drops_dropout() -> None:
    ann = _ann().double()
    layers = fold_ann(ann)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.Dropout)) for m in layers)
    x = torch.rand(5, 1, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(nn.Sequential(*layers)(x), ann(x), atol=1e-13, rtol=1e-13)


def test_rates_times_threshold_converge_to_the_relu_outputs() -> None:
    ann = _ann()
    x = torch.rand(20, 1, 8, 8)
    snn = convert(ann, x, percentile=100.0)  # max-norm: no activation saturates on this data
    layers = fold_ann(ann)
    scales = activation_scales(layers, x, 100.0)
    relu = relu_outputs(layers, x)
    with torch.no_grad():
        logits = ann(x)
    errors = []
    for steps in (32, 256, 2048):
        with torch.no_grad():
            _, outputs = snn(x.unsqueeze(0).expand(steps, *x.shape).contiguous(), record=True)
        rate1 = outputs[1].mean(0) * scales[0]  # the first IF layer's rate, in ANN units
        rate2 = outputs[5].mean(0) * scales[1]
        readout = outputs[-1][-1] / steps
        errors.append([float((rate1 - relu[0]).abs().max()), float((rate2 - relu[1]).abs().max()),
                       float((readout - logits).abs().max())])
    for k in range(3):
        assert errors[2][k] < errors[1][k] < errors[0][k]
    assert errors[2][0] < 2 * scales[0] / 2048 + 1e-5  # the quantisation bound of one spike
    assert max(errors[2]) < 0.01 * float(logits.abs().max()) + 3e-3


def test_the_converted_network_is_an_if_subtract_sequential_that_classifies_like_the_ann() -> None:
    ann = _ann()
    x = torch.rand(64, 1, 8, 8)
    snn = convert(ann, x, percentile=99.9)
    neurons = [m for m in snn if isinstance(m, sf.IF)]
    assert len(neurons) == 2 and all(n.opts.reset == "subtract" and not n.opts.reset_delay for n in neurons)
    y = ann(x).argmax(1)
    table = evaluate_over_time(snn, x, y, (4, 256))
    assert table[256] >= 0.95 and table[256] >= table[4]


def test_max_pooling_and_unknown_layers_are_rejected() -> None:
    with pytest.raises(ValueError, match="MaxPool2d cannot be converted.*AvgPool2d"):
        convert(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2)), torch.rand(2, 1, 6, 6))
    with pytest.raises(TypeError, match="Sigmoid is not supported"):
        convert(nn.Sequential(nn.Linear(3, 2), nn.Sigmoid(), nn.Linear(2, 2)), torch.rand(2, 3))
    with pytest.raises(ValueError, match="percentile"):
        convert(nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2)), torch.rand(2, 3), percentile=0)


def test_percentile_balancing_ignores_outliers() -> None:
    layers = [nn.Identity(), nn.ReLU()]
    x = torch.ones(1000, 1)
    x[0] = 100.0  # one outlier
    assert activation_scales(layers, x, 100.0) == [100.0]
    assert activation_scales(layers, x, 99.0) == [1.0]


def test_signed_if_takes_back_excess_spikes_and_never_goes_net_negative() -> None:
    state = SignedIFState(torch.tensor([0.0, 0.0]), torch.tensor([1.0, 0.0]))
    s, state = signed_if_step(torch.tensor([-1.5, -1.5]), state, 1.0)
    assert s.tolist() == [-1.0, 0.0]  # only the neuron with a positive count may spike negatively
    assert state.v.tolist() == [-0.5, -1.5] and state.n.tolist() == [0.0, 0.0]
    x = torch.tensor([0.9, 0.9, 0.9, -0.6, -0.6, -0.6, -0.6, -0.6, -1.5]).reshape(9, 1, 1)
    out, final = SignedIF(1.0)(x)
    assert out.flatten().tolist() == [0, 1, 1, 0, 0, -1, 0, -1, 0] and final.n.item() == 0


def test_signed_conversion_converges_too() -> None:
    ann = _ann()
    x = torch.rand(10, 1, 8, 8)
    snn = convert(ann, x, percentile=100.0, signed=True)
    out = run_constant_input(snn, x, 1024)
    torch.testing.assert_close(out[-1] / 1024, ann(x).detach(), atol=0.02, rtol=0)
