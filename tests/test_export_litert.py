"""LiteRT targets (fp32 / fp16 / int8 through ai-edge-quantizer): exported from the one table, run by the runtime."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("litert_torch", reason="litert-torch is not installed (make install adds it in its own step)")

import edge_sdk  # noqa: E402
from edge_sdk import manifest, targets  # noqa: E402
from edge_sdk.export import export  # noqa: E402
from tests.conftest import assert_camera_scores, shared_path  # noqa: E402

ROWS = ["litert-fp32", "litert-fp16", "litert-int8"]


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """RepViT-M0.9 (seed 0) exported to the three LiteRT rows, calibrated and checked on the sample faces."""
    out = tmp_path_factory.mktemp("litert")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = export("repvit_m0_9_student", formats=ROWS, out=out, calib=shared_path("samples"), calib_size=64)
    return {r["name"]: r for r in records}


def test_each_litert_row_exports_runs_and_holds_its_limits(student):
    sizes = {}
    for name in ROWS:
        r = student[name]
        assert r["ok"], r.get("error")
        m = manifest.load(r["path"])  # the sha256 checks out
        assert (m["target"], m["precision"]) == tuple(name.split("-")) and r["path"].endswith(".tflite")
        p = m["parity"]
        assert p["status"] == "passed" and p["limits"] == targets.get(name).parity, f"{name}: {p}"
        assert p["backend"].startswith("litert") and p["data"]["kinds"]["bright"] > 0  # the whole parity set
        assert m["export"]["operators"].get("CONV_2D", 0) > 10  # the report names what the file runs
        sizes[name] = m["artifact"]["bytes"]
    assert sizes["litert-fp16"] < 0.6 * sizes["litert-fp32"] and sizes["litert-int8"] < 0.35 * sizes["litert-fp32"]
    q = manifest.load(student["litert-int8"]["path"])["export"]["quantization"]
    assert q["tool"].startswith("ai-edge-quantizer") and q["calibration_inputs"] > 8  # crops and hard variants


def test_int8_keeps_int8_io_and_the_backend_quantizes_the_crop_with_the_files_scale(student):
    from ai_edge_litert.interpreter import Interpreter

    path = student["litert-int8"]["path"]
    it = Interpreter(model_path=path)
    (inp,), (out,) = it.get_input_details(), it.get_output_details()
    assert inp["dtype"] == np.int8 and inp["quantization"][0] > 0 and out["dtype"] == np.int8
    x = np.random.default_rng(0).standard_normal((3, 3, 224, 224)).astype(np.float32)
    with edge_sdk.load(student["litert-fp32"]["path"]) as f32, edge_sdk.load(path) as i8:
        ref, got = f32.predict(x), i8.predict(x)
    assert got.dtype == np.float32 and got.shape == (3,)
    # within a few output steps of fp32: a crop fed unquantized (or the output left as int8) is far off
    assert np.abs(got - ref).max() < 8 * out["quantization"][0] + 0.05, (got, ref)


def test_int8_activation_ranges_are_min_and_max_over_every_calibration_input(student):
    """Fed one crop at a time, ai-edge-quantizer's own moving average collapses the logit's range to about the last
    crops' logit (a trained student lost 87% of its face decisions to that); the exporter's ranges span them all."""
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import recipe

    from edge_sdk.export import litert

    path = student["litert-fp32"]["path"]
    rng = np.random.default_rng(1)
    inputs = [(rng.standard_normal((1, 3, 224, 224)) * s + o).astype(np.float32)
              for s, o in zip(np.linspace(0.2, 3, 12), np.linspace(-2, 2, 12)[::-1])]
    runner = Interpreter(model_path=path).get_signature_runner()
    (name,) = runner.get_input_details()
    logits = np.array([next(iter(runner(**{name: x}).values())).item() for x in inputs])
    assert np.ptp(logits) > 1e-3, logits  # the inputs move the logit, so a collapsed range is visible
    qsvs = litert.calibrate(Path(path), inputs, recipe.static_wi8_ai8())
    (out,) = Interpreter(model_path=path).get_output_details()
    got = qsvs[out["name"]]
    assert np.isclose(float(np.min(got["min"])), logits.min(), rtol=1e-4, atol=1e-5), (got, logits)
    assert np.isclose(float(np.max(got["max"])), logits.max(), rtol=1e-4, atol=1e-5), (got, logits)


def test_load_picks_litert_by_its_suffix_any_batch_and_detect_runs_it(student, tmp_path):
    from edge_sdk.pipeline import detect

    path = student["litert-fp32"]["path"]
    onnx = export("repvit_m0_9_student", formats=["onnx-fp32"], out=tmp_path, parity_crops=4)[0]["path"]
    x = np.random.default_rng(1).standard_normal((5, 3, 224, 224)).astype(np.float32)
    with edge_sdk.load(path, threads=2) as lite, edge_sdk.load(onnx) as ort:
        assert lite.name == "litert" and lite.fixed_batch == 1
        np.testing.assert_allclose(lite.predict(x), ort.predict(x), atol=1e-5)  # chunked by one, same numbers
    (rec,) = detect([str(shared_path("samples", "western_real_1.JPG"))], path, progress=False)
    assert rec["ok"] and len(rec["faces"]) == 1 and rec["verdict"] in ("real", "fake")
    assert json.dumps(rec)


def test_a_truncated_tflite_gets_one_line_naming_it(student, tmp_path):
    from edge_sdk.errors import EdgeSDKError

    good = Path(student["litert-fp32"]["path"])
    bad = tmp_path / good.name
    bad.write_bytes(good.read_bytes()[:4096])
    manifest.write(manifest.load(good), tmp_path / "manifest.json")
    with pytest.raises(EdgeSDKError, match=rf"{bad.name}: LiteRT could not load it"):
        edge_sdk.load(bad, verify=False)


def test_camera_runs_a_litert_artifact_on_a_video(student, sample_clip, tmp_path):
    assert_camera_scores(student["litert-int8"]["path"], sample_clip, tmp_path)
