import SwiftUI
import UIKit

/// N predictions on a bundled face crop per compute-unit setting: mean / p50 / p90 / p99 of the
/// Core ML call alone and of normalise + call + sigmoid, computed like benchmarks/measure.py.
///
/// The crop is `Models/bench_crop.png` (benchmarks/device_crop.py, with the Python
/// runtime's BlazeFace and crop spec); `bench_crop.json` beside it holds a host reference logit
/// for it, so the screen shows the device-vs-host difference too. Without them a synthetic crop is used.
struct BenchmarkView: View {
    @State private var runs = DemoSettings.benchRuns
    @State private var warmup = DemoSettings.benchWarmup
    @State private var report = ""
    @State private var running = false

    var body: some View {
        Form {
            Section("Runs") {
                Stepper("Timed runs: \(runs)", value: $runs, in: 1...10_000, step: 50)
                Stepper("Warm-up runs: \(warmup)", value: $warmup, in: 0...1_000, step: 5)
                Button(running ? "Running..." : "Run on every compute-unit setting") {
                    running = true
                    Task {
                        report = await Self.benchmark(runs: runs, warmup: warmup)
                        running = false
                    }
                }
                .disabled(running)
            }
            Section("Result") {
                Text(report.isEmpty ? "Not run yet." : report)
                    .font(.caption.monospaced())
                    .textSelection(.enabled)
            }
        }
        .navigationTitle("Benchmark")
    }

    private struct TestCrop {
        let rgb: [UInt8]
        let source: String
        let referenceLogit: Double?
        let referenceBackend: String?
    }

    private struct Reference: Decodable {
        let artifactSha256: String
        let logit: Double?
        let backend: String?
    }

    static func benchmark(runs: Int, warmup: Int) async -> String {
        let device = await MainActor.run { "\(UIDevice.current.model), iOS \(UIDevice.current.systemVersion)" }
        var lines: [String] = ["device \(device)"]
        for units in [ComputeUnitsChoice.all, .cpuAndGPU, .cpuAndNeuralEngine] {
            do {
                let c = try await DeepfakeClassifier.load(units: units)
                if lines.count == 1 {
                    let m = c.manifest
                    lines.append("model \(m.description) [Models/\(c.modelDir)], sha256 \(m.artifact.sha256.prefix(12))... verified")
                    lines.append("exported with coremltools \((m.versions["coremltools"] ?? nil) ?? "?")")
                    lines.append("input \(m.input.name) \(m.input.dims.map(String.init).joined(separator: "x")) float32; \(warmup) warm-up + \(runs) timed")
                }
                lines.append(contentsOf: try run(c, runs: runs, warmup: warmup))
            } catch {
                lines.append("\(units.rawValue): failed: \(error.localizedDescription)")
            }
        }
        return lines.joined(separator: "\n")
    }

    private static func run(_ c: DeepfakeClassifier, runs: Int, warmup: Int) throws -> [String] {
        let crop = testCrop(c)
        var x = [Float](repeating: 0, count: c.inputElements)
        c.cropper.toTensor(crop.rgb, into: &x)
        var logit: Float = 0
        for _ in 0..<warmup { logit = try c.logit(x) }
        var call: [Double] = []
        var full: [Double] = []
        for _ in 0..<runs {
            let t0 = CACurrentMediaTime()
            c.cropper.toTensor(crop.rgb, into: &x)
            let t1 = CACurrentMediaTime()
            logit = try c.logit(x)
            let t2 = CACurrentMediaTime()
            _ = DeepfakeClassifier.sigmoid(logit)
            let t3 = CACurrentMediaTime()
            call.append((t2 - t1) * 1000)
            full.append((t3 - t0) * 1000)
        }
        let p = DeepfakeClassifier.sigmoid(logit)
        var out = [
            "",
            "\(c.computeUnits.rawValue) (load \(String(format: "%.2f", c.loadSeconds)) s, crop: \(crop.source))",
            "  predict    \(LatencyStats(call).summary)",
            "  +pre/post  \(LatencyStats(full).summary)",
            String(format: "  logit %.5f  P(fake) %.4f  %@ (threshold %.2f)", logit, p, c.isFake(p) ? "fake" : "real", c.manifest.threshold),
        ]
        if let ref = crop.referenceLogit {
            out.append(String(format: "  host logit %.5f (%@), |d logit| %.2e", ref, crop.referenceBackend ?? "?", abs(Double(logit) - ref)))
        }
        return out
    }

    /// The bundled crop if it has the model's input size, else a synthetic one.
    private static func testCrop(_ c: DeepfakeClassifier) -> TestCrop {
        let size = c.cropper.size
        guard let root = ModelStore.modelsURL,
              let image = UIImage(contentsOfFile: root.appendingPathComponent(DemoSettings.benchCrop).path)?.cgImage,
              image.width == size, image.height == size else {
            let rgb = (0..<(size * size * FaceCropper.rgb)).map { UInt8(truncatingIfNeeded: $0 * 7) }
            return TestCrop(rgb: rgb, source: "synthetic (no \(DemoSettings.benchCrop))", referenceLogit: nil, referenceBackend: nil)
        }
        // Draw into an sRGB RGBA buffer (the PNG is sRGB, so values are unchanged), then take RGB.
        let bytesPerRow = size * PixelFrame.bytesPerPixel
        var rgba = [UInt8](repeating: 0, count: bytesPerRow * size)
        var rgb = [UInt8](repeating: 0, count: size * size * FaceCropper.rgb)
        rgba.withUnsafeMutableBytes { raw in
            let ctx = CGContext(data: raw.baseAddress, width: size, height: size, bitsPerComponent: 8, bytesPerRow: bytesPerRow,
                                space: CGColorSpace(name: CGColorSpace.sRGB)!,
                                bitmapInfo: CGImageAlphaInfo.noneSkipLast.rawValue)!
            ctx.draw(image, in: CGRect(x: 0, y: 0, width: size, height: size))
        }
        rgba.withUnsafeBufferPointer { p in
            // The PNG already is the crop: a whole-image rectangle at the crop size is an identity resize.
            let frame = PixelFrame(base: p.baseAddress!, width: size, height: size, bytesPerRow: bytesPerRow, rgbOffsets: PixelFrame.rgba)
            c.cropper.crop(frame, rect: CropRect(left: 0, top: 0, right: size, bottom: size), into: &rgb)
        }
        var referenceLogit: Double?
        var referenceBackend: String?
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        if let data = try? Data(contentsOf: root.appendingPathComponent(DemoSettings.benchReference)),
           let ref = try? decoder.decode(Reference.self, from: data), ref.artifactSha256 == c.manifest.artifact.sha256 {
            referenceLogit = ref.logit
            referenceBackend = ref.backend
        }
        return TestCrop(rgb: rgb, source: DemoSettings.benchCrop, referenceLogit: referenceLogit, referenceBackend: referenceBackend)
    }
}
