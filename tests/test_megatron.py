"""Seed 002's Megatron: the temporal RGB-D head as published (names, sizes), masking that never invents a frame,
the frozen depth model and embedder, and the bundle (depth -> embedder -> head) exported, checked part by part,
and run by detect and camera with frames lacking a face masked out."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
import torch

from tests.conftest import MEGATRON_BUNDLE_KW as BUNDLE_KW
from tests.conftest import MEGATRON_KW, MEGATRON_TARGETS

KW = MEGATRON_KW
D = BUNDLE_KW["d_model"]
TARGETS = MEGATRON_TARGETS


def _head(layers: int = 1, seed: int = 0):
    from edge_sdk.models.megatron import TemporalHead

    torch.manual_seed(seed)
    return TemporalHead(384, 2, layers, 1024).eval()


def test_the_head_has_the_public_names_and_sizes():
    """The public TransformerFakeDetector's state-dict keys and shapes (so its checkpoints load strictly) and its
    parameter counts, measured against the public code by `python -m edge_sdk.benchmarks.check_megatron_reference`
    (logits equal within 1e-5 there, 0.0 on 2026-12-07)."""
    head = _head()
    sd = head.state_dict()
    assert sum(p.numel() for p in head.parameters()) == 2_566_914
    assert sum(p.numel() for p in _head(layers=2).parameters()) == 3_947_650
    assert tuple(sd["encoder.layers.0.self_attn.in_proj_weight"].shape) == (3 * 384, 384)
    assert tuple(sd["encoder.layers.0.linear1.weight"].shape) == (1024, 384)
    assert tuple(sd["encoder.cross_attn.W_final.weight"].shape) == (384, 2 * 384)
    assert {"encoder.cross_attn.norm_image.weight", "encoder.norm_rgb.weight", "encoder.norm_depth.bias"} <= set(sd)
    assert tuple(sd["classifier.weight"].shape) == (2, 384)  # class 0 = fake, as published
    assert "pe" not in sd  # the positional encoding is computed, not a weight (the public code adds it outside)


def test_the_logit_is_the_public_softmax_p_fake():
    head = _head()
    rgb, depth = torch.randn(3, 6, 384), torch.randn(3, 6, 384)
    with torch.no_grad():
        z = head(rgb, depth)[:, 0]
        enc = head.encoder(rgb + head.pe[:6], depth + head.pe[:6])
        two = head.classifier(enc.mean(1))
    assert torch.allclose(torch.sigmoid(z), two.softmax(-1)[:, 0], atol=1e-6)


def test_depth_anything_v2_small_has_its_published_size():
    from edge_sdk.models.megatron import depth_anything

    net = depth_anything(None, "small")
    assert sum(p.numel() for p in net.parameters()) == 24_785_089  # the published 24.8M
    assert net.config.backbone_config.patch_size == 14 and net.config.depth_estimation_type == "relative"


def test_masked_frames_change_nothing():
    head = _head()
    torch.manual_seed(1)
    rgb, depth = torch.randn(4, 8, 384), torch.randn(4, 8, 384)
    valid = torch.ones(4, 8)
    valid[0, [1, 5]] = 0
    valid[1, 2:] = 0
    valid[2, 0] = 0
    with torch.no_grad():
        base = head(rgb, depth, valid)
        r2, d2 = rgb.clone(), depth.clone()
        r2[valid == 0] = torch.randn(int((valid == 0).sum()), 384) * 50
        d2[valid == 0] = 0.0
        assert torch.allclose(head(r2, d2, valid), base, atol=1e-5)
        # all frames valid is the unmasked (public) head
        assert torch.allclose(head(rgb, depth, torch.ones(4, 8)), head(rgb, depth), atol=1e-5)
        # a clip whose masked frames are dropped scores as the same clip with those frames never there... except for
        # positions: the positional encoding keeps each frame's slot, so compare against the mask, not a shorter clip
        assert not torch.allclose(head(rgb, depth)[1], base[1], atol=1e-3)  # the mask does act


def test_only_the_head_trains_and_frozen_parts_stay_in_eval():
    from edge_sdk.models import create_model

    m = create_model("megatron_rgbd", **KW).train()
    trainable = {n.split(".")[0] for n, p in m.named_parameters() if p.requires_grad}
    assert trainable == {"head"}
    assert not m.depth.training and not m.embedder.training and m.head.training
    x = torch.rand(2, 4, 3, 64, 64)
    m(x).sum().backward()
    assert m.head.classifier.weight.grad is not None
    assert all(p.grad is None for p in m.embedder.parameters())


def test_depth_maps_are_per_crop_relative_in_three_channels():
    from edge_sdk.models import create_model

    m = create_model("megatron_rgbd", **KW).eval()
    with torch.no_grad():
        m.depth.net.head.conv3.weight.mul_(1e3)  # the random tiny net's depths are ~1e-7: give them a scale
        d = m.depth(torch.rand(3, 3, 64, 64))
    assert d.shape == (3, 3, 64, 64) and float(d.min()) >= 0
    assert torch.allclose(d.amax(dim=(1, 2, 3)), torch.ones(3), atol=1e-6)
    assert torch.equal(d[:, 0], d[:, 2])


def test_depth_weights_from_a_local_folder_and_offline_hub(tmp_path, monkeypatch):
    from edge_sdk.errors import InputError, PretrainedWeightsError
    from edge_sdk.models.megatron import depth_anything

    torch.manual_seed(3)
    net = depth_anything(None, "tiny")
    net.save_pretrained(tmp_path / "da")
    again = depth_anything(str(tmp_path / "da"))
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))
    with pytest.raises(InputError, match="save_pretrained folder"):
        depth_anything(str(tmp_path))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # as HF_HUB_OFFLINE=1 at start-up
    with pytest.raises(PretrainedWeightsError, match="local file"):
        depth_anything("hub")


def test_bad_inputs_are_refused():
    from edge_sdk.errors import InputError
    from edge_sdk.models import create_model

    with pytest.raises(InputError, match="multiple of 14"):
        create_model("megatron_rgbd", num_frames=4, depth_size=50, depth_config="tiny")
    with pytest.raises(InputError, match="1..50"):
        create_model("megatron_rgbd", num_frames=60, depth_config="tiny")
    m = create_model("megatron_rgbd", **KW)
    with pytest.raises(InputError, match=r"\(B, 4, 3, H, W\)"):
        m(torch.rand(1, 5, 3, 64, 64))


@pytest.fixture
def bundle(megatron_bundle):
    return megatron_bundle


def _manifest(path) -> dict:
    from pathlib import Path

    return json.loads((Path(path).parent / "manifest.json").read_text())


@pytest.mark.parametrize("target", TARGETS)
def test_the_bundle_exports_each_part_with_its_manifest_and_parity(bundle, target):
    from pathlib import Path

    recs, _, _ = bundle
    r = recs[target]
    assert r["ok"], r
    m = _manifest(r["path"])
    b = m["bundle"]
    assert [p["name"] for p in b["parts"]] == ["depth", "embedder", "head"]
    assert b["frames"] == 4 and b["stride"] == 1 and b["min_valid"] == 2 and b["connect"]["embedding_dim"] == D
    assert m["input"]["shape"][1:] == [4, 3, 64, 64] and m["card"]["family"] == "megatron"
    runs_here = target != "coreml-fp16"
    for part in b["parts"]:
        art = Path(r["path"]) / part["path"]
        pm = _manifest(art)
        assert pm["part"] == {"bundle": "megatron_rgbd.bundle", "name": part["name"]}
        assert pm["artifact"]["file"] == art.name and art.exists()
        if runs_here:
            assert pm["parity"]["status"] == "passed", pm["parity"]
        else:
            assert pm["parity"]["status"] == "not run here" and "macOS" in pm["parity"]["elsewhere"]
        if target == "tensorrt-fp16":  # the ONNX prepared for TensorRT passes its operator table, part by part
            assert pm["export"]["tensorrt"]["operator_check"]["ok"], pm["export"]["tensorrt"]
    head = _manifest(Path(r["path"]) / b["parts"][2]["path"])
    assert head["input"]["layout"] == "NTC" and head["input"]["shape"][1:] == [4, 2 * D + 1]
    if runs_here:  # the whole chain against the whole PyTorch model, on clips of real faces
        p = r["parity"]
        assert p["status"] == "passed" and p["max_abs_logit"] < 1e-3 and p["n"] >= 2, p
        # the random chain's logits barely move with the input (random RepViT embeddings); the head's own parity is
        # on packed clips with frames masked, where they spread
        assert head["parity"]["reference_spread"] > 1e-2 and head["parity"]["agreement"] == 1.0


def test_the_bundle_masks_like_the_pytorch_model(bundle):
    import edge_sdk
    from edge_sdk.models import load

    recs, ckpt, _ = bundle
    torch.manual_seed(5)
    x = torch.rand(3, 4, 3, 64, 64)
    valid = torch.tensor([[1, 1, 1, 1], [1, 0, 1, 0], [0, 0, 1, 1]], dtype=torch.float32)
    ref = load(str(ckpt)).model.eval()
    with torch.no_grad():
        want = ref(x, valid)[:, 0].numpy()
    x2 = x.clone()
    x2[valid == 0] = 0.5  # what a masked frame holds never matters
    for target in ("onnx-fp32", "executorch-fp32"):
        with edge_sdk.load(recs[target]["path"]) as b:
            got = b.predict_masked(x2.numpy(), valid.numpy())
            assert b.masks and np.allclose(got, want, atol=1e-4), (target, got, want)
            with pytest.raises(Exception, match="no valid frame"):
                b.predict_masked(x.numpy()[:1], np.zeros((1, 4)))


def test_a_changed_part_is_refused(bundle, tmp_path):
    import edge_sdk
    from edge_sdk.errors import EdgeSDKError

    recs, _, _ = bundle
    src = recs["onnx-fp32"]["path"]
    copy = tmp_path / "onnx-fp32"
    shutil.copytree(src.rsplit("/", 1)[0], copy)
    head = next((copy / "megatron_rgbd.bundle" / "head").glob("*.onnx"))
    head.write_bytes(head.read_bytes()[:-100])
    with pytest.raises(EdgeSDKError, match="sha256"):
        edge_sdk.load(copy / "megatron_rgbd.bundle")


def _video_with_black_frames(sample_clip, path, n: int, black: set[int]) -> None:
    src = cv2.VideoCapture(str(sample_clip))
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (1280, 720))
    for i in range(n):
        bgr = src.read()[1]
        out.write(np.zeros_like(bgr) if i in black else bgr)
    out.release()
    src.release()


def test_detect_masks_frames_without_a_face(bundle, sample_clip, tmp_path):
    from edge_sdk.faces import FaceDetector
    from edge_sdk.models import load
    from edge_sdk.pipeline import Detector
    from edge_sdk.video import sample_frames

    recs, ckpt, _ = bundle
    video = tmp_path / "gap.mp4"
    _video_with_black_frames(sample_clip, video, 8, {1})
    with Detector(recs["onnx-fp32"]["path"]) as det:
        rec = det.path(video, frames=8)  # two windows: frames 0-3 and 4-7
    assert rec["ok"] and rec["clip"] == {"frames": 4, "stride": 1, "min_valid": 2}, rec
    assert 1 in rec["frames_without_face"] and len(rec["clips"]) == 2
    first = rec["clips"][0]
    assert first["frames"] == [0, 2, 3] and first["masked_frames"] == [1]
    assert rec["clips"][1]["masked_frames"] == [] and rec["verdict"] in ("real", "fake")
    # the same crops through the PyTorch model, with frame 1 masked, give the same clip logit
    loaded = load(str(ckpt))
    clip = np.zeros((1, 4, 3, 64, 64), np.float32)
    with FaceDetector(mode="video") as fd:
        for _, i, ts, rgb in sample_frames(video, indices=lambda n: [0, 2, 3]):
            f = fd.detect(rgb, timestamp_ms=ts)[0]
            clip[0, i] = loaded.crop.to_tensor(loaded.crop.crop(rgb, f.box, f.keypoints)[None])[0]
    with torch.no_grad():
        want = float(loaded.model(torch.from_numpy(clip), torch.tensor([[1.0, 0.0, 1.0, 1.0]])))
    assert first["logit"] == pytest.approx(want, abs=1e-3)
    # asking for every frame: that window is too short, and the record names the missing frame
    with Detector(recs["onnx-fp32"]["path"], min_valid=4) as det:
        strict = det.path(video, frames=8)
    assert len(strict["clips"]) == 1 and strict["short_tracks"][0]["missing_frames"] == [1]
    assert strict["short_tracks"][0]["have"] == 3 and strict["short_tracks"][0]["need"] == 4


def test_detect_cli_takes_min_valid_and_camera_runs_the_bundle(bundle, sample_clip, tmp_path):
    """camera embeds each crop once and scores a track over its last T frame slots; a frame where the track has no
    face is a masked slot (the same logit as detect's masked clip), and --min-valid applies as in detect."""
    import subprocess
    import sys

    from edge_sdk.pipeline import Detector
    from edge_sdk.stream import run_stream

    recs, _, _ = bundle
    path = recs["onnx-fp32"]["path"]
    out = subprocess.run([sys.executable, "-m", "edge_sdk", "detect", str(sample_clip), "--model", path,
                          "--min-valid", "0", "--quiet"], capture_output=True, text=True)
    assert out.returncode == 2 and "--min-valid 0" in out.stderr
    video = tmp_path / "gap.mp4"
    _video_with_black_frames(sample_clip, video, 8, {1})
    jsonl = tmp_path / "f.jsonl"
    summary = run_stream(video, path, jsonl=jsonl, live=False, max_frames=8)
    assert summary["clip"] == {"frames": 4, "stride": 1, "min_valid": 2}
    frames = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert frames[0]["faces"][0]["status"] == "collecting" and frames[1]["faces"] == []
    scored = {f["frame"]: f["faces"][0] for f in frames if f["faces"] and f["faces"][0].get("p_fake") is not None}
    # frame 3 closes the slots 0-3 (frame 1 masked), frames 4-7 slide on; from frame 5 no slot is masked
    assert sorted(scored) == [3, 4, 5, 6, 7] and scored[3]["masked"] == 1 and scored[4]["masked"] == 1
    assert scored[5]["masked"] == 0 and summary["clips_scored"] == 5
    with Detector(path) as det:
        rec = det.path(video, frames=8)
    assert scored[3]["logit"] == pytest.approx(rec["clips"][0]["logit"], abs=1e-4)
    assert scored[7]["logit"] == pytest.approx(rec["clips"][1]["logit"], abs=1e-4)
    # every frame needed: the masked slots keep the track collecting until frame 5
    strict = tmp_path / "s.jsonl"
    run_stream(video, path, jsonl=strict, live=False, max_frames=8, min_valid=4)
    first = next(json.loads(x) for x in strict.read_text().splitlines()
                 if json.loads(x)["faces"] and json.loads(x)["faces"][0].get("p_fake") is not None)
    assert first["frame"] == 5


def test_bench_times_the_bundle_per_part_per_clip_and_end_to_end(bundle, sample_clip, tmp_path):
    from edge_sdk.benchmarks import bench as bench_mod

    _, ckpt, root = bundle
    doc = bench_mod.bench(models=["megatron_rgbd"], weights=str(ckpt), targets=["torch", "onnx-fp32"], threads=1,
                          warmup=1, runs=3, data=str(root / "videos"), out=tmp_path / "b", e2e=str(sample_clip),
                          progress=lambda *a: None)
    rows = {r["target"]: r for r in doc["results"]}
    onnx = rows["onnx-fp32"]
    assert onnx["status"] == "ok" and onnx["clip_frames"] == 4 and onnx["parity"]["max_abs_logit"] < 1e-3, onnx
    assert onnx["parity"]["n"] >= 2 and rows["torch"]["status"] == "ok"
    p = onnx["parts"]
    assert p["depth"]["crops"] == 4 and p["embedder"]["crops"] == 8 and "crops" not in p["head"]
    assert all(p[k]["per_clip_ms"]["p50"] > 0 for k in p)
    # the whole clip costs at least its depth maps and embeddings
    assert onnx["latency_ms"]["p50"] > 0.5 * (p["depth"]["per_clip_ms"]["p50"] + p["embedder"]["per_clip_ms"]["p50"])
    e = doc["e2e"][0]
    assert e["status"] == "ok" and e["frames"] == 45 and e["isolated_stage_ms"]["head"] > 0, e
    assert 1 <= e["clips_scored"] <= 42 and e["clips_per_s"] > 0  # a track scores from its 4th frame on
    md = (tmp_path / "b" / "bench.md").read_text()
    assert "depth ms per crop" in md and "clips/s" in md


# ---------------------------------------------------------------------------------------------- training
def _megatron_cfg(lab, out, **kw):
    from edge_sdk.distill.train import TrainConfig

    return TrainConfig(**{**dict(model="megatron_rgbd", model_kwargs=BUNDLE_KW, index=str(lab), out=str(out),
                                 img_size=64, frames=4, batch_size=2, steps_per_epoch=2, epochs=2, lr=1e-3,
                                 ckpt_every=0, augment=0.0, patience=10), **kw})


def test_training_caches_embeddings_so_a_second_epoch_runs_neither_network(index, tmp_path):
    from edge_sdk.distill.train import Trainer
    from tests.conftest import labelled_clips

    lab = labelled_clips(index, tmp_path)
    trainer = Trainer(_megatron_cfg(lab, tmp_path / "m"))
    start = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    result = trainer.run()
    first, second = (h["frozen_crops_computed"] for h in result["history"])
    assert first > 0 and second == 0, result["history"]  # epoch 2 (train and validation) is served from the cache
    changed = {k.split(".")[0] for k, v in trainer.model.state_dict().items() if not torch.equal(start[k], v)}
    assert changed == {"head"}
    files = list((tmp_path / "m" / "embedding_cache").glob("embeddings-*.pt"))
    assert len(files) == 1 and len(trainer.embeddings) == first
    # a served embedding is what the frozen parts give for that crop
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        want = trainer.model._embed(x)
        trainer.model.embed(x)  # stored
        got = trainer.model.embed(x)  # served
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(want, got))
    # a new run on the same folder starts from the stored file; other frozen weights are another file
    again = Trainer(_megatron_cfg(lab, tmp_path / "m", epochs=1))
    assert len(again.embeddings) >= first and again.run()["history"][0]["frozen_crops_computed"] == 0
    torch.manual_seed(9)
    other = Trainer(_megatron_cfg(lab, tmp_path / "m", epochs=1, model_kwargs={**BUNDLE_KW, "depth_size": 28}))
    assert other.embeddings.path != again.embeddings.path and len(other.embeddings) == 0


def test_a_killed_run_resumes_to_the_uninterrupted_heads_weights(index, tmp_path):
    """Resume as for the frame models: killed in the second epoch (self-blended clips drawn on the fly, the cache
    kept on disk), resumed, it ends with the uninterrupted run's head, bit for bit, and the same validation."""
    from edge_sdk.distill.train import Trainer
    from tests.conftest import labelled_clips

    lab = labelled_clips(index, tmp_path)
    kw = dict(pseudo_fakes="sbi", ckpt_every=1)
    full = Trainer(_megatron_cfg(lab, tmp_path / "full", **kw)).run()
    assert Trainer(_megatron_cfg(lab, tmp_path / "cut", **kw)).run(stop_after_steps=3) == {"stopped_at_step": 3}
    resumed = Trainer(_megatron_cfg(lab, tmp_path / "cut", **kw)).run(resume=True)
    assert [h["val_auc"] for h in full["history"]] == [h["val_auc"] for h in resumed["history"]]
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_two_ranks_train_the_head_alike_and_leave_the_frozen_parts(index, tmp_path):
    """DDP (gloo, two ranks) as for the frame models: the head's parameters end identical on both ranks and moved;
    the depth model and the embedder stay as built; rank 0 alone writes the checkpoint and the embedding cache."""
    from dataclasses import asdict

    from edge_sdk.distill.train import Trainer, TrainConfig
    from tests.conftest import labelled_clips
    from tests.test_train import _free_port, _rank

    lab = labelled_clips(index, tmp_path)
    cfg = asdict(_megatron_cfg(lab, tmp_path / "ddp", epochs=1))
    torch.multiprocessing.spawn(_rank, args=(2, _free_port(), cfg, str(tmp_path)), nprocs=2, join=True)
    w0, w1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    start = Trainer(TrainConfig(**cfg)).module.state_dict()
    head = [k for k in w0 if k.startswith("head.")]
    assert head and all(torch.equal(w0[k], w1[k]) for k in head)
    assert any(not torch.equal(start[k], w0[k]) for k in head if w0[k].is_floating_point())
    frozen = [k for k in w0 if not k.startswith("head.")]
    assert frozen and all(torch.equal(start[k], w0[k]) and torch.equal(start[k], w1[k]) for k in frozen)
    assert (tmp_path / "ddp" / "best.pt").is_file()
    assert len(list((tmp_path / "ddp" / "embedding_cache").glob("embeddings-*.pt"))) == 1


def test_distillation_both_ways_between_megatron_and_a_frame_model(index, tmp_path):
    """The temporal RGB-D model teaches a frame student (each frame gets its clip's logit, cached); a frame teacher
    guides Megatron (each clip's target is the mean of the teacher's logits over its crops)."""
    import json as _json

    import numpy as np

    from edge_sdk.distill import teacher_cache
    from edge_sdk.distill.train import Trainer, TrainConfig, read_rows
    from edge_sdk.errors import InputError
    from tests.conftest import labelled_clips

    lab = labelled_clips(index, tmp_path)
    Trainer(_megatron_cfg(lab, tmp_path / "mega", epochs=1)).run()
    teacher = str(tmp_path / "mega" / "best.pt")
    student = TrainConfig(model="resnet10t", img_size=32, index=str(lab), out=str(tmp_path / "s"), batch_size=4,
                          steps_per_epoch=2, epochs=1, ckpt_every=0, augment=0.0, teacher=teacher,
                          cache_dir=str(tmp_path / "cache"))
    s = Trainer(student)
    assert s.online is None  # a clip teacher scores clips: cached clip logits only
    s.run()
    cache = _json.loads(next((tmp_path / "cache").glob("teacher-*.json")).read_text())
    rows = sorted(read_rows(lab, "train"), key=lambda r: (r["video_id"], int(r["frame"])))
    keys = [teacher_cache._crop_key(r["path"]) for r in rows]
    assert len({cache[k] for k in keys[:4]}) == 1  # one clip, one logit for its four frames

    frame_teacher = str(tmp_path / "s" / "best.pt")
    m = Trainer(_megatron_cfg(lab, tmp_path / "ms", teacher=frame_teacher, cache_dir=str(tmp_path / "cache2"),
                              epochs=1))
    ds = m.dataset("train", True)
    targets = m.teacher_targets(ds, m.dataset("val", False))
    x, y, idx = next(iter(m.loader(ds)))
    t, known, _ = m.teacher_outputs(x, y, idx, ds, targets)
    want = [np.mean([targets[ds.rows[k]["path"]] for k in ds.clips[int(i)]]) for i in idx]
    assert known.all() and np.allclose(t.numpy(), want, atol=1e-6)
    # on the fly (a self-blended clip): the teacher in memory scores each blended frame, the mean is the target
    z, _ = m.online(x)
    assert z.shape == (len(x),)
    assert m.run()["history"][0]["train_loss"] is not None
    with pytest.raises(InputError, match="clip model"):
        Trainer(_megatron_cfg(lab, tmp_path / "x", teacher=frame_teacher, teacher_mode="online"))


def test_a_checkpoint_of_a_folder_depth_model_rebuilds_with_the_folder_gone(tmp_path):
    from edge_sdk.models import create_model, load
    from edge_sdk.models.megatron import depth_anything

    torch.manual_seed(4)
    depth_anything(None, "tiny").save_pretrained(tmp_path / "da")
    kw = {"num_frames": 4, "depth_size": 56, "depth_weights": str(tmp_path / "da")}
    m = create_model("megatron_rgbd", **kw).eval()
    recorded = m.rebuild_kwargs(kw)  # what training writes into best.pt
    assert "depth_weights" not in recorded and recorded["depth_config"]["backbone_config"]["num_hidden_layers"] == 4
    torch.save({"model": m.state_dict(), "model_name": "megatron_rgbd", "model_kwargs": recorded, "img_size": 64},
               tmp_path / "m.pt")
    shutil.rmtree(tmp_path / "da")
    again = load(str(tmp_path / "m.pt")).model
    x = torch.rand(1, 4, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(again(x), m(x), atol=1e-6)
