import CoreVideo
import Vision

/// Faces with Apple's Vision (VNDetectFaceRectanglesRequest).
///
/// Known source of skew, not hidden: the Python runtime and android_demo find faces with
/// BlazeFace (MediaPipe); Vision's rectangle is a different detector's box (placement and extent
/// differ by several percent of the face size), so the crop, and so the score, can differ from
/// what `edge-sdk detect` gives for the same frame. The crop arithmetic after the box is the same.
/// See README: "Face detector".
enum FaceDetection {
    /// Boxes in pixels of an upright frame, top-left origin, clipped, largest first
    /// (edge_sdk/faces.py's order).
    static func faces(in pixelBuffer: CVPixelBuffer) throws -> [FaceBox] {
        let request = VNDetectFaceRectanglesRequest()
        let handler = VNImageRequestHandler(cvPixelBuffer: pixelBuffer, orientation: .up, options: [:])
        try handler.perform([request])
        let w = CVPixelBufferGetWidth(pixelBuffer)
        let h = CVPixelBufferGetHeight(pixelBuffer)
        return (request.results ?? []).map { box(for: $0.boundingBox, width: w, height: h) }
            .sorted { $0.area > $1.area }
    }

    /// Vision's normalised, bottom-left-origin rectangle -> frame pixels with a top-left origin.
    static func box(for normalized: CGRect, width: Int, height: Int) -> FaceBox {
        let r = VNImageRectForNormalizedRect(normalized, width, height)
        let fw = Float(width), fh = Float(height)
        return FaceBox(x0: max(0, Float(r.minX)), y0: max(0, fh - Float(r.maxY)),
                       x1: min(fw, Float(r.maxX)), y1: min(fh, fh - Float(r.minY)))
    }
}
