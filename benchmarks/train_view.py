"""How far what training sees is from what ``detect`` sees, for the same face in the same frame.

``detect`` crops the face from the frame straight to the model size (the crop spec, bilinear). Training reads the
crop ``prepare`` stored (the same crop spec at the prepared size, saved as JPEG quality 95) and brings it to the
model size with the same crop-spec resize. This measures, on frames of the sample videos, the pixel difference of
the two model inputs and the logit difference of MS-Eff-GCViT B0 (seeded random init, so the figure says how much
the two views differ for the network, not what a trained model decides) beside the spread of its logits over the
same faces.

    python -m edge_sdk.benchmarks.train_view --videos ../shared/samples/western_real.mp4 --out runs/train_view
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def measure(videos: list[str], frames: int = 8, model: str = "ms_eff_gcvit_b0", prepared_size: int = 384) -> dict:
    import cv2
    import torch

    from edge_sdk.faces import FaceDetector
    from edge_sdk.models import load
    from edge_sdk.preprocess import CropSpec
    from edge_sdk.video import sample_frames

    loaded = load(model, seed=0)
    spec = loaded.crop
    stored_spec = CropSpec(size=prepared_size, margin=spec.margin, align=spec.align, template=spec.template)
    to_model = CropSpec(size=spec.size, margin=0.0)
    runtime, training = [], []
    with FaceDetector(mode="video") as det:
        for v in videos:
            for _, _, ts, rgb in sample_frames(v, frames=frames):
                faces = det.detect(rgb, timestamp_ms=ts)
                if not faces:
                    continue
                box, kp = faces[0].box, faces[0].keypoints
                runtime.append(spec.crop(rgb, box, kp))
                ok, buf = cv2.imencode(".jpg", cv2.cvtColor(stored_spec.crop(rgb, box, kp), cv2.COLOR_RGB2BGR),
                                       [cv2.IMWRITE_JPEG_QUALITY, 95])  # as prepare writes it
                stored = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                training.append(to_model.crop(stored, (0, 0, stored.shape[1], stored.shape[0])))
    a, b = np.stack(runtime), np.stack(training)
    with torch.no_grad():
        za = loaded.model(torch.from_numpy(spec.to_tensor(a))).reshape(-1).numpy()
        zb = loaded.model(torch.from_numpy(spec.to_tensor(b))).reshape(-1).numpy()
    d = np.abs(za - zb)
    px = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return {"model": model, "weights": "random init, torch seed 0", "faces": int(len(a)), "videos": videos,
            "prepared_size": prepared_size, "model_size": spec.size,
            "max_abs_logit": float(d.max()), "mean_abs_logit": float(d.mean()),
            "logit_spread_over_faces": float(np.ptp(za)), "mean_abs_pixel": float(px.mean()),
            "p99_abs_pixel": float(np.percentile(px, 99))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--videos", nargs="+", required=True)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--out", default="runs/train_view")
    args = p.parse_args(argv)
    from edge_sdk.fileio import to_json, write_atomic

    from .machine import machine

    r = {**measure(args.videos, args.frames), "machine": machine()}
    write_atomic(Path(args.out) / "train_view.json", to_json(r, indent=2) + "\n")
    print(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
