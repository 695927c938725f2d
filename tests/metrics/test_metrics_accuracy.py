"""Predictions and accuracies on hand examples: rate, first spike, membrane, population codes, ties."""

import pytest
import torch

from spikeflow import metrics as M


def _spikes(steps, rows):
    """rows: [B][O] lists of spike steps -> [T, B, O]."""
    s = torch.zeros(steps, len(rows), len(rows[0]))
    for b, row in enumerate(rows):
        for o, times in enumerate(row):
            for t in times:
                s[t, b, o] = 1.0
    return s


def test_accuracy_rate_hand_example():
    # counts: [2, 1, 0] -> 0 ; [0, 1, 3] -> 2 ; [1, 1, 0] tie -> 0 (lowest index) ; silent -> 0
    s = _spikes(4, [[[0, 1], [2], []], [[], [0], [1, 2, 3]], [[3], [0], []], [[], [], []]])
    assert M.predict_rate(s).tolist() == [0, 2, 0, 0]
    assert M.accuracy_rate(s, torch.tensor([0, 2, 1, 0])) == 0.75
    assert M.accuracy_count is M.accuracy_rate
    assert isinstance(M.accuracy_rate(s, torch.tensor([0, 2, 1, 0])), float)


def test_accuracy_rate_population_sums_groups():
    # 2 classes x 3 neurons; class 0 neurons fire 1+1+1 = 3, class 1 fires 0+2+0 = 2 -> class 0
    # although the single most active neuron belongs to class 1.
    s = _spikes(3, [[[0], [1], [2], [], [0, 1], []]])
    assert M.class_counts(s, num_classes=2).tolist() == [[3.0, 2.0]]
    assert M.predict_rate(s, num_classes=2).tolist() == [0]
    assert M.predict_rate(s).tolist() == [4]
    assert M.accuracy_rate(s, torch.tensor([0]), num_classes=2) == 1.0


def test_accuracy_first_spike_hand_example():
    # first times: [2, 1, 4(silent)] -> 1 ; [0, 0, 3] tie -> 0 ; all silent -> 0
    s = _spikes(4, [[[2, 3], [1], []], [[0], [0], [3]], [[], [], []]])
    assert M.predict_first_spike(s).tolist() == [1, 0, 0]
    assert M.accuracy_first_spike(s, torch.tensor([1, 1, 0])) == pytest.approx(2 / 3)


def test_accuracy_first_spike_population_uses_mean_time_with_silent_as_T():
    # class 0: times 0 and silent (T = 5) -> 2.5 ; class 1: times 2 and 2 -> 2 -> class 1 wins
    s = _spikes(5, [[[0], [], [2], [2]]])
    assert M.class_first_spike_times(s, num_classes=2).tolist() == [[2.5, 2.0]]
    assert M.predict_first_spike(s, num_classes=2).tolist() == [1]
    assert M.accuracy_first_spike(s, torch.tensor([1]), num_classes=2) == 1.0


@pytest.mark.parametrize("reduce,pred", [("max", 0), ("mean", 1), ("last", 2)])
def test_accuracy_membrane_reductions(reduce, pred):
    # neuron 0 peaks high once, neuron 1 is high on average, neuron 2 ends highest
    mem = torch.tensor([[5.0, 2.0, 0.0], [0.0, 2.0, 0.0], [0.0, 2.0, 3.0]]).unsqueeze(1)
    assert M.predict_membrane(mem, reduce=reduce).tolist() == [pred]
    assert M.accuracy_membrane(mem, torch.tensor([pred]), reduce=reduce) == 1.0


def test_accuracy_membrane_population_mean():
    mem = torch.tensor([[[1.0, 1.0, 3.0, -2.0]]])  # class means 1.0 vs 0.5 -> class 0
    assert M.class_membrane(mem, num_classes=2).tolist() == [[1.0, 0.5]]
    assert M.accuracy_membrane(mem, torch.tensor([0]), num_classes=2) == 1.0


def test_accuracy_accepts_bool_and_float64_spikes():
    s = _spikes(3, [[[0], []], [[], [1]]])
    y = torch.tensor([0, 1])
    assert M.accuracy_rate(s.bool(), y) == 1.0
    assert M.accuracy_rate(s.double(), y) == 1.0
    assert M.accuracy_first_spike(s.bool(), y) == 1.0


def test_accuracy_bad_input():
    s = torch.zeros(3, 2, 4)
    with pytest.raises(ValueError, match=r"spikes: expected a time-major tensor of shape \[T, B, O\]"):
        M.accuracy_rate(s[0], torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"targets: expected shape \[B\] = \(2,\)"):
        M.accuracy_rate(s, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="num_classes"):
        M.accuracy_first_spike(s, torch.tensor([0, 1]), num_classes=3)
    with pytest.raises(ValueError, match=r"targets: expected class indices in \[0, 1\]"):
        M.accuracy_rate(s, torch.tensor([0, 2]), num_classes=2)
    with pytest.raises(TypeError, match="targets: expected integer class indices"):
        M.accuracy_membrane(s, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="reduce"):
        M.accuracy_membrane(s, torch.tensor([0, 1]), reduce="min")
