"""DFD-FCG completed (issue #21): landmark-aligned crops (edge_sdk.preprocess, align "keypoints") and the
facial-component guidance loss (edge_sdk.models.clip_fcg)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edge_sdk.errors import InputError
from edge_sdk.preprocess import MEAN_FACE, CropSpec

from tests.conftest import shared_path


def _similarity(angle_deg: float, scale: float, shift) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), shift[0]], [scale * np.sin(a), scale * np.cos(a), shift[1]]])


def test_alignment_is_the_least_squares_similarity_onto_the_template():
    spec = CropSpec(size=150, align="keypoints")
    target = np.asarray(MEAN_FACE) * 150
    # keypoints that are an exact similarity of the template: the transform undoes it, each point lands on its own
    M = _similarity(23.0, 1.7, (310.0, 95.0))
    kp = target @ M[:, :2].T + M[:, 2]
    np.testing.assert_allclose(spec.map_points(kp, None, (800, 600), kp), target, atol=1e-9)
    # noisy keypoints: the least-squares solution of the 4-parameter linear system, solved independently
    rng = np.random.default_rng(3)
    noisy = kp + rng.normal(0, 4, kp.shape)
    rows = []
    for (x, y), (u, v) in zip(noisy, target):
        rows += [([x, -y, 1, 0], u), ([y, x, 0, 1], v)]
    a, b, tx, ty = np.linalg.lstsq(np.array([r for r, _ in rows]), np.array([t for _, t in rows]), rcond=None)[0]
    np.testing.assert_allclose(spec.alignment(noisy), [[a, -b, tx], [b, a, ty]], atol=1e-9)


def test_aligned_crop_samples_at_pixel_centres():
    """Keypoints already on the template (the identity transform): the crop is the image's top-left corner, pixel
    for pixel, so no half-pixel shift creeps in; off the image the crop holds the pad value."""
    spec = CropSpec(size=40, align="keypoints", pad_value=7)
    img = np.random.default_rng(0).integers(0, 256, (60, 50, 3), dtype=np.uint8)
    kp = np.asarray(MEAN_FACE) * 40
    np.testing.assert_array_equal(spec.crop(img, None, kp), img[:40, :40])
    shifted = spec.crop(img, None, kp + (30, 0))  # the face 30 px right: crop columns 20-39 lie past the image
    np.testing.assert_array_equal(shifted[:, :20], img[:40, 30:50])
    assert (shifted[:, 20:] == 7).all()
    left, *rest = spec.crop_rect(None, (50, 60), kp + (30, 0))
    assert rest == [0, 50, 40] and left in (29, 30)  # 30 up to float noise in the inverse (floor of 29.99999...)


def test_aligned_spec_is_recorded_in_the_manifest_and_refuses_what_it_cannot_crop(tmp_path):
    from edge_sdk import manifest

    spec = CropSpec(size=150, align="keypoints")
    d = spec.to_dict()
    assert d["align"] == "keypoints" and d["template"] == [list(p) for p in MEAN_FACE]
    assert CropSpec.from_dict(json.loads(json.dumps(d))) == spec
    assert "align" not in CropSpec(size=150).to_dict()  # box crops: the manifest is what it was
    art = tmp_path / "m.onnx"
    art.write_bytes(b"x")
    m = manifest.build(art, model="clip_fcg_vit_b32", target="onnx", precision="fp32", crop=spec,
                       input_shape=[1, 3, 150, 150])
    assert CropSpec.from_dict(manifest.validate(m, "m")["crop"]) == spec
    with pytest.raises(manifest.ManifestError, match="align"):
        manifest.validate({**m, "crop": {**m["crop"], "align": "eyes"}}, "m")
    with pytest.raises(manifest.ManifestError, match="template"):
        manifest.validate({**m, "crop": {**m["crop"], "template": [[0.3, 0.3]] * 3}}, "m")
    with pytest.raises(InputError, match="needs the face's 4 keypoints"):
        spec.crop(np.zeros((100, 100, 3), np.uint8), (10, 10, 90, 90))
    with pytest.raises(InputError, match="coincide"):
        CropSpec(align="keypoints", template=((0.5, 0.5),) * 4)
    with pytest.raises(InputError, match="lies outside"):
        spec.crop(np.zeros((100, 100, 3), np.uint8), None, np.asarray(MEAN_FACE) * 20 + 5000)


CASES = [(0.0, (37, 21)), (12.0, (0, 0)), (-20.0, (15, -30)), (30.0, (5, 5))]


def test_aligned_crops_of_one_face_agree_in_shifted_and_rotated_frames():
    """One photo shifted and rotated. With the face's true keypoints carried into each frame, the aligned crops
    put them at the same crop pixels (within 0.01 px) and hold the same face (interpolation only); with the
    detector's own keypoints in each frame they agree as closely as BlazeFace's keypoints do, where box crops
    (which never rotate) drift by several times more."""
    from edge_sdk.faces import FaceDetector
    from edge_sdk.preprocess import load_image

    import cv2

    img = load_image(shared_path("samples", "western_real_1.JPG"))
    H, W = img.shape[:2]
    spec, box_spec = CropSpec(size=150, align="keypoints"), CropSpec(size=150)
    inner = (slice(25, 125), slice(25, 125))
    with FaceDetector() as det:
        f = det.detect(img)[0]
        kp0 = f.keypoints[:4].astype(np.float64)
        base, base_kp = spec.crop(img, f.box, kp0), spec.map_points(kp0, f.box, (W, H), kp0)
        base_box_kp = box_spec.map_points(kp0, f.box, (W, H))
        scale = float(np.hypot(*spec.alignment(kp0)[:, 0]))  # image px -> crop px
        for angle, shift in CASES:
            R = cv2.getRotationMatrix2D((W / 2, H / 2), angle, 1.0)
            R[:, 2] += shift
            moved = cv2.warpAffine(img, R, (W, H))
            truth = kp0 @ R[:, :2].T + R[:, 2]
            exact = spec.crop(moved, None, truth)
            np.testing.assert_allclose(spec.map_points(truth, None, (W, H), truth), base_kp, atol=0.01)
            assert np.abs(exact[inner].astype(int) - base[inner]).mean() < 3, (angle, shift)
            g = det.detect(moved)[0]
            found = g.keypoints[:4].astype(np.float64)
            detector_err = np.abs(found - truth).max() * scale  # BlazeFace's own error, in crop pixels
            aligned = np.abs(spec.map_points(truth, g.box, (W, H), found) - base_kp).max()
            boxed = np.abs(box_spec.map_points(truth, g.box, (W, H)) - base_box_kp).max()
            assert aligned <= detector_err + 0.5, (angle, shift, aligned, detector_err)
            if angle:
                assert boxed > 2 * aligned, (angle, shift, boxed, aligned)


# -- facial-component guidance ------------------------------------------------------------------------------------

def _tiny_clip(**kw):
    from edge_sdk.models import create_model

    return create_model("clip_fcg_vit_b16", num_frames=2,
                        clip_kwargs=dict(depth=2, embed_dim=64, num_heads=2, img_size=64), **kw)


def test_part_masks_sit_on_the_parts_and_skin_avoids_them():
    from edge_sdk.models.clip_fcg import FACIAL_COMPONENTS, part_masks

    kp = torch.tensor([[[70.0, 90.0], [154.0, 90.0], [116.0, 130.0], [116.0, 170.0]]])  # a frontal face at 224
    masks = part_masks(kp, (14, 14), (224, 224))  # ViT-B/16's grid
    assert masks.shape == (1, 4, 196)
    torch.testing.assert_close(masks.sum(-1), torch.ones(1, 4))
    peak = {p: divmod(int(masks[0, i].argmax()), 14) for i, p in enumerate(FACIAL_COMPONENTS)}  # (row, col)
    assert peak["lips"] == (170 // 16, 116 // 16) and peak["nose"] == (130 // 16, 116 // 16)
    assert peak["eyes"][0] == 90 // 16 and peak["eyes"][1] in (70 // 16, 154 // 16)
    skin = masks[0, 1].reshape(14, 14)
    assert skin[90 // 16, 70 // 16] < 0.2 * skin.max() and skin[130 // 16, 70 // 16] > 0.5 * skin.max()  # cheek
    coarse = part_masks(kp, (7, 7), (224, 224))[0]  # B/32's 7 x 7 grid: the parts still fall apart
    peaks = {int(coarse[i].argmax()) for i in (0, 2, 3)}  # lips, eyes, nose
    assert len(peaks) == 3 and float(coarse[1, list(peaks)].sum()) < 0.1
    with pytest.raises(InputError, match="keypoints shaped"):
        part_masks(torch.zeros(1, 3, 2), (7, 7), (224, 224))


def test_guidance_loss_moves_each_query_toward_its_own_part():
    torch.manual_seed(0)
    model = _tiny_clip()
    frames = torch.randn(6, 3, 64, 64)
    kp = torch.tensor([[20.0, 24.0], [44.0, 24.0], [32.0, 36.0], [32.0, 48.0]]).expand(6, 4, 2)
    feats = model.part_features(frames, kp)
    assert feats.shape == (2, 4, 64)
    model.set_face_features(feats, init_queries=False)
    with pytest.raises(InputError, match="layers, parts, D"):
        model.set_face_features(feats[:1])

    def cos():
        q = torch.stack([s.queries.detach() for s in model.side])
        return torch.nn.functional.normalize(q, dim=-1) @ torch.nn.functional.normalize(feats, dim=-1).transpose(1, 2)

    before, loss0 = cos(), float(model.guidance_loss().detach())
    opt = torch.optim.SGD([s.queries for s in model.side], lr=0.5)
    for _ in range(60):
        opt.zero_grad()
        model.guidance_loss(temperature=30.0).backward()
        opt.step()
    after = cos()
    diag = torch.arange(4)
    assert (after[:, diag, diag] > before[:, diag, diag] + 0.05).all()  # each query closer to its own part
    assert (after.argmax(-1) == diag).all()  # and closer to it than to any other part
    assert float(model.guidance_loss().detach()) < 0.5 * loss0
    model.set_face_features(feats)  # DFD-FCG starts its queries at the part features
    assert all(torch.equal(s.queries.detach(), f) for s, f in zip(model.side, feats))


def test_trainer_sets_part_features_from_real_crops_and_adds_the_guidance_loss(tmp_path):
    """edge-sdk train with guidance: the targets come from the index's real crops and their keypoints, and the
    loss grows by weight x the guidance term (checked on one batch against the model's own guidance_loss)."""
    from edge_sdk.distill.config import TrainConfig
    from edge_sdk.distill.prepare import prepare
    from edge_sdk.distill.train import Trainer

    table = tmp_path / "list.csv"
    table.write_text(f"path,label,split\n{shared_path('samples', 'western_real.mp4')},real,train\n"
                     f"{shared_path('samples', 'western_fake.mp4')},real,val\n")
    report = prepare(table, tmp_path / "index", frames=6, size=64, align="keypoints", progress=False)
    assert report["crop_spec"]["align"] == "keypoints"
    from edge_sdk.distill.data import read_rows

    kps = np.stack([r["kp"][:4] for r in read_rows(tmp_path / "index", "train")])
    residual = np.abs(kps - np.asarray(MEAN_FACE) * 64).max()
    assert residual < 8, residual  # aligned crops: every face's keypoints near the mean face (a 64 px crop)
    kw = dict(num_frames=2, clip_kwargs=dict(depth=2, embed_dim=64, num_heads=2, img_size=64))
    common = dict(model="clip_fcg_vit_b16", model_kwargs=kw, index=str(tmp_path / "index"), img_size=64, frames=2,
                  batch_size=2, steps_per_epoch=1, epochs=1, ckpt_every=0, augment=0.0, pseudo_fakes="sbi")
    with pytest.raises(InputError, match="no facial-component queries"):
        Trainer(TrainConfig(**{**common, "model": "resnet10t", "model_kwargs": {}}, guidance_weight=1.5,
                            out=str(tmp_path / "x")))
    trainer = Trainer(TrainConfig(**common, guidance_weight=1.5, out=str(tmp_path / "g")))
    ds = trainer.dataset("train", True)
    trainer.set_face_guidance(ds, init_queries=True, tell=lambda *a: None)
    assert trainer.module.face_features.shape == (2, 4, 64)
    x, y, idx = (torch.stack([ds[i][k] for i in range(2)]) if k < 2 else [ds[i][2] for i in range(2)]
                 for k in range(3))
    with_g, _ = trainer.loss_fn(trainer.model, x, y, idx, ds, None)
    trainer.guidance, g = None, float(trainer.module.guidance_loss(30.0))
    plain, _ = trainer.loss_fn(trainer.model, x, y, idx, ds, None)
    assert float(with_g) == pytest.approx(float(plain) + 1.5 * g, rel=1e-5)
    result = Trainer(TrainConfig(**common, guidance_weight=1.5, out=str(tmp_path / "run"))).run()
    assert np.isfinite(result["history"][-1]["train_loss"])
    from edge_sdk.models import load

    ck = torch.load(tmp_path / "run" / "best.pt", map_location="cpu", weights_only=False)
    assert ck["crop_align"]["align"] == "keypoints" and "face_features" not in ck["model"]
    assert load(str(tmp_path / "run" / "best.pt")).crop.align == "keypoints"  # detect crops as training did
