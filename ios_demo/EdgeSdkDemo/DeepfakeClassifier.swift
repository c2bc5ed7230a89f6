import CoreML
import Foundation

/// Which processors Core ML may use (MLModelConfiguration.computeUnits), selectable in the UI.
enum ComputeUnitsChoice: String, CaseIterable, Identifiable {
    case all = "All"
    case cpuAndGPU = "CPU+GPU"
    case cpuAndNeuralEngine = "CPU+NE"
    case cpuOnly = "CPU"

    var id: String { rawValue }

    var units: MLComputeUnits {
        switch self {
        case .all: return .all
        case .cpuAndGPU: return .cpuAndGPU
        case .cpuAndNeuralEngine: return .cpuAndNeuralEngine
        case .cpuOnly: return .cpuOnly
        }
    }
}

/// The exported detector through Core ML: one NCHW float32 face crop in (input `manifest.input.name`,
/// shape `manifest.input.shape`), one logit out (`manifest.output.name`); sigmoid gives P(fake),
/// compared with `manifest.threshold` (fake when P >= threshold, as edge_sdk/pipeline.py decides).
final class DeepfakeClassifier {
    let manifest: ArtifactManifest
    let modelDir: String
    let computeUnits: ComputeUnitsChoice
    let cropper: FaceCropper
    /// Seconds spent verifying, compiling (first run only) and loading the model.
    let loadSeconds: Double
    private let model: MLModel
    private let input: MLMultiArray

    var inputElements: Int { manifest.input.dims.reduce(1, *) }

    private init(located: ModelStore.Located, model: MLModel, units: ComputeUnitsChoice, loadSeconds: Double) throws {
        manifest = located.manifest
        modelDir = located.name
        computeUnits = units
        cropper = FaceCropper(spec: located.manifest.crop)
        self.model = model
        self.loadSeconds = loadSeconds
        let name = manifest.input.name
        guard let desc = model.modelDescription.inputDescriptionsByName[name], desc.type == .multiArray else {
            throw ManifestError.invalid("the Core ML model has no multi-array input '\(name)' "
                + "(exported with --image-input? this app feeds the manifest's float32 tensor)")
        }
        input = try MLMultiArray(shape: manifest.input.dims.map { NSNumber(value: $0) }, dataType: .float32)
    }

    /// Locate, verify (sha256), compile if needed and load with the chosen compute units.
    static func load(modelDir: String? = nil, units: ComputeUnitsChoice) async throws -> DeepfakeClassifier {
        let start = Date()
        let located = try ModelStore.locate(modelDir)
        let compiled = try await ModelStore.compiledModel(located)
        let config = MLModelConfiguration()
        config.computeUnits = units.units
        let model = try await MLModel.load(contentsOf: compiled, configuration: config)
        return try DeepfakeClassifier(located: located, model: model, units: units,
                                      loadSeconds: Date().timeIntervalSince(start))
    }

    /// One prediction on an NCHW float32 input of `inputElements` values; returns the logit.
    func logit(_ x: [Float]) throws -> Float {
        precondition(x.count == inputElements, "input has \(x.count) values, the model takes \(inputElements)")
        let dims = manifest.input.dims
        input.withUnsafeMutableBufferPointer(ofType: Float.self) { buffer, strides in
            // Honour the array's strides (Core ML may pad rows); x is dense NCHW.
            var i = 0
            for n in 0..<dims[0] {
                for c in 0..<dims[1] {
                    for y in 0..<dims[2] {
                        let row = n * strides[0] + c * strides[1] + y * strides[2]
                        for xx in 0..<dims[3] {
                            buffer[row + xx * strides[3]] = x[i]
                            i += 1
                        }
                    }
                }
            }
        }
        let features = try MLDictionaryFeatureProvider(dictionary: [manifest.input.name: MLFeatureValue(multiArray: input)])
        let out = try model.prediction(from: features)
        guard let values = out.featureValue(for: manifest.output.name)?.multiArrayValue, values.count == 1 else {
            throw ManifestError.invalid("the model's output '\(manifest.output.name)' is not one logit")
        }
        return values[0].floatValue
    }

    func isFake(_ probability: Double) -> Bool { probability >= manifest.threshold }

    /// P(fake) from a logit (manifest.output.meaning).
    static func sigmoid(_ logit: Float) -> Double { 1 / (1 + exp(-Double(logit))) }
}
