"""Explanations: heatmaps per branch on a real photo, the model-randomisation check, videos, artifacts, detect --explain."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_sdk.errors import InputError
from edge_sdk.explain import Explainer, explain, randomized_head_correlations
from tests.conftest import shared_path

CASES = [("ms_eff_gcvit_b0", "low"), ("ms_eff_gcvit_b0", "high"), ("ms_eff_gcvit_b0", "backbone"),
         ("repvit_m0_9_student", "last")]


@pytest.fixture(scope="module")
def face_crop():
    """The face of a real sample photo, found and cropped as the runtime does (224 px crop spec)."""
    from edge_sdk.faces import FaceDetector
    from edge_sdk.preprocess import load_image

    rgb = load_image(shared_path("samples", "western_real_1.JPG"))
    with FaceDetector() as det:
        faces = det.detect(rgb)
    assert faces
    return rgb, faces[0].box


@pytest.fixture(scope="module")
def models():
    from edge_sdk.models import create_model

    out = {}
    for name in ("ms_eff_gcvit_b0", "repvit_m0_9_student"):
        torch.manual_seed(0)
        out[name] = create_model(name).eval()
    return out


@pytest.mark.parametrize("name,branch", CASES)
def test_each_branch_gives_a_heatmap_of_the_crop_that_is_finite_and_not_constant(name, branch, models, face_crop):
    rgb, box = face_crop
    ex = Explainer(models[name], branch=branch)
    crop = ex.spec.crop(rgb, box)[None]
    (e,) = ex.explain_crops(crop)
    assert e.heatmap.shape == crop.shape[1:3] == (224, 224)
    assert np.isfinite(e.heatmap).all() and e.heatmap.std() > 0.02
    assert 0 <= e.heatmap.min() and e.heatmap.max() <= 1 + 1e-6
    assert e.logit == pytest.approx(float(ex.scores(crop)[0]), abs=1e-5)  # P(fake) is the model's own score
    assert e.overlay().shape == (224, 224, 3) and e.overlay().dtype == np.uint8


@pytest.mark.parametrize("name,branch", CASES)
def test_heatmaps_change_when_the_head_is_randomised(name, branch, models, face_crop):
    """Adebayo et al. (2018): a method that explains the model must not survive randomising its weights."""
    rgb, box = face_crop
    ex = Explainer(models[name], branch=branch)
    corr = randomized_head_correlations(ex, ex.spec.crop(rgb, box)[None], seeds=(1, 2, 3))
    assert len(corr) == 3 and all(-1 <= c <= 1 for c in corr)
    assert np.median(corr) < 0.5, corr
    same = randomized_head_correlations(ex, ex.spec.crop(rgb, box)[None], seeds=())
    assert same == []


def test_unknown_branch_and_method_are_clear_errors(models):
    with pytest.raises(InputError, match="has no branch 'low'.*last"):
        Explainer(models["repvit_m0_9_student"], branch="low")
    with pytest.raises(InputError, match="unknown CAM method 'fancycam'"):
        Explainer(models["ms_eff_gcvit_b0"], method="fancycam")


def test_explain_writes_pngs_and_a_page_per_face(models, tmp_path):
    photo = shared_path("samples", "western_real_1.JPG")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    records = explain([photo, tmp_path / "broken.jpg"], models["ms_eff_gcvit_b0"], out=tmp_path / "out", sanity=True)
    good, bad = records
    assert "error" in bad and "broken.jpg" in bad["path"]  # recorded, and the photo was still explained
    assert good["branch"] == "high" and good["method"] == "gradcam++" and len(good["faces"]) >= 1
    face = good["faces"][0]
    for key in ("crop", "heatmap", "overlay"):
        assert Path(face[key]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 0 < face["p_fake"] < 1 and len(good["randomized_head_correlation"]) == 3
    page = (tmp_path / "out" / "index.html").read_text()
    assert page.count("<img ") == 3 * len(good["faces"]) and f"{face['p_fake']:.3f}" in page
    assert all((tmp_path / "out" / src).is_file() for src in __import__("re").findall(r"src='([^']+)'", page))
    assert json.loads((tmp_path / "out" / "explain.json").read_text())[0]["faces"][0]["overlay"] == face["overlay"]


def test_video_explains_the_most_suspicious_frames(models, sample_clip, tmp_path):
    (r,) = explain([sample_clip], models["repvit_m0_9_student"], out=tmp_path, frames=6, top=2)
    frames = [f["frame"] for f in r["faces"]]
    assert r["kind"] == "video" and len(set(frames)) == 2
    ex = Explainer(models["repvit_m0_9_student"])
    p = [f["p_fake"] for f in r["faces"]]
    assert p == sorted(p, reverse=True)  # most suspicious first
    assert ex.branch == "last"


def test_an_exported_artifact_is_explained_through_its_recorded_checkpoint(models, tmp_path):
    from edge_sdk import manifest
    from edge_sdk.preprocess import CropSpec

    model = models["repvit_m0_9_student"]
    ckpt = tmp_path / "r.pth"
    torch.save(model.state_dict(), ckpt)
    artifact = tmp_path / "r.onnx"
    artifact.write_bytes(b"stand-in: explain never runs the artifact, it reads its manifest")
    spec = CropSpec.for_model(model.pretrained_cfg)
    for checkpoint, folder in ((None, "none"), (str(ckpt), "with")):
        (tmp_path / folder).mkdir()
        a = tmp_path / folder / "r.onnx"
        a.write_bytes(artifact.read_bytes())
        m = manifest.build(a, model="repvit_m0_9_student", target="onnx", precision="fp32", crop=spec,
                           input_shape=[1, 3, 224, 224], checkpoint=checkpoint)
        manifest.write(m, a.parent / "manifest.json")
    with pytest.raises(InputError, match="need gradients.*--weights"):
        Explainer(tmp_path / "none" / "r.onnx")
    ex = Explainer(tmp_path / "with" / "r.onnx")
    x = np.random.default_rng(0).integers(0, 256, (1, 224, 224, 3), dtype=np.uint8)
    with torch.no_grad():
        want = float(model(torch.from_numpy(ex.spec.to_tensor(x)))[0, 0])
    assert ex.scores(x)[0] == pytest.approx(want, abs=1e-5)
    assert Explainer(tmp_path / "none" / "r.onnx", weights=ckpt).name == "repvit_m0_9_student"


def test_detect_explain_adds_overlays_to_the_records(b0_artifacts, tmp_path):
    from edge_sdk.explain import add_explanations
    from edge_sdk.pipeline import detect

    photo = shared_path("samples", "western_fake_1.JPG")
    records = detect([photo], b0_artifacts["onnx"], progress=False)
    add_explanations(records, tmp_path / "x", b0_artifacts["onnx"], weights=b0_artifacts["torch"])
    e = records[0]["explanation"]
    assert e["branch"] == "high" and e["faces"] and Path(e["faces"][0]["overlay"]).is_file()
    assert e["faces"][0]["p_fake"] == pytest.approx(records[0]["score"], abs=1e-3)
    no_ckpt = detect([photo], b0_artifacts["onnx"], progress=False)
    add_explanations(no_ckpt, tmp_path / "y", b0_artifacts["onnx"])
    assert no_ckpt[0]["ok"] and "need gradients" in no_ckpt[0]["explanation"]["error"]
