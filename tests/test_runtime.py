"""Runtime on real pixels: faces, the crop spec, backends against torch, detect over a messy folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import edge_sdk
from edge_sdk import manifest
from edge_sdk.aggregate import IoUTracker, aggregate
from edge_sdk.errors import InputError
from edge_sdk.faces import FaceDetector
from edge_sdk.manifest import ManifestError
from edge_sdk.preprocess import CropSpec, load_image
from edge_sdk.video import sample_frames
from tests.conftest import shared_path

PHOTOS = ["asian_fake_1.JPG", "asian_fake_2.JPG", "asian_real_1.JPG", "western_fake_1.JPG", "western_fake_2.JPG",
          "western_real_1.JPG", "western_real_2.JPG"]


@pytest.fixture(scope="module")
def faces():
    with FaceDetector() as det:
        yield det


def _eyes_nose_inside(face) -> bool:
    x0, y0, x1, y1 = face.box
    return all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in face.keypoints[:3])


@pytest.mark.parametrize("name", PHOTOS)
def test_face_found_on_every_sample_photo(faces, name):
    rgb = load_image(shared_path("samples", name))
    found = faces.detect(rgb)
    assert len(found) == 1, f"{name}: {len(found)} faces"
    f = found[0]
    H, W = rgb.shape[:2]
    assert f.score >= 0.5 and f.keypoints.shape == (6, 2)
    assert 0.2 * W <= f.box[2] - f.box[0] <= 0.9 * W  # a face-sized box, not a sliver or the whole frame
    assert _eyes_nose_inside(f), "eyes and nose tip must lie inside the box"
    left_eye, right_eye = f.keypoints[1], f.keypoints[0]
    assert abs(left_eye[1] - right_eye[1]) < 0.25 * (f.box[3] - f.box[1])  # eyes level, so the face is upright


@pytest.mark.parametrize("video", ["western_real.mp4", "western_fake.mp4"])
def test_face_found_in_sampled_video_frames(video):
    path = shared_path("samples", video)
    n = 0
    with FaceDetector(mode="video") as det:
        for info, index, ts, rgb in sample_frames(path, frames=6):
            assert rgb.shape == (720, 1280, 3)
            found = det.detect(rgb, timestamp_ms=ts)
            assert found and _eyes_nose_inside(found[0]), f"{video} frame {index}: no face"
            n += 1
    assert n == 6


def test_same_crop_bytes_whatever_the_file_type(faces, tmp_path):
    src = load_image(shared_path("samples", "western_real_1.JPG"))
    spec = CropSpec(size=224)
    box = faces.detect(src)[0].box
    reference = spec.crop(src, box)

    Image.fromarray(src).save(tmp_path / "plain.png")
    Image.fromarray(np.dstack([src, np.full(src.shape[:2], 255, np.uint8)]), "RGBA").save(tmp_path / "rgba.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: viewers turn it 90 degrees clockwise back
    Image.fromarray(np.rot90(src, k=1).copy()).save(tmp_path / "rotated.png", exif=exif)
    for name in ("plain.png", "rgba.png", "rotated.png"):
        img = load_image(tmp_path / name)
        assert img.shape == src.shape, name
        crop = spec.crop(img, faces.detect(img)[0].box)
        assert np.array_equal(crop, reference), f"{name}: crop differs"

    grey = np.asarray(Image.fromarray(src).convert("L"))
    Image.fromarray(grey).save(tmp_path / "grey.png")
    Image.fromarray((grey.astype(np.uint16) * 257)).save(tmp_path / "grey16.png")
    expected = spec.crop(np.repeat(grey[..., None], 3, axis=2), box)
    for name in ("grey.png", "grey16.png"):
        img = load_image(tmp_path / name)
        assert img.shape == src.shape
        assert np.array_equal(spec.crop(img, box), expected), name


def test_detection_scale_uses_whole_factors():
    from edge_sdk.faces import detection_scale

    assert detection_scale(1280, 720) == 0.5 and detection_scale(1920, 1080) == pytest.approx(1 / 3)
    assert detection_scale(640, 480) == 1.0 and detection_scale(200, 120) == 2.0
    assert detection_scale(3840, 2160, max_side=960) == 0.25


def test_crop_spec_geometry():
    spec = CropSpec(size=100, margin=0.2)
    assert spec.crop_rect((40, 40, 60, 80), (200, 200)) == (22, 32, 78, 88)  # centre (50, 60), square 40 -> 56
    img = np.zeros((50, 200, 3), np.uint8)
    img[:, :] = 200
    crop = spec.crop(img, (10, 0, 40, 30))  # the margin runs off the top: clipped, then padded to square
    assert crop.shape == (100, 100, 3) and crop[0, 50].tolist() == [0, 0, 0] and crop[50, 50].tolist() == [200, 200, 200]
    x = spec.to_tensor(crop)
    assert x.shape == (1, 3, 100, 100) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :, 50, 50], (200 / 255 - np.array(spec.mean)) / np.array(spec.std), rtol=1e-5)
    assert CropSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(InputError, match="outside"):
        spec.crop_rect((300, 300, 320, 320), (200, 200))


# -- backends against the torch reference ------------------------------------------------------

@pytest.fixture(scope="module")
def artifacts(b0_artifacts, b0_exports):
    """The session's B0 as a torch checkpoint, an ONNX file and (through ``export``) an ExecuTorch XNNPACK program."""
    return {"torch": b0_artifacts["torch"], "onnx": b0_artifacts["onnx"],
            "executorch": Path(b0_exports[("executorch", "fp32")]["path"])}


@pytest.fixture(scope="module")
def sample_batch(faces):
    spec = CropSpec(size=224)
    crops = []
    for name in PHOTOS[:5]:
        rgb = load_image(shared_path("samples", name))
        crops.append(spec.crop(rgb, faces.detect(rgb)[0].box))
    return spec.to_tensor(np.stack(crops))


@pytest.mark.parametrize("target", ["onnx", "executorch"])
def test_backend_matches_torch_on_sample_crops(artifacts, sample_batch, target):
    reference = edge_sdk.load(artifacts["torch"])
    backend = edge_sdk.load(artifacts[target])
    assert backend.name == {"onnx": "onnxruntime", "executorch": "executorch"}[target]
    expected = reference.predict(sample_batch)
    got = backend.predict(sample_batch)  # 5 crops: ONNX takes them at once, the fixed-batch .pte in chunks of 1
    assert got.shape == (5,)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert np.ptp(expected) > 0, "different faces must give different logits"


def test_artifact_checks(artifacts, tmp_path):
    src = artifacts["onnx"]
    copy = tmp_path / src.name
    shutil.copy(src, copy)
    with pytest.raises(ManifestError, match="no manifest found"):
        edge_sdk.load(copy)
    shutil.copy(src.parent / "manifest.json", tmp_path / "manifest.json")
    with open(copy, "ab") as f:
        f.write(b"tampered")
    with pytest.raises(ManifestError, match="does not match the manifest"):
        edge_sdk.load(copy)
    with pytest.raises(InputError, match="unknown artifact type '.mnn'"):  # MNN: no row in the table (yet)
        (tmp_path / "x.mnn").write_bytes(b"x")
        edge_sdk.load(tmp_path / "x.mnn")
    bad = json.loads((tmp_path / "manifest.json").read_text())
    bad["crop"]["resize"] = "squash"
    with pytest.raises(ManifestError, match="crop/resize"):
        manifest.validate(bad)
    backend = edge_sdk.load(src)
    with pytest.raises(InputError, match=r"takes input \(N, 3, 224, 224\)"):
        backend.predict(np.zeros((1, 3, 100, 100), np.float32))


# -- detect over a folder with good and bad inputs -----------------------------------------------

def test_detect_records_good_and_bad_inputs(b0_artifacts, tmp_path, capsys):
    from edge_sdk.cli import main

    folder = tmp_path / "inputs"
    folder.mkdir()
    for name in ("western_real_1.JPG", "asian_fake_1.JPG"):
        shutil.copy(shared_path("samples", name), folder / name)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("this is not a picture\n")
    clip = shared_path("samples", "western_real.mp4").read_bytes()
    (folder / "cut.mp4").write_bytes(clip[: len(clip) // 3])
    Image.fromarray(np.full((240, 320, 3), 90, np.uint8)).save(folder / "wall.png")
    shutil.copy(shared_path("samples", "western_fake.mp4"), folder / "fake.mp4")
    out, drawn = tmp_path / "records.json", tmp_path / "annotated"
    code = main(["detect", str(folder), "--model", str(b0_artifacts["onnx"]), "--json", str(out), "--frames", "4",
                 "--annotate", str(drawn), "--quiet"])
    assert code == 1, "an input failed, so the exit code must say so"
    records = {r["path"].split("/")[-1]: r for r in json.loads(out.read_text())}
    assert set(records) == {"western_real_1.JPG", "asian_fake_1.JPG", "empty.jpg", "notes.jpg", "cut.mp4", "wall.png",
                            "fake.mp4"}
    for name in ("western_real_1.JPG", "asian_fake_1.JPG"):
        r = records[name]
        assert r["ok"] and r["kind"] == "image" and len(r["faces"]) == 1 and r["verdict"] in ("real", "fake")
        assert 0 <= r["score"] <= 1
    assert not records["empty.jpg"]["ok"] and "empty file" in records["empty.jpg"]["error"]
    assert not records["notes.jpg"]["ok"] and "notes.jpg" in records["notes.jpg"]["error"]
    assert records["wall.png"]["ok"] and records["wall.png"]["verdict"] == "no_face"
    video = records["fake.mp4"]
    assert video["ok"] and video["kind"] == "video" and video["frames_sampled"] == 4 and video["tracks"]
    assert video["frames_without_face"] == [] and len(video["tracks"]) == 1
    cut = records["cut.mp4"]  # truncated: either some frames decode and are scored, or a clear error
    assert (cut["ok"] and cut["kind"] == "video") or "cut.mp4" in cut["error"]
    assert "inputs failed" in capsys.readouterr().err

    # --annotate: a drawn copy per good input, named after it; none for failures, no partial files
    expected = {"western_real_1.annotated.jpg", "asian_fake_1.annotated.jpg", "wall.annotated.jpg", "fake.annotated.mp4"}
    if cut["ok"]:
        expected.add("cut.annotated.mp4")
    assert {p.name for p in drawn.iterdir()} == expected
    for name in ("western_real_1.JPG", "asian_fake_1.JPG"):
        r = records[name]
        original, annotated = load_image(folder / name), load_image(r["annotated"])
        assert annotated.shape == original.shape
        x0, y0, x1, y1 = (round(v) for v in r["faces"][0]["box"])
        colour = [230, 40, 40] if r["faces"][0]["p_fake"] >= 0.5 else [60, 190, 60]
        drawn_edge, before = (np.median(img[y0 + 4:y1 - 4, x0], axis=0) for img in (annotated, original))
        assert np.abs(drawn_edge - colour).max() < 50 < np.abs(before - colour).max(), f"{name}: no box at the face"
    assert np.abs(load_image(records["wall.png"]["annotated"])[200:].astype(int) - 90).max() < 8  # nothing drawn
    cap = cv2.VideoCapture(video["annotated"])
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 4 and cap.read()[1].shape == (720, 1280, 3)
    cap.release()


# -- aggregation and tracking ------------------------------------------------------------------

def test_aggregation_strategies():
    confident_fake = [0.9] * 5 + [0.1] * 5
    assert aggregate(confident_fake, "mean") == pytest.approx(0.5)
    assert aggregate(confident_fake, "vote") == pytest.approx(0.5)
    assert aggregate(confident_fake, "confident") == pytest.approx(0.9)  # 5 > 10/2.5 confident fakes
    mostly_real = [0.05] * 19 + [0.6]
    assert aggregate(mostly_real, "confident") == pytest.approx(0.05)
    unsure = [0.4, 0.6, 0.5, 0.55]
    assert aggregate(unsure, "confident") == pytest.approx(np.mean(unsure))
    with pytest.raises(InputError):
        aggregate([], "mean")
    with pytest.raises(InputError, match="unknown aggregation"):
        aggregate([0.5], "median")
    # segment: a swap in 10 of 40 frames is as fake as those 10, where mean and confident average it away
    partial = [0.2] * 15 + [0.8] * 10 + [0.2] * 15
    assert aggregate(partial, "segment") == pytest.approx(0.8) and aggregate(partial, "mean") == pytest.approx(0.35)
    assert aggregate(partial, "confident") == pytest.approx(0.35)
    assert aggregate([0.2, 0.9, 0.2] * 5, "segment") < 0.5  # lone spikes are not a segment
    assert aggregate([0.7, 0.3], "segment") == pytest.approx(0.5)  # fewer frames than the window: all of them


def test_iou_tracker_keeps_identities():
    t = IoUTracker()
    a, b = (0, 0, 10, 10), (50, 50, 60, 60)
    first = t.update([a, b])
    second = t.update([(51, 51, 61, 61), (1, 0, 11, 10)])  # same people, listed in the other order
    assert second == [first[1], first[0]]
    assert t.update([(200, 200, 210, 210)])[0] not in first


def test_a_dynamic_batch_backend_runs_in_chunks_of_its_max_batch_and_keeps_the_order(tmp_path):
    """The torch backend runs at most 8 inputs per call (eager attention holds its score matrix: M2TR's 120-input
    parity batch was killed for memory in one call); results come back whole and in order."""
    from edge_sdk.backends.base import Backend
    from edge_sdk.models.backend import TorchBackend
    from edge_sdk.preprocess import CropSpec

    calls = []

    class Doubling(Backend):
        name = "doubling"
        max_batch = TorchBackend.max_batch

        def _run(self, batch):
            calls.append(len(batch))
            return batch.reshape(len(batch), -1)[:, :1] * 2

    b = Doubling(tmp_path / "x", {"crop": CropSpec(size=4).to_dict(), "input": {"shape": ["N", 3, 4, 4]}})
    x = np.random.default_rng(0).standard_normal((20, 3, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(b.predict(x), x[:, 0, 0, 0] * 2)
    assert TorchBackend.max_batch == 8 and calls == [8, 8, 4]
