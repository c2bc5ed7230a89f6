"""OpenVINO targets (fp32 / fp16 / int8 through NNCF): exported from the one table, run by the runtime, measured."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino", reason="the openvino package is not installed (pip install 'edge-sdk[openvino]')")

import edge_sdk  # noqa: E402
from edge_sdk import manifest, targets  # noqa: E402
from edge_sdk.export import export  # noqa: E402
from tests.conftest import shared_path  # noqa: E402

ROWS = ["openvino-fp32", "openvino-fp16", "openvino-int8"]


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """RepViT-M0.9 (seed 0) exported to the three OpenVINO rows, calibrated and checked on the sample faces."""
    out = tmp_path_factory.mktemp("openvino")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = export("repvit_m0_9_student", formats=ROWS, out=out, calib=shared_path("samples"), calib_size=64)
    return {r["name"]: r for r in records}


def test_each_openvino_row_exports_runs_and_holds_its_limits(student):
    sizes = {}
    for name in ROWS:
        r = student[name]
        assert r["ok"], r.get("error")
        m = manifest.load(r["path"])  # sha256 over the IR folder (model.xml + model.bin) checks out
        assert (m["target"], m["precision"]) == tuple(name.split("-")) and r["path"].endswith(".openvino")
        assert {p.name for p in Path(r["path"]).iterdir()} == {"model.xml", "model.bin"}
        p = m["parity"]
        assert p["status"] == "passed" and p["limits"] == targets.get(name).parity, f"{name}: {p}"
        assert p["backend"].startswith("openvino") and p["data"]["kinds"]["bright"] > 0  # the whole parity set
        sizes[name] = m["artifact"]["bytes"]
    assert sizes["openvino-fp16"] < 0.6 * sizes["openvino-fp32"] and sizes["openvino-int8"] < 0.3 * sizes["openvino-fp32"]
    q = manifest.load(student["openvino-int8"]["path"])["export"]["quantization"]
    assert q["tool"].startswith("nncf") and q["calibration_inputs"] > 8  # face crops and their hard variants


def test_load_picks_openvino_by_its_suffix_and_detect_runs_it(student, tmp_path):
    from edge_sdk.pipeline import detect

    path = student["openvino-fp32"]["path"]
    onnx = export("repvit_m0_9_student", formats=["onnx-fp32"], out=tmp_path, parity_crops=4)[0]["path"]
    x = np.random.default_rng(0).standard_normal((5, 3, 224, 224)).astype(np.float32)
    with edge_sdk.load(path) as ov, edge_sdk.load(onnx) as ort:
        assert ov.name == "openvino" and ov.device == "CPU"
        np.testing.assert_allclose(ov.predict(x), ort.predict(x), atol=1e-5)  # any batch size, same numbers
    (rec,) = detect([str(shared_path("samples", "western_real_1.JPG"))], path, progress=False)
    assert rec["ok"] and len(rec["faces"]) == 1 and rec["verdict"] in ("real", "fake")
    assert json.dumps(rec)  # a plain JSON record, like every other backend's


def test_a_broken_ir_gets_one_line_naming_it(student, tmp_path):
    from edge_sdk.errors import EdgeSDKError

    bad = tmp_path / "openvino-fp32"
    shutil.copytree(Path(student["openvino-fp32"]["path"]).parent, bad)
    ir = next(bad.glob("*.openvino")) / "model.xml"
    ir.write_text(ir.read_text()[:200])
    with pytest.raises(EdgeSDKError, match="OpenVINO .* could not compile it for CPU"):
        edge_sdk.load(next(bad.glob("*.openvino")), verify=False)
