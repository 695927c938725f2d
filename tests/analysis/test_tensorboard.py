"""TensorBoard logging from the Trainer: off by default, scalars and firing-rate histograms, and
logging does not change the training run."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import spikeflow as sf
import spikeflow.train  # noqa: F401

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def _fit(out_dir, tensorboard: bool, with_test: bool):
    torch.manual_seed(0)
    model = sf.Sequential(nn.Linear(8, 12), sf.Leaky(beta=0.8, threshold=0.5), nn.Linear(12, 2), sf.Leaky(beta=0.8))
    g = torch.Generator().manual_seed(1)
    x = torch.rand(32, 8, generator=g)
    y = (x[:, :4].sum(1) > x[:, 4:].sum(1)).long()
    train = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(2))
    test = DataLoader(TensorDataset(x[:16], y[:16]), batch_size=8) if with_test else None
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    trainer = sf.train.Trainer(
        model, opt, lambda o, t: nn.functional.cross_entropy(o.sum(0), t),
        lambda o, t: float((o.sum(0).argmax(-1) == t).float().mean()),
        encode=lambda b: torch.bernoulli(b.unsqueeze(0).expand(5, *b.shape)),
        out_dir=out_dir, progress=False, tensorboard=tensorboard,
    )
    return trainer.fit(train, test, epochs=2), model


@pytest.mark.parametrize("with_test", [True, False])
def test_tensorboard_logs_scalars_and_rate_histograms_without_changing_training(tmp_path, with_test):
    plain, m_plain = _fit(tmp_path / "plain", False, with_test)
    logged, m_logged = _fit(tmp_path / "tb", True, with_test)
    assert not (tmp_path / "plain" / "tensorboard").exists()  # off by default
    for a, b in zip(plain["history"], logged["history"], strict=True):
        assert a["train_loss"] == b["train_loss"] and a["test_loss"] == b["test_loss"]
    assert all(torch.equal(p, q) for p, q in zip(m_plain.parameters(), m_logged.parameters(), strict=True))
    acc = EventAccumulator(str(tmp_path / "tb" / "tensorboard"), size_guidance={"histograms": 0, "scalars": 0})
    acc.Reload()
    tags = acc.Tags()
    assert {"train_loss", "train_accuracy", "firing_rate_mean/1"} <= set(tags["scalars"])
    assert {"firing_rate/1", "firing_rate/3"} <= set(tags["histograms"])
    hist = acc.Histograms("firing_rate/1")
    assert [h.step for h in hist] == [1, 2]
    assert hist[-1].histogram_value.num == 12  # one rate per hidden neuron
    assert 0.0 <= hist[-1].histogram_value.min <= hist[-1].histogram_value.max <= 1.0
