"""Bundles: one model exported as several artifacts that run in order (Megatron: depth -> embedder -> head).

    out/<target>-<precision>/<model>.bundle/            the bundle (a folder artifact; the bundle manifest is beside it)
        depth/<model>_depth.<ext>     + manifest.json    crops (N, 3, S, S) in [0, 1] -> depth maps (N, 3, S, S)
        embedder/<model>_embedder.<ext> + manifest.json  crops or depth maps (N, 3, S, S) -> embeddings (N, D)
        head/<model>_head.<ext>       + manifest.json    packed (N, T, 2D + 1) = [RGB | depth | valid] -> logit (N, 1)

A model is a bundle when its card names its parts (``Card.bundle``) and its module gives them (``parts()``). Each
part goes through the target's own exporter, gets its own manifest (``part``: which bundle, which part) and its own
parity against the PyTorch part on the parity set's frames (depth, embedder) and on packed clips with masked frames
(head). The bundle manifest (written by the exporter like any other) adds ``bundle``: the parts, how they connect,
T, the stride, the fewest valid frames a clip is scored with and what a masked slot holds; its parity is the whole
chain through :class:`edge_sdk.backends.bundle.BundleBackend` against the whole PyTorch model.

Post-training int8 of a bundle needs calibration data per part (crops, depth maps, packed embeddings): not built;
the card names the int8 rows as known not to export.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from edge_sdk import manifest
from edge_sdk.errors import EdgeSDKError
from edge_sdk.manifest import DEPTH_MEANING, EMBEDDING_MEANING, OUTPUT_MEANING

from .prepare import Prepared

MEANING = {"depth": DEPTH_MEANING, "embedder": EMBEDDING_MEANING, "head": OUTPUT_MEANING}
PARITY_FRAMES = 32  # frames of the parity clips the depth and embedder parts are checked on


@dataclass
class PartPrepared(Prepared):
    """One part of a bundle, prepared as the exporters expect a model: its own input shape."""

    part: str = ""
    shape: tuple = field(default_factory=tuple)

    def signature(self) -> dict:
        stream = {"name": "packed: rgb embedding, depth embedding, valid", "channels": self.shape[-1]} \
            if len(self.shape) == 2 else {"name": "rgb or depth map" if self.part == "embedder" else "rgb",
                                          "channels": self.shape[0]}
        return {"kind": "part", "shape": list(self.shape), "streams": [stream]}

    def input_shape(self, batch="batch") -> list:
        return [batch, *self.shape]

    def example(self, batch: int = 1) -> torch.Tensor:
        return torch.zeros(batch, *self.shape)


def part_shapes(prep: Prepared) -> dict[str, tuple]:
    """Each part's input shape (without batch), from the clip signature and the head's width."""
    T, _, H, W = prep.signature()["shape"]
    d = prep.module.head.d_model
    return {"depth": (3, H, W), "embedder": (3, H, W), "head": (T, 2 * d + 1)}


def compare_outputs(reference: np.ndarray, got: np.ndarray, target) -> dict:
    """A part's outputs against PyTorch's: max |d| relative to the reference's largest value, held to the row's
    logit limit (fp32 1e-3, ExecuTorch 1e-4, fp16 2e-2), and the worst cosine."""
    ref, out = np.asarray(reference, np.float64).reshape(len(reference), -1), np.asarray(got, np.float64).reshape(
        len(got), -1)
    if ref.shape != out.shape or not np.isfinite(out).all():
        return {"passed": False, "failures": [f"outputs shaped {out.shape} (finite: {bool(np.isfinite(out).all())}), "
                                              f"the reference {ref.shape}"]}
    d = float(np.abs(ref - out).max())
    rel = d / max(float(np.abs(ref).max()), 1e-12)
    cos = float(np.min((ref * out).sum(1) / np.maximum(np.linalg.norm(ref, axis=1) * np.linalg.norm(out, axis=1),
                                                        1e-12)))
    limit = float(target.parity.get("max_abs_logit", 2e-2))
    ok = rel <= limit
    return {"n": int(len(ref)), "max_abs": d, "max_rel": rel, "min_cosine": cos, "limits": {"max_rel": limit},
            "passed": ok, **({} if ok else {"failures": [f"max relative error {rel:.2e} > {limit:.0e}"]})}


def part_inputs(prep: Prepared, clips: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Each part's parity inputs from the parity clips, made by the PyTorch parts: the clips' frames (depth), those
    frames and their depth maps (embedder), and packed clips with about a third of the frames masked (head)."""
    from edge_sdk.models.megatron import pack

    m = prep.module
    n, T = clips.shape[:2]
    frames = torch.from_numpy(clips.reshape(-1, *clips.shape[2:]))
    pick = np.linspace(0, len(frames) - 1, min(PARITY_FRAMES, len(frames))).round().astype(int)
    with torch.no_grad():
        depth = m.depth(frames)  # once: the depth part's inputs are some of these frames, the embedder takes all
        emb = m.embedder(torch.cat([frames, depth]))
        rgb_e, depth_e = emb[:len(frames)], emb[len(frames):]
        rng = np.random.default_rng(seed)
        valid = torch.from_numpy((rng.random((n, T)) > 0.33).astype(np.float32))
        valid[:, 0] = 1.0  # every clip keeps a valid frame
        valid[: max(1, n // 2)] = 1.0  # and half of them are whole
        packed = pack(rgb_e.view(n, T, -1), depth_e.view(n, T, -1), valid)
    return {"depth": frames[pick].numpy(), "embedder": torch.cat([frames[pick], depth[pick]]).numpy(),
            "head": packed.numpy()}


def build(prep: Prepared, path: Path, target, opts, ctx) -> dict:
    """Export each part of ``prep``'s bundle to ``target`` under ``path`` (a folder), each with its manifest and
    parity; returns the export info, whose ``bundle`` entry becomes the bundle manifest's."""
    from edge_sdk import load
    from edge_sdk.fileio import atomic_path

    from .verify import compare, reference_logits, reference_outputs

    card = prep.card
    modules = prep.module.parts()
    shapes = part_shapes(prep)
    if list(modules) != list(card.bundle):
        raise EdgeSDKError(f"{prep.name}: its module gives parts {list(modules)}, its card names {list(card.bundle)}")
    parity_clips = ctx.get("parity_clips")
    parity_clips = None if parity_clips is None else parity_clips[:16]  # the parts' reference runs every frame
    inputs = part_inputs(prep, parity_clips) if parity_clips is not None and not target.unavailable() else None
    parts, steps = [], {}
    with atomic_path(path) as tmp, tempfile.TemporaryDirectory(prefix="edge-sdk-bundle-") as work:
        tmp.mkdir(parents=True)
        for name, module in modules.items():
            part = PartPrepared(name=f"{prep.name}_{name}", module=module.eval(), crop=prep.crop, loaded=prep.loaded,
                                part=name, shape=shapes[name])
            folder = tmp / name
            folder.mkdir()
            art = folder / f"{part.name}{target.suffix}"
            part_ctx = {"calib": None, "workdir": str(Path(work) / name)}
            Path(part_ctx["workdir"]).mkdir()
            info = target.load_exporter()(part, art, target, opts, part_ctx)
            post = info.pop("post_manifest", None)
            steps[name] = info.get("steps", {})
            batch = "batch" if opts.dynamic_batch and target.backend == "onnxruntime" else 1
            m = manifest.build(art, model=part.name, target=target.manifest_target or target.format,
                               precision=target.precision, target_name=target.name, crop=prep.crop,
                               input_shape=part.input_shape(batch), signature=part.signature(), threshold=0.5, checkpoint=prep.checkpoint,
                               export=info, card=card.to_manifest(prep.loaded.tag), weights=prep.loaded.weights_record(),
                               meaning=MEANING[name], output_name=name)
            m["part"] = {"bundle": path.name, "name": name}
            parity: dict | None = {"status": "not run here", "reason": target.unavailable(),
                                   "elsewhere": target.elsewhere} if inputs is None else None
            if inputs is not None:
                manifest.write(m, folder / "manifest.json")
                x = inputs[name]
                with load(art) as backend:
                    got = backend.outputs(x)
                if name == "head":
                    ref = reference_logits(module, x)
                    result = compare(ref, got.reshape(-1), target)
                else:
                    result = compare_outputs(reference_outputs(module, x, batch=8), got, target)
                parity = {"status": "passed" if result["passed"] else "failed", "backend": backend.name, **result}
            m["parity"] = parity
            manifest.write(m, folder / "manifest.json")
            if post is not None:
                post()
            parts.append({"name": name, "path": f"{name}/{art.name}", "input_shape": part.input_shape("batch"),
                          "parity": {k: parity.get(k) for k in ("status", "max_abs", "max_rel", "max_abs_logit",
                                                                "agreement") if k in parity}})
    d = prep.module.head.d_model
    T, _, H, W = prep.signature()["shape"]
    bundle = {"parts": parts, "frames": int(T), "stride": int(prep.signature().get("stride") or 1),
              "min_valid": max(1, math.ceil((card.min_valid or 1.0) * T)), "pad_value": 0.0,
              "connect": {"depth": "each clip frame (N*T, 3, H, W) -> depth map",
                          "embedder": "each frame, then each depth map -> RGB and depth embeddings (N*T, D)",
                          "head": f"[RGB embeddings | depth embeddings | valid] per frame -> (N, T, {2 * d + 1}); a "
                                  "frame without a face has zeros and valid 0",
                          "embedding_dim": int(d), "crop_size": [int(H), int(W)]}}
    return {"steps": steps, "bundle": bundle}
