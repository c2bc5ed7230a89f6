package dev.edgesdk.demo

/**
 * The demo's settings that are not properties of the exported model, so not in manifest.json.
 * Each mirrors a default of the Python runtime, named here, so phone and `edge-sdk camera`
 * behave alike. Crop and normalisation numbers are never here: they come from the manifest.
 */
object DemoSettings {
    /** BlazeFace short-range, the file the Python runtime uses (`edge-sdk fetch-assets`; README). */
    const val FACE_MODEL_ASSET = "face_detection_short_range.tflite"

    /** edge_sdk/faces.py FaceDetector(min_confidence=0.5); MediaPipe's default too. */
    const val MIN_DETECTION_CONFIDENCE = 0.5f

    /** edge_sdk/faces.py FaceDetector(min_suppression=0.3); MediaPipe's default too. */
    const val MIN_SUPPRESSION_THRESHOLD = 0.3f

    /**
     * Analysis frame size asked of CameraX. edge_sdk/faces.py detects at most 640 px wide
     * (max_side=640, larger frames shrunk by a whole factor), so at 640x480 the Python runtime
     * would detect on the same pixels.
     */
    const val ANALYSIS_WIDTH = 640
    const val ANALYSIS_HEIGHT = 480

    /** edge_sdk/aggregate.py IoUTracker(min_iou=0.3, max_gap=5). */
    const val TRACK_MIN_IOU = 0.3
    const val TRACK_MAX_GAP = 5

    /**
     * edge_sdk/aggregate.py TrackSmoother(alpha=0.3, max_gap=30), `edge-sdk camera --smooth 0.3`:
     * s = alpha * p + (1 - alpha) * s_prev per track. A runtime choice, not in the manifest.
     */
    const val SMOOTH_ALPHA = 0.3
    const val SMOOTH_MAX_GAP = 30

    /** Frames over which the overlay's FPS and mean latencies are averaged. */
    const val RATE_WINDOW = 30

    /** benchmarks/measure.py defaults: warm-up runs, then timed runs. */
    const val BENCH_WARMUP = 10
    const val BENCH_RUNS = 100

    /** Written by benchmarks/device_crop.py beside the exported model folders. */
    const val BENCH_CROP_ASSET = "bench_crop.png"
    const val BENCH_REFERENCE_ASSET = "bench_crop.json"

    /** Preferred export folders when several are in assets/ (`--out assets/` makes <target>-<precision>/). */
    val PREFERRED_MODEL_DIRS = listOf("executorch-int8", "executorch-fp32", "litert-int8", "litert-fp16", "litert-fp32")

    /** LiteRT interpreter threads; benchmarks/bench.py --threads 2 measures the same on a host. */
    const val LITERT_THREADS = 2
}
