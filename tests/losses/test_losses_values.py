"""Each loss against an independent hand computation on tiny tensors."""

import math

import pytest
import torch

from spikeflow import losses as L

T, B, N_OUT = 6, 4, 3


def _spikes(dtype=torch.float32, seed=0, shape=(T, B, N_OUT)):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) < 0.4).to(dtype)


def _targets(c=N_OUT, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, c, (B,), generator=g)


def _ce(logits, y):
    """Cross-entropy written out: -z_y + log sum_c exp z_c, averaged over the batch."""
    rows = [-logits[b, y[b]].item() + math.log(sum(math.exp(v) for v in logits[b].tolist())) for b in range(len(y))]
    return sum(rows) / len(rows), rows


def test_ce_rate_equals_cross_entropy_of_mean_rate():
    s, y = _spikes(), _targets()
    want, _ = _ce(s.sum(0) / T, y)
    assert L.CERateLoss()(s, y).item() == pytest.approx(want, rel=1e-6)


def test_ce_count_equals_cross_entropy_of_counts():
    s, y = _spikes(), _targets()
    want, rows = _ce(s.sum(0), y)
    assert L.CECountLoss()(s, y).item() == pytest.approx(want, rel=1e-6)
    assert L.CECountLoss(reduction="none")(s, y).tolist() == pytest.approx(rows, rel=1e-6)
    assert L.CECountLoss(reduction="sum")(s, y).item() == pytest.approx(sum(rows), rel=1e-6)


def test_ce_max_membrane_equals_cross_entropy_of_peak():
    mem = torch.randn(T, B, N_OUT, generator=torch.Generator().manual_seed(3))
    y = _targets()
    peak = torch.tensor([[max(mem[t, b, o].item() for t in range(T)) for o in range(N_OUT)] for b in range(B)])
    want, _ = _ce(peak, y)
    assert L.CEMaxMembraneLoss()(mem, y).item() == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("on,off", [(1.0, 0.0), (0.75, 0.25)])
def test_mse_count_hand(on, off):
    s, y = _spikes(), _targets()
    counts = s.sum(0)
    total = 0.0
    for b in range(B):
        for c in range(N_OUT):
            goal = (on if c == y[b] else off) * T
            total += (counts[b, c].item() - goal) ** 2
    want = total / (B * N_OUT) / T
    assert L.MSECountLoss(correct_rate=on, incorrect_rate=off)(s, y).item() == pytest.approx(want, rel=1e-6)


def test_mse_membrane_index_targets_hand():
    mem = torch.randn(T, B, N_OUT, generator=torch.Generator().manual_seed(4))
    y = _targets()
    total = 0.0
    for t in range(T):
        for b in range(B):
            for o in range(N_OUT):
                total += (mem[t, b, o].item() - (0.8 if o == y[b] else -0.2)) ** 2
    got = L.MSEMembraneLoss(on_target=0.8, off_target=-0.2)(mem, y).item()
    assert got == pytest.approx(total / (T * B * N_OUT), rel=1e-6)


def test_mse_membrane_float_and_time_varying_targets():
    g = torch.Generator().manual_seed(5)
    mem, goal_bo, goal_tbo = (
        torch.randn(T, B, N_OUT, generator=g),
        torch.randn(B, N_OUT, generator=g),
        torch.randn(T, B, N_OUT, generator=g),
    )
    assert L.MSEMembraneLoss()(mem, goal_bo).item() == pytest.approx(((mem - goal_bo) ** 2).mean().item(), rel=1e-6)
    got = L.MSEMembraneLoss(time_varying_targets=True)(mem, goal_tbo).item()
    assert got == pytest.approx(((mem - goal_tbo) ** 2).mean().item(), rel=1e-6)


def _train(rows, steps):
    """[B][N_OUT] lists of spike steps -> spikes [T, B, N_OUT]."""
    s = torch.zeros(steps, len(rows), len(rows[0]))
    for b, row in enumerate(rows):
        for o, times in enumerate(row):
            for t in times:
                s[t, b, o] = 1.0
    return s


def test_mse_temporal_hand():
    steps = 5
    s = _train([[[1, 3], [], [0]], [[4], [2], []]], steps)  # first times [[1, 5, 0], [4, 2, 5]]
    y = torch.tensor([0, 1])
    # on_target 0, off_target -1 -> T = 5 ("silent")
    want = (((1 - 0) ** 2 + 0 + (0 - 5) ** 2) + ((4 - 5) ** 2 + (2 - 0) ** 2 + 0)) / (2 * 3) / steps**2
    assert L.MSETemporalLoss()(s, y).item() == pytest.approx(want, rel=1e-6)
    # explicit targets and a tolerance of 2 steps: |err| < 2 counts as zero
    # errors: sample 0 -> [0, 5-3, 0-3], sample 1 -> [4-3 (<2: 0), 2-1 (<2: 0), 5-3]
    want_tol = ((0 + 2**2 + 3**2) + (0 + 0 + 2**2)) / 6 / steps**2
    got = L.MSETemporalLoss(on_target=1, off_target=3, tolerance=2)(s, y).item()
    assert got == pytest.approx(want_tol, rel=1e-6)


def test_mse_temporal_float_targets_are_times():
    s = _train([[[1], [3]]], 4)
    goal = torch.tensor([[0.0, 4.0]])
    assert L.MSETemporalLoss()(s, goal).item() == pytest.approx((1 + 1) / 2 / 16)


def test_ce_temporal_hand():
    s = _train([[[1, 3], [], [0]], [[4], [2], []]], 5)
    y = torch.tensor([0, 1])
    want, _ = _ce(-torch.tensor([[1.0, 5.0, 0.0], [4.0, 2.0, 5.0]]), y)
    assert L.CETemporalLoss()(s, y).item() == pytest.approx(want, rel=1e-6)


def test_weighted_mean_matches_torch_convention():
    s, y = _spikes(), _targets()
    w = torch.tensor([0.2, 1.0, 3.0])
    got = L.CECountLoss(weight=w)(s, y)
    assert got.item() == pytest.approx(torch.nn.functional.cross_entropy(s.sum(0), y, weight=w).item(), rel=1e-6)
    per = L.MSECountLoss(reduction="none")(s, y)
    weighted = L.MSECountLoss(weight=w)(s, y)
    assert weighted.item() == pytest.approx(((per * w[y]).sum() / w[y].sum()).item(), rel=1e-6)
    assert L.MSECountLoss(weight=w, reduction="none")(s, y).tolist() == pytest.approx((per * w[y]).tolist())


@pytest.mark.parametrize(
    "make",
    [
        L.CERateLoss,
        L.CECountLoss,
        L.CEMaxMembraneLoss,
        L.MSECountLoss,
        L.MSEMembraneLoss,
        L.MSETemporalLoss,
        L.CETemporalLoss,
    ],
)
def test_reductions_consistent(make):
    s, y = _spikes(seed=7), _targets()
    none = make(reduction="none")(s, y)
    assert none.shape == (B,)
    assert make(reduction="sum")(s, y).item() == pytest.approx(none.sum().item(), rel=1e-6)
    assert make(reduction="mean")(s, y).item() == pytest.approx(none.mean().item(), rel=1e-6)
