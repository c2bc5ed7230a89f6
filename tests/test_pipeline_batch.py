"""detect's throughput mode (``--batch-frames N``): the crops of N frames in one backend call, the records of N = 1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import shared_path

FRAMES, BLACK = 13, 6  # the test video's frames, and the one without a face


@pytest.fixture(scope="module")
def two_faces(tmp_path_factory) -> Path:
    """13 frames of 1280x720 with two faces side by side (the centres of the two sample videos), frame 6 black."""
    import cv2

    srcs = [cv2.VideoCapture(str(shared_path("samples", name))) for name in ("western_fake.mp4", "western_real.mp4")]
    path = tmp_path_factory.mktemp("two_faces") / "two_faces.mp4"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (1280, 720))
    for i in range(FRAMES):
        halves = [s.read()[1][:, 330:970] for s in srcs]
        out.write(np.zeros((720, 1280, 3), np.uint8) if i == BLACK else np.hstack(halves))
    out.release()
    for s in srcs:
        s.release()
    return path


def tiny_onnx(folder: Path, batch) -> Path:
    """A 32x32 linear scorer (one 32x32 convolution, seeded weights) as ONNX with its manifest. ``batch``: "batch"
    (dynamic) or 1 (fixed: ONNX Runtime refuses any other batch)."""
    import onnx
    from onnx import TensorProto, helper

    from edge_sdk import manifest
    from edge_sdk.preprocess import CropSpec

    w = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32) / 32
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, 32, 32])
    y = helper.make_tensor_value_info("logit", TensorProto.FLOAT, [batch, 1])
    nodes = [helper.make_node("Conv", ["input", "w"], ["c"]), helper.make_node("Reshape", ["c", "shape"], ["logit"])]
    inits = [helper.make_tensor("w", TensorProto.FLOAT, w.shape, w.ravel()),
             helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 1])]
    model = helper.make_model(helper.make_graph(nodes, "tiny", [x], [y], initializer=inits),
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.onnx"
    onnx.save(model, str(path))
    m = manifest.build(path, model="tiny", target="onnx", precision="fp32", crop=CropSpec(size=32),
                       input_shape=[batch, 3, 32, 32])
    manifest.write(m, folder / "manifest.json")
    return path


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("tiny")
    return {"dynamic": tiny_onnx(root / "dynamic", "batch"), "fixed": tiny_onnx(root / "fixed", 1)}


def scored(artifact, video, batch_frames: int, profile_max: int | None = None) -> tuple[dict, list[int]]:
    """The video's record at ``batch_frames``, and the batch of each backend call."""
    import edge_sdk
    from edge_sdk.pipeline import Detector

    backend = edge_sdk.load(artifact)
    if profile_max is not None:  # as a TensorRT engine's manifest records its optimisation profile
        backend.manifest["export"] = {"engine": {"profile": {"input": {"max": [profile_max, 3, 32, 32]}}}}
    calls, run = [], backend._run
    backend._run = lambda x: (calls.append(len(x)), run(x))[1]
    with Detector(backend) as det:
        return det.video(video, every=1, batch_frames=batch_frames), calls


def assert_same(got: dict, want: dict) -> None:
    """The same record apart from timings, logits within 1e-4."""
    assert got["verdict"] == want["verdict"] and got["score"] == pytest.approx(want["score"], abs=1e-4)
    assert got["frames_without_face"] == want["frames_without_face"] and got["frames_sampled"] == want["frames_sampled"]
    assert got["tracks"].keys() == want["tracks"].keys()
    for t in want["tracks"]:
        assert got["tracks"][t]["frames"] == want["tracks"][t]["frames"]
        assert got["tracks"][t]["score"] == pytest.approx(want["tracks"][t]["score"], abs=1e-4)
    assert [f["frame"] for f in got["frames"]] == [f["frame"] for f in want["frames"]]
    for a, b in zip(got["frames"], want["frames"]):
        assert [(f["box"], f["track"]) for f in a["faces"]] == [(f["box"], f["track"]) for f in b["faces"]]
        np.testing.assert_allclose([f["logit"] for f in a["faces"]], [f["logit"] for f in b["faces"]], atol=1e-4)


def test_batch_frames_gives_the_records_of_one_frame_at_a_time_in_fewer_calls(artifacts, two_faces):
    one, calls = scored(artifacts["dynamic"], two_faces, 1)
    assert one["frames_sampled"] == FRAMES and one["frames_without_face"] == [BLACK]
    assert all(len(f["faces"]) == 2 for f in one["frames"] if f["frame"] != BLACK) and len(one["tracks"]) == 2
    logits = [[f["logit"] for f in fr["faces"]] for fr in one["frames"] if fr["faces"]]
    assert min(abs(a - b) for a, b in logits) > 1e-3  # the two faces score apart: a mix-up would show
    assert calls == [2] * (FRAMES - 1) and "batch_frames" not in one["timings"]
    # 13 frames by 4 (frame 6 has no face): 8 + 6 + 8 + 2 crops; by 5: 10 + 8 + 6; by 20: all 24 in one call
    for n, want_calls in ((4, [8, 6, 8, 2]), (5, [10, 8, 6]), (20, [24])):
        rec, calls = scored(artifacts["dynamic"], two_faces, n)
        assert calls == want_calls, n
        assert_same(rec, one)
        assert rec["timings"]["batch_frames"] == n
    # an artifact exported with a fixed batch of 1 (ONNX Runtime refuses 2) gets one crop per call
    rec, calls = scored(artifacts["fixed"], two_faces, 4)
    assert calls == [1] * 24
    assert_same(rec, one)
    # a TensorRT engine's profile holds at most 3: each call within it
    rec, calls = scored(artifacts["dynamic"], two_faces, 4, profile_max=3)
    assert calls == [3, 3, 2, 3, 3, 3, 3, 2, 2]
    assert_same(rec, one)


def test_detect_batch_frames_on_the_command_line(artifacts, two_faces, tmp_path, capsys):
    from edge_sdk.cli import main

    runs = {}
    for n in ("1", "8"):
        out = tmp_path / f"n{n}.json"
        assert main(["detect", str(two_faces), "--model", str(artifacts["dynamic"]), "--every", "1", "--batch-frames",
                     n, "--json", str(out), "--quiet"]) == 0
        (runs[n],) = json.loads(out.read_text())
    assert runs["1"]["ok"] and runs["1"]["frames_sampled"] == FRAMES
    assert_same(runs["8"], runs["1"])
    capsys.readouterr()
    assert main(["detect", str(two_faces), "--model", str(artifacts["dynamic"]), "--batch-frames", "0"]) == 2
    assert "--batch-frames 0: must be >= 1" in capsys.readouterr().err
