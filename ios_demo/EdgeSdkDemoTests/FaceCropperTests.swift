import XCTest

/// The crop arithmetic against the Python runtime: crop_golden.json (shared with android_demo) is
/// written by tests/test_demo_apps.py from edge_sdk's CropSpec, which fails when it goes stale.
/// Box crops and landmark-aligned crops (cases with `keypoints`, crop.align "keypoints").
final class FaceCropperTests: XCTestCase {
    private struct Golden: Decodable {
        struct Case: Decodable {
            let name: String
            let frameWidth: Int
            let frameHeight: Int
            let box: [Double]
            let rect: [Int]
            let cropUint8: [Int]
            let tensor: [Double]
            /// Aligned cases: the face's keypoints, [[x, y], ...] in frame pixels.
            let keypoints: [[Double]]?
        }
        let cases: [Case]
    }

    private func golden() throws -> (Golden, [[String: Any]]) {
        let url = try XCTUnwrap(Bundle(for: Self.self).url(forResource: "crop_golden", withExtension: "json"))
        let data = try Data(contentsOf: url)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let raw = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        return (try decoder.decode(Golden.self, from: data), try XCTUnwrap(raw["cases"] as? [[String: Any]]))
    }

    /// The synthetic frame of the golden file as RGBA bytes (formula shared with the Python test).
    private func frame(width: Int, height: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0xFF, count: width * height * 4)
        for y in 0..<height {
            for x in 0..<width {
                let o = (y * width + x) * 4
                out[o] = UInt8((x * 5 + y * 3) & 0xFF)
                out[o + 1] = UInt8((x * y + 40) & 0xFF)
                out[o + 2] = UInt8((x * 11 + y * 7 + 50) & 0xFF)
            }
        }
        return out
    }

    func testCropsMatchThePythonRuntime() throws {
        let (g, raw) = try golden()
        XCTAssertFalse(g.cases.isEmpty)
        for (k, c) in g.cases.enumerated() {
            let manifestURL = FileManager.default.temporaryDirectory.appendingPathComponent("\(c.name).manifest.json")
            try JSONSerialization.data(withJSONObject: raw[k]["manifest"]!).write(to: manifestURL)
            let cropper = FaceCropper(spec: try ArtifactManifest.load(from: manifestURL).crop)
            let box = FaceBox(x0: Float(c.box[0]), y0: Float(c.box[1]), x1: Float(c.box[2]), y1: Float(c.box[3]))
            let keypoints = c.keypoints.map { $0.flatMap { $0.map { Float($0) } } }
            XCTAssertEqual(keypoints != nil, cropper.alignsKeypoints, c.name)
            let rect = try XCTUnwrap(cropper.cropRect(box, frameWidth: c.frameWidth, frameHeight: c.frameHeight,
                                                      keypoints: keypoints), c.name)
            XCTAssertEqual([rect.left, rect.top, rect.right, rect.bottom], c.rect, c.name)

            var out = [UInt8](repeating: 0, count: cropper.size * cropper.size * FaceCropper.rgb)
            let pixels = frame(width: c.frameWidth, height: c.frameHeight)
            let used = pixels.withUnsafeBufferPointer { p -> CropRect? in
                let f = PixelFrame(base: p.baseAddress!, width: c.frameWidth, height: c.frameHeight,
                                   bytesPerRow: c.frameWidth * 4, rgbOffsets: PixelFrame.rgba)
                return cropper.cropFace(f, box: box, keypoints: keypoints, into: &out)
            }
            XCTAssertEqual(used, rect, c.name)
            let worst = zip(out, c.cropUint8).map { abs(Int($0) - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1, "\(c.name): crop differs from OpenCV's by \(worst) levels")

            var x = [Float](repeating: 0, count: c.tensor.count)
            cropper.toTensor(c.cropUint8.map { UInt8($0) }, into: &x)
            for (i, v) in c.tensor.enumerated() { XCTAssertEqual(x[i], Float(v), "\(c.name) tensor[\(i)]") }
        }
    }

    func testManifestAlignIsChecked() throws {
        let (_, raw) = try golden()
        func load(_ change: (inout [String: Any]) -> Void) throws -> ArtifactManifest {
            var m = try XCTUnwrap(raw[0]["manifest"] as? [String: Any])
            var crop = try XCTUnwrap(m["crop"] as? [String: Any])
            change(&crop)
            m["crop"] = crop
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("align-check.manifest.json")
            try JSONSerialization.data(withJSONObject: m).write(to: url)
            return try ArtifactManifest.load(from: url)
        }
        XCTAssertFalse(try load { _ in }.crop.alignsKeypoints)
        XCTAssertThrowsError(try load { $0["align"] = "landmarks" }) { XCTAssertTrue("\($0.localizedDescription)".contains("crop.align")) }
        XCTAssertThrowsError(try load { $0["align"] = "keypoints" }) { XCTAssertTrue("\($0.localizedDescription)".contains("crop.template")) }
        XCTAssertThrowsError(try load { $0["align"] = "keypoints"; $0["template"] = [[0.3, 0.3], [0.7, 0.3], [0.5, 0.7]] })
        XCTAssertThrowsError(try load { $0["template"] = [[0.3, 0.3], [0.7, 0.3], [0.5, 0.6], [0.5, 0.7]] })
    }

    func testPercentilesAreNumpyLinear() {
        let s = LatencyStats([4, 1, 10, 3, 2])
        XCTAssertEqual(s.p50, 3, accuracy: 1e-12)
        XCTAssertEqual(s.p90, 7.6, accuracy: 1e-12)
    }

    func testSmootherFollowsThePythonRuntime() {
        let smoother = TrackSmoother(alpha: 0.25)
        XCTAssertEqual(smoother.update([7: 1.0])[7], 1.0)
        XCTAssertEqual(smoother.update([7: 0.0])[7]!, 0.75, accuracy: 1e-12)
    }
}
