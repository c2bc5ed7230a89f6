"""Clip models in the runtime: a (tiny) frozen-CLIP video teacher exported to ONNX and ExecuTorch, run by detect and
camera per face track over T crops taken `stride` frames apart; a track with fewer than T crops is never scored."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from tests.conftest import export_checkpoint, shared_path

KW = {"num_frames": 4, "clip_kwargs": {"depth": 2, "embed_dim": 64, "num_heads": 2, "img_size": 64}}


@pytest.fixture(scope="module")
def clip_artifacts(tmp_path_factory, sample_clip):
    from edge_sdk.models import create_model

    torch.manual_seed(0)
    model = create_model("clip_fcg_vit_b16", **KW)
    return export_checkpoint(tmp_path_factory.mktemp("clip"), model, "clip_fcg_vit_b16", KW, 64, sample_clip,
                             ["onnx-fp32", "executorch-fp32"])


def test_the_clip_teacher_exports_with_its_clip_in_the_manifest(clip_artifacts):
    recs, _ = clip_artifacts
    for name in ("onnx-fp32", "executorch-fp32"):
        r = recs[name]
        assert r["ok"], r
        p = r["parity"]
        assert p["status"] == "passed" and p["max_abs_logit"] < 1e-4 and p["n"] >= 2, p
        m = json.loads(open(r["path"].rsplit("/", 1)[0] + "/manifest.json").read())
        assert m["input"]["shape"] == [1, 4, 3, 64, 64] and m["input"]["layout"] == "NTCHW"
        assert m["input"]["clip"] == {"frames": 4, "stride": 4} and m["card"]["family"] == "clip_fcg"
        assert "research-only" in m["card"]["licence"]["code"]
        # DFD-FCG's landmark-aligned crops (the card's default: this checkpoint records no index), for the apps too
        assert m["crop"]["align"] == "keypoints" and len(m["crop"]["template"]) == 4


@pytest.mark.parametrize("target", ["onnx-fp32", "executorch-fp32"])
def test_detect_scores_clips_per_track_and_matches_torch(clip_artifacts, sample_clip, target):
    from edge_sdk.models import load
    from edge_sdk.pipeline import Detector

    recs, ckpt = clip_artifacts
    with Detector(recs[target]["path"]) as det:
        rec = det.path(sample_clip, frames=8)
    assert rec["ok"] and rec["model_kind"] == "clip" and rec["clip"] == {"frames": 4, "stride": 4}, rec
    assert len(rec["clips"]) == 2 and rec["verdict"] in ("real", "fake") and rec["score"] is not None
    for c in rec["clips"]:
        assert len(c["frames"]) == 4 and np.all(np.diff(c["frames"]) == 4)
    # the same crops through the PyTorch model give the same clip logit
    loaded = load(str(ckpt))
    from edge_sdk.faces import FaceDetector
    from edge_sdk.video import sample_frames

    first = rec["clips"][0]["frames"]
    with FaceDetector(mode="video") as fd:
        faces = [(rgb, fd.detect(rgb, timestamp_ms=ts)[0])
                 for _, i, ts, rgb in sample_frames(sample_clip, indices=lambda n: first)]
        assert loaded.crop.align == "keypoints"  # the clip_fcg card's (DFD-FCG's landmark-aligned crops)
        crops = [loaded.crop.crop(rgb, f.box, f.keypoints) for rgb, f in faces]
    with torch.no_grad():
        want = float(loaded.model(torch.from_numpy(loaded.crop.to_tensor(np.stack(crops))[None])))
    assert rec["clips"][0]["logit"] == pytest.approx(want, abs=1e-3)


def test_a_track_shorter_than_a_clip_is_reported_never_scored(clip_artifacts, sample_clip, tmp_path):
    from edge_sdk.pipeline import Detector

    recs, _ = clip_artifacts
    short = tmp_path / "short.mp4"
    src = cv2.VideoCapture(str(sample_clip))
    out = cv2.VideoWriter(str(short), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (1280, 720))
    for _ in range(9):  # T=4 frames 4 apart need 13
        out.write(src.read()[1])
    out.release()
    src.release()
    with Detector(recs["onnx-fp32"]["path"]) as det:
        rec = det.path(short, frames=4)
        photo = det.path(shared_path("samples", "western_real_1.JPG"))
    assert rec["ok"] and rec["verdict"] == "too_short" and rec["score"] is None and rec["clips"] == []
    assert rec["short_tracks"] and rec["short_tracks"][0]["need"] == 4 and rec["short_tracks"][0]["have"] < 4
    assert "nothing was scored" in rec["reason"]
    assert not photo["ok"] and "clip model" in photo["error"]


def test_camera_runs_a_clip_model_per_track(clip_artifacts, sample_clip, tmp_path):
    from edge_sdk.stream import run_stream

    recs, _ = clip_artifacts
    jsonl = tmp_path / "f.jsonl"
    summary = run_stream(sample_clip, recs["onnx-fp32"]["path"], jsonl=jsonl, live=False)
    assert summary["clip"] == {"frames": 4, "stride": 4} and summary["frames_processed"] == 45
    frames = [json.loads(x) for x in jsonl.read_text().splitlines()]
    first = frames[0]["faces"][0]
    assert first["status"] == "collecting" and first["p_fake"] is None and first["have"] == 1
    scored = [f for f in frames if f["faces"] and f["faces"][0].get("p_fake") is not None]
    assert scored and scored[0]["frame"] == 12  # the 4th crop, 4 frames apart: frames 0, 4, 8, 12
    assert summary["tracks"] and all(t["score"] is not None for t in summary["tracks"].values())
