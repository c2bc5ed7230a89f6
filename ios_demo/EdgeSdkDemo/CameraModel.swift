import AVFoundation
import Observation
import UIKit

/// What the overlay draws for one frame.
struct OverlayFrame {
    struct Face: Identifiable {
        let id: Int            // track id
        let box: FaceBox
        let probability: Double
        let smoothed: Double
        let fake: Bool
    }

    var width = 0
    var height = 0
    var mirrored = false
    var faces: [Face] = []
    var status: [String] = []
}

/// Camera -> Vision faces -> crop per the manifest -> Core ML -> tracked, smoothed P(fake).
///
/// AVCaptureVideoDataOutput delivers upright (rotation set on the connection), unmirrored 32BGRA
/// 640x480 frames on `videoQueue`, dropping late ones; each is processed there and the result
/// published on the main actor.
@Observable
final class CameraModel: NSObject, AVCaptureVideoDataOutputSampleBufferDelegate, @unchecked Sendable {
    var frame = OverlayFrame()
    var message: String?
    var computeUnits: ComputeUnitsChoice = .cpuAndNeuralEngine
    var position: AVCaptureDevice.Position = .front

    @ObservationIgnored let session = AVCaptureSession()
    @ObservationIgnored private let sessionQueue = DispatchQueue(label: "edge_sdk.session")
    @ObservationIgnored private let videoQueue = DispatchQueue(label: "edge_sdk.video")
    @ObservationIgnored private let output = AVCaptureVideoDataOutput()
    @ObservationIgnored private var rotation: AVCaptureDevice.RotationCoordinator?
    @ObservationIgnored private var rotationObservation: NSKeyValueObservation?

    // Used only on videoQueue.
    @ObservationIgnored private var classifier: DeepfakeClassifier?
    @ObservationIgnored private let tracker = IoUTracker()
    @ObservationIgnored private let smoother = TrackSmoother()
    @ObservationIgnored private var crop: [UInt8] = []
    @ObservationIgnored private var tensor: [Float] = []
    @ObservationIgnored private let inference = RollingMeter()
    @ObservationIgnored private let endToEnd = RollingMeter()

    func start() async {
        guard await AVCaptureDevice.requestAccess(for: .video) else {
            await MainActor.run { message = "Camera access is needed: allow it in Settings > Privacy > Camera." }
            return
        }
        await reloadModel()
        sessionQueue.async { self.configure() }
    }

    /// (Re)load the model with the selected compute units; the first load compiles the package.
    func reloadModel() async {
        do {
            let c = try await DeepfakeClassifier.load(units: computeUnits)
            videoQueue.async {
                self.classifier = c
                self.crop = [UInt8](repeating: 0, count: c.cropper.size * c.cropper.size * FaceCropper.rgb)
                self.tensor = [Float](repeating: 0, count: c.inputElements)
            }
            await MainActor.run { message = nil }
        } catch {
            await MainActor.run { message = "Could not load the model:\n\(error.localizedDescription)" }
        }
    }

    func switchCamera() {
        position = position == .front ? .back : .front
        sessionQueue.async { self.configure() }
    }

    private func configure() {
        session.beginConfiguration()
        defer { session.commitConfiguration() }
        session.sessionPreset = DemoSettings.sessionPreset
        session.inputs.forEach { session.removeInput($0) }
        guard let device = AVCaptureDevice.default(.builtInWideAngleCamera, for: .video, position: position),
              let input = try? AVCaptureDeviceInput(device: device), session.canAddInput(input) else {
            DispatchQueue.main.async { self.message = "No camera available" }
            return
        }
        session.addInput(input)
        if session.outputs.isEmpty {
            output.videoSettings = [kCVPixelBufferPixelFormatTypeKey as String: kCVPixelFormatType_32BGRA]
            output.alwaysDiscardsLateVideoFrames = true
            output.setSampleBufferDelegate(self, queue: videoQueue)
            if session.canAddOutput(output) { session.addOutput(output) }
        }
        if let connection = output.connection(with: .video) {
            if connection.isVideoMirroringSupported {
                connection.automaticallyAdjustsVideoMirroring = false
                connection.isVideoMirrored = false  // the model sees the scene as the Python runtime would
            }
            let coordinator = AVCaptureDevice.RotationCoordinator(device: device, previewLayer: nil)
            rotation = coordinator
            let apply = { (angle: CGFloat) in
                if connection.isVideoRotationAngleSupported(angle) { connection.videoRotationAngle = angle }
            }
            apply(coordinator.videoRotationAngleForHorizonLevelCapture)
            rotationObservation = coordinator.observe(\.videoRotationAngleForHorizonLevelCapture, options: [.new]) { _, change in
                if let angle = change.newValue { self.sessionQueue.async { apply(angle) } }
            }
        }
        let mirrored = position == .front
        DispatchQueue.main.async { self.frame.mirrored = mirrored }
        if !session.isRunning { session.startRunning() }
    }

    func captureOutput(_ output: AVCaptureOutput, didOutput sampleBuffer: CMSampleBuffer, from connection: AVCaptureConnection) {
        guard let c = classifier, let pixelBuffer = CMSampleBufferGetImageBuffer(sampleBuffer) else { return }
        let arrived = CACurrentMediaTime()
        let detected: [DetectedFace]
        do {
            detected = try FaceDetection.faces(in: pixelBuffer, keypoints: c.cropper.alignsKeypoints)
        } catch {
            return
        }
        CVPixelBufferLockBaseAddress(pixelBuffer, .readOnly)
        defer { CVPixelBufferUnlockBaseAddress(pixelBuffer, .readOnly) }
        guard let base = CVPixelBufferGetBaseAddress(pixelBuffer) else { return }
        let frame = PixelFrame(base: UnsafePointer(base.assumingMemoryBound(to: UInt8.self)),
                               width: CVPixelBufferGetWidth(pixelBuffer), height: CVPixelBufferGetHeight(pixelBuffer),
                               bytesPerRow: CVPixelBufferGetBytesPerRow(pixelBuffer), rgbOffsets: PixelFrame.bgra)
        var kept: [FaceBox] = []
        var probabilities: [Double] = []
        for face in detected {
            let box = face.box
            // Box or landmark-aligned crop, as the manifest's crop.align says.
            guard c.cropper.cropFace(frame, box: box, keypoints: face.keypoints, into: &crop) != nil else { continue }
            c.cropper.toTensor(crop, into: &tensor)
            let t0 = CACurrentMediaTime()
            guard let logit = try? c.logit(tensor) else { continue }
            let t1 = CACurrentMediaTime()
            inference.add(time: t1, valueMs: (t1 - t0) * 1000)
            kept.append(box)
            probabilities.append(DeepfakeClassifier.sigmoid(logit))
        }
        let ids = tracker.update(kept)
        var scores: [Int: Double] = [:]
        for (i, id) in ids.enumerated() { scores[id] = probabilities[i] }
        let smoothed = smoother.update(scores)
        let faces = ids.enumerated().map { i, id in
            OverlayFrame.Face(id: id, box: kept[i], probability: probabilities[i], smoothed: smoothed[id] ?? probabilities[i],
                              fake: c.isFake(smoothed[id] ?? probabilities[i]))
        }
        let done = CACurrentMediaTime()
        endToEnd.add(time: done, valueMs: (done - arrived) * 1000)
        let m = c.manifest
        let status = [
            "\(m.description) [\(c.modelDir), \(c.computeUnits.rawValue)]",
            String(format: "inference %.1f ms  end-to-end %.1f ms  %.1f FPS", inference.meanMs, endToEnd.meanMs, endToEnd.ratePerSecond),
            String(format: "threshold %.2f (manifest)  faces %ld  detector: Vision", m.threshold, faces.count),
        ]
        let w = frame.width, h = frame.height
        DispatchQueue.main.async {
            self.frame.width = w
            self.frame.height = h
            self.frame.faces = faces
            self.frame.status = status
        }
    }
}
