"""NCNN targets (fp32 / fp16 through pnnx): exported from the one table, run by the runtime; a graph NCNN cannot
express fails naming the operator instead of writing a model that computes something else."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("pnnx", reason="pnnx is not installed (pip install 'edge-sdk[export]')")
pytest.importorskip("ncnn", reason="ncnn is not installed (pip install 'edge-sdk[ncnn]')")

import edge_sdk  # noqa: E402
from edge_sdk import manifest, targets  # noqa: E402
from edge_sdk.export import export  # noqa: E402
from tests.conftest import assert_camera_scores, shared_path  # noqa: E402

ROWS = ["ncnn-fp32", "ncnn-fp16"]


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    out = tmp_path_factory.mktemp("ncnn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = export("repvit_m0_9_student", formats=ROWS + ["onnx-fp32"], out=out, calib=shared_path("samples"),
                         calib_size=16)
    return {r["name"]: r for r in records}


def test_each_ncnn_row_exports_runs_and_holds_its_limits(student):
    sizes = {}
    for name in ROWS:
        r = student[name]
        assert r["ok"], r.get("error")
        m = manifest.load(r["path"])  # sha256 over the folder (model.param + model.bin)
        assert (m["target"], m["precision"]) == tuple(name.split("-")) and r["path"].endswith(".ncnn")
        assert {p.name for p in Path(r["path"]).iterdir()} == {"model.param", "model.bin"}
        p = m["parity"]
        assert p["status"] == "passed" and p["limits"] == targets.get(name).parity, f"{name}: {p}"
        assert p["backend"].startswith("ncnn") and p["data"]["kinds"]["bright"] > 0
        assert m["export"]["ncnn"]["layers"].get("Convolution", 0) + m["export"]["ncnn"]["layers"].get(
            "ConvolutionDepthWise", 0) > 10
        sizes[name] = m["artifact"]["bytes"]
    assert sizes["ncnn-fp16"] < 0.6 * sizes["ncnn-fp32"]


def test_load_picks_ncnn_by_its_suffix_any_batch_and_detect_runs_it(student):
    from edge_sdk.pipeline import detect

    path = student["ncnn-fp32"]["path"]
    x = np.random.default_rng(0).standard_normal((3, 3, 224, 224)).astype(np.float32)
    with edge_sdk.load(path, threads=2) as nc, edge_sdk.load(student["onnx-fp32"]["path"]) as ort:
        assert nc.name == "ncnn" and not nc.net.opt.use_fp16_arithmetic  # fp32 weights: fp32 compute everywhere
        np.testing.assert_allclose(nc.predict(x), ort.predict(x), atol=1e-5)
    (rec,) = detect([str(shared_path("samples", "western_real_1.JPG"))], path, progress=False)
    assert rec["ok"] and len(rec["faces"]) == 1 and rec["verdict"] in ("real", "fake") and json.dumps(rec)


class _Qkv5d(torch.nn.Module):
    """Patches, then timm's ViT attention (q/k/v as one rank-5 permute and an unbind along axis 0), pooled."""

    def __init__(self):
        super().__init__()
        from timm.models.vision_transformer import Attention

        self.stem = torch.nn.Conv2d(3, 32, 8, stride=8)
        self.attn = Attention(32, num_heads=2)
        self.head = torch.nn.Linear(32, 1)

    def forward(self, x):
        return self.head(self.attn(self.stem(x).flatten(2).transpose(1, 2)).mean(1))


def test_a_graph_ncnn_cannot_express_fails_naming_the_operator(tmp_path):
    """timm's ViT attention permutes 5-D tensors and unbinds q/k/v along axis 0: pnnx drops those operators and
    writes the rest. The exporter must fail, naming them, and leave no artifact behind."""
    from edge_sdk.export.config import ExportConfig
    from edge_sdk.export.errors import ExportError
    from edge_sdk.export.prepare import prepare

    prep = prepare(_Qkv5d().eval(), name="qkv5d")
    path = tmp_path / "ncnn-fp32" / "qkv5d.ncnn"
    row = targets.get("ncnn-fp32")
    with pytest.raises(ExportError, match="torch.unbind dropped") as err:
        row.load_exporter()(prep, path, row, ExportConfig(model="qkv5d"), {"workdir": str(tmp_path / "w"),
                                                                            "calib": None})
    assert err.value.op and "qkv5d" in str(err.value)
    assert not path.exists() and not any(path.parent.glob(".*tmp*"))


def test_b0s_window_attention_is_written_but_ncnn_cannot_run_it_so_its_card_declares_it(tmp_path):
    """MS-Eff-GCViT's windows are a batch dimension, which NCNN's Mat has not: pnnx writes the graph (its attention
    has no rank-5 q/k/v permute or unbind left to drop) and NCNN fails on it at run time. B0's card declares the
    limit, so export and bench report it as known instead of writing a file that cannot run."""
    import ncnn

    from edge_sdk.export.config import ExportConfig
    from edge_sdk.export.prepare import prepare

    prep = prepare("ms_eff_gcvit_b0")
    path = tmp_path / "ncnn-fp32" / "ms_eff_gcvit_b0.ncnn"
    row = targets.get("ncnn-fp32")
    row.load_exporter()(prep, path, row, ExportConfig(model="ms_eff_gcvit_b0"), {"workdir": str(tmp_path / "w"),
                                                                                 "calib": None})
    net = ncnn.Net()
    assert net.load_param(str(path / "model.param")) == 0 and net.load_model(str(path / "model.bin")) == 0
    with net.create_extractor() as ex:
        ex.input(net.input_names()[0], ncnn.Mat(np.zeros((3, 224, 224), np.float32)))
        ret, _ = ex.extract(net.output_names()[0])
    assert ret != 0  # "batch size mismatch": the windows' batch
    (rec,) = export("ms_eff_gcvit_b0", formats=["ncnn-fp32"], out=tmp_path / "out", parity_crops=4)
    assert not rec["ok"] and rec["known"] and "NCNN cannot express its window attention" in rec["error"]


def test_a_broken_param_gets_one_line_naming_it(student, tmp_path):
    from edge_sdk.errors import EdgeSDKError

    bad = tmp_path / "ncnn-fp32"
    shutil.copytree(Path(student["ncnn-fp32"]["path"]).parent, bad)
    folder = next(bad.glob("*.ncnn"))
    (folder / "model.param").write_text("7767517\n3 3\nNotALayer x 0 1 a\n")
    with pytest.raises(EdgeSDKError, match=r"\.ncnn: NCNN could not load its model.param"):
        edge_sdk.load(folder, verify=False)


def test_a_relative_out_folder_works(tmp_path, monkeypatch):
    """pnnx runs in its work folder: a relative --out (bench's runs/bench-cache) once made it write nowhere."""
    monkeypatch.chdir(tmp_path)
    (rec,) = export("mobilenetv3_small_050", formats=["ncnn-fp32"], out="rel/out", parity_crops=4)
    assert rec["ok"], rec.get("error")
    assert (tmp_path / "rel" / "out" / "ncnn-fp32" / "mobilenetv3_small_050.ncnn" / "model.param").is_file()


def test_camera_runs_an_ncnn_artifact_on_a_video(student, sample_clip, tmp_path):
    assert_camera_scores(student["ncnn-fp16"]["path"], sample_clip, tmp_path)
