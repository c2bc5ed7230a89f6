"""Model-zoo report: the published figures come out, and `edge-sdk zoo` writes them."""

from __future__ import annotations

import json

import pytest

from edge_sdk.benchmarks.zoo import count_flops, describe
from edge_sdk.cli import main


def test_b0_params_macs_and_split_match_the_published_zoo():
    e = describe("ms_eff_gcvit_b0")
    assert e.params_m == pytest.approx(8.70, abs=0.005)
    assert 0.80 <= e.macs_g <= 0.90  # seed 000's "0.87 GFLOPs" are MACs; the torch counter gives 0.83
    assert e.flops_g == pytest.approx(2 * e.macs_g, abs=0.002)
    assert e.split_m["backbone"] == pytest.approx(3.60, abs=0.01)
    assert e.split_m["low_branch"] == pytest.approx(1.69, abs=0.01)
    assert e.split_m["high_branch"] == pytest.approx(3.31, abs=0.01)
    assert sum(e.split_m.values()) == pytest.approx(e.params_m, abs=0.005)


def test_b5_params_and_macs():
    e = describe("ms_eff_gcvit_b5")
    assert e.params_m == pytest.approx(50.335, abs=0.001)  # 50,335,325
    assert 13.0 <= e.macs_g <= 13.7


def test_flop_counter_counts_a_known_matmul():
    import torch

    lin = torch.nn.Linear(64, 32, bias=False)
    assert count_flops(lin, torch.zeros(5, 64)) == 2 * 5 * 64 * 32


def test_cli_zoo_writes_markdown_and_json(tmp_path, capsys):
    assert main(["zoo", "--models", "repvit_m0_9_student,ms_eff_gcvit_b0", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "| ms_eff_gcvit_b0 | 3x224x224 | 8.70 |" in printed
    data = json.loads((tmp_path / "zoo.json").read_text())
    by_name = {m["model"]: m for m in data["models"]}
    assert set(by_name) == {"repvit_m0_9_student", "ms_eff_gcvit_b0"}
    assert by_name["repvit_m0_9_student"]["deploy_params_m"] < by_name["repvit_m0_9_student"]["params_m"]
    assert data["machine"]["versions"]["torch"].startswith("2.") and data["machine"]["cores"] >= 1
    assert "| repvit_m0_9_student |" in (tmp_path / "zoo.md").read_text()


def test_cli_unknown_model_exits_2_with_message(tmp_path, capsys):
    assert main(["zoo", "--models", "nosuchnet"]) == 2
    assert "unknown model 'nosuchnet'" in capsys.readouterr().err
