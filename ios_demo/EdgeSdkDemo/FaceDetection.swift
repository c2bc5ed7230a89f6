import CoreGraphics
import CoreVideo
import Vision

/// One detected face: its box in frame pixels and, when asked for, four keypoints in frame pixels,
/// flattened (x0, y0, x1, y1, ...) in BlazeFace's order: right eye, left eye, nose tip, mouth.
struct DetectedFace {
    let box: FaceBox
    let keypoints: [Float]?
}

/// Faces with Apple's Vision (VNDetectFaceRectanglesRequest; VNDetectFaceLandmarksRequest when
/// the manifest's crop is landmark-aligned, `crop.align` "keypoints").
///
/// Known source of skew, not hidden: the Python runtime and android_demo find faces with
/// BlazeFace (MediaPipe); Vision's rectangle is a different detector's box (placement and extent
/// differ by several percent of the face size), so the crop, and so the score, can differ from
/// what `edge-sdk detect` gives for the same frame. Likewise Vision's landmarks are not BlazeFace's
/// keypoints: the eye centres and the mouth centre are the means of Vision's eye and lip contours
/// (the template's own definition), the nose tip is approximated by the mean of Vision's nose
/// outline. The crop arithmetic after the box or keypoints is the same. See README: "Face detector".
enum FaceDetection {
    /// Faces in pixels of an upright frame, top-left origin, clipped, largest first
    /// (edge_sdk/faces.py's order); with `keypoints`, only faces whose landmarks Vision found.
    static func faces(in pixelBuffer: CVPixelBuffer, keypoints: Bool) throws -> [DetectedFace] {
        let handler = VNImageRequestHandler(cvPixelBuffer: pixelBuffer, orientation: .up, options: [:])
        let w = CVPixelBufferGetWidth(pixelBuffer)
        let h = CVPixelBufferGetHeight(pixelBuffer)
        let found: [VNFaceObservation]
        if keypoints {
            let request = VNDetectFaceLandmarksRequest()
            try handler.perform([request])
            found = request.results ?? []
        } else {
            let request = VNDetectFaceRectanglesRequest()
            try handler.perform([request])
            found = request.results ?? []
        }
        return found.compactMap { face -> DetectedFace? in
            let faceBox = Self.box(for: face.boundingBox, width: w, height: h)
            guard keypoints else { return DetectedFace(box: faceBox, keypoints: nil) }
            guard let points = Self.keypoints(of: face, width: w, height: h) else { return nil }
            return DetectedFace(box: faceBox, keypoints: points)
        }.sorted { $0.box.area > $1.box.area }
    }

    /// Vision's normalised, bottom-left-origin rectangle -> frame pixels with a top-left origin.
    static func box(for normalized: CGRect, width: Int, height: Int) -> FaceBox {
        let r = VNImageRectForNormalizedRect(normalized, width, height)
        let fw = Float(width), fh = Float(height)
        return FaceBox(x0: max(0, Float(r.minX)), y0: max(0, fh - Float(r.maxY)),
                       x1: min(fw, Float(r.maxX)), y1: min(fh, fh - Float(r.minY)))
    }

    /// Right eye, left eye, nose tip, mouth in frame pixels (top-left origin), or nil when Vision
    /// gave no such landmarks.
    static func keypoints(of face: VNFaceObservation, width: Int, height: Int) -> [Float]? {
        guard let l = face.landmarks, let eyeA = l.leftEye, let eyeB = l.rightEye, let nose = l.nose,
              let outer = l.outerLips else { return nil }
        let size = CGSize(width: width, height: height)
        func mean(_ regions: [VNFaceLandmarkRegion2D]) -> CGPoint? {
            let pts = regions.flatMap { $0.pointsInImage(imageSize: size) }
            guard !pts.isEmpty else { return nil }
            let n = CGFloat(pts.count)
            // Vision's image points have a bottom-left origin.
            return CGPoint(x: pts.reduce(0) { $0 + $1.x } / n, y: CGFloat(height) - pts.reduce(0) { $0 + $1.y } / n)
        }
        guard var right = mean([eyeA]), var left = mean([eyeB]), let tip = mean([nose]),
              let mouth = mean([outer] + (l.innerLips.map { [$0] } ?? [])) else { return nil }
        // BlazeFace's first keypoint is the subject's right eye: in the upright, unmirrored frame the
        // triangle (right eye, left eye, mouth) turns clockwise on screen (y down), as the template's
        // does; ordering by that, not by Vision's names, keeps the similarity free of reflection.
        let turn = (left.x - right.x) * (mouth.y - right.y) - (left.y - right.y) * (mouth.x - right.x)
        if turn < 0 { swap(&right, &left) }
        return [right, left, tip, mouth].flatMap { [Float($0.x), Float($0.y)] }
    }
}
