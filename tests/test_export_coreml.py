"""Core ML export (export/coreml.py): conversion, weight compression, W8A8, image input, metadata, atomic save,
clear errors. coremltools builds and inspects packages on Linux; running them needs macOS, so the parity test
skips elsewhere. Each student is converted once (module-scoped fixtures, random init, seed 0) and the
compressed variants are made from that package (int8, palettize4; palettize6 on RepViT only: B0's 6-bit
k-means takes ~45 s). W8A8 runs on RepViT: B0 is not FX-traceable, so its W8A8 takes the slow PT2E fallback.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
import torch

ct = pytest.importorskip("coremltools")

from edge_sdk.errors import EdgeSDKError, InputError, MissingDependencyError  # noqa: E402
from edge_sdk.models import create_model, reparameterize  # noqa: E402
from edge_sdk.preprocess import CropSpec  # noqa: E402
from edge_sdk.export.coreml import (compress_mlpackage, export_coreml, image_normalisation, inspect_mlpackage,  # noqa: E402
                           predict_coreml, save_mlpackage)

MODELS = ("ms_eff_gcvit_b0", "repvit_m0_9_student")
META = {"edge_sdk.model": "test", "edge_sdk.crop": json.dumps(CropSpec().to_dict()), "edge_sdk.threshold": "0.5"}


def _student(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return reparameterize(create_model(name)).eval()


def _example(size: int = 224) -> torch.Tensor:
    return torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))


class Tiny(torch.nn.Module):
    def __init__(self, extra=None):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=2)
        self.fc = torch.nn.Linear(8, 1)
        self.extra = extra

    def forward(self, x):
        y = torch.relu(self.conv(x))
        if self.extra is not None:
            y = self.extra(y)
        return self.fc(y.mean((2, 3)))


class SVD(torch.nn.Module):
    def forward(self, y):
        return y + torch.linalg.svd(y)[1].mean()


class ShapeBranch(torch.nn.Module):
    """Python control flow on a shape: torch.export specialises it, torch.fx symbolic tracing cannot."""

    def forward(self, y):
        if y.shape[-1] % 2 == 1:
            y = torch.nn.functional.pad(y, (0, 1, 0, 1))
        return y


def _hidden(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module", params=MODELS)
def built(request, tmp_path_factory) -> dict:
    name = request.param
    model, example = _student(name), _example()
    out = tmp_path_factory.mktemp(f"coreml-{name}")
    r = {"name": name, "model": model, "example": example, "out": out}
    r["fp16"] = export_coreml(model, out / "fp16" / f"{name}.mlpackage", example, metadata=META)
    for c in ("int8", "palettize4") + (("palettize6",) if name == "repvit_m0_9_student" else ()):
        r[c] = compress_mlpackage(r["fp16"]["path"], out / c / f"{name}.mlpackage", c)
    return r


@pytest.fixture(scope="module")
def repvit() -> torch.nn.Module:
    return _student("repvit_m0_9_student")


# -- fp16 conversion ------------------------------------------------------------------------------
def test_fp16_package_structure(built):
    r = built["fp16"]
    assert r["path"].endswith(".mlpackage") and (built["out"] / "fp16" / f"{built['name']}.mlpackage").is_dir()
    assert r["precision"] == "fp16" and r["compression"] is None
    assert r["specification_version"] >= 8 and r["deployment_target"] == "iOS17" and r["opset"] == "CoreML7"
    assert r["model_type"] == "mlProgram"
    assert r["inputs"] == [{"name": "input", "type": "multiArray", "shape": [1, 3, 224, 224], "dtype": "FLOAT32"}]
    assert [(o["name"], o["dtype"]) for o in r["outputs"]] == [("logit", "FLOAT32")]  # fp16 compute, fp32 output
    assert r["op_types"]["conv"] > 0 and sum(r["op_types"].values()) > 100
    assert r["weights"] == {"const": {"FLOAT16": r["weights"]["const"]["FLOAT16"]}}  # only fp16 weights, no fp32
    assert r["weights"]["const"]["FLOAT16"] > 50
    assert r["bytes"] > 1_000_000 and all(r[k] >= 0 for k in ("export_s", "convert_s", "save_s"))
    assert r == {**r, **inspect_mlpackage(r["path"])}  # the report carries the package's own inspection
    assert _hidden(built["out"] / "fp16") == []  # atomic save leaves no temporary sibling


def test_metadata_round_trip(built):
    for kind in ("fp16", "int8"):  # set at export, kept through compression of the saved package
        assert {k: built[kind]["user_defined_metadata"].get(k) for k in META} == META
    assert "P(fake)" in built["fp16"]["description"]


# -- compression --------------------------------------------------------------------------------
def test_int8_weights(built):
    fp16, q = built["fp16"], built["int8"]
    assert q["weights"]["constexpr_affine_dequantize"] == {"INT8": q["op_types"]["constexpr_affine_dequantize"]}
    assert q["weights"]["constexpr_affine_dequantize"]["INT8"] > 10
    assert q["weights"]["const"]["FLOAT16"] < fp16["weights"]["const"]["FLOAT16"]  # small tensors stay fp16
    assert q["op_types"]["conv"] == fp16["op_types"]["conv"]
    assert q["bytes"] < 0.6 * fp16["bytes"]  # 1 byte a weight instead of 2
    assert q["inputs"] == fp16["inputs"] and q["outputs"] == fp16["outputs"]
    assert _hidden(built["out"] / "int8") == []


def test_palettized_weights(built):
    kinds = ("palettize4", "palettize6") if "palettize6" in built else ("palettize4",)  # B0's 6-bit k-means: ~45 s
    for kind in kinds:
        p = built[kind]
        lut = {"palettize4": 16, "palettize6": 64}[kind]
        assert p["weights"]["constexpr_lut_to_dense"] == {"UINT8": p["op_types"]["constexpr_lut_to_dense"]}
        assert p["lut_sizes"] == {lut: p["op_types"]["constexpr_lut_to_dense"]}  # 2**nbits entries per tensor
        assert "constexpr_affine_dequantize" not in p["weights"]
        assert p["op_types"]["conv"] == built["fp16"]["op_types"]["conv"]
    assert built["palettize4"]["bytes"] < built["int8"]["bytes"] < built["fp16"]["bytes"]
    if "palettize6" in built:
        assert built["palettize4"]["bytes"] < built["palettize6"]["bytes"] < built["int8"]["bytes"]


def test_w8a8_with_image_input(repvit, tmp_path):
    """One conversion checks both: int8 weights and activations, and an RGB image input with the crop's scale/bias."""
    rng = np.random.default_rng(0)
    calib = [rng.standard_normal((1, 3, 224, 224)).astype(np.float32) for _ in range(2)]
    r = export_coreml(repvit, tmp_path / "w8a8.mlpackage", _example(), compression="w8a8", calib=calib,
                      image_input=CropSpec(), metadata=META)
    assert r["compression"] == "w8a8" and r["calibration"]["samples"] == 2
    assert r["calibration"]["method"].startswith("coremltools.optimize.torch LinearQuantizer")
    assert r["op_types"]["quantize"] > 10 and r["op_types"]["dequantize"] > 10  # activations
    assert r["weights"]["constexpr_affine_dequantize"].get("INT8", 0) > 10  # weights
    assert r["inputs"] == [{"name": "input", "type": "image", "shape": [1, 3, 224, 224], "dtype": "RGB"}]
    assert r["outputs"][0]["name"] == "logit" and r["outputs"][0]["dtype"] == "FLOAT32"
    assert r["image_input"]["max_rel_error"] == pytest.approx(0.013274, abs=1e-5) and not r["image_input"]["exact"]
    assert "single scale" in r["image_input"]["note"]
    assert {k: r["user_defined_metadata"].get(k) for k in META} == META
    assert r["bytes"] < 4_500_000 and all(r[k] >= 0 for k in ("compress_s", "export_s", "convert_s", "save_s"))
    assert _hidden(tmp_path) == []


def test_w8a8_fx_untraceable_without_executorch(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "executorch.backends.apple.coreml.quantizer", None)
    calib = [np.zeros((1, 3, 32, 32), np.float32)]
    with pytest.raises(EdgeSDKError, match="cannot trace this model with torch.fx.*needs executorch"):
        export_coreml(Tiny(ShapeBranch()), tmp_path / "m.mlpackage", _example(32), compression="w8a8", calib=calib)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not os.environ.get("EDGE_SDK_SLOW_TESTS"),
                    reason="the PT2E fallback takes ~1.5-2 min even for a tiny model (ExecuTorch's CoreMLQuantizer "
                           "exports ~400 patterns); set EDGE_SDK_SLOW_TESTS=1")
def test_w8a8_pt2e_fallback(tmp_path):
    calib = [np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)]
    r = export_coreml(Tiny(ShapeBranch()), tmp_path / "m.mlpackage", _example(32), compression="w8a8", calib=calib)
    assert r["calibration"]["method"].startswith("PT2E") and "TraceError" in r["calibration"]["fx_error"]
    assert r["op_types"]["quantize"] > 0 and r["op_types"]["pad"] == 1
    assert r["weights"]["constexpr_affine_dequantize"] == {"INT8": 1}


def test_w8a8_needs_calibration(tmp_path):
    for calib in (None, []):
        with pytest.raises(InputError, match="calibration crops"):
            export_coreml(Tiny(), tmp_path / "m.mlpackage", _example(32), compression="w8a8", calib=calib)
    with pytest.raises(InputError, match=r"calibration batch 0 has shape \(1, 3, 16, 16\)"):
        export_coreml(Tiny(), tmp_path / "m.mlpackage", _example(32), compression="w8a8",
                      calib=[np.zeros((1, 3, 16, 16), np.float32)])
    assert list(tmp_path.iterdir()) == []


# -- image input --------------------------------------------------------------------------------
def test_image_normalisation_arithmetic():
    crop = CropSpec()
    n = image_normalisation(crop)
    p = np.arange(256, dtype=np.float64)[:, None]
    exact = (p / 255 - np.asarray(crop.mean)) / np.asarray(crop.std)
    approx = n["scale"] * p + np.asarray(n["bias"])
    assert n["scale"] == pytest.approx(1 / (255 * np.mean(crop.std)))
    gain = np.asarray(crop.std) / np.mean(crop.std)  # the approximation is a per-channel gain on the exact value
    np.testing.assert_allclose(approx, exact * gain, rtol=1e-9, atol=1e-12)
    assert n["max_rel_error"] == pytest.approx(np.abs(gain - 1).max()) and 0.013 < n["max_rel_error"] < 0.014
    assert not n["exact"] and "single scale" in n["note"]
    inside = image_normalisation(CropSpec(normalize_in_model=True))
    assert inside["exact"] and inside["max_rel_error"] == 0.0 and inside["scale"] == 1 / 255 and inside["bias"] == [0] * 3


def test_image_input_size_must_match(tmp_path):
    with pytest.raises(InputError, match="crop size 224"):
        export_coreml(Tiny(), tmp_path / "m.mlpackage", _example(32), image_input=CropSpec())


# -- fp32, atomic save and errors on a tiny model ----------------------------------------------------
def test_fp32_int8_tiny_and_replace_existing(tmp_path):
    path = tmp_path / "tiny.mlpackage"
    path.mkdir()
    (path / "stale.txt").write_text("old package")
    r = export_coreml(Tiny(), path, _example(32), precision="fp32", compression="int8", weight_threshold=200,
                      input_name="x", output_name="y")
    assert not (path / "stale.txt").exists() and (path / "Manifest.json").is_file()
    assert r["weights"] == {"constexpr_affine_dequantize": {"INT8": 1}}  # the conv (216 weights); the rest is tiny
    assert r["weight_threshold"] == 200 and r["compress_s"] >= 0
    f = export_coreml(Tiny(), tmp_path / "f.mlpackage", _example(32), precision="fp32", weight_threshold=10)
    assert f["weights"] == {"const": {"FLOAT32": 1}} and f["weight_threshold"] is None  # nothing compressed
    assert r["inputs"][0]["name"] == "x" and r["outputs"][0]["name"] == "y"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.mlpackage", "tiny.mlpackage"]


def test_failed_save_keeps_old_package(tmp_path, monkeypatch):
    path = tmp_path / "tiny.mlpackage"
    export_coreml(Tiny(), path, _example(32))
    before = inspect_mlpackage(path)

    def broken_save(self, save_path):
        import os

        os.makedirs(save_path, exist_ok=True)
        open(os.path.join(save_path, "half-written"), "w").close()
        raise OSError("disk full")

    model = ct.models.MLModel(str(path), skip_model_load=True)
    monkeypatch.setattr(ct.models.MLModel, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_mlpackage(model, path)
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.mlpackage"]  # no partial sibling left
    assert inspect_mlpackage(path) == before


def test_unconvertible_op_is_named(tmp_path):
    path = tmp_path / "svd.mlpackage"
    model = Tiny(SVD()).eval()
    with torch.no_grad():
        model(_example(32))  # fine in PyTorch: only the Core ML conversion fails
    with pytest.raises(EdgeSDKError, match="linalg_svd") as info:
        export_coreml(model, path, _example(32))
    assert info.value.op == "linalg_svd" and "Traceback" not in str(info.value)
    assert "coreml" in str(info.value) and len(str(info.value).splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_bad_options(tmp_path):
    for kw in ({"precision": "int4"}, {"compression": "palettize3"}):
        with pytest.raises(InputError):
            export_coreml(Tiny(), tmp_path / "m.mlpackage", _example(32), **kw)
    with pytest.raises(InputError, match="mlpackage"):
        export_coreml(Tiny(), tmp_path / "m.onnx", _example(32))
    with pytest.raises(InputError, match="no .mlpackage"):
        inspect_mlpackage(tmp_path / "absent.mlpackage")
    assert list(tmp_path.iterdir()) == []


def test_missing_coremltools(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "coremltools", None)
    with pytest.raises(MissingDependencyError, match=r"Core ML export needs the 'coremltools' package.*edge-sdk\[export\]"):
        export_coreml(Tiny(), tmp_path / "m.mlpackage", _example(32))


# -- prediction -----------------------------------------------------------------------------------
@pytest.mark.skipif(sys.platform == "darwin", reason="checks the error raised where Core ML cannot run")
def test_predict_needs_macos(tmp_path):
    with pytest.raises(EdgeSDKError, match="needs macOS"):
        predict_coreml(tmp_path / "any.mlpackage", np.zeros((1, 3, 224, 224), np.float32))


@pytest.mark.skipif(sys.platform != "darwin", reason="Core ML prediction needs macOS; packages are only inspected here")
def test_predict_matches_torch(built):
    x = np.concatenate([_example().numpy(), np.random.default_rng(2).standard_normal((2, 3, 224, 224), np.float32)])
    with torch.no_grad():
        ref = built["model"](torch.from_numpy(x)).numpy()
    got = predict_coreml(built["fp16"]["path"], x)
    np.testing.assert_allclose(got.reshape(ref.shape), ref, atol=1e-2, rtol=1e-2)
