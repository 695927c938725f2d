"""Bad input to the losses: errors name the argument and show expected vs received."""

import pytest
import torch

from spikeflow import losses as L

S = torch.zeros(4, 3, 6)
Y = torch.tensor([0, 1, 2])
LOSSES = [
    L.CERateLoss,
    L.CECountLoss,
    L.CEMaxMembraneLoss,
    L.MSECountLoss,
    L.MSEMembraneLoss,
    L.MSETemporalLoss,
    L.CETemporalLoss,
]


@pytest.mark.parametrize("make", LOSSES)
def test_missing_time_dimension(make):
    with pytest.raises(ValueError, match=r"\[T, B, O\].*received shape \(3, 6\)"):
        make()(S[0], Y)


@pytest.mark.parametrize("make", LOSSES)
def test_targets_batch_mismatch(make):
    with pytest.raises(ValueError, match=r"targets: expected shape \[B\] = \(3,\).*received shape \(2,\)"):
        make()(S, Y[:2])


@pytest.mark.parametrize("make", LOSSES)
def test_outputs_not_divisible_by_num_classes(make):
    with pytest.raises(ValueError, match=r"num_classes: .*O = 6.*received num_classes = 4"):
        make(num_classes=4)(S, Y)


@pytest.mark.parametrize("make", LOSSES)
def test_targets_out_of_range(make):
    with pytest.raises(ValueError, match=r"targets: expected class indices in \[0, 2\], received values in \[0, 3\]"):
        make(num_classes=3)(S, torch.tensor([0, 3, 1]))


@pytest.mark.parametrize("make", [L.CERateLoss, L.CECountLoss, L.CEMaxMembraneLoss, L.MSECountLoss, L.CETemporalLoss])
@pytest.mark.parametrize("bad", [torch.tensor([0.0, 1.0, 2.0]), torch.tensor([True, False, True])])
def test_non_integer_targets(make, bad):
    with pytest.raises(TypeError, match="targets: expected integer class indices"):
        make()(S, bad)


def test_float_targets_with_wrong_shape():
    with pytest.raises(ValueError, match=r"targets: expected a float target membrane of shape \[3, 6\]"):
        L.MSEMembraneLoss()(S, torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"targets: .*\[T, B, O\]"):
        L.MSEMembraneLoss(time_varying_targets=True)(S, Y)
    with pytest.raises(ValueError, match=r"targets: expected float target times of shape \[B, C\]"):
        L.MSETemporalLoss()(S, torch.zeros(3))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="reduction"):
        L.CECountLoss(reduction="avg")
    with pytest.raises(TypeError, match="num_classes"):
        L.CECountLoss(num_classes=2.5)
    with pytest.raises(ValueError, match="num_classes"):
        L.CECountLoss(num_classes=0)
    with pytest.raises(ValueError, match="correct_rate"):
        L.MSECountLoss(correct_rate=1.5)
    with pytest.raises(ValueError, match="tolerance"):
        L.MSETemporalLoss(tolerance=-1)
    with pytest.raises(ValueError, match=r"weight: expected one weight per class, shape \[C\] = \(6,\)"):
        L.CECountLoss(weight=torch.ones(4))(S, Y)
    with pytest.raises(TypeError, match="spikes: expected a torch.Tensor"):
        L.CECountLoss()(S.tolist(), Y)
