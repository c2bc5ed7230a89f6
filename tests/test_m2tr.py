"""Seed 003's M2TR: the exportable frequency filter, the port's structure, and a tiny M2TR on every target."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

import edge_sdk
from edge_sdk import manifest
from edge_sdk.models.m2tr import CrossModalityFusion, from_patches, to_patches
from edge_sdk.models.spectral import SpectralFilter
from tests.conftest import shared_path

# a tiny M2TR: timm's 0.1M-parameter test EfficientNet, a 16 x 16 texture map of 24 channels, one M2TR layer
TINY = dict(backbone="test_efficientnet", img_size=64, depth=1)


@pytest.mark.parametrize("h,w", [(8, 8), (7, 9), (6, 5), (1, 4), (80, 80)])
def test_dft_filter_equals_torch_fft_forward_and_backward(h, w):
    """The exact DFT matrix products give torch.fft's rfft2 -> weight -> irfft2 within 1e-5 (fp32), for even and odd
    sizes; the gradients to the input and to the learned weight agree too, so either form trains the other's weight."""
    torch.manual_seed(h * 100 + w)
    f = SpectralFilter(5, h, w, impl="fft")
    with torch.no_grad():
        f.complex_weight.normal_()  # O(1) weights, not the 0.02 init: a real test of the arithmetic
    x = torch.randn(3, 5, h, w, requires_grad=True)
    outs = {}
    for impl in ("fft", "dft"):
        f.impl = impl
        y = f(x)
        outs[impl] = (y, *torch.autograd.grad((y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum(),
                                              [x, f.complex_weight]))
    assert outs["fft"][0].abs().max() > 0.1
    # the public code's one call, rfft2 -> weight -> irfft2, on this CPU
    spectrum = torch.fft.rfft2(x.detach().permute(0, 2, 3, 1), dim=(1, 2), norm="ortho")
    public = torch.fft.irfft2(spectrum * torch.view_as_complex(f.complex_weight.detach()), s=(h, w), dim=(1, 2),
                              norm="ortho").permute(0, 3, 1, 2)
    torch.testing.assert_close(outs["dft"][0].detach(), public, atol=1e-5, rtol=1e-5)
    for a, b in zip(outs["fft"], outs["dft"]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_dft_filter_refuses_a_map_of_another_size_naming_both_shapes():
    f = SpectralFilter(4, 8, 8)
    with pytest.raises(ValueError, match=r"\(4, 8, 8\).*\(4, 8, 9\)"):
        f(torch.zeros(1, 4, 8, 9))
    with pytest.raises(ValueError, match="impl"):
        SpectralFilter(4, 8, 8, impl="fftw")


def test_patch_tokens_equal_the_public_codes_rank6_view():
    """to_patches / from_patches (rank <= 5, for Core ML) give the public code's rank-6 view and permute."""
    b, c, h, w = 2, 3, 12, 12
    x = torch.randn(b, c, h, w)
    for p in (12, 6, 3, 1):
        oh, ow = h // p, w // p
        want = x.view(b, c, oh, p, ow, p).permute(0, 2, 4, 1, 3, 5).contiguous().view(b, oh * ow, c * p * p)
        assert torch.equal(to_patches(x, p), want)
        assert torch.equal(from_patches(want, c, h, w, p), x)


def test_kv_pool_attends_over_pooled_keys_and_values():
    """kv_pool=1 is the public block's full attention; kv_pool=2 is the same block over the 2x2-pooled frequency map."""
    torch.manual_seed(0)
    full, pooled = CrossModalityFusion(8).eval(), CrossModalityFusion(8, kv_pool=2).eval()
    pooled.load_state_dict(full.state_dict())
    rgb, freq = torch.randn(2, 8, 6, 6), torch.randn(2, 8, 6, 6)

    def by_hand(block, f):
        q = block.conv1(rgb).flatten(2).transpose(1, 2)
        k, v = block.conv2(f).flatten(2), block.conv3(f).flatten(2).transpose(1, 2)
        z = ((q @ k) * 8 ** -0.5).softmax(-1) @ v
        return rgb + block.conv4(z.transpose(1, 2).reshape(2, 8, 6, 6))

    with torch.no_grad():
        torch.testing.assert_close(full(rgb, freq), by_hand(full, freq), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(pooled(rgb, freq), by_hand(full, torch.nn.functional.avg_pool2d(freq, 2)),
                                   atol=1e-5, rtol=1e-5)
        assert (pooled(rgb, freq) - full(rgb, freq)).abs().max() > 1e-3


def test_full_size_m2tr_b4_matches_the_public_codes_structure():
    """m2tr_b4 as configs/m2tr.yaml builds it: a 32-channel 80 x 80 texture map, the public GlobalFilter's weight
    (80, 41, 32, 2), patch sizes 80/40/20/10, four layers, and the public model's parameter count (18,611,532,
    measured by benchmarks/check_m2tr_reference.py) less its backbone's unused classifier (3,586) and the second
    class of its head (1,793)."""
    from edge_sdk.models import create_model

    m = create_model("m2tr_b4")
    assert m.grid == (80, 80) and m.patch_sizes == (80, 40, 20, 10) and len(m.layers) == 4
    assert m.layers[0][1].filter.complex_weight.shape == (80, 41, 32, 2)
    # the public code's EfficientNet BatchNorms (TF's momentum 0.99, i.e. 0.01 in torch; eps 1e-3)
    assert {(b.momentum, b.eps) for b in m.backbone.modules() if isinstance(b, torch.nn.BatchNorm2d)} == {(0.01, 1e-3)}
    assert sum(p.numel() for p in m.parameters()) == 18_611_532 - 3_586 - 1_793
    groups = m.param_groups()
    assert sum(len(v) for v in groups.values()) == len(list(m.parameters()))
    with pytest.raises(ValueError, match="patch sizes \\[7\\] do not divide its 80 x 80"):
        create_model("m2tr_b4", patch_sizes=(1, 2, 4, 7))


def test_reparameterize_switches_every_filter_to_the_dft_and_keeps_the_logits():
    from edge_sdk.models import create_model, reparameterize

    torch.manual_seed(0)
    m = create_model("m2tr_b0", **TINY).eval()
    assert m.pretrained_cfg["input_size"] == (3, 64, 64)  # what training reads for its crop size
    x = torch.randn(2, 3, 64, 64)
    deployed = reparameterize(m)
    assert {mod.impl for mod in deployed.modules() if isinstance(mod, SpectralFilter)} == {"dft"}
    assert {mod.impl for mod in m.modules() if isinstance(mod, SpectralFilter)} == {"fft"}
    with torch.no_grad():
        torch.testing.assert_close(deployed(x), m(x), atol=1e-5, rtol=1e-4)


def test_a_repvit_student_takes_the_frequency_branch_and_keeps_timms_keys():
    import timm

    from edge_sdk.models import create_model, reparameterize

    torch.manual_seed(0)
    plain, freq = create_model("repvit_m0_9_student"), create_model("repvit_m0_9_student", freq_branch=64)
    extra = set(freq.state_dict()) - set(plain.state_dict())
    assert set(plain.state_dict()) <= set(freq.state_dict())
    assert extra and all(k.startswith("stem.freq.") for k in extra)
    assert freq.stem.freq.filter.complex_weight.shape == (16, 9, 48, 2)
    assert set(timm.create_model("repvit_m0_9").state_dict()) <= set(freq.state_dict())
    freq.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        stem = freq.stem
        base = stem.conv2(stem.act1(stem.conv1(x)))
        assert (stem(x) - base).abs().max() > 1e-4  # the branch changes the stem's map
        torch.testing.assert_close(reparameterize(freq)(x), freq(x), atol=1e-4, rtol=1e-4)
    from edge_sdk.models import load

    assert load("repvit_m0_9_student", kwargs={"freq_branch": 64}).crop.size == 64  # the filter's size is the input
    assert freq.pretrained_cfg["input_size"] == (3, 64, 64) and freq.pretrained_cfg["fixed_input_size"]
    with pytest.raises(ValueError, match="multiple of the stem's stride 4"):
        create_model("repvit_m0_9_student", freq_branch=66)


TARGETS = ["onnx-fp32", "onnx-fp16", "onnx-int8", "executorch-fp32", "executorch-int8", "coreml-fp16", "tensorrt-fp16"]


@pytest.fixture(scope="module")
def tiny_m2tr(tmp_path_factory):
    """A tiny M2TR trained to tell the sample photos apart, each with its dark, bright, contrast, JPEG and grey
    variants (so its logits spread and sit away from the threshold, unlike a random init's: decisions that a
    rounding flips would make the int8 agreement a coin toss), saved with its kwargs, exported to every target."""
    from edge_sdk.export import export
    from edge_sdk.export.calibration import parity_inputs
    from edge_sdk.models import create_model, load

    out = tmp_path_factory.mktemp("m2tr")
    torch.manual_seed(0)
    model = create_model("m2tr_b0", **TINY)
    crops = parity_inputs(shared_path("samples"), load("m2tr_b0", kwargs=TINY).crop, limit=16)
    x = torch.from_numpy(crops.x)
    files = sorted(set(map(str, crops.files)))
    y = torch.tensor([files.index(str(f)) % 2 for f in crops.files], dtype=torch.float32)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(40):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x)[:, 0], y)
        opt.zero_grad(), loss.backward(), opt.step()
    # BatchNorm statistics of the training crops (M2TR's backbone momentum is the public 0.01, so 40 steps leave them
    # near their start): eval mode then scores as training did, every logit |z| > 6 here, none at the threshold (the
    # stale statistics had left 8 of 64 within 0.5, and int8's rounding flipped 3 on an AVX2-only EPYC)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the passes below
    with torch.no_grad():
        model(x)
    ckpt = out / "m2tr_tiny.pt"
    torch.save({"model_name": "m2tr_b0", "model_kwargs": TINY, "model": model.state_dict()}, ckpt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = export("m2tr_b0", formats=TARGETS, weights=str(ckpt), out=out / "artifacts",
                         calib=shared_path("samples"), calib_size=64, parity_crops=16,
                         trt_ops_table=str(shared_path("fixtures", "tensorrt10_onnx_operators.csv")))
    model.eval()
    with torch.no_grad():
        want = model(x)[:, 0].numpy()
    return {"records": {r["name"]: r for r in records}, "crops": crops.x, "torch": want}


@pytest.mark.parametrize("name", [t for t in TARGETS if not t.startswith("coreml")])
def test_tiny_m2tr_runs_on_every_target_within_its_parity_limits(tiny_m2tr, name):
    r = tiny_m2tr["records"][name]
    assert r["ok"], r.get("error")
    assert r["parity"]["status"] == "passed", r["parity"]
    want = tiny_m2tr["torch"]
    assert np.ptp(want) > 0.5  # a model whose scores differ across faces, so agreement means something
    with edge_sdk.load(r["path"]) as backend:
        got = backend.predict(tiny_m2tr["crops"])
    precision = name.rpartition("-")[2]
    if precision == "fp32":
        np.testing.assert_allclose(got, want, atol=1e-3)
    elif precision == "fp16":
        np.testing.assert_allclose(got, want, atol=3e-2)
    else:
        assert np.mean((got >= 0) == (want >= 0)) >= 0.9 and np.corrcoef(got, want)[0, 1] > 0.95


def test_no_fourier_op_reaches_an_artifact_and_tensorrt_accepts_the_graph(tiny_m2tr):
    import onnx

    recs = tiny_m2tr["records"]
    for name in ("onnx-fp32", "tensorrt-fp16"):
        ops = {n.op_type for n in onnx.load(recs[name]["path"]).graph.node}
        assert not ops & {"DFT", "STFT"} and "MatMul" in ops, ops
    # int8 keeps the filter's 12 DFT matrix products float (a per-tensor int8 spectrum rounds away the small bins)
    q = manifest.load(recs["onnx-int8"]["path"])["export"]["quantization"]
    dft = [n.name for n in onnx.load(recs["onnx-fp32"]["path"]).graph.node
           if n.op_type == "MatMul" and any(".dft_" in i for i in n.input)]
    assert len(dft) == 12 and set(dft) <= set(q["kept_float"]) and q["ops"]["quantized"].get("Conv", 0) > 10
    # and no spectrum is quantized: only the filter's input (the texture map, which the convs read quantized too)
    # reaches it through a DequantizeLinear, and no product's output is quantized
    graph = onnx.load(recs["onnx-int8"]["path"]).graph
    producer = {o: n.op_type for n in graph.node for o in n.output}
    chain = [n for n in graph.node if n.name in dft]
    from_dq = [n for n in chain if any(producer.get(i) == "DequantizeLinear" for i in n.input)]
    assert len(chain) == 12 and len(from_dq) <= 2
    assert all(any(i.endswith((".dft_wc", ".dft_ws")) for i in n.input) for n in from_dq)
    outs = {o for n in chain for o in n.output}
    assert not any(n.op_type == "QuantizeLinear" and n.input[0] in outs for n in graph.node)
    check = manifest.load(recs["tensorrt-fp16"]["path"])["export"]["tensorrt"]["operator_check"]
    assert check["ok"] and check["offenders"] == []
    for name in ("executorch-fp32", "executorch-int8"):
        text = json.dumps(manifest.load(recs[name]["path"])["export"])
        assert "fft" not in text.lower()
    core = recs["coreml-fp16"]
    assert core["ok"], core.get("error")
    assert manifest.load(core["path"])["model"]["name"] == "m2tr_b0"
