"""The Trainer: it learns, reports, rejects bad input and resumes bit-identically."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset
from train_helpers import make_loader, make_model, make_trainer

from spikeflow.train import seed_everything


def test_training_lowers_the_loss(tmp_path):
    trainer = make_trainer(tmp_path, lr=2e-2)
    trainer.scheduler = None
    loader = make_loader(n=64)
    before = trainer.evaluate(loader)["loss"]
    metrics = trainer.fit(loader, loader, epochs=4)
    assert metrics["history"][-1]["test_loss"] < before
    assert metrics["history"][-1]["train_loss"] < metrics["history"][0]["train_loss"]


def test_metrics_json_has_summary_and_history(tmp_path):
    trainer = make_trainer(tmp_path, info={"task": "toy"})
    returned = trainer.fit(make_loader(), make_loader(n=16), epochs=2)
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written == json.loads(json.dumps(returned))
    assert written["task"] == "toy"
    assert written["epochs"] == 2 and written["seed"] == 0
    assert 0.0 <= written["test_accuracy"] <= 1.0 and written["seconds"] > 0
    assert [h["epoch"] for h in written["history"]] == [1, 2]
    assert written["history"][-1]["test_accuracy"] == written["test_accuracy"]
    assert written["history"][1]["lr"] == pytest.approx(written["history"][0]["lr"] * 0.5)  # scheduler stepped
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_same_seed_same_result_different_seed_differs(tmp_path):
    def final(seed, sub):
        seed_everything(seed)  # the weights are drawn before the trainer exists
        trainer = make_trainer(tmp_path / sub, seed=seed)
        trainer.fit(make_loader(), None, epochs=1)
        return [p.detach().clone() for p in trainer.model.parameters()]

    a, b, c = final(3, "a"), final(3, "b"), final(4, "c")
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


def _without_time(metrics):
    out = {k: v for k, v in metrics.items() if k != "seconds"}
    out["history"] = [{k: v for k, v in h.items() if k != "seconds"} for h in metrics["history"]]
    return out


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    seed_everything(0)
    straight = make_trainer(tmp_path / "straight")
    m_straight = straight.fit(make_loader(), make_loader(n=16), epochs=2)

    seed_everything(0)
    first = make_trainer(tmp_path / "split")
    first.fit(make_loader(), make_loader(n=16), epochs=1)
    torch.manual_seed(999)  # disturb every RNG and build a fresh model: resume must restore all
    torch.rand(100)
    second = make_trainer(tmp_path / "split", model=make_model())
    m_split = second.fit(make_loader(), make_loader(n=16), epochs=2, resume=True)

    for (name, p), q in zip(straight.model.named_parameters(), second.model.parameters(), strict=True):
        assert torch.equal(p, q), name
    moments = zip(straight.optimizer.state_dict()["state"].values(), second.optimizer.state_dict()["state"].values(),
                  strict=True)
    for p, q in moments:
        assert torch.equal(p["exp_avg"], q["exp_avg"])
    # fit(epochs=1) then fit(epochs=2): the plan records the extension (StepLR has no fixed length)
    assert m_split.pop("plan") == [{"from_epoch": 1, "epochs": 1}, {"from_epoch": 2, "epochs": 2}]
    assert m_straight.pop("plan") == [{"from_epoch": 1, "epochs": 2}]
    assert _without_time(m_straight) == _without_time(m_split)
    assert second.scheduler.last_epoch == 2


def test_resume_without_a_checkpoint_starts_from_scratch(tmp_path):
    seed_everything(0)
    a = make_trainer(tmp_path / "a").fit(make_loader(), None, epochs=1, resume=True)
    seed_everything(0)
    b = make_trainer(tmp_path / "b").fit(make_loader(), None, epochs=1)
    assert _without_time(a) == _without_time(b)


def test_resume_needs_an_out_dir():
    with pytest.raises(ValueError, match="out_dir"):
        make_trainer(None).fit(make_loader(), None, epochs=1, resume=True)


def test_nan_input_names_the_batch(tmp_path):
    x = torch.rand(16, 12)
    x[11, 3] = float("nan")
    loader = DataLoader(TensorDataset(x, torch.zeros(16, dtype=torch.long)), batch_size=4)
    with pytest.raises(ValueError, match=r"batch 2 of epoch 1.*NaN"):
        make_trainer(tmp_path).fit(loader, None, epochs=1)


def test_inf_in_test_data_is_rejected(tmp_path):
    x = torch.rand(8, 12)
    x[0, 0] = math.inf
    bad = DataLoader(TensorDataset(x, torch.zeros(8, dtype=torch.long)), batch_size=4)
    with pytest.raises(ValueError, match="test batch 0"):
        make_trainer(tmp_path).fit(make_loader(), bad, epochs=1)


def test_non_finite_loss_is_rejected(tmp_path):
    trainer = make_trainer(tmp_path)
    trainer.loss_fn = lambda out, y: out.sum() * float("nan")
    with pytest.raises(ValueError, match=r"loss_fn.*batch 0 of epoch 1"):
        trainer.fit(make_loader(), None, epochs=1)


def test_bad_arguments_are_named(tmp_path):
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    from spikeflow.train import Trainer

    with pytest.raises(TypeError, match="model"):
        Trainer("net", opt, lambda o, y: o.sum())
    with pytest.raises(TypeError, match="optimizer"):
        Trainer(model, "adam", lambda o, y: o.sum())
    with pytest.raises(ValueError, match="grad_clip"):
        Trainer(model, opt, lambda o, y: o.sum(), grad_clip=-1.0)
    with pytest.raises(ValueError, match="epochs"):
        make_trainer(tmp_path).fit(make_loader(), None, epochs=0)
    trainer = make_trainer(tmp_path)
    trainer.encode = lambda x: x  # forgot the time dimension
    with pytest.raises(ValueError, match=r"encode.*\[T, B"):
        trainer.fit(make_loader(), None, epochs=1)


def test_grad_clip_bounds_the_update(tmp_path):
    model = make_model()
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    from train_helpers import count_loss, rate_encode

    from spikeflow.train import Trainer

    loader = DataLoader(TensorDataset(torch.ones(8, 12), torch.zeros(8, dtype=torch.long)), batch_size=8)
    Trainer(model, opt, count_loss, encode=rate_encode, grad_clip=1e-3, progress=False).fit(loader, None, epochs=1)
    step = torch.sqrt(sum(((p - b) ** 2).sum() for p, b in zip(model.parameters(), before, strict=True)))
    assert step <= 1e-3 + 1e-6


def test_epoch_hook_sees_every_epoch(tmp_path):
    seen = []
    make_trainer(tmp_path, on_epoch_end=seen.append).fit(make_loader(), None, epochs=2)
    assert [r["epoch"] for r in seen] == [1, 2] and all(r["test_accuracy"] is None for r in seen)


def test_progress_bar_only_on_a_terminal(monkeypatch):
    import io

    from spikeflow.train.trainer import _progress_disabled

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr("sys.stderr", io.StringIO())  # redirected to a file or pipe
    assert _progress_disabled(None) is True
    monkeypatch.setattr("sys.stderr", Terminal())
    assert _progress_disabled(None) is False and _progress_disabled(False) is True
    monkeypatch.setenv("CI", "1")
    assert _progress_disabled(None) is True and _progress_disabled(True) is False


def test_a_fixed_length_scheduler_is_not_extended_silently(tmp_path):
    seed_everything(0)
    trainer = make_trainer(tmp_path)
    trainer.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(trainer.optimizer, T_max=1)
    trainer.fit(make_loader(n=16), None, epochs=1)
    again = make_trainer(tmp_path)
    again.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(again.optimizer, T_max=2)
    with pytest.raises(ValueError, match=r"CosineAnnealingLR for 1 epochs \(T_max=1\).*CosineSchedule"):
        again.fit(make_loader(n=16), None, epochs=2, resume=True)


def test_out_dir_that_is_a_file_fails_before_training(tmp_path):
    (tmp_path / "f").write_text("x")
    trainer = make_trainer(tmp_path / "f")
    with pytest.raises(ValueError, match="is a file"):
        trainer.fit(make_loader(), None, epochs=1)
    assert trainer.history == []
