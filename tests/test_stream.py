"""Cameras and streams: sources, the camera loop on real video, dropping stale frames, stalls, the e2e benchmark."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest

from edge_sdk.aggregate import TrackSmoother
from edge_sdk.errors import InputError
from edge_sdk.stream import FrameSource, csi_pipeline, gstreamer_available, resolve_source, run_stream
from tests.conftest import shared_path


def count_frames(path) -> int:
    """Frames that actually decode (the container's count can be wrong)."""
    cap, n = cv2.VideoCapture(str(path)), 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


@pytest.fixture(scope="module")
def clip(sample_clip):
    return sample_clip


def test_detect_every_k_detects_on_every_kth_frame_and_holds_the_boxes_between(b0_artifacts, clip, tmp_path):
    from edge_sdk.stream import EveryK

    class Counting:
        calls: list[int] = []

        def detect(self, rgb, timestamp_ms=None):
            self.calls.append(timestamp_ms)
            from edge_sdk.faces import Face

            return [Face((float(timestamp_ms), 0.0, timestamp_ms + 10.0, 10.0), 0.9)]

    every = EveryK(Counting(), 3)
    boxes = [every.detect(np.zeros((4, 4, 3), np.uint8), timestamp_ms=t)[0].box[0] for t in range(7)]
    assert Counting.calls == [0, 3, 6] and boxes == [0, 0, 0, 3, 3, 3, 6]
    with pytest.raises(InputError, match="--detect-every"):
        EveryK(Counting(), 0)
    # the camera loop: every frame still scored, faces from frames 0, 3, 6, ... held between
    jsonl = tmp_path / "k3.jsonl"
    summary = run_stream(clip, b0_artifacts["onnx"], jsonl=jsonl, live=False, max_frames=9, detect_every=3)
    lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert summary["detect_every"] == 3 and len(lines) == 9
    assert all(r["faces"] and r["faces"][0]["p_fake"] is not None for r in lines)
    for start in (0, 3, 6):
        assert lines[start]["faces"][0]["box"] == lines[start + 1]["faces"][0]["box"] == lines[start + 2]["faces"][0]["box"]
    assert lines[0]["faces"][0]["box"] != lines[3]["faces"][0]["box"]  # the face moves; a new detection follows it
    with pytest.raises(InputError, match="--detect-every"):
        run_stream(clip, b0_artifacts["onnx"], live=False, max_frames=1, detect_every=0)


def test_camera_loop_on_a_video_file_writes_every_frame_it_read(b0_artifacts, clip, tmp_path, capsys):
    from edge_sdk.cli import main

    out, jsonl = tmp_path / "annotated.mp4", tmp_path / "frames.jsonl"
    code = main(["camera", "--source", str(clip), "--model", str(b0_artifacts["onnx"]), "--out", str(out),
                 "--jsonl", str(jsonl), "--quiet"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "ended" and "ended after 45 frames" in summary["message"]
    assert summary["frames_read"] == summary["frames_processed"] == summary["frames_written"] == 45
    assert summary["frames_dropped"] == 0, "a file source hands over every frame"
    assert count_frames(out) == 45, "the annotated video has one frame per frame read"
    assert not list(tmp_path.glob(".*partial*")), "no partial file left behind"
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(45))
    with_face = [r for r in lines if r["faces"]]
    assert len(with_face) >= 40
    assert {f["track"] for r in with_face for f in r["faces"]} == {0}, "one person, one track"
    smooth = [r["faces"][0]["p_smooth"] for r in with_face]
    raw = [r["faces"][0]["p_fake"] for r in with_face]
    assert smooth[0] == raw[0] and np.std(np.diff(smooth)) <= np.std(np.diff(raw)) + 1e-9
    assert summary["verdict"] in ("real", "fake") and set(summary["tracks"]) == {"0"}
    assert set(summary["stage_ms"]) == {"wait", "decode", "detect", "crop", "model", "draw", "write"}
    assert summary["stage_ms"]["model"] > 0 and summary["stage_ms"]["detect"] > 0
    cap = cv2.VideoCapture(str(out))
    ok, first = cap.read()
    cap.release()
    box = [round(v) for v in lines[0]["faces"][0]["box"]]
    col = np.median(first[box[1] + 4:box[3] - 4, box[0]], axis=0)  # BGR: the box's left edge, red or green
    assert (col[2] > 150 and col[1] < 100) or (col[1] > 130 and col[2] < 110), f"no box drawn: {col}"


class FakeCamera:
    """A live camera that serves ``frames`` frames, then fails (``end='fail'``) or hangs (``end='stall'``)."""

    def __init__(self, image: np.ndarray, frames: int, end: str, period: float = 0.004):
        self.image, self.left, self.end, self.period, self.released = image, frames, end, period, False

    def isOpened(self) -> bool:
        return True

    def get(self, prop: int) -> float:
        return {cv2.CAP_PROP_FPS: 30.0, cv2.CAP_PROP_FRAME_WIDTH: self.image.shape[1],
                cv2.CAP_PROP_FRAME_HEIGHT: self.image.shape[0]}.get(prop, 0.0)

    def read(self):
        if self.left > 0:
            self.left -= 1
            time.sleep(self.period)
            return True, self.image.copy()
        if self.end == "stall":
            time.sleep(2.5)  # a camera that stops delivering without an error
        return False, None

    def release(self) -> None:
        self.released = True


def test_live_source_drops_stale_frames_reconnects_and_survives_a_stall(b0_artifacts, tmp_path, capsys):
    photo = cv2.imread(str(shared_path("samples", "western_real_1.JPG")))
    cameras = iter([FakeCamera(photo, 40, "fail"), FakeCamera(photo, 40, "stall")])
    summary = run_stream("0", b0_artifacts["onnx"], out=tmp_path / "live.mp4", capture=lambda: next(cameras),
                         stall_timeout=0.3, stall_limit=0.9)
    err = capsys.readouterr().err
    assert "reconnecting (1/3)" in err, "the failed camera is reopened"
    assert summary["status"] == "stalled" and "no frame for" in summary["message"]
    assert summary["frames_read"] == 80
    assert summary["frames_dropped"] > 0, "the loop is slower than the camera, so stale frames are dropped"
    assert summary["frames_processed"] + summary["frames_dropped"] == 80
    assert count_frames(tmp_path / "live.mp4") == summary["frames_written"] == summary["frames_processed"]
    assert summary["verdict"] in ("real", "fake")


def test_sources_are_recognised_with_clear_errors(tmp_path):
    assert resolve_source("0")[0] == 0 and resolve_source(2)[2] is True
    target, api, live, _ = resolve_source("rtsp://10.0.0.5:8554/cam")
    assert target == "rtsp://10.0.0.5:8554/cam" and api == cv2.CAP_FFMPEG and live
    pipeline = csi_pipeline(1, 1920, 1080, 60)
    assert "nvarguscamerasrc sensor-id=1" in pipeline and "framerate=60/1" in pipeline and pipeline.endswith(
        "sync=false")
    if not gstreamer_available():
        with pytest.raises(InputError, match="needs OpenCV built with GStreamer"):
            resolve_source("csi://1")
        with pytest.raises(InputError, match="GStreamer"):
            resolve_source("videotestsrc ! appsink")
    with pytest.raises(InputError, match="csi:// takes a sensor number"):
        resolve_source("csi://left")
    with pytest.raises(InputError, match="not a camera index, URL"):
        resolve_source(tmp_path / "missing.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        resolve_source(tmp_path / "empty.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"\x00not a video" * 50)
    with pytest.raises(InputError, match="junk.mp4: cannot be opened"):
        FrameSource(tmp_path / "junk.mp4")


def test_track_smoother_is_a_per_track_ema():
    s = TrackSmoother(alpha=0.5, max_gap=2)
    assert s.update({0: 0.8, 1: 0.2}) == {0: 0.8, 1: 0.2}
    assert s.update({0: 0.0}) == {0: pytest.approx(0.4)}
    s.update({})
    s.update({})
    assert s.update({1: 1.0}) == {1: 1.0}, "track 1 was forgotten after max_gap updates, so it starts afresh"
    with pytest.raises(InputError, match="alpha"):
        TrackSmoother(alpha=0)


def test_e2e_benchmark_reports_fps_and_stage_split(b0_artifacts, clip, tmp_path):
    from edge_sdk.benchmarks.e2e import run

    result = run(clip, b0_artifacts["onnx"], threads=2, repeats=1, out_dir=tmp_path)
    iso, pipe = result["isolated"], result["pipelined"]
    assert iso["frames"] == 45 and iso["faces"] >= 40 and iso["frame_size"] == [1280, 720]
    assert pipe["frames"] == 45 and pipe["fps_median"] > 0
    assert iso["sum_ms"] == pytest.approx(sum(s["mean"] for s in iso["stage_ms"].values()), abs=0.05)
    assert all(iso["stage_ms"][k]["mean"] > 0 for k in ("decode", "detect", "crop", "model"))
    saved = json.loads((tmp_path / "e2e.json").read_text())
    assert saved["machine"]["cores"] >= 1 and saved["pipelined"]["fps_runs"] == pipe["fps_runs"]
    md = (tmp_path / "e2e.md").read_text()
    assert f"**{pipe['fps_median']:.1f} frames/s**" in md
    # each thread's busy time over the loop: the main thread scores, the reader decodes; the rows add up to the
    # process's CPU time (up to the clock tick per thread) and no more cores than exist are busy
    cpu = pipe["cpu_of_best"]
    rows = {r["name"]: r for r in cpu["threads"]}
    assert cpu["measured"] and rows["MainThread"]["busy_s"] > 0 and rows["edge-sdk-reader"]["busy_s"] > 0
    assert 0 < rows["MainThread"]["busy_share"] <= 1.05 and rows["MainThread"]["threads"] == 1
    assert sum(r["busy_s"] for r in rows.values()) <= cpu["cpu_s"] + 0.01 * len(rows) + 0.05
    assert 0 < cpu["cores_busy"] <= cpu["cores"] + 0.1 and cpu["wall_s"] > 0
    assert f"**{cpu['cores_busy']:.2f} of {cpu['cores']} cores busy**" in md and "| edge-sdk-reader | 1 |" in md
    # detect's throughput mode over the same file: 8 frames per model call, the same logits as 1
    t = result["throughput"]
    assert t["status"] == "ok" and t["batch_frames"] == 8 and t["frames"] == 45 and t["faces"] >= 40
    assert t["fps_1"] > 0 and t["fps_batched"] > 0 and t["max_abs_d_logit"] < 1e-4 and t["same_verdict"]
    assert t["artifact_batch"] == "dynamic" and f"| 8 | dynamic | {t['fps_1']:.1f} | {t['fps_batched']:.1f} |" in md


def test_thread_clock_tells_a_busy_thread_from_a_waiting_one(monkeypatch):
    import threading

    from edge_sdk import timing

    stop = threading.Event()

    def spin():
        while not stop.is_set():
            pass

    threads = [threading.Thread(target=spin, name="spinner", daemon=True)]
    threads += [threading.Thread(target=stop.wait, name="sleeper", daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        clock = timing.ThreadClock()
        time.sleep(1.0)
        split = clock.stop()
    finally:
        stop.set()
        for t in threads:
            t.join()
    rows = {r["name"]: r for r in split["threads"]}
    assert split["measured"] and split["wall_s"] >= 1.0
    assert rows["spinner"]["busy_share"] > 0.5 and rows["spinner"]["threads"] == 1
    assert rows["sleeper"]["threads"] == 2 and rows["sleeper"]["busy_share"] < 0.2  # two threads, one row
    assert rows["sleeper"]["waiting_s"] > 1.6 and rows["MainThread"]["busy_share"] < 0.2
    assert split["cores_busy"] > 0.5
    assert "| spinner | 1 |" in "\n".join(timing.busy_table(split))
    # without /proc (not Linux) the split says so instead of reporting zeros
    monkeypatch.setattr(timing, "TASKS", timing.Path("/nonexistent/task"))
    split = timing.ThreadClock().stop()
    assert split["measured"] is False and split["threads"] is None and "not measured" in split["reason"]
    assert timing.busiest(split) == "not measured" and "not measured" in timing.busy_table(split)[0]
