"""Parity that real inputs cannot break: the ExecuTorch input-layout fix, the parity set, and --localize."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import shared_path

TINY = "mobilenetv3_small_050"


@pytest.fixture(scope="module")
def prep():
    from edge_sdk.export.prepare import prepare

    torch.manual_seed(0)
    return prepare(TINY)


@pytest.fixture(scope="module")
def photos_nchw(prep):
    """The sample photos, each whole photo resized to the model size, as channels-last tensors (torch's permute of an
    HWC array: the layout that broke ExecuTorch programs)."""
    import cv2

    from edge_sdk.preprocess import load_image

    spec = prep.crop
    out = []
    for name in ("western_real_1.JPG", "western_fake_1.JPG", "asian_real_1.JPG", "asian_fake_2.JPG"):
        rgb = cv2.resize(load_image(shared_path("samples", name)), (spec.size, spec.size))
        out.append(((rgb / 255.0 - spec.mean) / spec.std).astype(np.float32))
    batch = torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2)  # NCHW shape, NHWC memory
    assert not batch.is_contiguous() and batch.is_contiguous(memory_format=torch.channels_last)
    return batch


def test_executorch_export_is_nchw_whatever_the_example_and_matches_on_photos(prep, photos_nchw, tmp_path):
    from executorch.runtime import Runtime

    import edge_sdk
    from edge_sdk import manifest
    from edge_sdk.export.executorch import export_executorch

    cl_example = photos_nchw[:1]  # a channels-last example: before the fix, its program misread NCHW inputs
    path = tmp_path / "m.pte"
    report = export_executorch(prep.module, path, cl_example)
    assert report["input_dim_order"] == [[0, 1, 2, 3]]
    m = manifest.build(path, model=TINY, target="executorch", precision="fp32", crop=prep.crop,
                       input_shape=[1, 3, prep.crop.size, prep.crop.size])
    manifest.write(m, tmp_path / "manifest.json")
    with torch.no_grad():
        want = prep.module(photos_nchw.contiguous()).reshape(-1).numpy()
    with edge_sdk.load(path) as backend:  # the backend hands the runtime contiguous tensors, whatever it is given
        got = backend.predict(photos_nchw.numpy())
    assert np.abs(got - want).max() < 1e-5
    # ExecuTorch's own runtime, fed the channels-last tensors directly, is right too now the program is NCHW
    method = Runtime.get().load_program(str(path)).load_method("forward")
    direct = np.concatenate([method.execute([photos_nchw[i:i + 1].contiguous()])[0].numpy().reshape(-1)
                             for i in range(len(photos_nchw))])
    assert np.abs(direct - want).max() < 1e-5


def test_the_parity_set_covers_what_devices_see_and_reports_the_worst_kind(prep):
    from edge_sdk.export.calibration import parity_inputs
    from edge_sdk.export.verify import compare

    ps = parity_inputs(shared_path("samples"), prep.crop, limit=16)
    kinds = ps.summary["kinds"]
    assert {"face", "whole_frame", "dark", "bright", "low_contrast", "high_contrast", "jpeg_q8", "grey"} <= set(kinds)
    assert kinds["dark"] == kinds["face"] + kinds.get("crop", 0) and len(ps.x) == sum(kinds.values())
    dark = ps.rgb[ps.kinds.index("dark")]
    assert dark.mean() < ps.rgb[ps.kinds.index("face")].mean() / 2
    ref = np.linspace(-1, 1, len(ps.x))
    got = ref.copy()
    got[ps.kinds.index("jpeg_q8")] += 0.01  # one input of one kind off
    r = compare(ref, got, "onnx-fp32", kinds=ps.kinds)
    assert r["worst_kind"] == "jpeg_q8" and not r["passed"] and r["by_kind"]["face"]["max_abs_logit"] == 0
    assert r["spearman"] == pytest.approx(1.0, abs=1e-3)


@pytest.fixture(scope="module")
def onnx_pair(prep, tmp_path_factory):
    """The fp32 ONNX of the model, and a copy with one convolution's weights deliberately perturbed."""
    import onnx
    from onnx import numpy_helper

    from edge_sdk.export import export

    out = tmp_path_factory.mktemp("loc")
    (rec,) = export(prep.loaded, formats=["onnx-fp32"], out=out, name=TINY)
    good = Path(rec["path"])
    model = onnx.load(str(good))
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    target = convs[len(convs) // 2]
    inits = {i.name: i for i in model.graph.initializer}
    w = numpy_helper.to_array(inits[target.input[1]]).copy()
    w *= 1.5
    inits[target.input[1]].CopyFrom(numpy_helper.from_array(w, target.input[1]))
    bad_dir = out / "perturbed"
    bad_dir.mkdir()
    bad = bad_dir / good.name
    onnx.save(model, str(bad))
    from edge_sdk import manifest

    m = json.loads((good.parent / "manifest.json").read_text())
    m["artifact"] = {"file": bad.name, "sha256": manifest.sha256(bad), "bytes": bad.stat().st_size}
    manifest.write(m, bad_dir / "manifest.json")
    return good, bad, target.name


def test_localize_names_the_perturbed_onnx_layer(onnx_pair, capsys):
    from edge_sdk.cli import main

    good, bad, node = onnx_pair
    assert main(["verify", str(bad), "--data", str(shared_path("samples")), "--localize"]) == 1
    out = capsys.readouterr()
    report = json.loads(out.out)["localize"]
    assert report["first"]["node"] == node and report["first"]["op"] == "Conv" and report["first"]["rel"] > 0.1
    assert main(["verify", str(good), "--data", str(shared_path("samples")), "--localize"]) == 0
    clean = json.loads(capsys.readouterr().out)["localize"]
    assert clean["first"] is None and clean["compared"] > 20


def test_localize_names_the_first_departing_executorch_call(prep, tmp_path):
    """The .pte is lowered from a model with one layer perturbed; the reference (ETRecord) from the true model."""
    import copy

    from edge_sdk import manifest
    from edge_sdk.export.executorch import export_executorch
    from edge_sdk.export.localize import localize

    bad_module = copy.deepcopy(prep.module)
    layer = "blocks.3.0.conv_pw"  # a 1x1 conv in the middle of MobileNetV3
    with torch.no_grad():
        bad_module.get_submodule(layer).weight.mul_(1.5)
    path = tmp_path / "bad.pte"
    export_executorch(bad_module, path, prep.example(), delegate="none")
    m = manifest.build(path, model=TINY, target="executorch", precision="fp32", crop=prep.crop,
                       input_shape=[1, 3, prep.crop.size, prep.crop.size], export={"delegation": {"delegate": "none"}})
    x = np.random.default_rng(0).standard_normal((1, 3, prep.crop.size, prep.crop.size)).astype(np.float32)
    report = localize(path, prep, x, m)
    first = report["first"]
    assert first is not None and any(mod.startswith(layer) or layer.startswith(mod) for mod in first["modules"]), first
    assert report["compared"] > 10


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> Path:
    """The sample photos and videos in real/ and fake/ folders (their names say which)."""
    import shutil

    root = tmp_path_factory.mktemp("labelled")
    for f in sorted(shared_path("samples").iterdir()):
        if f.suffix.lower() in (".jpg", ".mp4"):
            kind = "fake" if "fake" in f.name else "real"
            (root / kind).mkdir(exist_ok=True)
            shutil.copy(f, root / kind / f.name)
    return root


def test_each_artifact_gets_its_own_threshold_at_the_stated_fpr(prep, labelled, tmp_path):
    from edge_sdk import manifest
    from edge_sdk.export import export
    from edge_sdk.metrics import threshold_at_fpr
    from edge_sdk.pipeline import Detector

    recs = export(prep.loaded, formats=["onnx-fp32", "onnx-int8"], out=tmp_path, calib=labelled,
                  verify_data=labelled, target_fpr=0.1, name=TINY)
    for r in recs:
        assert r["ok"], r
        m = manifest.load(r["path"])
        choice = m["threshold_choice"]
        assert m["threshold"] == choice["threshold"] and choice["fpr"] <= 0.1 and choice["target_fpr"] == 0.1
        assert choice["real"] > 0 and choice["fake"] > 0 and m["parity"]["tpr_at_fpr"]["tpr"] == choice["tpr"]
        with Detector(r["path"]) as det:  # the runtime decides with the artifact's own threshold
            assert det.threshold == m["threshold"]
    from edge_sdk.export.verify import verify

    v = verify(recs[1]["path"], labelled)
    assert v["at_threshold"]["threshold"] == manifest.load(recs[1]["path"])["threshold"]
    assert v["at_threshold"]["fpr"] is not None and v["at_threshold"]["tpr"] is not None
    fixed = export(prep.loaded, formats=["onnx-fp32"], out=tmp_path / "fixed", verify_data=labelled, threshold=0.7,
                   name=TINY)[0]
    assert manifest.load(fixed["path"])["threshold"] == 0.7  # a threshold given is kept
    assert threshold_at_fpr([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.9], 0.0)["threshold"] == pytest.approx(0.3)
