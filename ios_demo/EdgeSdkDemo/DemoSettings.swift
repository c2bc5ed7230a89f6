import AVFoundation

/// The demo's settings that are not properties of the exported model, so not in manifest.json.
/// Each mirrors a default of the Python runtime, named here. Crop and normalisation numbers are
/// never here: they come from the manifest.
enum DemoSettings {
    /// 640x480 frames: edge_sdk/faces.py detects at most 640 px wide (max_side=640), so the Python
    /// runtime would detect on the same pixels (and android_demo analyses the same size).
    static let sessionPreset: AVCaptureSession.Preset = .vga640x480

    /// edge_sdk/aggregate.py IoUTracker(min_iou=0.3, max_gap=5).
    static let trackMinIoU = 0.3
    static let trackMaxGap = 5

    /// edge_sdk/aggregate.py TrackSmoother(alpha=0.3, max_gap=30), `edge-sdk camera --smooth 0.3`.
    static let smoothAlpha = 0.3
    static let smoothMaxGap = 30

    /// Frames over which the overlay's FPS and mean latencies are averaged.
    static let rateWindow = 30

    /// benchmarks/measure.py defaults: warm-up runs, then timed runs.
    static let benchWarmup = 10
    static let benchRuns = 100

    /// Bundle folder (an Xcode folder reference) that `edge-sdk export --out` fills.
    static let modelsFolder = "Models"
    /// Written by benchmarks/device_crop.py into the Models folder.
    static let benchCrop = "bench_crop.png"
    static let benchReference = "bench_crop.json"
    /// Preferred export folders when several are bundled (`--out Models/` makes <target>-<precision>/).
    static let preferredModelDirs = ["coreml-fp16", "coreml-palettized", "coreml-int8", "coreml-w8a8", "coreml-fp32"]
}
