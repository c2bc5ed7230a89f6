import AVFoundation
import SwiftUI

/// Camera preview, face overlay and controls (compute units, camera, benchmark).
struct ContentView: View {
    @State private var camera = CameraModel()

    var body: some View {
        NavigationStack {
            ZStack {
                CameraPreview(session: camera.session)
                OverlayView(frame: camera.frame)
                if let message = camera.message {
                    Text(message)
                        .padding()
                        .background(.black.opacity(0.7))
                        .foregroundStyle(.white)
                        .clipShape(RoundedRectangle(cornerRadius: 8))
                        .padding()
                }
            }
            .ignoresSafeArea(edges: .bottom)
            .background(.black)
            .toolbar {
                ToolbarItem(placement: .topBarLeading) {
                    Picker("Compute units", selection: $camera.computeUnits) {
                        ForEach(ComputeUnitsChoice.allCases) { Text($0.rawValue).tag($0) }
                    }
                    .pickerStyle(.menu)
                }
                ToolbarItem(placement: .topBarTrailing) {
                    Button("Flip", systemImage: "arrow.triangle.2.circlepath.camera") { camera.switchCamera() }
                }
                ToolbarItem(placement: .topBarTrailing) {
                    NavigationLink("Benchmark") { BenchmarkView() }
                }
            }
            .onChange(of: camera.computeUnits) { Task { await camera.reloadModel() } }
            .task { await camera.start() }
        }
    }
}

/// AVCaptureVideoPreviewLayer with aspect-fit, so overlay boxes map with one scale (no crop).
struct CameraPreview: UIViewRepresentable {
    let session: AVCaptureSession

    final class PreviewView: UIView {
        override class var layerClass: AnyClass { AVCaptureVideoPreviewLayer.self }
        var previewLayer: AVCaptureVideoPreviewLayer { layer as! AVCaptureVideoPreviewLayer }
        var rotation: AVCaptureDevice.RotationCoordinator?
        var observation: NSKeyValueObservation?
    }

    func makeUIView(context: Context) -> PreviewView {
        let view = PreviewView()
        view.previewLayer.session = session
        view.previewLayer.videoGravity = .resizeAspect
        return view
    }

    func updateUIView(_ view: PreviewView, context: Context) {
        guard let device = (session.inputs.first as? AVCaptureDeviceInput)?.device,
              view.rotation?.device != device else { return }
        let coordinator = AVCaptureDevice.RotationCoordinator(device: device, previewLayer: view.previewLayer)
        view.rotation = coordinator
        view.previewLayer.connection?.videoRotationAngle = coordinator.videoRotationAngleForHorizonLevelPreview
        view.observation = coordinator.observe(\.videoRotationAngleForHorizonLevelPreview, options: [.new]) { [weak view] _, change in
            guard let angle = change.newValue else { return }
            DispatchQueue.main.async { view?.previewLayer.connection?.videoRotationAngle = angle }
        }
    }
}

/// Boxes, verdict, smoothed P(fake) (current value and track id) and the status block.
struct OverlayView: View {
    let frame: OverlayFrame

    var body: some View {
        GeometryReader { geo in
            let scale = frame.width > 0 ? min(geo.size.width / CGFloat(frame.width), geo.size.height / CGFloat(frame.height)) : 1
            let dx = (geo.size.width - CGFloat(frame.width) * scale) / 2
            let dy = (geo.size.height - CGFloat(frame.height) * scale) / 2
            ZStack(alignment: .topLeading) {
                ForEach(frame.faces) { face in
                    let x0 = CGFloat(frame.mirrored ? Float(frame.width) - face.box.x1 : face.box.x0)
                    let x1 = CGFloat(frame.mirrored ? Float(frame.width) - face.box.x0 : face.box.x1)
                    let rect = CGRect(x: dx + x0 * scale, y: dy + CGFloat(face.box.y0) * scale,
                                      width: (x1 - x0) * scale, height: CGFloat(face.box.y1 - face.box.y0) * scale)
                    let color: Color = face.fake ? .red : .green
                    Rectangle()
                        .stroke(color, lineWidth: 3)
                        .frame(width: rect.width, height: rect.height)
                        .offset(x: rect.minX, y: rect.minY)
                    Text(String(format: "%@ %.2f (now %.2f) #%ld", face.fake ? "FAKE" : "real", face.smoothed, face.probability, face.id))
                        .font(.caption.monospacedDigit())
                        .padding(.horizontal, 4)
                        .background(color)
                        .foregroundStyle(.white)
                        .offset(x: rect.minX, y: max(0, rect.minY - 20))
                }
                VStack(alignment: .leading, spacing: 2) {
                    ForEach(frame.status, id: \.self) { Text($0) }
                }
                .font(.caption.monospacedDigit())
                .foregroundStyle(.white)
                .padding(6)
                .background(.black.opacity(0.6))
                .padding(8)
            }
        }
        .allowsHitTesting(false)
    }
}
