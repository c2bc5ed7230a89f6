"""Write the demo apps' benchmark crop and its host reference logit, using the Python runtime.

    python -m edge_sdk.benchmarks.device_crop android_demo/app/src/main/assets/executorch-int8 \
        --image ../shared/samples/western_real_1.JPG

reads ``<export dir>/manifest.json``, finds the largest face in ``--image`` with the runtime's
BlazeFace detector, cuts it with the manifest's crop spec and writes, into ``--out`` (default: the
export folder's parent, i.e. the app's assets folder):

* ``bench_crop.png``  the uint8 RGB crop, ``crop.size`` square, exactly as the runtime feeds it;
* ``bench_crop.json`` the artifact's sha256, the face box, and the logit the Python runtime gets
  for this crop from the same artifact, or from ``--reference`` (another export of the same
  weights with the same crop spec, e.g. ONNX fp32 for a Core ML package, which cannot predict on
  Linux); null when neither runs here. The benchmark screens show the device-vs-host difference.

Used by both demos (ios_demo/README.md passes ``--out`` for its resources folder).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("export_dir", type=Path, help="folder written by edge-sdk export (manifest.json + artifact)")
    ap.add_argument("--image", type=Path, required=True, help="a photo with a face")
    ap.add_argument("--out", type=Path, default=None, help="where to write bench_crop.* (default: export_dir/..)")
    ap.add_argument("--reference", type=Path, default=None,
                    help="artifact that gives the host logit instead (same weights and crop spec, runs here)")
    args = ap.parse_args(argv)

    import numpy as np
    from PIL import Image

    import edge_sdk
    from edge_sdk import manifest as mf
    from edge_sdk.faces import FaceDetector
    from edge_sdk.preprocess import CropSpec, load_image

    mpath = args.export_dir / "manifest.json"
    m = mf.validate(json.loads(mpath.read_text()), str(mpath))
    spec = CropSpec.from_dict(m["crop"])
    rgb = load_image(args.image)
    with FaceDetector() as det:
        faces = det.detect(rgb)
    if not faces:
        print(f"{args.image}: no face found; pick another photo", file=sys.stderr)
        return 1
    box = faces[0].box
    crop = spec.crop(rgb, box, faces[0].keypoints)
    out = args.out or args.export_dir.parent
    out.mkdir(parents=True, exist_ok=True)
    Image.fromarray(crop).save(out / "bench_crop.png")

    artifact = args.export_dir / m["artifact"]["file"]
    if args.reference is not None:
        ref_crop = mf.load(args.reference, verify_sha256=False)["crop"]
        if CropSpec.from_dict(ref_crop) != spec:
            print(f"{args.reference}: its crop spec differs from {mpath}'s; the logits would not be comparable",
                  file=sys.stderr)
            return 1
        artifact = args.reference
    record = {"artifact_sha256": m["artifact"]["sha256"], "model": m["model"]["name"], "target": m["target"],
              "precision": m["precision"], "image": args.image.name, "box": [round(float(v), 3) for v in box],
              "keypoints": np.round(faces[0].keypoints[:4], 3).tolist(),
              "crop_size": spec.size, "logit": None, "backend": None}
    try:
        with edge_sdk.load(artifact) as backend:
            record["logit"] = float(np.asarray(backend.predict(spec.to_tensor(crop))).reshape(-1)[0])
            record["backend"] = f"{backend.name} ({backend.device})"
    except Exception as err:  # e.g. Core ML cannot predict on Linux: the crop is still useful for latency
        record["reference_error"] = f"{type(err).__name__}: {err}"[:300]
    (out / "bench_crop.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
