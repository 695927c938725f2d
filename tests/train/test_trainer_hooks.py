"""The Trainer's hooks for loops that are not surrogate-gradient BPTT: forward, train_step,
after_step, a validation split, optimizer-free rules; and TensorBatches."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from spikeflow.train import Step, TensorBatches, Trainer, load_checkpoint, seed_everything


def _data(n: int = 40) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(5)
    x = torch.rand(n, 6, generator=g)
    return x, (x[:, :3].sum(1) > x[:, 3:].sum(1)).long()


def _accuracy(out: Tensor, y: Tensor) -> Tensor:
    return (out.argmax(1) == y).double().mean()


def _times_forward(model: nn.Module, x: Tensor) -> Tensor:
    return model(torch.where(torch.isinf(x), torch.zeros_like(x), x))  # +inf = "no spike" = 0


def _trainer(out_dir, **kw) -> Trainer:
    seed_everything(0)
    model = nn.Linear(6, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    kw.setdefault("forward", _times_forward)
    return Trainer(model, opt, nn.functional.cross_entropy, _accuracy, out_dir=out_dir, progress=False,
                   scheduler=torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5), **kw)


def test_forward_hook_takes_non_time_major_inputs_with_inf_but_not_nan(tmp_path):
    x, y = _data()
    x[::3, 0] = math.inf  # spike-time padding
    metrics = _trainer(tmp_path).fit(TensorBatches(x, y, batch_size=8, shuffle=True), epochs=1)
    assert math.isfinite(metrics["train_loss"])
    x[0, 1] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        _trainer(None).fit(TensorBatches(x, y, batch_size=8), epochs=1)


def test_after_step_sees_every_batch_after_the_optimizer_step(tmp_path):
    x, y = _data()
    seen: list[Step] = []
    trainer = _trainer(tmp_path, after_step=seen.append)
    trainer.fit(TensorBatches(x, y, batch_size=16), epochs=2)
    assert [(s.epoch, s.index) for s in seen] == [(1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)]
    assert seen[-1].outputs.shape == (8, 2) and torch.equal(seen[-1].targets, y[32:])
    assert seen[-1].result is not None and seen[-1].loss.numel() == 1


def test_validation_split_is_evaluated_every_epoch(tmp_path):
    x, y = _data()
    metrics = _trainer(tmp_path).fit(TensorBatches(x, y, batch_size=8), TensorBatches(x, y, batch_size=8), epochs=2,
                                     val_loader=TensorBatches(x[:20], y[:20], batch_size=10))
    assert all(0 <= h["validation_accuracy"] <= 1 and h["validation_loss"] > 0 for h in metrics["history"])
    best = max(metrics["history"], key=lambda h: h["validation_accuracy"])
    assert metrics["best_validation_epoch"] == best["epoch"]
    assert [h["lr"] for h in metrics["history"]] == [1e-2, 5e-3]


def test_train_step_replaces_backward_and_optimizer_none_needs_it(tmp_path):
    x, y = _data()
    calls = []

    def rule(model: nn.Module, inputs: Tensor, targets: Tensor):  # a Hebbian-like in-place update
        with torch.no_grad():
            out = model(inputs)
            model.weight.add_(1e-3 * torch.eye(2, 6))
        calls.append(len(targets))
        return out, None

    model = nn.Linear(6, 2)
    before = model.weight.detach().clone()
    trainer = Trainer(model, None, nn.functional.cross_entropy, _accuracy, train_step=rule, out_dir=tmp_path,
                      progress=False)
    metrics = trainer.fit(TensorBatches(x, y, batch_size=16), epochs=1)
    assert calls == [16, 16, 8] and metrics["train_loss"] is None and metrics["history"][0]["lr"] is None
    assert torch.allclose(model.weight - before, 3e-3 * torch.eye(2, 6))
    assert json.loads((tmp_path / "metrics.json").read_text())["epochs"] == 1
    with pytest.raises(TypeError, match="None only with train_step"):
        Trainer(model, None, nn.functional.cross_entropy)


def test_resume_with_hooks_and_a_seeded_transform_is_bit_identical(tmp_path):
    x, y = _data()

    def jitter(inputs: Tensor, gen: torch.Generator | None) -> Tensor:  # drawn from the data-order generator
        return inputs + 0.1 * torch.rand(inputs.shape, generator=gen)

    def fit(out, epochs, resume=False):
        batches = TensorBatches(x, y, batch_size=8, shuffle=True, generator=torch.Generator(), transform=jitter)
        return _trainer(out).fit(batches, epochs=epochs, resume=resume)

    straight = fit(tmp_path / "a", 3)
    fit(tmp_path / "b", 1)
    resumed = fit(tmp_path / "b", 3, resume=True)
    assert [h["train_loss"] for h in straight["history"]] == [h["train_loss"] for h in resumed["history"]]
    wa, wb = (load_checkpoint(tmp_path / d / "checkpoint.pt")["model"] for d in ("a", "b"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_dataset_set_epoch_is_called_before_each_epoch(tmp_path):
    x, y = _data(16)

    class Epochs(TensorDataset):
        epochs: list[int] = []

        def set_epoch(self, epoch: int) -> None:
            self.epochs.append(epoch)

    ds = Epochs(x, y)
    seed_everything(0)
    model = nn.Sequential(nn.Linear(6, 2))
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), lambda o, t: nn.functional.cross_entropy(
        o.mean(0), t), encode=lambda v: v.unsqueeze(0), progress=False)
    trainer.fit(DataLoader(ds, batch_size=8), epochs=2)
    assert ds.epochs == [1, 2]


def test_tensor_batches_order_and_errors():
    x, y = _data(10)
    g = torch.Generator().manual_seed(3)
    batches = list(TensorBatches(x, y, batch_size=4, shuffle=True, generator=g))
    order = torch.randperm(10, generator=torch.Generator().manual_seed(3))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    assert torch.equal(torch.cat([b[1] for b in batches]), y[order])
    assert len(TensorBatches(x, y, batch_size=4)) == 3
    with pytest.raises(ValueError, match="same length"):
        TensorBatches(x, y[:5], batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        TensorBatches(x, y, batch_size=0)


def test_an_unusable_device_is_a_clear_error():
    model = nn.Linear(6, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="device"):
        Trainer(model, opt, nn.functional.cross_entropy, device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            Trainer(model, opt, nn.functional.cross_entropy, device="cuda")
