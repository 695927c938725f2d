"""Spoken digits from espeak-ng (skipped without it): voice split, cochlea encoding, cache, CLI task."""

from __future__ import annotations

import json
import subprocess
import sys
from unittest import mock

import pytest
import torch

import spikeflow.data  # noqa: F401  (the module below is shadowed by the function of the same name)
from spikeflow.cli import main

sd = sys.modules["spikeflow.data.spoken_digits"]

pytestmark = pytest.mark.skipif(sd.espeak_path() is None, reason="needs espeak-ng (apt-get install -y espeak-ng)")

SMALL = dict(max_variants=5, renditions=1, accents=("en-us",))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("spoken")


def test_split_by_voice_encoded_and_cached(cache):
    train = sd.spoken_digits("train", data_dir=cache, **SMALL)
    test = sd.spoken_digits("test", data_dir=cache, **SMALL)
    (folder,) = list(cache.iterdir())
    info = json.loads((folder / "info.json").read_text())
    assert not set(info["train_voices"]) & set(info["test_voices"])  # held-out voices
    assert len(info["train_voices"]) == 4 and len(info["test_voices"]) == 1
    assert len(train) == 40 and len(test) == 10
    assert sorted(test.targets.tolist()) == list(range(10))
    x, y = train[0]
    cfg = sd.SpokenDigitsConfig(**SMALL)
    assert x.dtype == torch.float32 and x.shape == (81, cfg.channels * cfg.neurons_per_channel)
    assert set(x.unique().tolist()) <= {0.0, 1.0} and x.sum() > 20  # speech makes spikes
    assert train.info.time_major and train.info.num_classes == 10 and train.info.features == x.shape[1]
    # the cache serves the second call without synthesising anything
    with mock.patch.object(subprocess, "run", wraps=subprocess.run) as run:
        again = sd.spoken_digits("train", data_dir=cache, **SMALL)
    assert all("--version" in c.args[0] for c in run.call_args_list)
    assert torch.equal(again.tensors[0], train.tensors[0])
    with pytest.raises(TypeError, match="unknown setting"):
        sd.spoken_digits("train", data_dir=cache, voices=3)


def test_different_digits_give_different_codes(cache):
    x, y = sd.spoken_digits("train", data_dir=cache, **SMALL).tensors
    one = x[y == 1].sum((0, 1))
    seven = x[y == 7].sum((0, 1))
    assert torch.nn.functional.cosine_similarity(one, seven, dim=0) < 0.99


@pytest.mark.parametrize("method", ["bptt", "eventprop"])
def test_cli_runs_one_epoch(cache, tmp_path, method, capsys):
    code = main(["train", "spoken-digits", "--method", method, "--data-dir", str(cache), "--max-variants", "5",
                 "--renditions", "1", "--accents", "en-us", "--epochs", "1", "--hidden", "16", "--batch-size", "20",
                 "--out", str(tmp_path), "--no-progress", "--threads", "1"])
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["method"] == method and metrics["train_samples"] == 40 and metrics["test_samples"] == 10
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert torch.isfinite(torch.tensor(metrics["history"][0]["train_loss"]))
