import Foundation

/// A face box in frame pixels, top-left origin: (x0, y0) top-left, (x1, y1) bottom-right.
struct FaceBox: Equatable {
    var x0: Float
    var y0: Float
    var x1: Float
    var y1: Float

    var area: Float { max(0, x1 - x0) * max(0, y1 - y0) }
}

/// The pixel rectangle cut from the frame: [left, right) x [top, bottom).
struct CropRect: Equatable {
    let left: Int
    let top: Int
    let right: Int
    let bottom: Int

    var width: Int { right - left }
    var height: Int { bottom - top }
}

/// An 8-bit, four-bytes-per-pixel frame: BGRA from the camera, RGBA from a decoded PNG.
struct PixelFrame {
    let base: UnsafePointer<UInt8>
    let width: Int
    let height: Int
    let bytesPerRow: Int
    /// Byte offsets of red, green and blue within a pixel.
    let rgbOffsets: (Int, Int, Int)

    static let bgra = (2, 1, 0)
    static let rgba = (0, 1, 2)
    static let bytesPerPixel = 4
}

/// edge_sdk's crop spec, step by step as edge_sdk/preprocess.py documents it (the same code as
/// android_demo's FaceCropper.kt), so the phone feeds the model the pixels the Python runtime would:
///
/// 1. box (x0, y0, x1, y1) in pixels; centre (cx, cy); if `square`, w = h = max(w, h);
/// 2. margin: w' = w * (1 + 2 * margin), h' likewise;
/// 3. left = floor(cx - w'/2 + 0.5), top = floor(cy - h'/2 + 0.5), right = left + floor(w' + 0.5),
///    bottom = top + floor(h' + 0.5), then clipped to the frame;
/// 4. bilinear resize (OpenCV INTER_LINEAR's half-pixel sampling, edge pixels replicated):
///    `pad` scales the longer side to `size`, the other to floor(s * scale + 0.5), centred at
///    offset floor((size - s) / 2) on a `pad_value` square; `stretch` resizes to size x size;
///    samples rounded half up to 8 bits, as the runtime's uint8 crop is;
/// 5. RGB planes, float32 = (pixel / 255 - mean) / std in NCHW, or pixel / 255 when
///    `normalize_in_model`.
final class FaceCropper {
    let size: Int
    let channels: Int
    private let spec: ManifestCrop
    /// Float value for each 8-bit level, per channel: the normalisation as a lookup table.
    private let levels: [[Float]]

    /// 8-bit samples: the uint8 -> [0, 1] conversion is a format fact, not a model setting.
    private static let maxLevel = Int(UInt8.max)
    /// Bytes per pixel of the 8-bit crop; the colour order is the manifest's (checked: RGB).
    static let rgb = 3

    init(spec: ManifestCrop) {
        self.spec = spec
        size = spec.size
        channels = spec.mean.count
        let maxLevel = Float(Self.maxLevel)
        levels = (0..<spec.mean.count).map { c in
            let mean = Float(spec.mean[c])
            let std = Float(spec.std[c])
            return (0...Self.maxLevel).map { v in
                let x = Float(v) / maxLevel
                return spec.normalizeInModel ? x : (x - mean) / std
            }
        }
    }

    /// floor(v + 0.5): edge_sdk.preprocess._round (not Swift's default rounding).
    private static func roundHalfUp(_ v: Double) -> Int { Int((v + 0.5).rounded(.down)) }

    /// Steps 1-3: the rectangle of the frame that becomes the crop, or nil if none of it is inside.
    func cropRect(_ box: FaceBox, frameWidth: Int, frameHeight: Int) -> CropRect? {
        let x0 = Double(box.x0), y0 = Double(box.y0), x1 = Double(box.x1), y1 = Double(box.y1)
        let cx = (x0 + x1) / 2
        let cy = (y0 + y1) / 2
        var w = x1 - x0
        var h = y1 - y0
        if spec.square {
            w = max(w, h)
            h = w
        }
        w *= 1 + 2 * spec.margin
        h *= 1 + 2 * spec.margin
        let left = Self.roundHalfUp(cx - w / 2)
        let top = Self.roundHalfUp(cy - h / 2)
        let right = left + Self.roundHalfUp(w)
        let bottom = top + Self.roundHalfUp(h)
        let rect = CropRect(left: max(left, 0), top: max(top, 0), right: min(right, frameWidth), bottom: min(bottom, frameHeight))
        return rect.width < 1 || rect.height < 1 ? nil : rect
    }

    /// Step 4: the 8-bit RGB crop, `size * size * 3` bytes in HWC order.
    func crop(_ frame: PixelFrame, rect: CropRect, into out: inout [UInt8]) {
        precondition(out.count == size * size * Self.rgb, "crop buffer must hold \(size) x \(size) x \(Self.rgb) bytes")
        let pw = rect.width, ph = rect.height
        let nw: Int, nh: Int
        if spec.resize == "stretch" {
            nw = size
            nh = size
        } else {
            let scale = Double(size) / Double(max(ph, pw))
            nw = max(1, min(size, Self.roundHalfUp(Double(pw) * scale)))
            nh = max(1, min(size, Self.roundHalfUp(Double(ph) * scale)))
        }
        let ox = (size - nw) / 2
        let oy = (size - nh) / 2
        for i in out.indices { out[i] = UInt8(spec.padValue) }
        let xs = SampleAxis(source: pw, target: nw)
        let ys = SampleAxis(source: ph, target: nh)
        let offsets = [frame.rgbOffsets.0, frame.rgbOffsets.1, frame.rgbOffsets.2]
        let bpp = PixelFrame.bytesPerPixel
        for j in 0..<nh {
            let row0 = frame.base + (rect.top + ys.lo[j]) * frame.bytesPerRow + rect.left * bpp
            let row1 = frame.base + (rect.top + ys.hi[j]) * frame.bytesPerRow + rect.left * bpp
            let fy = ys.frac[j]
            var o = ((oy + j) * size + ox) * Self.rgb
            for i in 0..<nw {
                let fx = xs.frac[i]
                let a = xs.lo[i] * bpp, b = xs.hi[i] * bpp
                for c in 0..<Self.rgb {
                    let k = offsets[c]
                    let top = (1 - fx) * Float(row0[a + k]) + fx * Float(row0[b + k])
                    let bottom = (1 - fx) * Float(row1[a + k]) + fx * Float(row1[b + k])
                    let v = (1 - fy) * top + fy * bottom
                    out[o + c] = UInt8(min(Self.maxLevel, max(0, Int((v + 0.5).rounded(.down)))))
                }
                o += Self.rgb
            }
        }
    }

    /// Step 5: 8-bit HWC crop -> one NCHW float32 face at `offset` of `out`.
    func toTensor(_ crop: [UInt8], into out: inout [Float], offset: Int = 0) {
        let plane = size * size
        for p in 0..<plane {
            for c in 0..<channels {
                out[offset + c * plane + p] = levels[c][Int(crop[p * Self.rgb + c])]
            }
        }
    }

    /// Per output column (or row): the two source indices and the weight of the second (cv::resize).
    private struct SampleAxis {
        var lo: [Int]
        var hi: [Int]
        var frac: [Float]

        init(source: Int, target: Int) {
            lo = Array(repeating: 0, count: target)
            hi = Array(repeating: 0, count: target)
            frac = Array(repeating: 0, count: target)
            let scale = 1.0 / (Double(target) / Double(source))
            for d in 0..<target {
                let s = Float((Double(d) + 0.5) * scale - 0.5)
                var i0 = Int(s.rounded(.down))
                var f = s - Float(i0)
                if i0 < 0 {
                    i0 = 0
                    f = 0
                }
                if i0 >= source - 1 {
                    i0 = source - 1
                    f = 0
                }
                lo[d] = i0
                hi[d] = min(i0 + 1, source - 1)
                frac[d] = f
            }
        }
    }
}
