"""Hostile and careless input: no code from a checkpoint, no NaN passed off as a verdict, no lost results, no
overwritten input, no silent success. Each case reproduces what was seen on main before the change."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from edge_sdk.errors import CheckpointError, InputError
from tests.conftest import ROOT, shared_path

PY = sys.executable
TINY = "mobilenetv3_small_050"
MANY = 64


class Planted:
    """A pickle that runs code when loaded: it would create the marker file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def tiny_artifact(tmp_path_factory) -> Path:
    """A small frame model exported to ONNX fp32 with its manifest (random weights)."""
    from edge_sdk.export import export

    out = tmp_path_factory.mktemp("tiny")
    (rec,) = export(TINY, formats=["onnx-fp32"], out=out)
    assert rec["ok"], rec
    return Path(rec["path"])


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for name in ("western_real_1.JPG", "western_fake_1.JPG", "asian_real_1.JPG", "asian_fake_1.JPG"):
        shutil.copy(shared_path("samples", name), folder / name)
    return folder


@pytest.fixture(scope="module")
def many_photos(photos, tmp_path_factory) -> Path:
    """Enough inputs that a run cannot finish between the first record and the signal, on any runner (with four,
    a fast CI machine scored them all before the kill landed)."""
    folder = tmp_path_factory.mktemp("many")
    for i in range(MANY // 4):
        for p in photos.iterdir():
            os.link(p, folder / f"{i:02d}_{p.name}")
    return folder


def _cli(*args, cwd=None, timeout=600, **kw):
    return subprocess.run([PY, "-m", "edge_sdk", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, **kw)


# ---------------------------------------------------------------------------------------------- security
def test_a_planted_pickle_in_last_pt_is_refused_on_resume_and_runs_nothing(tmp_path):
    from edge_sdk.distill.train import read_state

    marker = tmp_path / "pwned"
    torch.save({"model": {}, "optimizer": Planted(marker), "epoch": 0, "step_in_epoch": 0, "global_step": 0,
                "rng": {}}, tmp_path / "last.pt")
    with pytest.raises(CheckpointError, match="refused: loading it would run Python code"):
        read_state(tmp_path / "last.pt")
    assert not marker.exists()
    done = _cli("train", "--index", tmp_path, "--model", TINY, "--out", tmp_path, "--resume", "--recipe", "student")
    assert done.returncode == 2 and not marker.exists()
    assert "refused" in done.stderr and "Traceback" not in done.stderr


def test_a_planted_pickle_as_teacher_or_eval_model_is_one_clear_line(tmp_path):
    marker = tmp_path / "pwned"
    torch.save(Planted(marker), tmp_path / "teacher.pt")
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "index.csv").write_text("video_id,crop,label,split\n")
    for args in (("distill", "--index", tmp_path / "index", "--teacher", tmp_path / "teacher.pt", "--student", TINY,
                  "--out", tmp_path / "d"),
                 ("eval", "--model", tmp_path / "teacher.pt", "--index", tmp_path / "index")):
        done = _cli(*args)
        assert done.returncode == 2 and "refused" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not marker.exists()
    (tmp_path / "cut.pt").write_bytes((ROOT / "pyproject.toml").read_bytes()[:100])
    done = _cli("eval", "--model", tmp_path / "cut.pt", "--index", tmp_path / "index")
    assert done.returncode == 2 and "could not be read" in done.stderr and "Traceback" not in done.stderr


def test_integer_tensors_are_not_weights(tmp_path):
    from safetensors.torch import save_file

    from edge_sdk.models import create_model, load

    sd = {k: (v * 0).to(torch.int32) if v.is_floating_point() else v for k, v in
          create_model(TINY).state_dict().items()}
    save_file(sd, tmp_path / "int.safetensors")
    with pytest.raises(CheckpointError, match=r"holds torch\.int32 values where the model has a torch\.float32"):
        load(TINY, weights=tmp_path / "int.safetensors")


# ---------------------------------------------------------------------------------------------- numbers that are not
def test_zero_std_or_nan_mean_is_refused_by_schema_and_crop_spec(tiny_artifact):
    from edge_sdk import manifest
    from edge_sdk.manifest import ManifestError
    from edge_sdk.preprocess import CropSpec

    m = json.loads((tiny_artifact.parent / "manifest.json").read_text())
    bad = json.loads(json.dumps(m))
    bad["crop"]["std"] = [0, 0, 0]
    with pytest.raises(ManifestError, match="crop/std"):
        manifest.validate(bad)
    bad = json.loads(json.dumps(m))
    bad["crop"]["mean"] = [float("nan"), 0.5, 0.5]
    with pytest.raises(ManifestError, match="crop/mean/0.*not a finite number"):
        manifest.validate(bad)
    with pytest.raises(InputError, match="std"):
        CropSpec(std=(0.0, 0.0, 0.0))


def _nan_artifact(folder: Path) -> Path:
    """An ONNX graph that answers NaN (log of a negative number), with a valid manifest."""
    import onnx
    from onnx import TensorProto, helper

    from edge_sdk import manifest
    from edge_sdk.preprocess import CropSpec

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])
    y = helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["N", 1])
    neg = helper.make_tensor("neg", TensorProto.FLOAT, [], [-1e6])
    nodes = [helper.make_node("ReduceMean", ["input"], ["m"], axes=[1, 2, 3], keepdims=1),
             helper.make_node("Reshape", ["m", "shape"], ["r"]),
             helper.make_node("Add", ["r", "neg"], ["a"]), helper.make_node("Log", ["a"], ["logit"])]
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 1])
    g = helper.make_graph(nodes, "nan", [x], [y], initializer=[neg, shape])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "nan.onnx"
    onnx.save(model, str(path))
    m = manifest.build(path, model=TINY, target="onnx", precision="fp32", crop=CropSpec(size=32),
                       input_shape=["batch", 3, 32, 32])
    manifest.write(m, folder / "manifest.json")
    return path


def test_a_nan_logit_is_an_error_record_and_json_holds_no_bare_nan(tmp_path, photos):
    from edge_sdk.export.verify import compare
    from edge_sdk.fileio import to_json

    artifact = _nan_artifact(tmp_path / "nan")
    out = tmp_path / "records.json"
    done = _cli("detect", photos / "western_real_1.JPG", "--model", artifact, "--json", out, "--quiet")
    assert done.returncode == 1, done.stderr
    (rec,) = json.loads(out.read_text())
    assert not rec["ok"] and "nan.onnx returned nan" in rec["error"] and "western_real_1.JPG" in rec["error"]
    assert "NaN" not in out.read_text() and "NaN" not in done.stdout
    r = compare(np.zeros(3), np.array([0.0, np.nan, 0.0]), "onnx-fp32")
    assert not r["passed"] and "not finite" in r["failures"][0]
    assert to_json({"x": float("nan"), "y": [float("inf")]}) == '{"x": null, "y": [null]}'


# ---------------------------------------------------------------------------------------------- results that are lost
def test_detect_streams_records_and_resume_skips_what_was_recorded(tiny_artifact, many_photos, tmp_path):
    out = tmp_path / "run" / "records.json"
    proc = subprocess.Popen([PY, "-m", "edge_sdk", "detect", str(many_photos), "--model", str(tiny_artifact), "--json",
                             str(out), "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    jsonl = out.with_suffix(".jsonl")
    deadline = time.time() + 300
    while time.time() < deadline and not (jsonl.is_file() and jsonl.read_text().count("\n") >= 1):
        time.sleep(0.01)
    proc.kill()  # kill -9 after the first record
    proc.wait()
    lines = [json.loads(x) for x in jsonl.read_text().splitlines() if x.strip()]
    assert 1 <= len(lines) < MANY and not out.exists()  # the finished records survive; no partial JSON array
    done = _cli("detect", many_photos, "--model", tiny_artifact, "--json", out, "--resume", "--quiet")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])["summary"]
    assert summary["resumed"] == len(lines) and summary["inputs"] == MANY and summary["scored"] == MANY
    assert len(json.loads(out.read_text())) == MANY


def test_ctrl_c_ends_with_the_records_so_far_and_a_summary(tiny_artifact, many_photos, tmp_path):
    out = tmp_path / "records.json"
    proc = subprocess.Popen([PY, "-m", "edge_sdk", "detect", str(many_photos), "--model", str(tiny_artifact),
                             "--json", str(out), "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as from a terminal
    jsonl = out.with_suffix(".jsonl")
    deadline = time.time() + 300
    while time.time() < deadline and not (jsonl.is_file() and jsonl.read_text().count("\n") >= 1):
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    assert "interrupted" in stderr
    records = json.loads(out.read_text())
    assert 1 <= len(records) < MANY and json.loads(stdout.splitlines()[-1])["summary"]["interrupted"] is True


def test_the_first_ctrl_c_waits_for_the_step_and_the_second_stops_at_once():
    """MediaPipe Tasks runs each call on a worker thread: a KeyboardInterrupt raised while the caller waits freed the
    image the worker still read (SIGSEGV in detect, one run in eight here). The first Ctrl-C now only asks."""
    from edge_sdk.console import CtrlC

    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # SIG_IGN when the suite runs in the background
    seen = []
    try:
        _ctrl_c_twice(CtrlC, seen)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler before it is back
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with CtrlC() as stop:  # a job started with SIGINT ignored stays deaf to it
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN and stop.requested == 0
    finally:
        signal.signal(signal.SIGINT, before)


def _ctrl_c_twice(CtrlC, seen):
    with CtrlC(notice=lambda: seen.append("asked")) as stop:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler runs here, in the main thread, and raises nothing
        assert stop.requested == 1 and seen == ["asked"]
        with pytest.raises(KeyboardInterrupt):
            stop.check()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)


def test_shards_together_cover_every_input(tiny_artifact, photos, tmp_path):
    seen = []
    for i in (1, 2):
        out = tmp_path / f"s{i}.json"
        assert _cli("detect", photos, "--model", tiny_artifact, "--json", out, "--shard", f"{i}/2",
                    "--quiet").returncode == 0
        seen += [r["path"] for r in json.loads(out.read_text())]
    assert sorted(seen) == sorted(str(p) for p in photos.iterdir())


def test_outputs_are_checked_before_any_scoring(tiny_artifact, photos, tmp_path):
    photo = photos / "western_real_1.JPG"
    before = photo.read_bytes()
    for args, msg in (((photo, "--json", photo), "is one of the inputs"),
                      ((photos, "--annotate", photos / "drawn"), "inside the input folder"),
                      ((photo, "--json", tmp_path), "is a folder"),
                      ((photo, "--annotate", photo.with_name("x.txt")), None)):
        if msg is None:  # an --annotate path that is a file
            f = tmp_path / "afile"
            f.write_text("x")
            args = (photo, "--annotate", f)
            msg = "is a file"
        done = _cli("detect", *args, "--model", tiny_artifact, "--quiet")
        assert done.returncode == 2 and msg in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert photo.read_bytes() == before
    video = tmp_path / "v.mp4"
    shutil.copy(shared_path("samples", "western_fake.mp4"), video)
    done = _cli("camera", "--source", video, "--model", tiny_artifact, "--out", video)
    assert done.returncode == 2 and "is one of the inputs" in done.stderr
    assert video.stat().st_size == shared_path("samples", "western_fake.mp4").stat().st_size


def test_camera_jsonl_is_streamed_so_a_kill_keeps_the_frames_so_far(tiny_artifact, sample_clip, tmp_path):
    jsonl = tmp_path / "frames.jsonl"
    proc = subprocess.Popen([PY, "-m", "edge_sdk", "camera", "--source", str(sample_clip), "--model",
                             str(tiny_artifact), "--jsonl", str(jsonl), "--quiet"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline and not (jsonl.is_file() and jsonl.read_text().count("\n") >= 5):
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    frames = [json.loads(x) for x in jsonl.read_text().splitlines() if x.strip()]
    assert len(frames) >= 5 and [f["frame"] for f in frames] == list(range(len(frames)))


# ---------------------------------------------------------------------------------------------- silent success
def test_bench_runs_from_another_folder_and_exits_non_zero_when_a_target_fails(tmp_path, monkeypatch):
    done = _cli("bench", "--models", TINY, "--targets", "onnx-fp32", "--runs", "2", "--warmup", "1", "--threads", "1",
                "--data", shared_path("samples"), cwd=tmp_path)  # the default relative --out: runs/bench here
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads((tmp_path / "runs" / "bench" / "bench.json").read_text())
    assert doc["results"][0]["status"] == "ok" and doc["failures"] == []
    for line in done.stdout.splitlines():
        if line.startswith("wrote "):
            assert all(Path(p if os.path.isabs(p) else tmp_path / p).is_file() for p in line[6:].split(", "))

    import edge_sdk.export.onnx
    from edge_sdk.cli import main

    def broken(*_, **__):
        raise RuntimeError("fp16 conversion broken on purpose")

    monkeypatch.setattr(edge_sdk.export.onnx, "to_fp16", broken)
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--models", TINY, "--targets", "onnx-fp16", "--runs", "2", "--warmup", "1", "--threads",
                 "1", "--out", "b2"]) == 1


def test_folders_report_what_they_skip_and_an_empty_run_fails(tiny_artifact, tmp_path):
    folder = tmp_path / "phone"
    folder.mkdir()
    rgb = np.asarray(Image.open(shared_path("samples", "western_real_1.JPG")).convert("RGB"))
    import pillow_heif

    pillow_heif.register_heif_opener()
    Image.fromarray(rgb).save(folder / "a.heic")
    Image.fromarray(rgb).save(folder / "b.avif")
    frames = [Image.fromarray(rgb), Image.fromarray(rgb[:, ::-1].copy())]
    frames[0].save(folder / "c.gif", save_all=True, append_images=frames[1:])
    (folder / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (folder / "loop").symlink_to(folder)
    (folder / "notes.txt").write_text("x")
    out = tmp_path / "r.json"
    done = _cli("detect", folder, "--model", tiny_artifact, "--json", out, "--quiet")
    records = {Path(r["path"]).name: r for r in json.loads(out.read_text())}
    assert records["a.heic"]["ok"] and records["b.avif"]["ok"] and records["a.heic"]["faces"]
    assert "only the first of its 2 frames" in records["c.gif"]["note"]
    assert not records["dangling.jpg"]["ok"] and "dangling symlink" in records["dangling.jpg"]["error"]
    assert any("symlink loop" in r.get("error", "") for r in records.values())
    assert "not images or videos" in done.stderr and done.returncode == 1  # skipped paths are failures to report
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("x")
    done = _cli("detect", empty, "--model", tiny_artifact, "--quiet")
    assert done.returncode == 1 and "nothing was scored" in done.stderr


def test_an_invalid_onnx_file_with_a_consistent_manifest_is_one_clear_error(tiny_artifact, photos, tmp_path):
    from edge_sdk import manifest

    folder = tmp_path / "broken"
    folder.mkdir()
    bad = folder / "b.onnx"
    bad.write_bytes(b"\x08\x07garbage that is not a protobuf" * 10)
    m = json.loads((tiny_artifact.parent / "manifest.json").read_text())
    m["artifact"] = {"file": "b.onnx", "sha256": manifest.sha256(bad), "bytes": bad.stat().st_size}
    manifest.write(m, folder / "manifest.json")
    done = _cli("detect", photos / "western_real_1.JPG", "--model", bad, "--quiet")
    assert done.returncode == 2 and "b.onnx" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert "not a valid ONNX" in done.stderr


def test_prepare_refuses_a_changed_crop_plan_and_retries_a_full_disk(tmp_path):
    from edge_sdk.distill.prepare import prepare

    tree = tmp_path / "tree" / "real"
    tree.mkdir(parents=True)
    for name in ("western_real_1.JPG", "western_real_2.JPG"):
        shutil.copy(shared_path("samples", name), tree / name)
    out = tmp_path / "prep"
    prepare(tmp_path / "tree", out, frames=1, size=64, progress=False)
    with pytest.raises(InputError, match="were prepared with 64 px crops, 1 frames.*--force"):
        prepare(tmp_path / "tree", out, frames=1, size=96, progress=False)
    report = prepare(tmp_path / "tree", out, frames=1, size=96, progress=False, force=True)
    crop = Image.open(out / next(iter(json.loads((out / "videos" / f).read_text())["rows"]
                                       for f in os.listdir(out / "videos")))[0]["crop"])
    assert crop.size == (96, 96) and report["crop_spec"]["size"] == 96
    rec_path = out / "videos" / sorted(os.listdir(out / "videos"))[0]
    rec = json.loads(rec_path.read_text())
    rec.update(status="error", error="OSError: [Errno 28] No space left on device", rows=[], transient=True)
    rec_path.write_text(json.dumps(rec))
    again = prepare(tmp_path / "tree", out, frames=1, size=96, progress=False)
    assert again["this_run"]["processed"] == 1 and again["videos_failed"] == 0  # retried without --retry-failed


def test_big_images_are_reduced_while_decoding(tmp_path):
    from edge_sdk.preprocess import MAX_SIDE, open_image

    big = np.zeros((5000, 9000, 3), np.uint8)
    big[::97] = 255
    Image.fromarray(big).save(tmp_path / "big.jpg", quality=80)
    rgb, info = open_image(tmp_path / "big.jpg")
    assert max(rgb.shape[:2]) <= MAX_SIDE and info["reduced_by"] == 3 and info["size"] == [9000, 5000]
    grey16 = (np.arange(4500 * 4500, dtype=np.uint32).reshape(4500, 4500) % 65536).astype(np.uint16)
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    rgb, info = open_image(tmp_path / "g16.png")
    assert rgb.dtype == np.uint8 and max(rgb.shape[:2]) <= MAX_SIDE and info["reduced_by"] == 2
    Image.MAX_IMAGE_PIXELS, saved = 1000, Image.MAX_IMAGE_PIXELS
    try:
        with pytest.raises(InputError, match="decompression-bomb"):
            open_image(tmp_path / "big.jpg")
    finally:
        Image.MAX_IMAGE_PIXELS = saved
