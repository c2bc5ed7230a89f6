"""The runtime on a device install: a fresh venv with only ``edge-sdk[runtime]`` (no torch) runs an ONNX artifact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, shared_path

SCRIPT = r"""
import json, sys
from pathlib import Path
import edge_sdk
from edge_sdk.errors import MissingDependencyError
from edge_sdk.pipeline import detect

onnx, photo, video, pte = sys.argv[1:5]
records = detect([photo, video], onnx, frames=4, progress=False)
with edge_sdk.load(onnx) as backend:
    import numpy as np
    logits = backend.predict(np.load(sys.argv[5])).tolist()
try:
    edge_sdk.load(pte)
    pte_error = None
except MissingDependencyError as err:
    pte_error = str(err)
heavy = sorted(m for m in ("torch", "torchvision", "timm", "executorch", "coremltools") if m in sys.modules)
print(json.dumps({"records": records, "logits": logits, "pte_error": pte_error, "heavy_modules": heavy,
                  "edge_sdk": edge_sdk.__file__}))
"""


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory) -> Path:
    """``pip install '.[runtime]'`` (with the project's pins) into a new venv: what a Jetson or CI runner gets."""
    venv = tmp_path_factory.mktemp("runtime") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    done = subprocess.run([str(py), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"), f"{ROOT}[runtime]"],
                          capture_output=True, text=True)
    assert done.returncode == 0, f"pip install '.[runtime]' failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    for cmd in (["uninstall", "-q", "-y", "opencv-contrib-python"],  # one OpenCV, headless (as make install does)
                ["install", "-q", "--no-deps", "--force-reinstall", "-c", str(ROOT / "constraints.txt"),
                 "opencv-python-headless"]):
        subprocess.run([str(py), "-m", "pip", *cmd], check=True, capture_output=True)
    return py


def test_runtime_extra_alone_runs_onnx_without_torch(runtime_venv, b0_artifacts, tmp_path):
    import edge_sdk
    from edge_sdk import manifest

    listed = subprocess.run([str(runtime_venv), "-m", "pip", "list", "--format=json"], capture_output=True, text=True,
                            check=True)
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "torch" not in installed and "timm" not in installed and "onnxruntime" in installed

    photo = shared_path("samples", "western_real_1.JPG")
    video = shared_path("samples", "western_fake.mp4")
    pte = tmp_path / "pte" / "model.pte"
    pte.parent.mkdir()
    pte.write_bytes(b"never read: loading must stop at the missing executorch package")
    manifest.write(manifest.build(pte, model="ms_eff_gcvit_b0", target="executorch", precision="fp32",
                                  crop=b0_artifacts["spec"], input_shape=[1, 3, 224, 224]), pte.parent / "manifest.json")
    batch = np.random.default_rng(0).standard_normal((3, 3, 224, 224)).astype(np.float32)
    np.save(tmp_path / "batch.npy", batch)
    env = {**os.environ, "PYTHONPATH": ""}
    done = subprocess.run([str(runtime_venv), "-c", SCRIPT, str(b0_artifacts["onnx"]), str(photo), str(video), str(pte),
                           str(tmp_path / "batch.npy")], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["heavy_modules"] == [], f"the runtime imported {out['heavy_modules']}"
    assert str(ROOT) not in out["edge_sdk"], "must run the installed package, not the source tree"
    image, clip = out["records"]
    assert image["ok"] and image["kind"] == "image" and len(image["faces"]) == 1
    assert clip["ok"] and clip["kind"] == "video" and clip["frames_sampled"] == 4 and clip["verdict"] in ("real", "fake")
    with edge_sdk.load(b0_artifacts["onnx"]) as here:  # the full install gives the same logits
        np.testing.assert_allclose(out["logits"], here.predict(batch), atol=1e-5)
    assert "executorch" in out["pte_error"] and "pip install" in out["pte_error"]
    # the CLI too (generated from its typed configs): a bare detect, no line but the SDK's own on stderr
    cli = subprocess.run([str(runtime_venv.with_name("edge-sdk")), "detect", str(photo), "--model",
                          str(b0_artifacts["onnx"]), "--quiet"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert json.loads(cli.stdout.splitlines()[0])["verdict"] in ("real", "fake")
    foreign = [line for line in cli.stderr.splitlines() if line.strip() and not line.startswith("edge-sdk")]
    assert not foreign, foreign


BUNDLE_SCRIPT = r"""
import json, sys
import numpy as np
import edge_sdk
from edge_sdk.pipeline import detect

bundle, video, clips, valid = sys.argv[1:5]
records = detect([video], bundle, frames=8, progress=False)
with edge_sdk.load(bundle) as backend:
    logits = backend.predict_masked(np.load(clips), np.load(valid)).tolist()
heavy = sorted(m for m in ("torch", "torchvision", "timm", "transformers", "executorch") if m in sys.modules)
print(json.dumps({"records": records, "logits": logits, "heavy_modules": heavy}))
"""


def test_runtime_extra_alone_runs_a_megatron_bundle(runtime_venv, megatron_bundle, sample_clip, tmp_path):
    """Seed 002's bundle (ONNX depth model, embedder, temporal head) on a device install: detect on a video and
    masked clips, with no torch or transformers, and the same logits as the full install."""
    from edge_sdk.pipeline import Detector

    import edge_sdk

    recs, _, _ = megatron_bundle
    path = recs["onnx-fp32"]["path"]
    rng = np.random.default_rng(0)
    np.save(tmp_path / "clips.npy", rng.random((2, 4, 3, 64, 64), dtype=np.float32))
    np.save(tmp_path / "valid.npy", np.array([[1, 1, 1, 1], [1, 0, 1, 0]], np.float32))
    done = subprocess.run([str(runtime_venv), "-c", BUNDLE_SCRIPT, path, str(sample_clip), str(tmp_path / "clips.npy"),
                           str(tmp_path / "valid.npy")], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["heavy_modules"] == [], f"the runtime imported {out['heavy_modules']}"
    (rec,) = out["records"]
    assert rec["ok"] and rec["model_kind"] == "clip" and rec["clips"], rec
    with Detector(path) as det:
        here = det.path(sample_clip, frames=8)
    assert [c["logit"] for c in rec["clips"]] == pytest.approx([c["logit"] for c in here["clips"]], abs=1e-5)
    with edge_sdk.load(path) as b:
        np.testing.assert_allclose(out["logits"], b.predict_masked(np.load(tmp_path / "clips.npy"),
                                                                   np.load(tmp_path / "valid.npy")), atol=1e-5)


OV_SCRIPT = r"""
import json, sys
import numpy as np
import edge_sdk
from edge_sdk.pipeline import detect

ir, photo, batch = sys.argv[1:4]
records = detect([photo], ir, progress=False)
with edge_sdk.load(ir) as backend:
    logits = backend.predict(np.load(batch)).tolist()
    name, device = backend.name, backend.device
heavy = sorted(m for m in ("torch", "torchvision", "timm", "executorch", "coremltools", "onnx") if m in sys.modules)
print(json.dumps({"records": records, "logits": logits, "backend": [name, device], "heavy_modules": heavy}))
"""


def _install_extras(venv: Path, extras: str) -> set[str]:
    """``pip install '.[EXTRAS]'`` (pinned) into the runtime venv; the names of what is installed after it."""
    done = subprocess.run([str(venv), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"),
                           f"{ROOT}[{extras}]"], capture_output=True, text=True)
    assert done.returncode == 0, f"pip install '.[{extras}]' failed:\n{done.stderr[-3000:]}"
    listed = subprocess.run([str(venv), "-m", "pip", "list", "--format=json"], capture_output=True, text=True,
                            check=True)
    return {p["name"].lower() for p in json.loads(listed.stdout)}


def _run_script(venv: Path, script: str, artifact, batch: np.ndarray, tmp_path: Path) -> dict:
    """``script`` in the runtime venv on ``artifact``, a sample photo and ``batch``; its last JSON line."""
    np.save(tmp_path / "batch.npy", batch)
    photo = shared_path("samples", "western_real_1.JPG")
    run = subprocess.run([str(venv), "-c", script, str(artifact), str(photo), str(tmp_path / "batch.npy")],
                         capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": ""})
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_openvino_extra_alone_runs_an_openvino_artifact_without_torch(runtime_venv, b0_artifacts, tmp_path):
    """``pip install '.[runtime,openvino]'`` on an Intel box: the IR runs, detect scores, and torch never loads."""
    ov = pytest.importorskip("openvino")
    import edge_sdk
    from edge_sdk import manifest

    installed = _install_extras(runtime_venv, "runtime,openvino")
    assert "openvino" in installed and "torch" not in installed and "nncf" not in installed
    ir = tmp_path / "openvino-fp32" / "b0.openvino"
    ir.mkdir(parents=True)
    ov.save_model(ov.convert_model(str(b0_artifacts["onnx"])), str(ir / "model.xml"))
    manifest.write(manifest.build(ir, model="ms_eff_gcvit_b0", target="openvino", precision="fp32",
                                  crop=b0_artifacts["spec"], input_shape=["batch", 3, 224, 224]), ir.parent / "manifest.json")
    batch = np.random.default_rng(1).standard_normal((2, 3, 224, 224)).astype(np.float32)
    out = _run_script(runtime_venv, OV_SCRIPT, ir, batch, tmp_path)
    assert out["heavy_modules"] == [] and out["backend"] == ["openvino", "CPU"]
    (rec,) = out["records"]
    assert rec["ok"] and len(rec["faces"]) == 1
    with edge_sdk.load(b0_artifacts["onnx"]) as ort:  # the same numbers as ONNX Runtime on the source model
        np.testing.assert_allclose(out["logits"], ort.predict(batch), atol=1e-4)


LITERT_SCRIPT = OV_SCRIPT.replace('"coremltools", "onnx")', '"coremltools", "onnx", "litert_torch", "jax")')


def test_litert_extra_alone_runs_a_tflite_artifact_without_torch(runtime_venv, b0_artifacts, tmp_path):
    """``pip install '.[runtime,litert]'`` on an ARM board or in an Android-like setup: the .tflite runs through
    ai-edge-litert's interpreter, detect scores, and neither torch nor the converter stack loads."""
    litert_torch = pytest.importorskip("litert_torch", reason="litert-torch is not installed (make install adds it)")
    import timm
    import torch

    import edge_sdk
    from edge_sdk import manifest

    installed = _install_extras(runtime_venv, "runtime,litert")
    assert "ai-edge-litert" in installed and not installed & {"torch", "litert-torch", "jax", "xdsl"}
    torch.manual_seed(0)
    model = timm.create_model("mobilenetv3_small_050", num_classes=1).eval()
    art = tmp_path / "litert-fp32" / "tiny.tflite"
    art.parent.mkdir()
    litert_torch.convert(model, (torch.zeros(1, 3, 224, 224),)).export(str(art))
    manifest.write(manifest.build(art, model="mobilenetv3_small_050", target="litert", precision="fp32",
                                  crop=b0_artifacts["spec"], input_shape=[1, 3, 224, 224]), art.parent / "manifest.json")
    batch = np.random.default_rng(2).standard_normal((3, 3, 224, 224)).astype(np.float32)
    out = _run_script(runtime_venv, LITERT_SCRIPT, art, batch, tmp_path)
    assert out["heavy_modules"] == [] and out["backend"] == ["litert", "cpu"]
    (rec,) = out["records"]
    assert rec["ok"] and len(rec["faces"]) == 1
    with torch.no_grad():
        np.testing.assert_allclose(out["logits"], model(torch.from_numpy(batch))[:, 0].numpy(), atol=1e-5)
    with edge_sdk.load(art) as here:  # the full install's backend gives the same numbers
        np.testing.assert_allclose(out["logits"], here.predict(batch), atol=1e-6)


def test_ncnn_extra_alone_runs_an_ncnn_artifact_without_torch(runtime_venv, tmp_path):
    """``pip install '.[runtime,ncnn]'`` on an ARM board: the NCNN graph runs, detect scores, torch never loads."""
    pytest.importorskip("pnnx", reason="pnnx is not installed (pip install 'edge-sdk[export]')")
    import edge_sdk
    from edge_sdk.export import export

    assert "ncnn" in _install_extras(runtime_venv, "runtime,ncnn")
    (rec,) = export("mobilenetv3_small_050", formats=["ncnn-fp32"], out=tmp_path / "out", parity_crops=4)
    assert rec["ok"], rec.get("error")
    batch = np.random.default_rng(3).standard_normal((2, 3, 224, 224)).astype(np.float32)
    out = _run_script(runtime_venv, OV_SCRIPT.replace('"onnx")', '"onnx", "pnnx")'), rec["path"], batch, tmp_path)
    assert out["heavy_modules"] == [] and out["backend"] == ["ncnn", "cpu"]
    (r,) = out["records"]
    assert r["ok"] and len(r["faces"]) == 1
    with edge_sdk.load(rec["path"]) as here:
        np.testing.assert_allclose(out["logits"], here.predict(batch), atol=1e-6)
