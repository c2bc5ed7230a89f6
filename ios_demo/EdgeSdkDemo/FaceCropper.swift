import Foundation

/// A face box in frame pixels, top-left origin: (x0, y0) top-left, (x1, y1) bottom-right.
struct FaceBox: Equatable {
    var x0: Float
    var y0: Float
    var x1: Float
    var y1: Float

    var area: Float { max(0, x1 - x0) * max(0, y1 - y0) }
}

/// Aligned crops: crop point = A p + t for frame point p, A = [[a, -b], [b, a]] (steps a-c), and its
/// inverse A^-1 = [[ia, ib], [-ib, ia]] (frame point = A^-1 (crop point - t)).
struct Similarity: Equatable {
    let a: Double
    let b: Double
    let tx: Double
    let ty: Double

    var ia: Double { a / (a * a + b * b) }
    var ib: Double { b / (a * a + b * b) }
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
///
/// `align` "keypoints" (landmark-aligned crops) replaces steps 1-4, in double precision:
///
/// a. p = the face's first four keypoints (right eye, left eye, nose tip, mouth; frame pixels),
///    q = template x size; mp, mq their means; P = p - mp, Q = q - mq;
/// b. n = sum(Px^2 + Py^2), a = sum(Px Qx + Py Qy) / n, b = sum(Px Qy - Py Qx) / n;
/// c. crop point = A p + t with A = [[a, -b], [b, a]], t = mq - A mp;
/// d. crop pixel (u, v) samples the frame bilinearly at A^-1 ((u + 0.5, v + 0.5) - t) - 0.5,
///    `pad_value` for the neighbours outside the frame (OpenCV's warpAffine, BORDER_CONSTANT),
///    float weights, rounded half up to 8 bits; `margin`, `square` and `resize` do not apply.
final class FaceCropper {
    let size: Int
    let channels: Int
    /// Landmark-aligned crops (manifest `crop.align` "keypoints"): the detector must give keypoints.
    var alignsKeypoints: Bool { spec.alignsKeypoints }
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

    /// One face -> its 8-bit crop in `out`, framed as the manifest says (box, or the first four of
    /// `keypoints`, x0, y0, x1, y1, ... in frame pixels); the frame rectangle the crop covers, or nil
    /// when the face gives no crop (outside the frame; an aligned crop without four keypoints).
    func cropFace(_ frame: PixelFrame, box: FaceBox, keypoints: [Float]?, into out: inout [UInt8]) -> CropRect? {
        if spec.alignsKeypoints {
            guard let m = alignment(keypoints),
                  let rect = alignedRect(m, frameWidth: frame.width, frameHeight: frame.height) else { return nil }
            warp(frame, similarity: m, into: &out)
            return rect
        }
        guard let rect = cropRect(box, frameWidth: frame.width, frameHeight: frame.height) else { return nil }
        crop(frame, rect: rect, into: &out)
        return rect
    }

    /// Steps 1-3: the rectangle of the frame that becomes the crop, or nil if none of it is inside.
    /// Aligned crops: the bounds of the frame pixels the crop covers (from `keypoints`; nil without them).
    func cropRect(_ box: FaceBox, frameWidth: Int, frameHeight: Int, keypoints: [Float]? = nil) -> CropRect? {
        if spec.alignsKeypoints {
            guard let m = alignment(keypoints) else { return nil }
            return alignedRect(m, frameWidth: frameWidth, frameHeight: frameHeight)
        }
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

    /// Steps a-c: the similarity taking the first four `keypoints` (x0, y0, x1, y1, ... in frame
    /// pixels) onto the template, or nil for box crops, fewer than four finite keypoints, or
    /// keypoints that coincide.
    func alignment(_ keypoints: [Float]?) -> Similarity? {
        let points = ManifestCrop.alignPoints
        guard spec.alignsKeypoints, let template = spec.template, let keypoints = keypoints, keypoints.count >= points * 2 else { return nil }
        let p = keypoints[0..<(points * 2)].map { Double($0) }
        guard p.allSatisfy({ $0.isFinite }) else { return nil }
        let q = template.flatMap { $0 }.map { $0 * Double(size) }
        var mpx = 0.0, mpy = 0.0, mqx = 0.0, mqy = 0.0
        for k in 0..<points {
            mpx += p[2 * k]
            mpy += p[2 * k + 1]
            mqx += q[2 * k]
            mqy += q[2 * k + 1]
        }
        mpx /= Double(points)
        mpy /= Double(points)
        mqx /= Double(points)
        mqy /= Double(points)
        var n = 0.0, sa = 0.0, sb = 0.0
        for k in 0..<points {
            let px = p[2 * k] - mpx
            let py = p[2 * k + 1] - mpy
            let qx = q[2 * k] - mqx
            let qy = q[2 * k + 1] - mqy
            n += px * px + py * py
            sa += px * qx + py * qy
            sb += px * qy - py * qx
        }
        guard n > 0 else { return nil }
        let a = sa / n
        let b = sb / n
        guard a * a + b * b > 0 else { return nil }
        return Similarity(a: a, b: b, tx: mqx - (a * mpx - b * mpy), ty: mqy - (b * mpx + a * mpy))
    }

    /// Aligned crops: the bounds of the frame pixels under the crop's corners, clipped; nil if outside.
    func alignedRect(_ m: Similarity, frameWidth: Int, frameHeight: Int) -> CropRect? {
        var x0 = Double.infinity, y0 = Double.infinity, x1 = -Double.infinity, y1 = -Double.infinity
        for corner in 0..<ManifestCrop.alignPoints {
            let dx = Double((corner % 2) * size) - m.tx
            let dy = Double((corner / 2) * size) - m.ty
            let x = m.ia * dx + m.ib * dy
            let y = m.ia * dy - m.ib * dx
            x0 = min(x0, x)
            y0 = min(y0, y)
            x1 = max(x1, x)
            y1 = max(y1, y)
        }
        // Bounds held within [-1, frame side] before Int() (which traps out of range); the clipped rectangle is the same.
        func bound(_ v: Double, _ side: Int) -> Double { max(-1, min(Double(side), v)) }
        let rect = CropRect(left: max(Int(bound(x0, frameWidth).rounded(.down)), 0),
                            top: max(Int(bound(y0, frameHeight).rounded(.down)), 0),
                            right: min(Int(bound(x1, frameWidth).rounded(.up)), frameWidth),
                            bottom: min(Int(bound(y1, frameHeight).rounded(.up)), frameHeight))
        return rect.width < 1 || rect.height < 1 ? nil : rect
    }

    /// Step d: the aligned 8-bit RGB crop, `size * size * 3` bytes in HWC order; neighbours outside
    /// the frame count as `pad_value`.
    func warp(_ frame: PixelFrame, similarity m: Similarity, into out: inout [UInt8]) {
        precondition(out.count == size * size * Self.rgb, "crop buffer must hold \(size) x \(size) x \(Self.rgb) bytes")
        let offsets = [frame.rgbOffsets.0, frame.rgbOffsets.1, frame.rgbOffsets.2]
        let bpp = PixelFrame.bytesPerPixel
        let pad = Float(spec.padValue)
        let ia = m.ia, ib = m.ib
        /// Channel `k` (byte offset) of frame pixel (x, y), `pad_value` outside the frame.
        func texel(_ x: Int, _ y: Int, _ k: Int) -> Float {
            if x < 0 || y < 0 || x >= frame.width || y >= frame.height { return pad }
            return Float(frame.base[y * frame.bytesPerRow + x * bpp + k])
        }
        var o = 0
        for v in 0..<size {
            let qy = Double(v) + 0.5 - m.ty
            for u in 0..<size {
                let qx = Double(u) + 0.5 - m.tx
                let sx = ia * qx + ib * qy - 0.5
                let sy = ia * qy - ib * qx - 0.5
                let fx0 = sx.rounded(.down)
                let fy0 = sy.rounded(.down)
                let fx = Float(sx - fx0)
                let fy = Float(sy - fy0)
                // Clamped so that far-away samples stay integers; there all four neighbours are padding.
                let x0 = Int(max(-2.0, min(Double(frame.width), fx0)))
                let y0 = Int(max(-2.0, min(Double(frame.height), fy0)))
                for c in 0..<Self.rgb {
                    let k = offsets[c]
                    let top = (1 - fx) * texel(x0, y0, k) + fx * texel(x0 + 1, y0, k)
                    let bottom = (1 - fx) * texel(x0, y0 + 1, k) + fx * texel(x0 + 1, y0 + 1, k)
                    let value = (1 - fy) * top + fy * bottom
                    out[o + c] = UInt8(min(Self.maxLevel, max(0, Int((value + 0.5).rounded(.down)))))
                }
                o += Self.rgb
            }
        }
    }

    /// Step 4: the 8-bit RGB crop, `size * size * 3` bytes in HWC order. Box crops (an aligned crop
    /// is `warp`ed); a rectangle of the crop's own size copies the pixels unchanged whatever the spec.
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
