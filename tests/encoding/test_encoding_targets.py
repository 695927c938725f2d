"""Target codes: one-hot, rate targets (deterministic / Bernoulli, populations), latency targets."""

import torch

from spikeflow import encoding as E


def test_to_one_hot():
    oh = E.to_one_hot(torch.tensor([2, 0]), 3)
    assert oh.tolist() == [[0, 0, 1], [1, 0, 0]] and oh.dtype == torch.get_default_dtype()
    assert E.to_one_hot(torch.tensor([[1]]), 2, dtype=torch.float64).dtype == torch.float64


def test_rate_targets_default_is_one_hot_every_step():
    t = E.rate_targets(torch.tensor([1, 2]), num_classes=3, num_steps=4)
    assert t.shape == (4, 2, 3)
    assert torch.equal(t, E.to_one_hot(torch.tensor([1, 2]), 3).expand(4, 2, 3))


def test_rate_targets_regular_trains_have_exact_counts():
    t = E.rate_targets(torch.tensor([0]), num_classes=2, num_steps=10, on_rate=0.5, off_rate=0.2)
    assert t[:, 0, 0].nonzero().flatten().tolist() == [0, 2, 4, 6, 8]
    assert t[:, 0, 1].nonzero().flatten().tolist() == [0, 5]


def test_rate_targets_population_blocks_are_class_major():
    t = E.rate_targets(torch.tensor([1]), num_classes=3, num_steps=2, population=4)
    assert t.shape == (2, 1, 12)
    assert t[0, 0].tolist() == [0] * 4 + [1] * 4 + [0] * 4


def test_rate_targets_stochastic_statistics_and_seed():
    labels = torch.tensor([0, 1] * 50)
    g = torch.Generator().manual_seed(0)
    t = E.rate_targets(labels, 2, 200, on_rate=0.8, off_rate=0.1, stochastic=True, generator=g)
    on = E.to_one_hot(labels, 2).bool()
    assert abs(t.mean(0)[on].mean().item() - 0.8) < 0.02
    assert abs(t.mean(0)[~on].mean().item() - 0.1) < 0.02
    again = E.rate_targets(
        labels, 2, 200, on_rate=0.8, off_rate=0.1, stochastic=True, generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(t, again)


def test_latency_targets():
    t = E.latency_targets(torch.tensor([2, 0]), num_classes=3, num_steps=5)
    assert t.shape == (5, 2, 3)
    assert torch.equal(t.sum(0), torch.ones(2, 3))  # every neuron fires once
    assert t.argmax(0).tolist() == [[4, 4, 0], [0, 4, 4]]
    t2 = E.latency_targets(torch.tensor([1]), 2, 6, on_time=1, off_time=3, population=2)
    assert t2.argmax(0).tolist() == [[3, 3, 1, 1]]
