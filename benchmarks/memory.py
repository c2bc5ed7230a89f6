"""Peak memory of ``detect`` on one huge image, each in a fresh process (a benchmark, not a timed test).

Small files can decode to gigabytes: a 13000 x 13000 16-bit PNG is a few hundred KB. The runtime reduces big images
while decoding (JPEG draft) or right after (Pillow's reduce, OpenCV for 16-bit), before any float conversion, and
refuses images above Pillow's decompression-bomb limit. This writes such images and measures the peak resident
memory (VmHWM) of a process that runs ``Detector.path`` on one of them, beside the same process on a small photo.

    python -m edge_sdk.benchmarks.memory --model artifacts/onnx-fp32/repvit_m0_9_student.onnx --out runs/memory
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

CHILD = r"""
import json, sys
from edge_sdk.benchmarks.measure import peak_rss_mb, rss_mb
from edge_sdk.pipeline import Detector
with Detector(sys.argv[1]) as det:
    before = rss_mb()
    rec = det.path(sys.argv[2])
print(json.dumps({"ok": rec["ok"], "error": rec.get("error"), "note": rec.get("note"), "verdict": rec.get("verdict"),
                  "rss_before_mb": before, "peak_rss_mb": peak_rss_mb()}))
"""


def make_images(folder: Path) -> dict[str, Path]:
    """A photo, and images at and above Pillow's decompression-bomb limit (8-bit RGB and 16-bit grey PNG)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    side = int(Image.MAX_IMAGE_PIXELS ** 0.5)  # 9459 by default: the largest square Pillow opens without a warning
    out = {}
    rgb = np.zeros((side, side, 3), np.uint8)
    rgb[::64] = 200
    Image.fromarray(rgb).save(folder / "limit_rgb8.png")
    out[f"{side}x{side} RGB 8-bit PNG (the bomb limit)"] = folder / "limit_rgb8.png"
    del rgb
    grey = np.zeros((side, side), np.uint16)
    grey[:, ::64] = 40000
    Image.fromarray(grey).save(folder / "limit_grey16.png")
    out[f"{side}x{side} grey 16-bit PNG (the bomb limit)"] = folder / "limit_grey16.png"
    del grey
    big = np.zeros((13000, 13000), np.uint16)
    Image.fromarray(big).save(folder / "big_grey16.png")
    out["13000x13000 grey 16-bit PNG (above the limit)"] = folder / "big_grey16.png"
    del big
    jpg = np.full((8000, 11000, 3), 128, np.uint8)  # 88 M pixels: just under the limit
    jpg[::50] = 30
    Image.fromarray(jpg).save(folder / "big.jpg", quality=85)
    del jpg
    out["11000x8000 JPEG (under the limit)"] = folder / "big.jpg"
    jpg = np.full((8000, 12000, 3), 128, np.uint8)
    Image.fromarray(jpg).save(folder / "bigger.jpg", quality=85)
    out["12000x8000 JPEG (above the limit)"] = folder / "bigger.jpg"
    return out


def measure(model: str, image: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(model), str(image)], capture_output=True, text=True)
    if done.returncode != 0:
        return {"ok": False, "error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="an artifact with its manifest")
    p.add_argument("--photo", default=None, help="a small photo for the baseline")
    p.add_argument("--out", default="runs/memory")
    args = p.parse_args(argv)
    from edge_sdk.fileio import to_json, write_atomic

    from .machine import machine

    out = Path(args.out)
    images = make_images(out / "images")
    if args.photo:
        images = {"a small photo": Path(args.photo), **images}
    rows = []
    for what, path in images.items():
        r = measure(args.model, path)
        rows.append({"image": what, "file_kb": round(path.stat().st_size / 1024, 1), **r})
        print(json.dumps(rows[-1]))
    doc = {"model": args.model, "machine": machine(), "rows": rows,
           "command": "python -m edge_sdk.benchmarks.memory " + " ".join(argv or sys.argv[1:])}
    write_atomic(out / "memory.json", to_json(doc, indent=2) + "\n")
    return 0 if all(r.get("peak_rss_mb", 0) < 600 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
