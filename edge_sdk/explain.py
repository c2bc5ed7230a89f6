"""Where the detector looks: class-activation heatmaps per face, per branch, with the `grad-cam` package.

    edge-sdk explain photo.jpg clip.mp4 --model ms_eff_gcvit_b0.bin --branch high --method gradcam++ --out explain/

Each face is found and cropped exactly as the runtime does (MediaPipe + the model's crop spec),
scored by the PyTorch model, and explained on that crop. What the project supplies are the
target layers and the reshape of token maps; the CAM methods are pytorch-grad-cam's:

* MS-Eff-GCViT: ``low`` and ``high`` are the two global-context ViT branches, read at the
  branch's final norm, a channels-last token map (B, h, w, C) turned into (B, C, h, w);
  ``backbone`` is the EfficientNet's last feature stage. DeepGuard shows HiResCAM,
  GradCAM-elementwise and LayerCAM on the low branch, EigenGradCAM, GradCAM++ and XGradCAM on
  the high one; the defaults follow that (``hirescam`` low, ``gradcam++`` high).
* RepViT: ``last``, its final stage.

Heatmaps need gradients, so an exported artifact (.onnx, .pte, .engine, .mlpackage) is explained
through the PyTorch checkpoint its manifest records (or ``weights=``). The target is P(fake):
the gradient of the fake logit. Videos: the faces of the ``top`` most suspicious sampled frames.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import EdgeSDKError, InputError

METHODS = {"gradcam": "GradCAM", "gradcam++": "GradCAMPlusPlus", "hirescam": "HiResCAM",
           "gradcam-elementwise": "GradCAMElementWise", "layercam": "LayerCAM", "eigengradcam": "EigenGradCAM",
           "xgradcam": "XGradCAM", "eigencam": "EigenCAM", "scorecam": "ScoreCAM", "ablationcam": "AblationCAM"}


def _channels_last_to_nchw(t):
    return t.permute(0, 3, 1, 2)


def _tokens_to_nchw(prefix: int):
    """A ViT's token sequence (B, prefix + h*w, C) -> (B, C, h, w), the class/register tokens dropped."""
    def reshape(t):
        grid = int(round((t.shape[1] - prefix) ** 0.5))
        return t[:, prefix:].reshape(t.shape[0], grid, grid, t.shape[2]).permute(0, 3, 1, 2)
    return reshape


def branches(card) -> list[str]:
    """The branches a model's card offers to explain, the default first."""
    return list(card.explain)


def target_layer(model, card, branch: str):
    """(layer, reshape transform) for ``branch``, read from the card; an unknown branch names the ones it has."""
    have = branches(card)
    if branch not in have:
        raise InputError(f"{card.name} has no branch {branch!r} to explain: it has {', '.join(have) or 'none'}")
    spec = card.explain[branch]
    layer = model.get_submodule(spec.module)
    reshape = {"nchw": None, "nhwc": _channels_last_to_nchw}.get(spec.layout)
    if spec.layout == "tokens":
        reshape = _tokens_to_nchw(int(getattr(model, "num_prefix_tokens", 1)))
    return layer, reshape


def load_model(model, weights: str | Path | None = None, arch: str | None = None):
    """The PyTorch model behind a module, a zoo name, a checkpoint or an exported artifact (its manifest's
    checkpoint, or ``weights``), through the one loader."""
    from .models import load
    from .models.loader import exported_suffixes

    p = Path(str(model))
    try:
        return load(model, weights=weights, model=arch)
    except InputError as err:
        if p.suffix.lower() in exported_suffixes():
            raise InputError(f"{p} is an exported artifact: heatmaps need gradients, so they are made with the PyTorch "
                             f"model, and {err}") from None
        raise


@dataclass
class Explanation:
    crop: np.ndarray      # (S, S, 3) uint8, as the model saw it
    heatmap: np.ndarray   # (S, S) float32 in [0, 1]
    logit: float

    @property
    def p_fake(self) -> float:
        return float(1 / (1 + np.exp(-self.logit)))

    def overlay(self) -> np.ndarray:
        from pytorch_grad_cam.utils.image import show_cam_on_image

        return show_cam_on_image(self.crop.astype(np.float32) / 255, self.heatmap, use_rgb=True)


class Explainer:
    """Heatmaps for face crops: ``explain_crops(uint8 (N, S, S, 3)) -> [Explanation]``."""

    def __init__(self, model, weights=None, method: str | None = None, branch: str | None = None,
                 arch: str | None = None):
        loaded = load_model(model, weights, arch)
        self.model, self.name, self.card, self.trained = loaded.model.eval(), loaded.name, loaded.card, loaded.trained
        have = branches(self.card)
        if not have:
            raise InputError(f"{self.name}: its card names no layer to explain ({self.card.family} models are not "
                             "supported by explain)")
        self.branch = branch or have[0]
        if self.branch not in have:
            raise InputError(f"{self.name} has no branch {self.branch!r} to explain: it has {', '.join(have)}")
        self.method = method or self.card.explain[self.branch].method
        if self.method not in METHODS:
            raise InputError(f"unknown CAM method {self.method!r}: choose one of {', '.join(METHODS)}")
        self.layer, self.reshape = target_layer(self.model, self.card, self.branch)
        self.spec = loaded.crop

    def scores(self, crops: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.model(torch.from_numpy(self.spec.to_tensor(crops))).reshape(-1).numpy()

    def explain_crops(self, crops: np.ndarray) -> list[Explanation]:
        import pytorch_grad_cam
        import torch
        from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget

        if len(crops) == 0:
            return []
        x = torch.from_numpy(self.spec.to_tensor(crops))
        cls = getattr(pytorch_grad_cam, METHODS[self.method])
        with cls(model=self.model, target_layers=[self.layer], reshape_transform=self.reshape) as cam:
            maps = cam(input_tensor=x, targets=[BinaryClassifierOutputTarget(1)] * len(crops))
        logits = self.scores(crops)
        return [Explanation(c, np.nan_to_num(m.astype(np.float32)), float(z)) for c, m, z in zip(crops, maps, logits)]


def randomized_head_correlations(ex: Explainer, crops: np.ndarray, seeds=(1, 2, 3)) -> list[float]:
    """Adebayo et al. (2018)'s model-randomisation check: the correlation of each heatmap with the heatmap
    of the same model whose classifier head was re-drawn at random (one value per seed, faces pooled).
    A method that explains the model gives low correlations; a map that only shows the input edges does
    not. A randomised model whose map is constant counts as 0 (nothing of the original map left)."""
    import copy

    import torch

    base = np.stack([e.heatmap for e in ex.explain_crops(crops)]).ravel()
    out = []
    for seed in seeds:
        model = copy.deepcopy(ex.model)
        g = torch.Generator().manual_seed(seed)
        heads = [getattr(model, n) for n in ("head", "head_dist") if isinstance(getattr(model, n, None), torch.nn.Module)]
        with torch.no_grad():
            for layer in (m for h in heads for m in h.modules() if isinstance(m, torch.nn.Linear)):
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=g) * float(layer.weight.std()))
        other = Explainer(model, method=ex.method, branch=ex.branch, arch=ex.name)
        maps = np.stack([e.heatmap for e in other.explain_crops(crops)]).ravel()
        out.append(0.0 if maps.std() == 0 or base.std() == 0 else float(np.corrcoef(base, maps)[0, 1]))
    return out


def _png(path: Path, rgb: np.ndarray) -> str:
    import cv2

    from .fileio import write_atomic

    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(f"{path}: PNG encoding failed")
    write_atomic(path, buf.tobytes())
    return path.name


def _read_png(path: str) -> np.ndarray:
    import cv2

    return cv2.cvtColor(cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _colormap(heat: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(cv2.applyColorMap(np.uint8(255 * np.clip(heat, 0, 1)), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)


def _faces_of_image(ex: Explainer, rgb: np.ndarray, det) -> tuple[list, np.ndarray]:
    faces = det.detect(rgb)
    crops = np.stack([ex.spec.crop(rgb, f.box, f.keypoints) for f in faces]) if faces else np.zeros((0, 1, 1, 3), np.uint8)
    return faces, crops


def explain_path(ex: Explainer, path: Path, out: Path, det, frames: int = 16, top: int = 4) -> dict:
    """Explain one image (every face) or video (faces of the ``top`` most suspicious of ``frames`` sampled)."""
    from .pipeline import media_kind
    from .preprocess import load_image
    from .video import sample_frames

    kind = media_kind(path)
    items = []  # (frame index or None, face, crop)
    if kind == "image":
        faces, crops = _faces_of_image(ex, load_image(path), det)
        items = [(None, f, c) for f, c in zip(faces, crops)]
    else:
        scored = []
        for _, index, _, rgb in sample_frames(path, frames=frames):
            faces, crops = _faces_of_image(ex, rgb, det)
            if faces:
                scored.append((float(ex.scores(crops).max()), index, faces, crops))
        for _, index, faces, crops in sorted(scored, key=lambda s: -s[0])[:top]:
            items += [(index, f, c) for f, c in zip(faces, crops)]
    record = {"path": str(path), "kind": kind, "model": ex.name, "branch": ex.branch, "method": ex.method,
              "faces": []}
    if not items:
        record["verdict"] = "no_face"
        return record
    explanations = ex.explain_crops(np.stack([c for _, _, c in items]))
    out.mkdir(parents=True, exist_ok=True)
    for i, ((index, face, _), e) in enumerate(zip(items, explanations)):
        stem = (f"frame{index:05d}_" if index is not None else "") + f"face{i}"
        record["faces"].append({
            "frame": index, "box": [round(float(v), 1) for v in face.box], "p_fake": e.p_fake, "logit": e.logit,
            "crop": str(out / _png(out / f"{stem}_crop.png", e.crop)),
            "heatmap": str(out / _png(out / f"{stem}_heatmap.png", _colormap(e.heatmap))),
            "overlay": str(out / _png(out / f"{stem}_overlay.png", e.overlay())),
            "heatmap_stats": {"min": float(e.heatmap.min()), "max": float(e.heatmap.max()),
                              "mean": float(e.heatmap.mean())}})
    return record


def to_html(records: list[dict], root: Path) -> str:
    def rel(p: str) -> str:
        return html.escape(str(Path(p).relative_to(root)))

    rows = []
    for r in records:
        title = html.escape(Path(r["path"]).name)
        if r.get("error"):
            rows.append(f"<h2>{title}</h2><p class='error'>{html.escape(r['error'])}</p>")
            continue
        sanity = r.get("randomized_head_correlation")
        check = (f"; model-randomisation check: correlation with random-head maps "
                 f"{', '.join(f'{c:.2f}' for c in sanity)}" if sanity else "")
        rows.append(f"<h2>{title}</h2><p>{html.escape(r['model'])}, branch <b>{html.escape(r['branch'])}</b>, "
                    f"{html.escape(r['method'])}{check}</p>")
        if not r["faces"]:
            rows.append("<p>no face found</p>")
            continue
        rows.append("<table><tr><th>face</th><th>P(fake)</th><th>crop</th><th>heatmap</th><th>overlay</th></tr>")
        for i, f in enumerate(r["faces"]):
            where = f"frame {f['frame']}, " if f["frame"] is not None else ""
            rows.append(f"<tr><td>{where}face {i}</td><td>{f['p_fake']:.3f}</td>"
                        + "".join(f"<td><img src='{rel(f[k])}' alt='{k}' width='160'></td>"
                                  for k in ("crop", "heatmap", "overlay")) + "</tr>")
        rows.append("</table>")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>edge-sdk explain</title><style>"
            "body{font-family:sans-serif;margin:2em}td,th{padding:4px 8px;text-align:center}.error{color:#b00}"
            "</style></head><body><h1>Where the detector looks</h1>"
            "<p>Class-activation heatmaps of P(fake) on each face crop, as the model saw it.</p>"
            + "\n".join(rows) + "</body></html>\n")


def explain(paths, model, out: str | Path = "explain", weights=None, method: str | None = None,
            branch: str | None = None, arch: str | None = None, frames: int = 16, top: int = 4,
            face_model: str | None = None, min_confidence: float = 0.5, sanity: bool = False,
            progress: bool = False) -> list[dict]:
    """``edge-sdk explain``: one record per input (faces with P(fake) and PNG paths); writes index.html and
    explain.json in ``out``. A bad input gets an error record and the others go on. ``sanity``: add the
    model-randomisation correlations (:func:`randomized_head_correlations`) per input. ``progress``: a line per
    input on stderr (a video's heatmaps take seconds each on a CPU)."""
    import sys

    from .console import StatusLines
    from .faces import FaceDetector
    from .fileio import to_json, write_atomic
    from .pipeline import annotation_names, expand_paths

    out = Path(out)
    ex = Explainer(model, weights, method, branch, arch)
    if not ex.trained:
        print(f"edge-sdk explain: {ex.name} has random weights: its heatmaps explain an untrained model",
              file=sys.stderr)
    files = expand_paths(paths)
    records = []
    lines = StatusLines(sys.stderr) if progress else None
    with FaceDetector(face_model, min_confidence=min_confidence) as det:
        for k, (f, name) in enumerate(zip(files, annotation_names(files, out))):
            folder = name.with_name(name.name.replace(".annotated", ""))
            if lines is not None:
                lines.write(f"[explain {100 * k / max(1, len(files)):3.0f}%] {k + 1}/{len(files)} {f.name}: faces and "
                            f"{ex.method} heatmaps", transient=True)
            try:
                record = explain_path(ex, f, folder, det, frames=frames, top=top)
                if sanity and record["faces"]:
                    crops = np.stack([_read_png(face["crop"]) for face in record["faces"]])
                    record["randomized_head_correlation"] = randomized_head_correlations(ex, crops)
                records.append(record)
            except Exception as err:  # recorded; the other inputs go on
                records.append({"path": str(f), "error": f"{type(err).__name__}: {err}"})
    if lines is not None:
        lines.write(f"[explain 100%] {len(files)} inputs explained")
    write_atomic(out / "explain.json", to_json(records, indent=2) + "\n")
    write_atomic(out / "index.html", to_html(records, out))
    return records


def add_explanations(records: list[dict], out, model, weights=None, face_model: str | None = None,
                     min_confidence: float = 0.5) -> None:
    """Heatmaps for the inputs detect scored; a failure is recorded in each record, detection results stay."""
    from .backends import Backend

    model = model.path if isinstance(model, Backend) else model
    files = [Path(r["path"]) for r in records]
    ok = [f for f, r in zip(files, records) if r["ok"]]
    try:
        done = {r["path"]: r for r in explain(ok, model, out=out, weights=weights, face_model=face_model,
                                              min_confidence=min_confidence)}
    except EdgeSDKError as err:
        done, error = {}, str(err)
    else:
        error = None
    for f, r in zip(files, records):
        if not r["ok"]:
            continue
        e = done.get(str(f))
        if e is None or "error" in e:
            r["explanation"] = {"error": error or (e or {}).get("error", "not explained")}
        else:
            r["explanation"] = {"html": str(Path(out) / "index.html"), "branch": e["branch"], "method": e["method"],
                                "faces": [{k: face[k] for k in ("frame", "box", "p_fake", "overlay")}
                                          for face in e["faces"]]}
