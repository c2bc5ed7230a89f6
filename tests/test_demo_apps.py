"""The demo apps' contract with the Python side (issue #7). No Android SDK or Xcode here, so:

1. Manifest fields: every field path the Kotlin and Swift sources read exists in the manifest
   JSON Schema and, when the app requires it, in a manifest the exporter really wrote (a tiny
   model through ``export.export``). Kotlin reads fields only through ``field.<accessor>("a.b")``
   (ArtifactManifest.kt); Swift decodes ``Decodable`` structs with ``.convertFromSnakeCase``
   (ArtifactManifest.swift), whose property names and nesting give the paths.
2. No preprocessing numbers in the app sources (rule below).
3. Crop arithmetic: a numpy re-implementation of the apps' FaceCropper, written here line by line
   from the Kotlin (not calling edge_sdk.preprocess), equals the Python runtime's crop rectangle
   and is within one 8-bit level of its OpenCV pixels, on real sample frames (face box from the
   runtime's BlazeFace) and on edge cases (border, stretch, upscale, normalize_in_model). Where
   ``kotlinc`` exists, the app's FaceCropper.kt itself is compiled and run on the same frames and
   must equal the numpy mirror exactly. (OpenCV's fixed-point bilinear rounds 5-15% of samples
   one level the other way; the apps round exact float bilinear half up.) The
   golden file the apps' own unit tests read (android_demo/app/src/test/resources/
   crop_golden.json) must equal what the runtime gives now.
   Landmark-aligned crops (``align="keypoints"``, edge_sdk/preprocess.py steps a-d) likewise: the
   mirror's similarity, covered rectangle and bilinear warp (pad_value outside the frame) against
   ``CropSpec.alignment`` / ``crop_rect`` / ``crop`` (OpenCV warpAffine), on the detector's
   keypoints of the sample photos, on moved/rotated/scaled keypoints and on random ones; aligned
   golden cases carry their keypoints; the Kotlin harness runs them too. Measured with OpenCV 5.0
   (float warpAffine): at most 1 level apart, on at most ~0.02% of the samples of the photos and
   ~0.2% of those of the synthetic frame (limits: ALIGNED_MAX_LEVELS, ALIGNED_MAX_SHARE).
   Where kotlinc and JUnit 4 + Hamcrest + org.json jars exist, the app's own unit test
   FaceCropperTest.kt (which reads the golden file) is compiled and run with JUnit on the JVM.
4. Syntax: Kotlin and Swift sources parse (tree-sitter grammars, or ``swiftc -parse``), skipped
   with the reason when no parser is installed.

Literal rule (test_no_preprocessing_literals). Comments and string text are ignored; code inside
string interpolations is scanned. In the files that feed the model (FaceCropper, ArtifactManifest,
DeepfakeClassifier) every numeric literal must be one of 0, 1, 2, 3, 4, 8, 16, 255 (0xFF), 0.5:
small integers for indexing/halving/channels/bytes per pixel/bit shifts, 255 for the uint8 ->
[0, 1] conversion (a pixel-format fact, not a model setting), 0.5 for edge_sdk's round-half-up and
pixel-centre sampling. Everywhere else no literal may equal a known normalisation constant
(ImageNet/CLIP mean and std, 127.5, 128), a common model input size (112 ... 512), the crop
margin 0.2 or 1.4, or 255; 0.5 (a threshold or Inception mean/std) only in DemoSettings, which
mirrors the Python detector's min_confidence. Sizes, mean/std, margin and threshold come from
manifest.json.

Regenerate the golden file after a deliberate crop-spec change:
    EDGE_SDK_WRITE_GOLDEN=1 python -m pytest tests/test_demo_apps.py -k golden
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from .conftest import shared_path

ROOT = Path(__file__).resolve().parents[1]
ANDROID = ROOT / "android_demo"
IOS = ROOT / "ios_demo"
KOTLIN_MAIN = ANDROID / "app" / "src" / "main" / "java" / "dev" / "edgesdk" / "demo"
SWIFT_MAIN = IOS / "EdgeSdkDemo"
GOLDEN = ANDROID / "app" / "src" / "test" / "resources" / "crop_golden.json"

KOTLIN_FILES = sorted(KOTLIN_MAIN.glob("*.kt"))
SWIFT_FILES = sorted(SWIFT_MAIN.glob("*.swift"))
STRICT_STEMS = {"FaceCropper", "ArtifactManifest", "DeepfakeClassifier"}
SETTINGS_STEM = "DemoSettings"

# What every app must read, so a broken extractor cannot pass by finding nothing.
CORE_PATHS = {"schema_version", "artifact.file", "artifact.sha256", "target", "input.name", "input.shape",
              "input.layout", "input.dtype", "output.name", "output.meaning", "threshold"}


# ------------------------------------------------------------------------------------------------
# source scanning


def code_only(src: str, lang: str, keep_strings: bool = False) -> str:
    """``src`` with comments (and, unless ``keep_strings``, string text) blanked; same length and lines.

    Code inside string interpolation (Kotlin ``${...}``, Swift ``\\(...)``) is kept as code.
    """
    out: list[str] = []
    stack: list[list] = [["code", None, 0]]  # mode, string delimiter, bracket depth (interpolations)
    i, n = 0, len(src)
    opener, closer = ("{", "}") if lang == "kotlin" else ("(", ")")

    def blank(text: str) -> str:
        return re.sub(r"[^\n]", " ", text)

    while i < n:
        mode, delim, depth = stack[-1]
        c = src[i]
        if mode == "code":
            if src.startswith("//", i):
                j = src.find("\n", i)
                j = n if j < 0 else j
                out.append(blank(src[i:j]))
                i = j
                continue
            if src.startswith("/*", i):  # nested in both languages
                d, j = 1, i + 2
                while j < n and d:
                    if src.startswith("/*", j):
                        d, j = d + 1, j + 2
                    elif src.startswith("*/", j):
                        d, j = d - 1, j + 2
                    else:
                        j += 1
                out.append(blank(src[i:j]))
                i = j
                continue
            if src.startswith('"""', i) or c == '"':
                d = '"""' if src.startswith('"""', i) else '"'
                stack.append(["str", d, 0])
                out.append(d)
                i += len(d)
                continue
            if c == "'" and lang == "kotlin":
                m = re.match(r"'(?:\\u[0-9a-fA-F]{4}|\\.|[^'\\])'", src[i:])
                if m:
                    lit = m.group()
                    out.append(lit if keep_strings else "'" + " " * (len(lit) - 2) + "'")
                    i += len(lit)
                    continue
            if len(stack) > 1:  # code inside an interpolation
                if c == opener:
                    stack[-1][2] += 1
                elif c == closer:
                    if depth == 0:
                        stack.pop()
                        out.append(c)
                        i += 1
                        continue
                    stack[-1][2] -= 1
            out.append(c)
            i += 1
        else:
            raw = lang == "kotlin" and delim == '"""'
            if lang == "swift" and src.startswith("\\(", i):
                stack.append(["code", None, 0])
                out.append("\\(")
                i += 2
                continue
            if lang == "kotlin" and src.startswith("${", i):
                stack.append(["code", None, 0])
                out.append("${")
                i += 2
                continue
            if c == "\\" and not raw:
                out.append(src[i:i + 2] if keep_strings else "  ")
                i += 2
                continue
            if src.startswith(delim, i):
                stack.pop()
                out.append(delim)
                i += len(delim)
                continue
            out.append(c if keep_strings or c == "\n" else " ")
            i += 1
    return "".join(out)


NUMBER = re.compile(r"(?<![\w.$])(0[xX][0-9a-fA-F_]+|0[bB][01_]+|(?:\d[\d_]*)?\.?\d[\d_]*(?:[eE][+-]?\d+)?)"
                    r"([fFdDuUlL]*)(?![\w])")


def numeric_literals(code: str) -> list[tuple[int, str, float]]:
    """(line, text, value) of every numeric literal in already comment/string-stripped code."""
    found = []
    for m in NUMBER.finditer(code):
        text = m.group(1).replace("_", "")
        if text.lower().startswith("0x"):
            value = float(int(text, 16))
        elif text.lower().startswith("0b"):
            value = float(int(text[2:], 2))
        else:
            value = float(text)
        found.append((code.count("\n", 0, m.start()) + 1, m.group(0), value))
    return found


STRICT_ALLOWED = {0.0, 1.0, 2.0, 3.0, 4.0, 8.0, 16.0, 255.0, 0.5}
NORMALISATION = [0.485, 0.456, 0.406, 0.229, 0.224, 0.225,  # ImageNet
                 0.48145466, 0.4578275, 0.40821073, 0.26862954, 0.26130258, 0.27577711,  # CLIP
                 127.5, 128.0]
INPUT_SIZES = [112.0, 160.0, 192.0, 224.0, 240.0, 256.0, 288.0, 299.0, 320.0, 336.0, 380.0, 384.0, 448.0, 512.0]
MARGINS = [0.2, 1.4]


def literal_violations(src: str, lang: str, stem: str) -> list[str]:
    """Violations of the module docstring's literal rule in one source file."""
    bad = []
    for line, text, value in numeric_literals(code_only(src, lang)):
        if stem in STRICT_STEMS:
            if not any(abs(value - a) < 1e-12 for a in STRICT_ALLOWED):
                bad.append(f"{stem}:{line}: {text} (only {sorted(STRICT_ALLOWED)} in code that feeds the model)")
            continue
        denied = NORMALISATION + INPUT_SIZES + MARGINS + [255.0] + ([] if stem == SETTINGS_STEM else [0.5])
        if any(abs(value - d) < 1e-9 for d in denied):
            bad.append(f"{stem}:{line}: {text} looks like a preprocessing/model number; read it from manifest.json")
    return bad


# ------------------------------------------------------------------------------------------------
# 1. manifest field paths


def kotlin_field_reads() -> dict[str, bool]:
    """{path: required} for every ``field.<accessor>("path")`` in the Kotlin sources."""
    reads: dict[str, bool] = {}
    for f in KOTLIN_FILES:
        code = code_only(f.read_text(), "kotlin", keep_strings=True)
        literal = re.findall(r"\bfield\.(\w+)\(\s*\"([^\"$]+)\"\s*\)", code)
        assert len(literal) == len(re.findall(r"\bfield\.\w+\(", code)), \
            f"{f.name}: every manifest read must be field.<accessor>(\"literal.path\") so it can be checked"
        for accessor, path in literal:
            reads[path] = reads.get(path, False) or not accessor.startswith("optional")
    return reads


def _swift_structs(code: str) -> dict[str, list[tuple[str, str]]]:
    """Decodable/Codable structs -> [(property, type)] of their stored ``let`` properties (depth 1 only)."""
    structs = {}
    for m in re.finditer(r"\bstruct\s+(\w+)\s*:\s*([^{]*)\{", code):
        if not re.search(r"\b(Decodable|Codable)\b", m.group(2)):
            continue
        depth, j, body_start = 1, m.end(), m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(code[j], 0)
            j += 1
        body, fields, level = code[body_start:j - 1], [], 0
        for line in body.splitlines():
            if level == 0:
                fm = re.match(r"\s*(?:(?:public|internal|private|fileprivate)\s+)?let\s+(\w+)\s*:\s*([^=]+?)\s*$", line)
                if fm:
                    fields.append((fm.group(1), fm.group(2)))
            level += line.count("{") - line.count("}")
        structs[m.group(1)] = fields
    return structs


def swift_field_reads() -> dict[str, bool]:
    """{path: required} from the ArtifactManifest struct tree (camelCase -> snake_case keys)."""
    code = "\n".join(code_only(f.read_text(), "swift") for f in SWIFT_FILES)
    structs = _swift_structs(code)
    assert "ArtifactManifest" in structs, "ArtifactManifest.swift must declare `struct ArtifactManifest: Decodable`"
    reads: dict[str, bool] = {}

    def walk(name: str, prefix: str, required: bool) -> None:
        for prop, typ in structs[name]:
            key = re.sub(r"([A-Z])", r"_\1", prop).lower()
            path = f"{prefix}{key}"
            optional = typ.endswith("?")
            base = typ.rstrip("?").strip()
            element = re.fullmatch(r"\[\s*(\w+)\s*\]", base)  # an array of a struct: its fields nest below
            inner = element.group(1) if element else base
            reads[path] = required and not optional
            if inner in structs and inner != name:
                walk(inner, path + ".", required and not optional)

    walk("ArtifactManifest", "", True)
    return reads


def schema_has(schema: dict, path: str) -> bool:
    node = schema
    for key in path.split("."):
        props = node.get("properties", {})
        if key in props:
            node = props[key]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            return False
    return True


def manifest_value(manifest: dict, path: str):
    node = manifest
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return KeyError
        node = node[key]
    return node


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory) -> Path:
    """What ``export.export`` writes for a tiny conv net (ONNX fp32, a few seconds): artifact + manifest.json."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from edge_sdk.export import export

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, stride=2)
            self.fc = torch.nn.Linear(4, 1)

        def forward(self, x):
            return self.fc(self.conv(x).mean((2, 3)))

    torch.manual_seed(0)
    model = Tiny()
    model.pretrained_cfg = {"input_size": (3, 40, 40), "mean": (0.5, 0.4, 0.3), "std": (0.2, 0.25, 0.3)}
    out = tmp_path_factory.mktemp("demo_export")
    records = export(model, out=out, name="tiny", formats=[("onnx", "fp32")], threshold=0.6)
    assert records[0]["ok"], records[0]
    return out / "onnx-fp32"


@pytest.fixture(scope="module")
def exported_manifest(export_dir) -> dict:
    return json.loads((export_dir / "manifest.json").read_text())


def test_extractors_find_the_manifest_reads():
    from edge_sdk.preprocess import CropSpec

    kt, sw = kotlin_field_reads(), swift_field_reads()
    crop_keys = {f"crop.{k}" for k in CropSpec.__dataclass_fields__}
    for name, reads in (("Kotlin", kt), ("Swift", sw)):
        missing = (CORE_PATHS | crop_keys) - set(reads)
        assert not missing, f"{name} app does not read {sorted(missing)} (every crop-spec field must be honoured)"


def test_manifest_fields_read_by_the_apps_exist_in_schema_and_export(exported_manifest):
    from edge_sdk import manifest as mf

    schema = mf.schema()
    mf.validate(exported_manifest)
    for name, reads in (("Kotlin", kotlin_field_reads()), ("Swift", swift_field_reads())):
        for path, required in sorted(reads.items()):
            assert schema_has(schema, path), f"{name} app reads {path!r}, which the manifest schema does not define"
            if required:
                v = manifest_value(exported_manifest, path)
                assert v is not KeyError and v is not None, \
                    f"{name} app requires {path!r}, but the exporter's manifest has {'no such field' if v is KeyError else 'null'}"


def test_manifest_is_read_only_through_the_checked_accessors():
    """No bypass: manifest keys are not read with raw org.json / JSONSerialization calls."""
    from edge_sdk import manifest as mf

    keys = set()

    def collect(node):
        for k, v in node.get("properties", {}).items():
            keys.add(k)
            collect(v)

    collect(mf.schema())
    for f in KOTLIN_FILES:
        code = code_only(f.read_text(), "kotlin", keep_strings=True)
        raw = re.findall(r"\.(?:get|opt|has|isNull)\w*\(\s*\"(\w+)\"", code)
        if f.stem == "ArtifactManifest":
            assert not raw, f"{f.name} reads {raw} directly; use field.<accessor>(path)"
        else:
            assert not set(raw) & keys, f"{f.name} reads manifest keys {sorted(set(raw) & keys)} around the accessors"
            assert "ManifestFields(" not in code, f"{f.name}: only ArtifactManifest.kt may read manifest fields"
    for f in SWIFT_FILES:
        code = code_only(f.read_text(), "swift")
        assert "JSONSerialization" not in code, f"{f.name}: decode with the Decodable structs"
        assert "CodingKeys" not in code, f"{f.name}: keys come from .convertFromSnakeCase (the test relies on it)"
        if "ArtifactManifest.self" in code:
            assert f.stem == "ArtifactManifest" and ".convertFromSnakeCase" in code


def test_schema_extractors_catch_mistakes():
    """The Swift path extraction sees nesting and optionality; the schema check rejects unknown paths."""
    from edge_sdk import manifest as mf

    code = ("struct ArtifactManifest: Decodable {\n let crop: ManifestCrop\n let threshold: Double?\n"
            " func f() {\n  let x: Int = 1\n }\n}\nstruct ManifestCrop: Decodable {\n let padValue: Int\n}\n")
    structs = _swift_structs(code)
    assert structs["ArtifactManifest"] == [("crop", "ManifestCrop"), ("threshold", "Double?")]
    assert structs["ManifestCrop"] == [("padValue", "Int")]
    schema = mf.schema()
    assert schema_has(schema, "crop.pad_value") and schema_has(schema, "versions.executorch")
    assert not schema_has(schema, "crop.pad") and not schema_has(schema, "input.size")


# ------------------------------------------------------------------------------------------------
# 2. literals


def test_no_preprocessing_literals():
    files = [(f, "kotlin") for f in KOTLIN_FILES] + [(f, "swift") for f in SWIFT_FILES]
    assert len(KOTLIN_FILES) >= 8 and len(SWIFT_FILES) >= 8, "demo sources not found"
    stems = {f.stem for f, _ in files}
    assert STRICT_STEMS <= stems and SETTINGS_STEM in stems
    bad = [v for f, lang in files for v in literal_violations(f.read_text(), lang, f.stem)]
    assert not bad, "preprocessing numbers hard-coded in the apps:\n" + "\n".join(bad)


@pytest.mark.parametrize("snippet,lang,stem", [
    ("val mean = floatArrayOf(0.485f, 0.456f, 0.406f)", "kotlin", "MainActivity"),
    ("val size = 224", "kotlin", "OverlayView"),
    ("val x = v / 127.5f - 1f", "kotlin", "BenchmarkActivity"),
    ("if (p > 0.5) fake()", "kotlin", "MainActivity"),
    ("val margin = 0.25", "kotlin", "FaceCropper"),
    ("val s = \"${x * 0.229}\"", "kotlin", "MainActivity"),
    ("let std: [Float] = [0.229, 0.224, 0.225]", "swift", "CameraModel"),
    ("let t = \"\\(size * 384)\"", "swift", "BenchmarkView"),
    ("let x = Float(v) / 255", "swift", "CameraModel"),
    ("let grow = 1.4 * box.width", "swift", "FaceCropper"),
    ("let pad: UInt8 = 114", "swift", "ArtifactManifest"),
])
def test_literal_scanner_catches(snippet, lang, stem):
    assert literal_violations(snippet, lang, stem), f"scanner missed a preprocessing number in {snippet!r}"


@pytest.mark.parametrize("snippet,lang,stem", [
    ("// mean 0.485, size 224\nval a = 1", "kotlin", "MainActivity"),
    ("val s = \"224 x 224, 0.229\"", "kotlin", "MainActivity"),
    ("/* 0.5 /* nested 224 */ */ let a = 0", "swift", "CameraModel"),
    ("val y = floor(v + 0.5f).toInt() and 0xFF", "kotlin", "FaceCropper"),
    ("const val MIN_DETECTION_CONFIDENCE = 0.5f", "kotlin", "DemoSettings"),
    ("let v = $0.value + RGBA_8888", "swift", "FaceTracker"),
])
def test_literal_scanner_ignores(snippet, lang, stem):
    assert not literal_violations(snippet, lang, stem)


# ------------------------------------------------------------------------------------------------
# 3. crop arithmetic: numpy mirror of FaceCropper.kt / FaceCropper.swift


def demo_round(v: float) -> int:
    """FaceCropper.roundHalfUp: floor(v + 0.5)."""
    return int(np.floor(v + 0.5))


def demo_crop_rect(box, frame_w: int, frame_h: int, spec: dict):
    """FaceCropper.cropRect, line by line (FaceBox holds float32; arithmetic in double)."""
    x0, y0, x1, y1 = (float(np.float32(v)) for v in box)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w, h = x1 - x0, y1 - y0
    if spec["square"]:
        w = max(w, h)
        h = w
    w *= 1 + 2 * spec["margin"]
    h *= 1 + 2 * spec["margin"]
    left, top = demo_round(cx - w / 2), demo_round(cy - h / 2)
    right, bottom = left + demo_round(w), top + demo_round(h)
    rect = (max(left, 0), max(top, 0), min(right, frame_w), min(bottom, frame_h))
    return None if rect[2] - rect[0] < 1 or rect[3] - rect[1] < 1 else rect


def _sample_axis(source: int, target: int):
    """FaceCropper.SampleAxis: cv::resize's half-pixel source coordinate, as float32, edges clamped."""
    scale = 1.0 / (target / source)
    s = ((np.arange(target, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    lo = np.floor(s).astype(np.int64)
    frac = (s - lo.astype(np.float32)).astype(np.float32)
    under = lo < 0
    lo[under], frac[under] = 0, 0
    over = lo >= source - 1
    lo[over], frac[over] = source - 1, 0
    return lo, np.minimum(lo + 1, source - 1), frac


def demo_crop(frame: np.ndarray, rect, spec: dict) -> np.ndarray:
    """FaceCropper.crop: (size, size, 3) uint8 from an RGB uint8 frame."""
    size = spec["size"]
    left, top, right, bottom = rect
    pw, ph = right - left, bottom - top
    if spec["resize"] == "stretch":
        nw = nh = size
    else:
        scale = size / max(ph, pw)
        nw, nh = max(1, min(size, demo_round(pw * scale))), max(1, min(size, demo_round(ph * scale)))
    ox, oy = (size - nw) // 2, (size - nh) // 2
    out = np.full((size, size, 3), spec["pad_value"], np.uint8)
    xlo, xhi, fx = _sample_axis(pw, nw)
    ylo, yhi, fy = _sample_axis(ph, nh)
    patch = frame[top:bottom, left:right].astype(np.float32)
    fx, fy, one = fx[None, :, None], fy[:, None, None], np.float32(1)
    p00, p01 = patch[ylo][:, xlo], patch[ylo][:, xhi]
    p10, p11 = patch[yhi][:, xlo], patch[yhi][:, xhi]
    upper = (one - fx) * p00 + fx * p01
    lower = (one - fx) * p10 + fx * p11
    v = (one - fy) * upper + fy * lower
    out[oy:oy + nh, ox:ox + nw] = np.clip(np.floor(v + np.float32(0.5)), 0, 255).astype(np.uint8)
    return out


def demo_alignment(keypoints, spec: dict):
    """FaceCropper.alignment (steps a-c), scalar by scalar in double from the float32 keypoints; None where the
    Kotlin returns null. (a, b, tx, ty, ia, ib): crop = A p + t, A = [[a, -b], [b, a]], A^-1 = [[ia, ib], [-ib, ia]]."""
    if spec.get("align", "box") != "keypoints" or keypoints is None:
        return None
    kp = [float(np.float32(v)) for v in np.asarray(keypoints, np.float64).reshape(-1)]
    if len(kp) < 4 * 2:
        return None
    p = kp[:4 * 2]
    if not all(np.isfinite(v) for v in p):
        return None
    size = spec["size"]
    q = [float(v) * size for pt in spec["template"] for v in pt]
    mpx = mpy = mqx = mqy = 0.0
    for k in range(4):
        mpx += p[2 * k]
        mpy += p[2 * k + 1]
        mqx += q[2 * k]
        mqy += q[2 * k + 1]
    mpx, mpy, mqx, mqy = mpx / 4, mpy / 4, mqx / 4, mqy / 4
    n = sa = sb = 0.0
    for k in range(4):
        px, py = p[2 * k] - mpx, p[2 * k + 1] - mpy
        qx, qy = q[2 * k] - mqx, q[2 * k + 1] - mqy
        n += px * px + py * py
        sa += px * qx + py * qy
        sb += px * qy - py * qx
    if not n > 0:
        return None
    a, b = sa / n, sb / n
    if not a * a + b * b > 0:
        return None
    d = a * a + b * b
    return {"a": a, "b": b, "tx": mqx - (a * mpx - b * mpy), "ty": mqy - (b * mpx + a * mpy), "ia": a / d, "ib": b / d}


def demo_aligned_rect(m: dict, frame_w: int, frame_h: int, spec: dict):
    """FaceCropper.alignedRect: floor/ceil bounds of the crop corners' frame points, clipped; None if outside."""
    size = spec["size"]
    xs, ys = [], []
    for corner in range(4):
        dx, dy = (corner % 2) * size - m["tx"], (corner // 2) * size - m["ty"]
        xs.append(m["ia"] * dx + m["ib"] * dy)
        ys.append(m["ia"] * dy - m["ib"] * dx)
    rect = (max(int(np.floor(min(xs))), 0), max(int(np.floor(min(ys))), 0),
            min(int(np.ceil(max(xs))), frame_w), min(int(np.ceil(max(ys))), frame_h))
    return None if rect[2] - rect[0] < 1 or rect[3] - rect[1] < 1 else rect


def demo_warp(frame: np.ndarray, m: dict, spec: dict) -> np.ndarray:
    """FaceCropper.warp (step d), vectorised with the Kotlin's operation order: sample points in double, weights and
    blend in float32, neighbours outside the frame = pad_value, rounded half up."""
    size, pad = spec["size"], spec["pad_value"]
    h, w = frame.shape[:2]
    v, u = np.mgrid[0:size, 0:size].astype(np.float64)
    qy = v + 0.5 - m["ty"]
    qx = u + 0.5 - m["tx"]
    sx = m["ia"] * qx + m["ib"] * qy - 0.5
    sy = m["ia"] * qy - m["ib"] * qx - 0.5
    fx0, fy0 = np.floor(sx), np.floor(sy)
    fx = (sx - fx0).astype(np.float32)[..., None]
    fy = (sy - fy0).astype(np.float32)[..., None]
    x0 = np.maximum(-2.0, np.minimum(float(w), fx0)).astype(np.int64)
    y0 = np.maximum(-2.0, np.minimum(float(h), fy0)).astype(np.int64)
    padded = np.full((h + 4, w + 4, 3), pad, np.float32)  # texel(): pad_value outside the frame
    padded[2:h + 2, 2:w + 2] = frame
    p00, p01 = padded[y0 + 2, x0 + 2], padded[y0 + 2, x0 + 3]
    p10, p11 = padded[y0 + 3, x0 + 2], padded[y0 + 3, x0 + 3]
    one = np.float32(1)
    top = (one - fx) * p00 + fx * p01
    bottom = (one - fx) * p10 + fx * p11
    value = (one - fy) * top + fy * bottom
    return np.clip(np.floor(value + np.float32(0.5)), 0, 255).astype(np.uint8)


def demo_crop_face(frame: np.ndarray, box, keypoints, spec: dict):
    """FaceCropper.cropFace: (rect, crop) framed as spec["align"] says, or (None, None)."""
    h, w = frame.shape[:2]
    if spec.get("align", "box") == "keypoints":
        m = demo_alignment(keypoints, spec)
        rect = None if m is None else demo_aligned_rect(m, w, h, spec)
        return (None, None) if rect is None else (rect, demo_warp(frame, m, spec))
    rect = demo_crop_rect(box, w, h, spec)
    return (None, None) if rect is None else (rect, demo_crop(frame, rect, spec))


def demo_to_tensor(crop: np.ndarray, spec: dict) -> np.ndarray:
    """FaceCropper.toTensor: per-channel lookup of v / 255 (then - mean, / std), NCHW (1, 3, S, S)."""
    x = crop.astype(np.float32) / np.float32(255)
    if not spec["normalize_in_model"]:
        x = (x - np.asarray(spec["mean"], np.float32)) / np.asarray(spec["std"], np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def synthetic_frame(width: int, height: int) -> np.ndarray:
    """The golden file's frame (same formula in FaceCropperTest.kt and FaceCropperTests.swift)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    return np.stack([(x * 5 + y * 3) & 0xFF, (x * y + 40) & 0xFF, (x * 11 + y * 7 + 50) & 0xFF], -1).astype(np.uint8)


def _check_crop(frame: np.ndarray, box, spec_obj, label: str) -> dict:
    """Mirror vs runtime for one box; returns the pieces for further checks."""
    spec = spec_obj.to_dict()
    h, w = frame.shape[:2]
    box32 = tuple(float(np.float32(v)) for v in box)
    rect = demo_crop_rect(box, w, h, spec)
    assert rect == spec_obj.crop_rect(box32, (w, h)), f"{label}: crop rectangle differs from the runtime's"
    ours, runtime = demo_crop(frame, rect, spec), spec_obj.crop(frame, box32)
    diff = np.abs(ours.astype(int) - runtime.astype(int))
    assert diff.max() <= 1, f"{label}: crop differs from the runtime's (OpenCV) by {diff.max()} levels"
    # OpenCV's fixed-point weights round about one sample in eight the other way (seen: 5-15%).
    assert (diff > 0).mean() <= 0.2, f"{label}: {(diff > 0).mean():.1%} of samples differ, more than rounding"
    # Normalisation of the runtime's own crop must match to_tensor() exactly.
    np.testing.assert_array_equal(demo_to_tensor(runtime, spec), spec_obj.to_tensor(runtime), err_msg=label)
    return {"rect": rect, "crop": ours, "runtime": runtime}


# Aligned crops vs OpenCV's warpAffine (OpenCV 5.0 measured: max 1 level, <= 0.02% of photo samples, <= 0.2% of the
# synthetic frame's, which wraps mod 256 and so has 255-level steps). OpenCV < 4.11 quantises sample points to 1/32
# pixel: expect up to a few levels there at steep edges, and a larger share.
ALIGNED_MAX_LEVELS = 2
ALIGNED_MAX_SHARE = 0.01
_MEASURED: dict = {}


def _check_aligned_crop(frame: np.ndarray, keypoints, spec_obj, label: str) -> dict:
    """Mirror vs runtime for one aligned face (keypoints as the detector's float32); records the differences."""
    spec = spec_obj.to_dict()
    h, w = frame.shape[:2]
    kp32 = np.asarray(keypoints, np.float32).reshape(-1, 2)
    m = demo_alignment(kp32, spec)
    assert m is not None, f"{label}: the mirror finds no alignment"
    np.testing.assert_allclose([[m["a"], -m["b"], m["tx"]], [m["b"], m["a"], m["ty"]]], spec_obj.alignment(kp32),
                               rtol=1e-12, atol=1e-9, err_msg=label)
    rect = demo_aligned_rect(m, w, h, spec)
    assert rect == spec_obj.crop_rect(None, (w, h), kp32), f"{label}: covered rectangle differs from the runtime's"
    assert demo_crop_face(frame, None, kp32, spec)[0] == rect
    ours, runtime = demo_warp(frame, m, spec), spec_obj.crop(frame, None, kp32)
    diff = np.abs(ours.astype(int) - runtime.astype(int))
    share = float((diff > 0).mean())
    key = "synthetic" if label.startswith("synthetic") else "photos"
    worst = _MEASURED.setdefault(key, [0, 0.0, 0])
    worst[0], worst[1], worst[2] = max(worst[0], int(diff.max())), max(worst[1], share), worst[2] + 1
    assert diff.max() <= ALIGNED_MAX_LEVELS, f"{label}: aligned crop differs from OpenCV's warpAffine by {diff.max()} levels"
    assert share <= ALIGNED_MAX_SHARE, f"{label}: {share:.2%} of samples differ from OpenCV's, more than rounding"
    np.testing.assert_array_equal(demo_to_tensor(runtime, spec), spec_obj.to_tensor(runtime), err_msg=label)
    return {"rect": rect, "crop": ours, "runtime": runtime}


_CACHE: dict = {}


def _sample_frames() -> list[tuple[str, np.ndarray]]:
    if "frames" in _CACHE:
        return _CACHE["frames"]
    import cv2

    from edge_sdk.preprocess import load_image

    photo = load_image(shared_path("samples", "western_real_1.JPG"))
    cap = cv2.VideoCapture(str(shared_path("samples", "western_real.mp4")))
    ok, bgr = cap.read()
    cap.release()
    assert ok, "could not read a frame of western_real.mp4"
    _CACHE["frames"] = [("western_real_1.JPG", photo), ("western_real.mp4 frame 0", cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))]
    return _CACHE["frames"]


def _face_box(frame: np.ndarray):
    """The runtime's BlazeFace box, or a fixed central box where the detector cannot run here."""
    box, _, how = _face(frame)
    return box, how


def _face(frame: np.ndarray):
    """(box, keypoints (K, 2) float32, how) of the frame's largest face."""
    key = ("face", frame.shape, int(frame[::7, ::7].sum()))
    if key not in _CACHE:
        _CACHE[key] = _detect_face(frame)
    return _CACHE[key]


def _detect_face(frame: np.ndarray):
    try:
        from edge_sdk.faces import FaceDetector

        with FaceDetector() as det:
            faces = det.detect(frame)
        if faces:
            return faces[0].box, np.asarray(faces[0].keypoints, np.float32), "BlazeFace"
    except Exception as err:  # no face model / mediapipe here: the arithmetic is still checked
        reason = f"{type(err).__name__}"
    else:
        reason = "no face found"
    from edge_sdk.preprocess import MEAN_FACE

    h, w = frame.shape[:2]
    box = (w * 0.3, h * 0.25, w * 0.7, h * 0.75)
    keypoints = (np.asarray(MEAN_FACE) * (box[2] - box[0], box[3] - box[1]) + box[:2]).astype(np.float32)
    return box, keypoints, f"fixed box, mean-face keypoints ({reason})"


def _specs(exported: dict | None = None):
    from edge_sdk.preprocess import CropSpec

    specs = [("default", CropSpec()),
             ("stretch", CropSpec(size=96, margin=0.1, square=False, resize="stretch", mean=(0.5, 0.5, 0.5),
                                  std=(0.5, 0.5, 0.5))),
             ("pad114-in-model", CropSpec(size=64, margin=0.3, pad_value=114, normalize_in_model=True))]
    if exported is not None:
        specs.append(("exported", CropSpec.from_dict(exported["crop"])))
    return specs


def _boxes_for(frame: np.ndarray):
    box, how = _face_box(frame)
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    return [(how, box),
            ("near the left/top border", (0.0, 0.0, bw * 0.6, bh * 0.7)),  # margin leaves the frame: clip + pad
            ("near the right/bottom border", (w - bw * 0.5, h - bh * 0.5, float(w), float(h))),
            ("small face (upscaled)", (x0, y0, x0 + 9.4, y0 + 11.6)),
            ("fractional box", (x0 + 0.25, y0 + 0.5, x1 - 0.75, y1 + 0.5))]


def _aligned_specs():
    from edge_sdk.preprocess import CropSpec

    return [("aligned default", CropSpec(align="keypoints")),
            ("aligned pad114-in-model", CropSpec(size=64, align="keypoints", pad_value=114, normalize_in_model=True)),
            ("aligned own template", CropSpec(size=96, align="keypoints", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                                              template=((0.36, 0.42), (0.64, 0.41), (0.5, 0.6), (0.5, 0.74))))]


def _moved(kp: np.ndarray, scale: float = 1.0, angle_deg: float = 0.0, to=None) -> np.ndarray:
    """The keypoints scaled and rotated about their mean, then moved so the mean lies at ``to``."""
    c = kp.mean(0)
    r = np.deg2rad(angle_deg)
    R = np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]]) * scale
    return ((kp - c) @ R.T + (c if to is None else np.asarray(to, np.float64))).astype(np.float32)


def _keypoints_for(frame: np.ndarray):
    """(name, keypoints (K, 2) float32): the detector's, and the same face moved to the borders, tilted, small."""
    _, kp, how = _face(frame)
    h, w = frame.shape[:2]
    kp4 = kp[:4].astype(np.float64)
    return [(how, kp),
            ("tilted 25 degrees", _moved(kp4, 1.0, 25.0)),
            ("at the left/top corner (pad)", _moved(kp4, 1.0, -10.0, (2.0, 3.0))),
            ("past the right/bottom border (pad)", _moved(kp4, 0.8, 8.0, (w - 1.5, h + 2.25))),
            ("small face (upscaled)", _moved(kp4, 0.08)),
            ("large face (downscaled)", _moved(kp4, 2.5, -3.0))]


def test_demo_crop_matches_runtime_on_samples(exported_manifest):
    checked = 0
    for frame_name, frame in _sample_frames():
        for spec_name, spec in _specs(exported_manifest):
            for box_name, box in _boxes_for(frame):
                r = _check_crop(frame, box, spec, f"{frame_name} / {spec_name} / {box_name}")
                checked += 1
                left, top, right, bottom = r["rect"]
                if "left/top" in box_name:
                    assert left == 0 and top == 0, f"{box_name}: the margin should leave the frame and be clipped"
                if "right/bottom" in box_name:
                    assert (right, bottom) == frame.shape[1::-1], f"{box_name}: should be clipped at the frame edge"
    assert checked == 2 * 4 * 5


def test_demo_aligned_crop_matches_runtime():
    """Aligned crops: the mirror's similarity, rectangle and warp vs CropSpec on the photos and the synthetic frame."""
    from edge_sdk.preprocess import MEAN_FACE, CropSpec

    try:
        frames = _sample_frames()
    except pytest.skip.Exception:
        frames = []
    frames = frames + [("synthetic 96x64", synthetic_frame(96, 64))]
    checked = 0
    for frame_name, frame in frames:
        for spec_name, spec in _aligned_specs():
            for kp_name, kp in _keypoints_for(frame):
                label = f"{frame_name} / {spec_name} / {kp_name}"
                r = _check_aligned_crop(frame, kp, spec, label)
                checked += 1
                if "pad" in kp_name:
                    assert (r["runtime"] == spec.pad_value).all(-1).any(), f"{label}: expected padding"
                if kp_name.startswith(("BlazeFace", "fixed box")):
                    # The four keypoints land near the template (right eye left, mouth below: no reflection).
                    m = demo_alignment(kp, spec.to_dict())
                    p = kp[:4].astype(np.float64)
                    mapped = np.stack([m["a"] * p[:, 0] - m["b"] * p[:, 1] + m["tx"],
                                       m["b"] * p[:, 0] + m["a"] * p[:, 1] + m["ty"]], 1)
                    err = np.abs(mapped - np.asarray(spec.template) * spec.size).max()
                    assert err < 0.1 * spec.size, f"{label}: keypoints land {err:.1f} px from the template"
    rng = np.random.default_rng(11)  # random faces, sizes and pad values on the synthetic frame
    frame = synthetic_frame(96, 64)
    for k in range(60):
        kp = _moved(np.asarray(MEAN_FACE) * rng.uniform(15, 90) + rng.normal(0, 1.5, (4, 2)), 1.0,
                    rng.uniform(-40, 40), (rng.uniform(0, 96), rng.uniform(0, 64)))
        spec = CropSpec(size=int(rng.choice([16, 24, 40, 64])), align="keypoints", pad_value=int(rng.integers(0, 256)))
        _check_aligned_crop(frame, kp, spec, f"synthetic random {k}")
        checked += 1
    assert checked == len(frames) * 3 * 6 + 60
    print("aligned crops vs OpenCV warpAffine (max levels, max share of differing samples, crops):", _MEASURED)


def test_demo_aligned_rect_matches_runtime_on_random_keypoints():
    from edge_sdk.preprocess import CropSpec

    rng = np.random.default_rng(5)
    specs = [CropSpec(align="keypoints"), CropSpec(size=64, align="keypoints", template=((0.3, 0.3), (0.7, 0.3),
                                                                                         (0.5, 0.5), (0.5, 0.8)))]
    outside = 0
    for spec in specs:
        s = spec.to_dict()
        for _ in range(1500):
            w, h = int(rng.integers(40, 2000)), int(rng.integers(40, 2000))
            kp = rng.uniform(-0.3, 1.3, (4, 2)) * (w, h) if rng.random() < 0.2 else \
                _moved(np.asarray(spec.template) * rng.uniform(8, 900) + rng.normal(0, 3, (4, 2)), 1.0,
                       rng.uniform(-180, 180), (rng.uniform(-100, w + 100), rng.uniform(-100, h + 100)))
            kp32 = np.asarray(kp, np.float32)
            try:
                want = spec.crop_rect(None, (w, h), kp32)
            except Exception:
                want = None
            m = demo_alignment(kp32, s)
            got = None if m is None else demo_aligned_rect(m, w, h, s)
            assert got == want, (spec, kp32.tolist(), w, h)
            outside += got is None
    assert 0 < outside < 3000 * 0.5, outside  # both branches exercised


def test_demo_alignment_refuses_what_the_runtime_refuses():
    from edge_sdk.errors import InputError
    from edge_sdk.preprocess import CropSpec

    spec = CropSpec(align="keypoints")
    for kp in (None, np.zeros((3, 2)), [[1.0, 2.0], [np.nan, 3.0], [4.0, 5.0], [6.0, 7.0]], np.full((4, 2), 9.0)):
        assert demo_alignment(kp, spec.to_dict()) is None
        with pytest.raises(InputError):
            spec.alignment(kp)
    assert demo_alignment(np.ones((4, 2)), CropSpec().to_dict()) is None  # box crops have no alignment


def test_demo_crop_rect_matches_runtime_on_random_boxes():
    from edge_sdk.preprocess import CropSpec

    rng = np.random.default_rng(7)
    for spec in (CropSpec(), CropSpec(margin=0.0, square=False), CropSpec(margin=0.37)):
        for _ in range(2000):
            w, h = int(rng.integers(40, 2000)), int(rng.integers(40, 2000))
            x0, y0 = rng.uniform(-50, w), rng.uniform(-50, h)
            box = (x0, y0, x0 + rng.uniform(1, w / 2), y0 + rng.uniform(1, h / 2))
            box32 = tuple(float(np.float32(v)) for v in box)
            try:
                want = spec.crop_rect(box32, (w, h))
            except Exception:
                want = None
            assert demo_crop_rect(box, w, h, spec.to_dict()) == want, (spec, box, w, h)


# -- golden file shared with the apps' unit tests


def _golden_cases() -> dict:
    from edge_sdk import manifest as mf
    from edge_sdk.preprocess import CropSpec

    frame_w, frame_h = 96, 64
    frame = synthetic_frame(frame_w, frame_h)
    cases = [
        ("pad_square_centre", CropSpec(size=16, margin=0.2), (30.0, 12.0, 58.0, 44.0)),
        ("pad_border_clip", CropSpec(size=16, margin=0.25, pad_value=114), (2.0, 1.0, 26.0, 33.0)),
        ("stretch_nonsquare", CropSpec(size=16, margin=0.1, square=False, resize="stretch", mean=(0.5, 0.4, 0.3),
                                       std=(0.2, 0.25, 0.3)), (40.5, 10.25, 80.75, 50.5)),
        ("upscale_normalize_in_model", CropSpec(size=24, margin=0.2, normalize_in_model=True), (10.0, 10.0, 16.0, 17.0)),
        ("downscale_whole_frame", CropSpec(size=16, margin=0.0), (0.0, 0.0, 96.0, 64.0)),
    ]
    # Aligned crops: keypoints (right eye, left eye, nose tip, mouth, two ear points the crop ignores) exact in float32.
    aligned = [
        ("aligned_mean_face", CropSpec(size=16, align="keypoints"), (30.0, 12.0, 58.0, 44.0),
         [[37.375, 22.125], [49.8125, 21.5], [43.25, 29.75], [43.5625, 36.875], [31.5, 25.0], [56.25, 24.5]]),
        ("aligned_tilted_border_pad", CropSpec(size=24, pad_value=114, align="keypoints", mean=(0.5, 0.4, 0.3),
                                               std=(0.2, 0.25, 0.3)), (0.0, 0.0, 22.0, 25.0),
         [[4.625, 6.25], [15.0625, 9.375], [8.5, 13.125], [7.1875, 18.5]]),
        ("aligned_own_template_upscale_in_model",
         CropSpec(size=24, align="keypoints", normalize_in_model=True,
                  template=((0.36, 0.42), (0.64, 0.41), (0.5, 0.6), (0.5, 0.74))), (70.0, 40.0, 80.0, 52.0),
         [[72.25, 44.5], [77.75, 44.375], [75.0625, 47.25], [74.875, 49.625]]),
    ]
    out = []
    for name, spec, box, *kps in cases + aligned:
        keypoints = kps[0] if kps else None
        m = {"schema_version": 1, "model": {"name": "golden", "variant": "golden", "checkpoint": None},
             "artifact": {"file": "golden.pte", "sha256": "0" * 64, "bytes": 0}, "target": "executorch",
             "precision": "fp32",
             "input": {"name": "input", "shape": [1, 3, spec.size, spec.size], "dtype": "float32", "layout": "NCHW"},
             "crop": spec.to_dict(), "output": {"name": "logit", "meaning": mf.OUTPUT_MEANING}, "threshold": 0.5,
             "versions": {"executorch": None}}
        mf.validate(m, f"golden {name}")
        crop = spec.crop(frame, box, keypoints)
        case = {"name": name, "manifest": m, "frame_width": frame_w, "frame_height": frame_h, "box": list(box),
                "rect": list(spec.crop_rect(box, (frame_w, frame_h), keypoints)), "crop_uint8": crop.reshape(-1).tolist(),
                "tensor": [float(v) for v in spec.to_tensor(crop).reshape(-1)]}
        if keypoints is not None:
            case["keypoints"] = keypoints
        out.append(case)
    return {"about": "Written by tests/test_demo_apps.py from edge_sdk.preprocess.CropSpec (OpenCV crops); read by "
                     "android_demo FaceCropperTest.kt and ios_demo FaceCropperTests.swift. Frame pixel (x, y) = "
                     "((5x + 3y) & 255, (xy + 40) & 255, (11x + 7y + 50) & 255). Aligned cases (crop.align "
                     "'keypoints') carry the face's keypoints, [[x, y], ...] in frame pixels; the crop uses the first 4.",
            "cases": out}


def test_golden_file_is_current():
    want = _golden_cases()
    if os.environ.get("EDGE_SDK_WRITE_GOLDEN"):
        GOLDEN.write_text(json.dumps(want, separators=(",", ":")) + "\n")
    assert GOLDEN.is_file(), f"{GOLDEN} is missing: EDGE_SDK_WRITE_GOLDEN=1 python -m pytest {__file__} -k golden"
    assert json.loads(GOLDEN.read_text()) == json.loads(json.dumps(want)), \
        "the apps' golden crops are stale: regenerate with EDGE_SDK_WRITE_GOLDEN=1 (see the module docstring)"
    for case in want["cases"]:  # and the mirror agrees with them, as the apps' unit tests require
        spec = case["manifest"]["crop"]
        frame = synthetic_frame(case["frame_width"], case["frame_height"])
        keypoints = case.get("keypoints")
        assert (keypoints is not None) == (spec.get("align") == "keypoints"), case["name"]
        if keypoints is not None:
            assert np.array_equal(np.float32(keypoints), keypoints), f"{case['name']}: keypoints must be exact float32"
        rect, ours = demo_crop_face(frame, case["box"], keypoints, spec)
        assert list(rect) == case["rect"], case["name"]
        assert np.abs(ours.reshape(-1).astype(int) - np.asarray(case["crop_uint8"])).max() <= 1, case["name"]
    aligned = [c for c in want["cases"] if "keypoints" in c]
    assert len(aligned) >= 3 and any(114 in c["crop_uint8"] for c in aligned), "aligned golden cases (with padding)"


# -- the Kotlin cropper itself, compiled and run on the JVM where kotlinc exists

HARNESS = r"""
package dev.edgesdk.demo

import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

class ManifestException(message: String) : Exception(message)

/** job: first line "frame W H", then one case per line (see tests/test_demo_apps.py). */
fun main(args: Array<String>) {
    val lines = File(args[0]).readLines()
    val head = lines[0].split(" ")
    val w = head[1].toInt()
    val h = head[2].toInt()
    val rgb = File(head[0]).readBytes()
    val argb = IntArray(w * h) { i ->
        val r = rgb[i * 3].toInt() and 255
        val g = rgb[i * 3 + 1].toInt() and 255
        val b = rgb[i * 3 + 2].toInt() and 255
        (255 shl 24) or (r shl 16) or (g shl 8) or b
    }
    for (line in lines.drop(1)) {
        val t = line.split(" ")
        val align = if (t[17] == "-") null else t[17]
        val spec = CropSpec(t[1].toInt(), t[2].toDouble(), t[3] == "1", Resize.fromManifest(t[4], "job"), t[5].toInt(),
            "RGB", floatArrayOf(t[6].toDouble().toFloat(), t[7].toDouble().toFloat(), t[8].toDouble().toFloat()),
            floatArrayOf(t[9].toDouble().toFloat(), t[10].toDouble().toFloat(), t[11].toDouble().toFloat()),
            t[12] == "1", "bilinear", Align.fromManifest(align, "job"),
            if (t[18] == "-") DoubleArray(0) else t[18].split(",").map { it.toDouble() }.toDoubleArray())
        // Keypoints as the detector's FloatArray (x0, y0, x1, y1, ...), or none.
        val keypoints = if (t[19] == "-") null else t[19].split(",").map { it.toDouble().toFloat() }.toFloatArray()
        val cropper = FaceCropper(spec)
        val box = FaceBox(t[13].toDouble().toFloat(), t[14].toDouble().toFloat(), t[15].toDouble().toFloat(), t[16].toDouble().toFloat())
        val rect = cropper.cropRect(box, w, h, keypoints)
        val n = spec.size * spec.size * 3
        val buf = ByteBuffer.allocate(16 + n + 4 * n).order(ByteOrder.LITTLE_ENDIAN)
        if (rect == null) {
            for (k in 0 until 4) buf.putInt(-1)
        } else {
            buf.putInt(rect.left).putInt(rect.top).putInt(rect.right).putInt(rect.bottom)
            val crop = ByteArray(n)
            val used = cropper.cropFace(argb, w, h, box, keypoints, crop) ?: throw IllegalStateException("cropFace: no crop")
            if (listOf(used.left, used.top, used.right, used.bottom) != listOf(rect.left, rect.top, rect.right, rect.bottom)) {
                throw IllegalStateException("cropFace's rectangle differs from cropRect's")
            }
            buf.put(crop)
            val x = FloatArray(n)
            cropper.toTensor(crop, x)
            for (v in x) buf.putFloat(v)
        }
        File(t[0]).writeBytes(buf.array())
    }
}
"""


@pytest.fixture(scope="module")
def kotlin_cropper(tmp_path_factory, pytestconfig):
    """FaceCropper.kt compiled with a small driver (kotlinc, Debian's `kotlin` package).

    The jar is kept in pytest's cache, keyed by the sources' hash: only the first run compiles (~15 s).
    """
    import hashlib

    kotlinc, java = shutil.which("kotlinc"), shutil.which("java")
    if not (kotlinc and java):
        pytest.skip("kotlinc/java not on PATH (Debian: apt-get install kotlin): the Kotlin cropper is not run here")
    work = tmp_path_factory.mktemp("kotlin_cropper")
    source = (KOTLIN_MAIN / "FaceCropper.kt").read_text() + HARNESS
    key = hashlib.sha256((source + os.path.realpath(kotlinc)).encode()).hexdigest()[:16]
    cache = getattr(pytestconfig, "cache", None)
    jar = (cache.mkdir("edge_sdk_demo_kotlin") if cache is not None else work) / f"cropper-{key}.jar"
    if not jar.is_file():
        (work / "Harness.kt").write_text(HARNESS)
        partial = work / "cropper.jar"
        done = subprocess.run([kotlinc, str(KOTLIN_MAIN / "FaceCropper.kt"), str(work / "Harness.kt"),
                               "-include-runtime", "-d", str(partial)], capture_output=True, text=True, timeout=300)
        errors = [ln for ln in done.stderr.splitlines() if "error:" in ln]
        assert done.returncode == 0 and not errors, "FaceCropper.kt does not compile:\n" + "\n".join(errors or [done.stderr])
        shutil.copyfile(partial, jar)

    def run(frame: np.ndarray, jobs: list[tuple]) -> list[dict]:
        h, w = frame.shape[:2]
        raw = work / "frame.rgb"
        raw.write_bytes(np.ascontiguousarray(frame).tobytes())
        lines = [f"{raw} {w} {h}"]
        for k, (spec, box, keypoints) in enumerate(jobs):
            s = spec.to_dict()
            template = ",".join(repr(float(v)) for pt in s.get("template", []) for v in pt) or "-"
            kps = "-" if keypoints is None else ",".join(repr(float(v)) for v in np.float32(keypoints).reshape(-1))
            lines.append(" ".join(map(str, [work / f"out{k}.bin", s["size"], repr(s["margin"]), int(s["square"]),
                                            s["resize"], s["pad_value"], *map(repr, s["mean"]), *map(repr, s["std"]),
                                            int(s["normalize_in_model"]), *map(repr, map(float, box)),
                                            s.get("align", "-"), template, kps])))
        (work / "job.txt").write_text("\n".join(lines) + "\n")
        r = subprocess.run([java, "-cp", str(jar), "dev.edgesdk.demo.HarnessKt", str(work / "job.txt")],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        results = []
        for k, (spec, *_) in enumerate(jobs):
            data = (work / f"out{k}.bin").read_bytes()
            rect = struct.unpack("<4i", data[:16])
            n = spec.size * spec.size * 3
            results.append({"rect": None if rect[0] == -1 else rect,
                            "crop": np.frombuffer(data[16:16 + n], np.uint8).reshape(spec.size, spec.size, 3),
                            "tensor": np.frombuffer(data[16 + n:], "<f4").reshape(3, spec.size, spec.size)})
        return results

    return run


def test_kotlin_cropper_matches_runtime(kotlin_cropper, exported_manifest):
    try:
        frames = _sample_frames()
    except pytest.skip.Exception:  # ../shared absent: the synthetic frame still exercises every branch
        frames = []
    for frame_name, frame in frames + [("synthetic", synthetic_frame(96, 64))]:
        jobs = [(spec, box, None) for _, spec in _specs(exported_manifest) for _, box in _boxes_for(frame)]
        box = _face_box(frame)[0]
        jobs += [(spec, box, kp) for _, spec in _aligned_specs() for _, kp in _keypoints_for(frame)]
        for (spec, box, kp), got in zip(jobs, kotlin_cropper(frame, jobs)):
            label = f"{frame_name} {spec} {box} {kp}"
            r = _check_crop(frame, box, spec, label) if kp is None else _check_aligned_crop(frame, kp, spec, label)
            assert got["rect"] == r["rect"], label
            # The Kotlin code and its numpy mirror do the same float32 arithmetic: same pixels.
            np.testing.assert_array_equal(got["crop"], r["crop"], err_msg=label)
            np.testing.assert_array_equal(got["tensor"], demo_to_tensor(got["crop"], spec.to_dict())[0], err_msg=label)


def _jvm_test_classpath() -> list[str] | None:
    """JUnit 4, Hamcrest and an org.json (Debian: junit4 or ~/.m2, libandroid-json-java): the apps' unit-test
    classpath without Gradle; EDGE_SDK_JUNIT_CP (os.pathsep-separated jars) overrides. None if a part is missing."""
    if os.environ.get("EDGE_SDK_JUNIT_CP"):
        return os.environ["EDGE_SDK_JUNIT_CP"].split(os.pathsep)
    m2 = Path.home() / ".m2" / "repository"
    wanted = [[m2.glob("junit/junit/4.*/junit-4.*.jar"), Path("/usr/share/java").glob("junit4.jar")],
              [m2.glob("org/hamcrest/hamcrest-core/*/hamcrest-core-*.jar"), Path("/usr/share/java").glob("hamcrest-core.jar")],
              [m2.glob("org/json/json/*/json-*.jar"), Path("/usr/share/java").glob("com.android.json.jar")]]
    found = []
    for globs in wanted:
        jars = sorted(j for g in globs for j in g if j.is_file() and not j.name.endswith(("-sources.jar", "-javadoc.jar")))
        if not jars:
            return None
        found.append(str(jars[-1]))
    return found


def test_kotlin_unit_tests_pass_on_the_jvm(tmp_path, pytestconfig):
    """android_demo's own FaceCropperTest.kt (golden crops, box and aligned; manifest checks), compiled with kotlinc
    against the app's FaceCropper/ArtifactManifest/FaceTracker/DemoSettings and run with JUnit 4: what
    `./gradlew :app:testDebugUnitTest` runs, without Gradle or the Android SDK."""
    import hashlib

    kotlinc, java = shutil.which("kotlinc"), shutil.which("java")
    cp = _jvm_test_classpath()
    if not (kotlinc and java and cp):
        pytest.skip("kotlinc/java or JUnit 4 + Hamcrest + org.json jars not found (Debian: apt-get install kotlin junit4 "
                    "libandroid-json-java, or EDGE_SDK_JUNIT_CP): the Kotlin unit tests are not run here")
    test_dir = ANDROID / "app" / "src" / "test"
    sources = [KOTLIN_MAIN / f"{n}.kt" for n in ("ArtifactManifest", "FaceCropper", "FaceTracker", "DemoSettings")]
    sources.append(test_dir / "java" / "dev" / "edgesdk" / "demo" / "FaceCropperTest.kt")
    key = hashlib.sha256(("".join(f.read_text() for f in sources) + os.path.realpath(kotlinc) + ":".join(cp))
                         .encode()).hexdigest()[:16]
    cache = getattr(pytestconfig, "cache", None)
    jar = (cache.mkdir("edge_sdk_demo_kotlin") if cache is not None else tmp_path) / f"unit-tests-{key}.jar"
    if not jar.is_file():
        partial = tmp_path / "unit-tests.jar"
        done = subprocess.run([kotlinc, "-cp", os.pathsep.join(cp), *map(str, sources), "-include-runtime", "-d",
                               str(partial)], capture_output=True, text=True, timeout=300)
        errors = [ln for ln in done.stderr.splitlines() if "error:" in ln]
        assert done.returncode == 0 and not errors, "FaceCropperTest.kt does not compile:\n" + "\n".join(errors or [done.stderr])
        shutil.copyfile(partial, jar)
    run = subprocess.run([java, "-cp", os.pathsep.join([str(jar), str(test_dir / "resources"), *cp]),
                          "org.junit.runner.JUnitCore", "dev.edgesdk.demo.FaceCropperTest"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "OK (" in run.stdout, run.stdout[-4000:] + run.stderr[-2000:]


# ------------------------------------------------------------------------------------------------
# 4. syntax, READMEs


def _tree_sitter_errors(lang_module: str, files: list[Path]) -> dict[str, list]:
    ts = pytest.importorskip("tree_sitter", reason="tree-sitter not installed (pip install tree-sitter "
                                                   "tree-sitter-kotlin tree-sitter-swift): syntax not checked here")
    grammar = pytest.importorskip(lang_module, reason=f"{lang_module} not installed: syntax not checked here")
    parser = ts.Parser(ts.Language(grammar.language()))
    bad = {}
    for f in files:
        errors, stack = [], [parser.parse(f.read_bytes()).root_node]
        while stack:
            node = stack.pop()
            if node.type == "ERROR" or node.is_missing:
                errors.append(f"line {node.start_point[0] + 1}: {node.text[:60]!r}")
                continue
            stack.extend(node.children)
        if errors:
            bad[f.name] = errors
    return bad


@pytest.mark.parametrize("lang_module,glob,broken", [
    ("tree_sitter_kotlin", "android_demo/**/*.kt", b"class A { fun f( { val x = listOf(1, 2 }\n"),
    ("tree_sitter_swift", "ios_demo/**/*.swift", b"struct A { func f( { let x = [1, 2 }\n"),
])
def test_sources_parse(lang_module, glob, broken, tmp_path):
    files = sorted(ROOT.glob(glob))
    assert files
    assert not _tree_sitter_errors(lang_module, files), _tree_sitter_errors(lang_module, files)
    probe = tmp_path / ("broken" + files[0].suffix)
    probe.write_bytes(broken)
    assert _tree_sitter_errors(lang_module, [probe]), "the parser check would not catch a syntax error"


def test_swift_parses_with_swiftc(tmp_path):
    swiftc = shutil.which("swiftc")
    if not swiftc:
        pytest.skip("swiftc not on PATH (no Swift toolchain here): Swift syntax checked by tree-sitter only")
    files = sorted(IOS.glob("**/*.swift"))
    done = subprocess.run([swiftc, "-parse", *map(str, files)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_readmes_give_working_commands():
    """Each README says plainly it was not built here, and its export commands parse with the real CLI."""
    from edge_sdk.cli import parse

    for readme, out in ((ANDROID / "README.md", "android_demo/app/src/main/assets/"),
                        (IOS / "README.md", "ios_demo/EdgeSdkDemo/Models/")):
        text = readme.read_text()
        assert ("Not built or run here: no Android SDK/Xcode on the development machine; the Python tests "
                "check the manifest contract and crop arithmetic only.") in " ".join(text.split())
        commands = re.findall(r"^\s*(edge-sdk export [^\n]*)", text.replace("\\\n", " "), re.M)
        assert commands, f"{readme.name} has no edge-sdk export command"
        assert any(f"--out {out}" in c for c in commands), f"{readme.name}: no export into {out}"
        for cmd in commands:
            try:
                verb, _ = parse(shlex.split(cmd)[1:])
            except SystemExit as err:
                pytest.fail(f"{readme.name}: `{cmd}` is not a valid edge-sdk command (exit {err.code})")
            assert verb == "export"


def test_device_crop_tool_writes_the_crop_and_host_logit(export_dir, exported_manifest, tmp_path):
    """benchmarks/device_crop.py: the benchmark screens' crop is the runtime's crop of the photo, and its reference
    logit is what the runtime gets from the same artifact."""
    import edge_sdk
    from edge_sdk.benchmarks.device_crop import main
    from edge_sdk.faces import FaceDetector
    from edge_sdk.preprocess import CropSpec, load_image

    photo = shared_path("samples", "western_real_1.JPG")
    assert main([str(export_dir), "--image", str(photo), "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "bench_crop.json").read_text())
    spec = CropSpec.from_dict(exported_manifest["crop"])
    rgb = load_image(photo)
    with FaceDetector() as det:
        box = det.detect(rgb)[0].box
    crop = spec.crop(rgb, box)
    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(tmp_path / "bench_crop.png")), crop)
    with edge_sdk.load(export_dir / exported_manifest["artifact"]["file"]) as backend:
        want = float(np.asarray(backend.predict(spec.to_tensor(crop))).reshape(-1)[0])
    assert record["logit"] == pytest.approx(want, abs=1e-6) and record["crop_size"] == spec.size
    assert record["artifact_sha256"] == exported_manifest["artifact"]["sha256"]
