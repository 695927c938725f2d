"""report(model, data): per-sample rows, a text table, dict/JSON forms, any batching."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import spikeflow as sf


def _net() -> sf.Sequential:
    torch.manual_seed(0)
    return sf.Sequential(nn.Linear(8, 12), sf.Leaky(beta=0.9, threshold=0.4), nn.Linear(12, 3),
                         sf.Leaky(beta=0.9, threshold=0.4))


def _data() -> torch.Tensor:
    return (torch.rand(6, 10, 8, generator=torch.Generator().manual_seed(1)) < 0.4).float()


def test_rows_are_per_sample_and_do_not_depend_on_batching():
    net, x = _net(), _data()
    whole = sf.analysis.report(net, x)
    split = sf.analysis.report(net, [x[:, :3], (x[:, 3:], torch.zeros(7))])  # tensors or (inputs, targets)
    assert [r["layer"] for r in whole.rows] == ["0", "1", "2", "3", "total"]
    for a, b in zip(whole.rows, split.rows, strict=True):
        for key in ("acs", "dense", "updates", "proxy_pj", "memory_pj", "rate"):
            assert a[key] == pytest.approx(b[key]) if a[key] is not None else b[key] is None
    first = whole.rows[0]
    assert first["dense"] == 6 * 8 * 12 and first["in_rate"] == pytest.approx(float(x.mean()))
    assert first["proxy_pj"] == pytest.approx(first["acs"] * 0.9)
    total = whole.rows[-1]
    assert total["acs"] == pytest.approx(sum(r["acs"] for r in whole.rows[:-1]))
    assert total["memory_pj"] == pytest.approx(sum(r["memory_pj"] for r in whole.rows[:-1]))
    s = whole.summary
    assert s["samples"] == 10 and s["steps"] == 6 and s["qann_bits"] == 3
    assert s["snn_wins"] == (s["memory_pj"] < s["qann_pj"])
    assert s["memory_pj"] > 10 * s["proxy_pj"]  # memory dominates, the point of (b)


def test_pretty_table_and_json_forms():
    rep = sf.analysis.report(_net(), _data())
    text = str(rep)
    header = text.splitlines()[0].split()
    assert header[:3] == ["layer", "type", "neurons"] and "crossover" in text and "Horowitz" in text
    assert len({len(line) for line in rep.table().splitlines()[:2]}) == 1  # aligned header and rule
    back = json.loads(rep.to_json())
    assert back["rows"][0]["acs"] == pytest.approx(rep.rows[0]["acs"])
    assert back["assumptions"]["compute"]["e_ac"] == 0.9 and back["assumptions"]["memory"]["weight_bits"] == 8
    assert rep.to_dict()["summary"]["steps"] == 6


def test_report_rejects_bad_data():
    net = _net()
    with pytest.raises(ValueError, match=r"time-major \[T, B, \.\.\.\]"):
        sf.analysis.report(net, [torch.ones(3, 8)])
    with pytest.raises(ValueError, match="no batches"):
        sf.analysis.report(net, [])
    with pytest.raises(ValueError, match="different numbers of steps"):
        sf.analysis.report(net, [torch.ones(3, 1, 8), torch.ones(4, 1, 8)])
    with pytest.raises(TypeError, match="data"):
        sf.analysis.report(net, 3)
