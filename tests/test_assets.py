"""Face-model asset resolution: explicit path, cache, checks, and the offline message."""

from __future__ import annotations

import pytest

from edge_sdk import assets
from edge_sdk.assets import AssetError, face_model_path


def test_explicit_and_env_paths_are_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGE_SDK_HOME", str(tmp_path / "home"))
    with pytest.raises(AssetError, match="does not exist"):
        face_model_path(tmp_path / "nope.tflite")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"<html>captive portal</html>")
    monkeypatch.setenv("EDGE_SDK_FACE_MODEL", str(junk))
    with pytest.raises(AssetError, match="not a TFLite model"):
        face_model_path()


def test_cache_is_used_and_offline_failure_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("EDGE_SDK_FACE_MODEL", raising=False)
    monkeypatch.setenv("EDGE_SDK_HOME", str(tmp_path))
    with pytest.raises(AssetError) as err:
        face_model_path(download=False)
    msg = str(err.value)
    assert "edge-sdk fetch-assets" in msg and "EDGE_SDK_FACE_MODEL" in msg and "mediapipe==0.10.21" in msg
    fake = tmp_path / assets.FACE_MODEL_NAME
    fake.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 64)
    assert face_model_path(download=False) == fake


def test_unknown_hash_from_the_wheel_is_refused(tmp_path):
    f = tmp_path / "m.tflite"
    f.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x01" * 64)
    with pytest.raises(AssetError, match="not a known BlazeFace"):
        assets._check(f, "wheel", require_known=True)
