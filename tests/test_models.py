"""Model zoo: MS-Eff-GCViT equals the public reference; students, CLIP teacher, weight loading."""

from __future__ import annotations

import urllib.error

import numpy as np
import pytest
import timm
import torch

import edge_sdk.models as zoo
from edge_sdk.errors import CheckpointError, InputError, PretrainedWeightsError
from edge_sdk.models.gcvit_branch import window_partition, window_reverse
from tests.conftest import deterministic_state_dict, reference_inputs

VARIANTS = ["ms_eff_gcvit_b0", "ms_eff_gcvit_b5"]


def _deterministic(reference: dict, name: str):
    model = timm.create_model(name).eval()
    ref = reference[name]
    return model, deterministic_state_dict(ref["state_dict"], model.state_dict())


@pytest.mark.parametrize("name", VARIANTS)
def test_same_network_as_reference(reference, name):
    ref = reference[name]
    model, sd = _deterministic(reference, name)
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert ours == {k: shape for k, shape, _ in ref["state_dict"]}
    assert sum(p.numel() for p in model.parameters()) == ref["num_params"]
    zoo.load_strict(model, sd)
    x = torch.from_numpy(reference_inputs(ref["input_size"]))
    with torch.no_grad():
        fused = model.forward_features(x)
        logits = model.forward_head(fused)
    assert fused.shape == (3, model.num_features)
    np.testing.assert_allclose(logits[:, 0].numpy(), ref["logits"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(fused[:, :16].numpy(), ref["fused_features_first16"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(fused.mean(1).numpy(), ref["fused_features_mean"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(fused.std(1, correction=0).numpy(), ref["fused_features_std"], rtol=1e-4)


def test_timm_registration_and_cfg():
    model = timm.create_model("ms_eff_gcvit_b0")
    cfg = model.pretrained_cfg
    assert cfg["input_size"] == (3, 224, 224) and cfg["num_classes"] == 1
    assert tuple(cfg["mean"]) == (0.485, 0.456, 0.406)
    assert timm.create_model("ms_eff_gcvit_b5").pretrained_cfg["input_size"] == (3, 384, 384)
    assert {"ms_eff_gcvit_b0", "clip_fcg_vit_b16"} <= set(timm.list_models("*fc*") + timm.list_models("ms_eff*"))


def _reference_window_partition(x, ws):
    # The usual rank-6 formulation (Swin, GCViT, DeepGuard).
    B, H, W, C = x.shape
    x = x.view(B, H // ws, ws, W // ws, ws, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, C)


def test_rank4_windows_equal_rank6_formulation():
    x = torch.randn(2, 14, 21, 5)
    ours = window_partition(x, 7)
    assert torch.equal(ours, _reference_window_partition(x, 7))
    assert torch.equal(window_reverse(ours, 7, 14, 21), x)


def test_deepguard_checkpoint_loads_every_key(reference, tmp_path):
    ref = reference["ms_eff_gcvit_b0"]
    _, sd = _deterministic(reference, "ms_eff_gcvit_b0")
    # As a DDP training script saves it: wrapped and prefixed.
    path = tmp_path / "ms_eff_gcvit_b0_ff++.bin"
    torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()}, "epoch": 3}, path)
    model = zoo.load_deepguard_checkpoint(path)
    assert type(model).__name__ == "MultiScaleEffGCViT" and model.img_size == 224
    loaded = model.state_dict()
    assert set(loaded) == set(sd)
    assert all(torch.equal(loaded[k].float(), sd[k].float()) for k in sd)
    with torch.no_grad():
        logits = model(torch.from_numpy(reference_inputs(224)))[:, 0]
    np.testing.assert_allclose(logits.numpy(), ref["logits"], atol=1e-4, rtol=0)


def test_deepguard_checkpoint_errors_name_the_key(reference):
    _, sd = _deterministic(reference, "ms_eff_gcvit_b0")
    missing = dict(sd)
    missing.pop("head.4.bias")
    with pytest.raises(CheckpointError, match=r"'head\.4\.bias' is missing"):
        zoo.load_deepguard_checkpoint(missing)
    bad = dict(sd, **{"head.1.weight": torch.zeros(3, 3)})
    with pytest.raises(CheckpointError, match=r"'head\.1\.weight' has shape \(3, 3\).*\(224, 448\)"):
        zoo.load_deepguard_checkpoint(bad)
    extra = dict(sd, **{"aux.weight": torch.zeros(1)})
    with pytest.raises(CheckpointError, match=r"'aux\.weight' has no place"):
        zoo.load_deepguard_checkpoint(extra)
    with pytest.raises(CheckpointError, match="not an MS-Eff-GCViT checkpoint"):
        zoo.load_deepguard_checkpoint({"x": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="does not exist"):
        zoo.load_deepguard_checkpoint("/nonexistent/ckpt.bin")


def test_b0_exports_with_no_tensor_above_rank5(tmp_path):
    from edge_sdk.export import export_onnx, max_tensor_rank

    model = timm.create_model("ms_eff_gcvit_b0").eval()
    x = torch.randn(2, 3, 224, 224)
    ep = torch.export.export(model, (x,), dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=64)}})
    ranks = [n.meta["val"].dim() for n in ep.graph.nodes if isinstance(n.meta.get("val"), torch.Tensor)]
    assert max(ranks) == 5
    with torch.no_grad():
        expected = model(x)
        assert torch.allclose(ep.module()(x), expected, atol=1e-5)
    path = export_onnx(model, tmp_path / "b0.onnx", x)
    rank, name = max_tensor_rank(path)
    assert rank <= 5, f"tensor {name} has rank {rank}"
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-4)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary export file left behind"


@pytest.mark.parametrize("name", ["repvit_m0_9_student", "repvit_m1_1_student"])
def test_repvit_student_one_logit_distillation_head_and_fuse(name):
    model = zoo.create_model(name)
    x = torch.randn(2, 3, 224, 224)
    model.train()
    model.set_distilled_training(True)
    cls_logit, dist_logit = model(x)
    assert cls_logit.shape == dist_logit.shape == (2, 1)
    model.set_distilled_training(False)
    model.eval()
    with torch.no_grad():
        y = model(x)
        fused = zoo.reparameterize(model)
        y_fused = fused(x)
    assert y.shape == (2, 1)
    assert (y - y_fused).abs().max().item() < 1e-5
    assert sum(p.numel() for p in fused.parameters()) < sum(p.numel() for p in model.parameters())
    assert model.forward_head(model.forward_features(x)).shape == (2, 1)


def _tiny_clip(**kw):
    return zoo.create_model("clip_fcg_vit_b16", num_frames=4,
                            clip_kwargs=dict(depth=2, embed_dim=64, num_heads=2, img_size=64), **kw)


def test_clip_teacher_trains_only_the_side_network():
    torch.manual_seed(0)
    model = _tiny_clip()
    assert all(not p.requires_grad for p in model.clip.parameters())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    assert not model.clip.training, "the frozen CLIP must stay in eval mode"
    opt = torch.optim.AdamW(model.trainable_parameters(), lr=1e-2)
    clips, labels = torch.randn(2, 4, 3, 64, 64), torch.tensor([[0.0], [1.0]])
    loss = torch.nn.functional.binary_cross_entropy_with_logits(model(clips), labels)
    loss.backward()
    opt.step()
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(not k.startswith("clip.") for k in changed)
    assert any(k.startswith("side.") for k in changed) and "head_both.weight" in changed
    with pytest.raises(InputError, match=r"\(B, 4, 3, H, W\)"):
        model(torch.randn(1, 3, 3, 64, 64))


def test_clip_b16_side_network_is_small_and_clip_frozen():
    model = zoo.create_model("clip_fcg_vit_b16")
    trainable = sum(p.numel() for p in model.trainable_parameters())
    assert 0 < trainable < 1_000_000
    assert all(not p.requires_grad for p in model.clip.parameters())
    assert sum(p.numel() for p in model.clip.parameters()) > 80_000_000


def test_clip_b32_is_the_seeds_build_on_a_7x7_patch_grid():
    """clip_fcg_vit_b32 (the seed's own CLIP): ViT-B/32, a 7 x 7 grid at 224 px, the side network reading all 12
    layers; one clip gives one logit and only the side network is trainable."""
    model = zoo.create_model("clip_fcg_vit_b32", num_frames=2)
    assert tuple(model.clip.patch_embed.grid_size) == (7, 7) and model.clip.patch_embed.patch_size == (32, 32)
    assert len(model.side) == 12 and all(layer.grid == (7, 7) for layer in model.side)
    assert 0 < sum(p.numel() for p in model.trainable_parameters()) < 1_000_000
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 2, 3, 224, 224)).shape == (1, 1)
    assert zoo.card("clip_fcg_vit_b32").kind == "clip"


def test_clip_head_averages_probabilities():
    model = _tiny_clip().eval()
    feats = torch.randn(3, model.num_features)
    n_s = model.head_spatial.in_features
    with torch.no_grad():
        p = torch.stack([torch.sigmoid(model.head_spatial(feats[:, :n_s])), torch.sigmoid(model.head_temporal(feats[:, n_s:])),
                         torch.sigmoid(model.head_both(feats))]).mean(0)
        assert torch.allclose(torch.sigmoid(model.forward_head(feats)), p, atol=1e-6)


def test_pretrained_offline_fails_fast_with_instructions(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("timm.models._builder.load_state_dict_from_url", offline)
    with pytest.raises(PretrainedWeightsError, match="pretrained_file"):
        timm.create_model("ms_eff_gcvit_b0.ffpp", pretrained=True)

    def hub_offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr("timm.models._builder.load_pretrained", hub_offline)
    with pytest.raises(PretrainedWeightsError, match="vit_base_patch16_clip_224.openai"):
        zoo.create_model("clip_fcg_vit_b16", pretrained=True)
    with pytest.raises(PretrainedWeightsError, match="repvit_m0_9_student"):
        zoo.create_model("repvit_m0_9_student", pretrained=True)


def test_pretrained_file_loads_a_local_checkpoint(tmp_path):
    src = timm.create_model("ms_eff_gcvit_b0")
    path = tmp_path / "weights.pth"
    torch.save(src.state_dict(), path)
    model = timm.create_model("ms_eff_gcvit_b0", pretrained_file=str(path))
    assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(), model.state_dict().values()))
    with pytest.raises(PretrainedWeightsError, match="does not exist"):
        timm.create_model("ms_eff_gcvit_b0", pretrained_file=str(tmp_path / "nope.pth"))


def test_unknown_model_is_a_clear_error():
    with pytest.raises(InputError, match="unknown model 'ms_eff_gcvit_b9'"):
        zoo.create_model("ms_eff_gcvit_b9")


def test_smaller_input_scales_the_windows_and_group_norm_makes_each_image_its_own_statistics(tmp_path):
    """MS-Eff-GCViT at another img_size takes DeepGuard's window-to-grid ratios (B5 at 32 px: (1, 1, 2, 1) and (1,));
    backbone_norm="group" leaves no BatchNorm, so in training mode an image's logit does not depend on the batch;
    a checkpoint with those kwargs comes back through the one loader at its size."""
    from edge_sdk.models import load
    from edge_sdk.models.ms_eff_gcvit import _create

    still = {"drop": 0.0, "attn_drop": 0.0, "drop_path": 0.0}  # no dropout, so training mode is deterministic
    m = _create("ms_eff_gcvit_b5", False, img_size=32, backbone_norm="group", drop_rate=0.0, low=still, high=still)
    assert [s.blocks[0].window_size for s in m.l_gcvit.stages] == [1, 1, 2, 1]
    assert [s.blocks[0].window_size for s in m.h_gcvit.stages] == [1]
    assert isinstance(m.l_gcvit.stages[0].blocks[1].drop_path, torch.nn.Identity)  # the dict's drop_path 0
    assert not any(isinstance(x, torch.nn.BatchNorm2d) for x in m.modules())
    x = torch.randn(4, 3, 32, 32)
    m.train()
    with torch.no_grad():
        together, alone = m(x)[:1], m(x[:1])
    assert torch.allclose(together, alone, atol=1e-5)
    bn = timm.create_model("ms_eff_gcvit_b0", img_size=32, drop_rate=0.0, low=still, high=still).train()  # BatchNorm: the batch moves the logit
    with torch.no_grad():
        assert not torch.allclose(bn(x)[:2], bn(x[:2]), atol=1e-4)
    with pytest.raises(ValueError, match="backbone_norm='layer'"):
        timm.create_model("ms_eff_gcvit_b0", backbone_norm="layer")
    torch.save({"model": m.state_dict(), "model_name": "ms_eff_gcvit_b5", "img_size": 32,
                "model_kwargs": {"img_size": 32, "backbone_norm": "group", "drop_rate": 0.0, "low": still, "high": still}},
               tmp_path / "m.pt")
    loaded = load(str(tmp_path / "m.pt"))
    assert loaded.size == 32 and loaded.crop.size == 32
    m.eval()
    with torch.no_grad():
        assert torch.allclose(loaded.model.eval()(x), m(x), atol=1e-5)
