"""Export: every ONNX and ExecuTorch format of B0 and RepViT-M0.9 within its parity limits, manifests, failures, verify."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import edge_sdk
from edge_sdk import manifest
from edge_sdk.errors import InputError
from edge_sdk.export import export, formats_for
from edge_sdk.export.calibration import face_crops
from edge_sdk.export.onnx import quantize_int8
from edge_sdk import targets
from tests.conftest import shared_path

FORMATS = [("onnx", "fp32"), ("onnx", "fp16"), ("onnx", "int8"), ("executorch", "fp32"), ("executorch", "int8")]


@pytest.fixture(scope="module")
def repvit(tmp_path_factory):
    """RepViT-M0.9 (seed 0) saved as a checkpoint and exported from it to the five formats."""
    from edge_sdk.models import create_model

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("repvit")
    ckpt = out / "repvit_m0_9_student.pth"
    torch.save(create_model("repvit_m0_9_student").state_dict(), ckpt)
    records = []
    for target in ("onnx", "executorch"):
        records += export("repvit_m0_9_student", target=target, precision=None, weights=ckpt, out=out / "artifacts",
                          calib=shared_path("samples"))
    return {"ckpt": ckpt, "out": out, "records": {(r["target"], r["precision"]): r for r in records}}


def _records(which, b0_exports, repvit):
    return b0_exports if which == "b0" else repvit["records"]


def _formats(which):  # B0's ExecuTorch int8 is exported, run and parity-gated by CI's quick bench instead
    return [f for f in FORMATS if which == "repvit" or f != ("executorch", "int8")]


@pytest.mark.parametrize("which", ["b0", "repvit"])
def test_every_format_runs_in_the_runtime_within_its_limits(which, b0_exports, repvit):
    records = _records(which, b0_exports, repvit)
    assert set(records) == set(_formats(which))
    crops = face_crops(shared_path("samples"), edge_sdk.load(records[("onnx", "fp32")]["path"]).crop)
    fp32 = edge_sdk.load(records[("onnx", "fp32")]["path"]).predict(crops.x)
    assert np.ptp(fp32) > 0
    sizes = {}
    for key in _formats(which):
        r = records[key]
        assert r["ok"], r.get("error")
        path = Path(r["path"])
        m = manifest.load(path)  # validates against the schema and checks the sha256
        assert (m["target"], m["precision"]) == key and m["crop"]["size"] == 224
        assert m["calibration"]["crops"] == 8 * crops.summary["crops"] and m["calibration"]["faces_detected"] >= 14
        assert set(m["calibration"]["kinds"]) >= {"face", "dark", "bright", "jpeg_q8"}  # what parity checks
        parity = m["parity"]
        assert parity["status"] == "passed", f"{key}: {parity}"
        assert parity["limits"] == targets.get(f"{key[0]}-{key[1]}").parity
        kinds = parity["data"]["kinds"]  # the parity set: every face crop, whole frames, and six hard variants each
        assert parity["n"] == sum(kinds.values()) and kinds["face"] == crops.summary["faces_detected"]
        assert set(parity["by_kind"]) == set(kinds) and parity["worst_kind"] in kinds
        with edge_sdk.load(path) as backend:  # independently of the exporter's own check
            got = backend.predict(crops.x)
        if key[1] == "fp32":
            np.testing.assert_allclose(got, fp32, atol=1e-3)
        elif key[1] == "fp16":
            np.testing.assert_allclose(got, fp32, atol=2e-2)
        else:
            assert np.mean((got >= 0) == (fp32 >= 0)) >= 0.9 and np.abs(got - fp32).max() < 0.25
        sizes[key] = m["artifact"]["bytes"]
    assert sizes[("onnx", "fp16")] < 0.6 * sizes[("onnx", "fp32")]
    assert sizes[("onnx", "int8")] < 0.4 * sizes[("onnx", "fp32")]
    if ("executorch", "int8") in sizes:
        assert sizes[("executorch", "int8")] < 0.4 * sizes[("executorch", "fp32")]


@pytest.mark.parametrize("which", ["b0", "repvit"])
def test_quantized_graphs_and_delegation_are_recorded(which, b0_exports, repvit):
    records = _records(which, b0_exports, repvit)
    q = onnx.load(records[("onnx", "int8")]["path"])
    ops = [n.op_type for n in q.graph.node]
    assert ops.count("QuantizeLinear") > 10 and ops.count("DequantizeLinear") > ops.count("QuantizeLinear")
    inits = {i.name: i for i in q.graph.initializer}
    zero_points = {onnx.numpy_helper.to_array(inits[n.input[2]]).dtype.name for n in q.graph.node
                   if n.op_type == "QuantizeLinear" and len(n.input) > 2 and n.input[2] in inits}
    assert zero_points == {"uint8"}, "ONNX Runtime on x86: uint8 activations (U8S8); TensorRT's ONNX is symmetric"
    weights = [i for i in q.graph.initializer if i.data_type == onnx.TensorProto.INT8 and len(i.dims) >= 2]
    assert len(weights) > 10, "per-channel int8 weights"
    et = ("executorch", "int8") if ("executorch", "int8") in records else ("executorch", "fp32")
    m = manifest.load(records[et]["path"])
    d = m["export"]["delegation"]
    assert d["delegate"] == "xnnpack" and d["delegated_subgraphs"] >= 1
    assert isinstance(d["ops_outside_delegate"], dict)
    assert m["export"]["steps"]["lower_s"] > 0
    if et[1] == "int8":
        assert m["export"]["steps"]["quantize_s"] > 0


def test_b0_executorch_fp32_keeps_layer_norm_and_attention_products_inside_xnnpack(b0_exports):
    """Every LayerNorm as linear means (XNNPACK has no layer norm), attention as rank-3 bmm (a rank-4 matmul left
    two expand copies per product outside the delegate): what stays outside is the global query's expand only."""
    from edge_sdk.export.executorch import LinearMeanLayerNorm, delegable_layer_norms
    from edge_sdk.models.gcvit_branch import WindowAttention

    rec = b0_exports[("executorch", "fp32")]
    assert rec["parity"]["status"] == "passed"
    d = manifest.load(rec["path"])["export"]["delegation"]
    from edge_sdk.models import create_model

    model = create_model("ms_eff_gcvit_b0")
    norms = sum(isinstance(m, torch.nn.LayerNorm) for m in model.modules())
    global_query = sum(isinstance(m, WindowAttention) and m.use_global_query for m in model.modules())
    assert d["layer_norms_as_linear_mean"] == norms > 30
    assert not any("layer_norm" in op for op in d["ops_outside_delegate"])
    assert d["ops_outside_delegate"].get("aten.expand_copy.default", 0) == global_query > 0
    # the swap itself: the same values, on a copy (the original stays the parity reference)
    norm = torch.nn.LayerNorm(48, eps=1e-5)
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    holder = torch.nn.Sequential(norm)
    swapped, n = delegable_layer_norms(holder)
    x = torch.randn(2, 5, 7, 48) * 3 + 1
    assert n == 1 and isinstance(swapped[0], LinearMeanLayerNorm) and holder[0] is norm
    torch.testing.assert_close(swapped(x), norm(x), atol=1e-5, rtol=1e-5)


def test_keep_float_and_calibration_rules(repvit, tmp_path):
    fp32 = repvit["records"][("onnx", "fp32")]["path"]
    crops = face_crops(shared_path("samples"), edge_sdk.load(fp32).crop, limit=4)
    info = quantize_int8(fp32, tmp_path / "q.onnx", crops.batches(1), method="percentile", keep_float=["Gemm"])
    kept = info["kept_float"]
    assert kept and all(n.startswith("node_") or "gemm" in n.lower() or "linear" in n.lower() for n in kept)
    graph = onnx.load(tmp_path / "q.onnx").graph
    gemms = [n for n in graph.node if n.op_type == "Gemm"]
    producers = {o: n.op_type for n in graph.node for o in n.output}
    assert gemms and all(producers.get(g.input[1]) != "DequantizeLinear" for g in gemms), "Gemm weights stay float"
    with pytest.raises(InputError, match="no node name or op type matches"):
        quantize_int8(fp32, tmp_path / "x.onnx", crops.batches(1), keep_float=["NoSuchOp*"])
    with pytest.raises(InputError, match="has no precision"):
        formats_for("executorch", "fp16")
    with pytest.warns(UserWarning, match="random noise"):
        face_crops("random", edge_sdk.load(fp32).crop, limit=2)


def test_export_failure_names_the_operator_and_leaves_nothing(tmp_path):
    class Cholesky(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)

        def forward(self, x):
            y = self.conv(x)[:, 0, :8, :8]
            return torch.linalg.cholesky(y @ y.transpose(-1, -2) + torch.eye(8)).sum(dim=(1, 2)).reshape(-1, 1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = export(Cholesky(), target="onnx", precision="fp32", out=tmp_path, name="cholesky_net")
    (r,) = records
    assert not r["ok"] and r["op"] == "aten.linalg_cholesky_ex"
    assert "export of cholesky_net to onnx-fp32 failed at operator aten.linalg_cholesky_ex" in r["error"]
    assert not list(tmp_path.rglob("*.onnx")) and not list(tmp_path.rglob("manifest.json"))


def _sharpened(ckpt, out, crops) -> Path:
    """The checkpoint with its classifiers scaled up and re-centred: random init barely looks at its input
    (logits spread ~4e-4 over faces), a trained detector does; this one spreads its logits over about +-1."""
    from edge_sdk.models import create_model, load_checkpoint

    net = create_model("repvit_m0_9_student").eval()
    load_checkpoint(net, str(ckpt))
    heads = [net.head.head.l, net.head.head_dist.l]
    with torch.no_grad():
        base = net(torch.from_numpy(crops.x)).reshape(-1)
        gain = 2.0 / float(base.max() - base.min())
        for lin in heads:
            lin.weight.mul_(gain)
            lin.bias.mul_(gain)
        centre = float(net(torch.from_numpy(crops.x)).mean())
        for lin in heads:
            lin.bias.sub_(centre)
    path = out / "sharp.pth"
    torch.save(net.state_dict(), path)
    return path


def test_verify_catches_a_crop_spec_that_disagrees_with_training(repvit, tmp_path, capsys):
    """An artifact fed BGR while its manifest says RGB: numerically exact export, wrong pixels. verify must fail it."""
    from edge_sdk.cli import main
    from edge_sdk.models import create_model, load_checkpoint

    class SwapsChannels(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net, self.pretrained_cfg = net, net.pretrained_cfg

        def forward(self, x):
            return self.net(x.flip(1))

    samples = str(shared_path("samples"))
    crops = face_crops(samples, edge_sdk.load(repvit["records"][("onnx", "fp32")]["path"]).crop)
    sharp = _sharpened(repvit["ckpt"], tmp_path, crops)
    (good,) = export("repvit_m0_9_student", target="onnx", precision="fp32", weights=sharp, out=tmp_path / "good")
    before = manifest.load(good["path"])["parity"]
    assert main(["verify", good["path"], "--data", samples]) == 0  # the checkpoint recorded in the manifest is used
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and report["max_abs_logit"] < 1e-3 and report["recorded"] is False
    assert manifest.load(good["path"])["parity"] == before, "without --record the manifest is left as it was"

    net = create_model("repvit_m0_9_student")
    load_checkpoint(net, str(sharp))
    (bad,) = export(SwapsChannels(net), target="onnx", precision="fp32", out=tmp_path / "bad", name="repvit_m0_9_student")
    assert bad["ok"] and bad["parity"]["passed"], "the export itself is numerically exact"
    code = main(["verify", bad["path"], "--data", samples, "--weights", str(sharp), "--record"])
    captured = capsys.readouterr()
    assert code == 1 and "FAILED: max |delta logit|" in captured.err
    assert json.loads(captured.out)["max_abs_logit"] > 1e-2
    assert not manifest.load(bad["path"])["parity"]["passed"]


def test_tensorrt_ready_onnx_passes_the_operator_table(repvit, tmp_path):

    table = shared_path("fixtures", "tensorrt10_onnx_operators.csv")
    records = export("repvit_m0_9_student", target="tensorrt", precision=None, weights=repvit["ckpt"], out=tmp_path,
                     calib=shared_path("samples"), trt_ops_table=str(table))
    assert [(r["target"], r["precision"], r["ok"]) for r in records] == [("tensorrt", "fp16", True),
                                                                          ("tensorrt", "int8", True)]
    for r in records:
        m = manifest.load(r["path"])
        trt = m["export"]["tensorrt"]
        assert trt["operator_check"]["ok"] and trt["operator_check"]["offenders"] == [], trt
        assert ("INT8" in trt["builder_flags"]) == (r["precision"] == "int8")
        assert m["parity"]["status"] == "passed"  # the same ONNX, run by ONNX Runtime here
    q = onnx.load(records[1]["path"])
    dq_inputs = {n.input[0] for n in q.graph.node if n.op_type == "DequantizeLinear"}
    int32 = [i.name for i in q.graph.initializer if i.name in dq_inputs and i.data_type == onnx.TensorProto.INT32]
    assert int32 == [], "biases stay float for TensorRT (it dequantizes int8 only)"
    zps = [onnx.numpy_helper.to_array(i) for i in q.graph.initializer if i.name.endswith("zero_point")]
    assert zps and all(z.dtype == np.int8 and not z.any() for z in zps), "TensorRT: int8 zero points, all 0"


def test_apple_targets_are_built_and_marked_not_run_here(repvit, tmp_path):
    import sys

    from edge_sdk.export.coreml import inspect_mlpackage

    records = export("repvit_m0_9_student", target="coreml", precision="fp16", weights=repvit["ckpt"], out=tmp_path)
    records += export("repvit_m0_9_student", target="executorch-coreml", precision="fp16", weights=repvit["ckpt"], out=tmp_path)
    assert [r["ok"] for r in records] == [True, True], records
    package, pte = (Path(r["path"]) for r in records)
    assert package.is_dir() and package.suffix == ".mlpackage" and pte.suffix == ".pte"
    m = manifest.load(package)  # the directory's sha256 (every file's path and bytes) is checked
    info = inspect_mlpackage(package)
    assert info["user_defined_metadata"]["edge_sdk.model"] == "repvit_m0_9_student"
    assert json.loads(info["user_defined_metadata"]["edge_sdk.crop"]) == m["crop"]
    (package / "Manifest.json").write_text((package / "Manifest.json").read_text() + " ")
    with pytest.raises(manifest.ManifestError, match="does not match the manifest"):
        manifest.load(package)
    mp = manifest.load(pte)
    assert mp["target"] == "executorch" and mp["export"]["delegation"]["delegate"] == "coreml"
    assert mp["export"]["delegation"]["delegated_subgraphs"] >= 1
    if sys.platform != "darwin":
        assert m["parity"]["status"] == "not run here" and "Core ML predicts only on macOS" in m["parity"]["reason"]
    assert mp["parity"]["status"] == "not run here" and "Apple" in mp["parity"]["reason"]


def test_int8_keeps_group_norm_float_and_the_model_loads(tmp_path):
    """GroupNorm (InstanceNormalization in ONNX) stays float in ONNX Runtime int8: its quantizer gave B0 with
    GroupNorm a duplicate tensor name, an invalid model; the convs around it are still quantized."""
    import onnxruntime as ort
    from timm.layers import GroupNormAct

    net = torch.nn.Sequential(*[torch.nn.Sequential(torch.nn.Conv2d(a, b, 3, padding=1),
                                                    GroupNormAct(b, 8, act_layer="silu"))
                                for a, b in ((3, 16), (16, 24), (24, 16))], torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(16, 1)).eval()
    x = torch.rand(1, 3, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), str(tmp_path / "gn.onnx"), dynamo=True, opset_version=18)
    info = quantize_int8(tmp_path / "gn.onnx", tmp_path / "q.onnx",
                         [torch.rand(1, 3, 32, 32).numpy() for _ in range(8)])
    norms = [n.name for n in onnx.load(tmp_path / "gn.onnx").graph.node if n.op_type == "InstanceNormalization"]
    assert len(norms) == 3 and set(norms) <= set(info["kept_float"])
    q = onnx.load(tmp_path / "q.onnx").graph
    producers = {o: n.op_type for n in q.node for o in n.output}
    inorm = [n for n in q.node if n.op_type == "InstanceNormalization"]
    assert len(inorm) == 3 and all(producers.get(i) != "DequantizeLinear" for n in inorm for i in n.input[1:])
    assert info["ops"]["quantized"].get("Conv") == 3
    sess = ort.InferenceSession(str(tmp_path / "q.onnx"))
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        assert abs(float(got.ravel()[0]) - float(net(x))) < 0.1
