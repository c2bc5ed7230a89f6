"""Shared fixtures: where ../shared lives, and skips with a reason where it is absent."""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EDGE_SDK_SHARED", ROOT.parent / "shared"))


def shared_path(*parts: str) -> Path:
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} is absent (set EDGE_SDK_SHARED to the shared/ folder with fixtures and samples)")
    return p


@pytest.fixture(scope="session")
def reference() -> dict:
    with open(shared_path("fixtures", "ms_eff_gcvit_reference.json")) as f:
        return json.load(f)


def deterministic_state_dict(entries: list, model_state: dict) -> dict:
    """The fixture README's rule: every float entry from a CRC32-seeded normal draw; ints kept as built."""
    import torch

    out = {}
    for name, shape, dtype in entries:
        if not dtype.startswith("float"):
            out[name] = model_state[name].clone()
            continue
        z = np.random.default_rng(zlib.crc32(name.encode())).standard_normal(shape)
        if name.endswith("running_var"):
            v = 1 + 0.25 * np.abs(z)
        elif name.endswith("running_mean"):
            v = 0.1 * z
        elif len(shape) >= 2:
            v = z / np.sqrt(np.prod(shape[1:]))
        elif name.endswith(".weight"):
            v = 1 + 0.1 * z
        else:
            v = 0.02 * z
        out[name] = torch.from_numpy(np.asarray(v, dtype=np.float32))
    return out


def reference_inputs(size: int) -> np.ndarray:
    rng = np.random.default_rng(1234)
    noise = rng.standard_normal((3, size, size))
    yy, xx = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    grat = np.stack([2 * np.sin(2 * np.pi * f * (xx + 0.5 * yy)) for f in (3, 7, 13)])
    r = np.sqrt((xx - 0.3) ** 2 + (yy - 0.6) ** 2)
    ramp = np.stack([4 * r - 1.5, 1.5 - 3 * r, 2 * np.cos(9 * r)])
    return np.stack([noise, grat, ramp]).astype(np.float32)


@pytest.fixture(scope="session")
def b0_artifacts(tmp_path_factory) -> dict:
    """MS-Eff-GCViT B0 (seed 0, random init) as a torch checkpoint and a dynamic-batch ONNX file, with manifests."""
    import torch

    from edge_sdk import manifest
    from edge_sdk.models import create_model
    from edge_sdk.preprocess import CropSpec
    from edge_sdk.export import export_onnx

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("b0")
    model = create_model("ms_eff_gcvit_b0").eval()
    spec = CropSpec.for_model(model.pretrained_cfg)
    paths = {"model": model, "spec": spec, "torch": out / "torch" / "b0.pth"}
    paths["torch"].parent.mkdir()
    torch.save(model.state_dict(), paths["torch"])
    paths["onnx"] = export_onnx(model, out / "onnx" / "b0.onnx", torch.zeros(1, 3, 224, 224), dynamic_batch=True)
    for target, shape in (("torch", [1, 3, 224, 224]), ("onnx", ["batch", 3, 224, 224])):
        m = manifest.build(paths[target], model="ms_eff_gcvit_b0", target=target, precision="fp32", crop=spec,
                           input_shape=shape)
        manifest.write(m, paths[target].parent / "manifest.json")
    return paths


@pytest.fixture(scope="session")
def b0_exports(b0_artifacts, tmp_path_factory) -> dict:
    """The session's B0 through ``export``: ONNX fp32/fp16/int8 and ExecuTorch fp32, calibrated on the samples.

    B0's ExecuTorch int8 takes ~8 min to lower on 2 cores (59 XNNPACK subgraphs); CI's quick bench
    (`make bench-ci`) exports and runs it and gates its parity, so the suite leaves it to RepViT here.
    """
    from edge_sdk.export import export

    out = tmp_path_factory.mktemp("b0_exports")
    records = export(b0_artifacts["model"], out=out, name="ms_eff_gcvit_b0", calib=shared_path("samples"),
                     formats=[("onnx", "fp32"), ("onnx", "fp16"), ("onnx", "int8"), ("executorch", "fp32")])
    return {(r["target"], r["precision"]): r for r in records}


@pytest.fixture(scope="session")
def sample_clip(tmp_path_factory):
    """The first 45 frames of western_fake.mp4, re-encoded (real pixels, a short test)."""
    import cv2

    src = cv2.VideoCapture(str(shared_path("samples", "western_fake.mp4")))
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (1280, 720))
    for _ in range(45):
        ok, bgr = src.read()
        assert ok
        out.write(bgr)
    out.release()
    src.release()
    return path


@pytest.fixture(scope="session")
def index(tmp_path_factory):
    """Real face crops of the two sample videos (train / val), as edge-sdk prepare makes them."""
    from edge_sdk.distill.prepare import prepare

    root = tmp_path_factory.mktemp("syn")
    table = root / "list.csv"
    table.write_text("path,label,split\n"
                     f"{shared_path('samples', 'western_fake.mp4')},real,train\n"
                     f"{shared_path('samples', 'western_real.mp4')},real,val\n")
    report = prepare(table, root / "index", frames=12, size=64, progress=False)
    assert report["crops_per_split"]["train"]["real"] >= 10 and report["crops_per_split"]["val"]["real"] >= 10
    return root / "index"


def labelled_clips(index: Path, folder: Path) -> Path:
    """An index of labelled clips from ``index``: the train video's frames "fake", the val video's "real"; each video
    split in two halves, the first for training and the second for validation (so both splits hold both classes)."""
    import csv

    rows = list(csv.DictReader((index / "index.csv").open()))
    cut = {v: sorted(int(q["frame"]) for q in rows if q["video_id"] == v)[6] for v in {q["video_id"] for q in rows}}
    for r in rows:
        half = int(r["frame"]) >= cut[r["video_id"]]
        r["label"] = "1" if r["split"] == "train" else "0"
        r["video_id"] = f"{r['video_id']}_{int(half)}"
        r["split"] = "val" if half else "train"
    lab = folder / "clips"
    lab.mkdir()
    (lab / "crops").symlink_to(index / "crops")
    with (lab / "index.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return lab


MEGATRON_KW = {"num_frames": 4, "depth_size": 56, "depth_config": "tiny"}
# the bundle's tests: timm's 0.1M-parameter test EfficientNet as the embedder (256-d) keeps four exports quick; the
# RepViT-M0.9 embedder itself exports as the students do (tests/test_export.py)
MEGATRON_BUNDLE_KW = {**MEGATRON_KW, "embedder": "test_efficientnet", "d_model": 256, "d_ff": 256}
MEGATRON_TARGETS = ["onnx-fp32", "executorch-fp32", "tensorrt-fp16", "coreml-fp16"]


@pytest.fixture(scope="session")
def megatron_bundle(tmp_path_factory, sample_clip):
    """A tiny Megatron (seed 0) saved as a checkpoint and exported as a bundle to MEGATRON_TARGETS, the sample clip
    as its parity data: (records by target, checkpoint, root folder; root/videos holds the clip)."""
    import torch

    from edge_sdk.models import create_model

    root = tmp_path_factory.mktemp("megatron")
    torch.manual_seed(0)
    model = create_model("megatron_rgbd", **MEGATRON_BUNDLE_KW)
    recs, ckpt = export_checkpoint(root, model, "megatron_rgbd", MEGATRON_BUNDLE_KW, 64, sample_clip, MEGATRON_TARGETS,
                                   trt_ops_table=str(shared_path("fixtures", "tensorrt10_onnx_operators.csv")))
    return recs, ckpt, root


def export_checkpoint(root: Path, model, name: str, kwargs: dict, img_size: int, sample_clip, formats: list[str],
                      **export_kw) -> tuple[dict, Path]:
    """Save ``model`` as a training checkpoint (name, kwargs, size), export it to ``formats`` with the sample clip as
    the verify data; the records by target name, and the checkpoint."""
    import shutil

    import torch

    from edge_sdk.export import export

    ckpt = root / f"{name}.pt"
    torch.save({"model": model.state_dict(), "model_name": name, "model_kwargs": kwargs, "img_size": img_size}, ckpt)
    videos = root / "videos"
    videos.mkdir()
    shutil.copy(sample_clip, videos / "clip.mp4")
    records = export(str(ckpt), formats=formats, out=root / "art", verify_data=videos, **export_kw)
    return {r["name"]: r for r in records}, ckpt


def assert_camera_scores(artifact, clip, tmp_path, frames: int = 8) -> None:
    """``camera`` (run_stream) on a video with ``artifact``: every frame recorded, faces scored as probabilities."""
    import json

    from edge_sdk.stream import run_stream

    jsonl = tmp_path / "frames.jsonl"
    summary = run_stream(str(clip), artifact, jsonl=jsonl, max_frames=frames)
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert summary["status"] == "max_frames" and len(records) == frames
    scored = [f for fr in records for f in fr["faces"]]
    assert scored and all(0 <= f["p_fake"] <= 1 for f in scored)
