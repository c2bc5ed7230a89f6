import Foundation

/// `manifest.json`, written by `edge-sdk export` beside every artifact
/// (schema: edge_sdk/schemas/manifest.schema.json). Input name/shape, the crop spec and the
/// decision threshold all come from here: the app has no preprocessing numbers of its own.
///
/// Decoded with `.convertFromSnakeCase`, so each property is its JSON key in camelCase
/// (`normalizeInModel` <- `normalize_in_model`). tests/test_demo_apps.py reads these structs and
/// checks every field path against the JSON Schema and a manifest the exporter wrote.
struct ArtifactManifest: Decodable {
    let schemaVersion: Int
    let model: ManifestModel
    let artifact: ManifestArtifact
    let target: String
    let precision: String
    let input: ManifestInput
    let crop: ManifestCrop
    let output: ManifestOutput
    let threshold: Double
    let versions: [String: String?]

    static let supportedSchemaVersion = 1
    /// The schema's `output.meaning` constant: one logit per face, sigmoid gives P(fake).
    static let logitMeaning = "logit; sigmoid gives P(fake)"

    var description: String { "\(model.name) (\(target) \(precision))" }

    /// Decode and check a manifest; `source` names the file in error messages.
    static func load(from url: URL) throws -> ArtifactManifest {
        let data = try Data(contentsOf: url)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let manifest: ArtifactManifest
        do {
            manifest = try decoder.decode(ArtifactManifest.self, from: data)
        } catch {
            throw ManifestError.invalid("\(url.lastPathComponent): \(error)")
        }
        try manifest.check(source: url.path)
        return manifest
    }

    /// What this app can feed: one NCHW float32 RGB crop whose side is the crop size.
    private func check(source: String) throws {
        func fail(_ what: String) -> ManifestError { .invalid("\(source): \(what)") }
        guard schemaVersion == Self.supportedSchemaVersion else {
            throw fail("schema_version \(schemaVersion), this app reads \(Self.supportedSchemaVersion); re-export")
        }
        guard output.meaning == Self.logitMeaning else { throw fail("output.meaning is '\(output.meaning)'") }
        guard crop.colorOrder == "RGB" else { throw fail("crop.color_order \(crop.colorOrder): only RGB is supported") }
        guard crop.interpolation == "bilinear" else { throw fail("crop.interpolation \(crop.interpolation) is not implemented") }
        guard crop.resize == "pad" || crop.resize == "stretch" else { throw fail("crop.resize \(crop.resize)") }
        guard crop.mean.count == crop.std.count, crop.std.allSatisfy({ $0 > 0 }) else { throw fail("crop.mean/std are inconsistent") }
        guard (0...Int(UInt8.max)).contains(crop.padValue) else { throw fail("crop.pad_value \(crop.padValue) is not an 8-bit level") }
        guard crop.align == nil || crop.align == "box" || crop.alignsKeypoints else {
            throw fail("crop.align '\(crop.align ?? "")' is neither 'box' nor 'keypoints'")
        }
        if crop.alignsKeypoints {
            guard let t = crop.template else { throw fail("crop.template is missing: an aligned crop needs its template") }
            guard t.count == ManifestCrop.alignPoints, t.allSatisfy({ $0.count == 2 }) else {
                throw fail("crop.template must be \(ManifestCrop.alignPoints) (x, y) points (eyes, nose tip, mouth)")
            }
            guard t.allSatisfy({ $0.allSatisfy { $0.isFinite } }) else { throw fail("crop.template has a value that is not finite") }
            guard !t.allSatisfy({ $0 == t[0] }) else { throw fail("crop.template points coincide: no transform onto them exists") }
        } else if crop.template != nil {
            throw fail("crop.template is for crop.align 'keypoints'; this is a box crop")
        }
        guard input.layout == "NCHW" else { throw fail("input.layout \(input.layout): single-frame NCHW models only") }
        guard input.dtype == "float32" else { throw fail("input.dtype \(input.dtype): this app feeds float32") }
        let dims = input.dims
        guard dims.count == 4 else { throw fail("input.shape has \(dims.count) dimensions, expected 4 (NCHW)") }
        guard dims[1] == crop.mean.count else { throw fail("input channels \(dims[1]) do not match the \(crop.mean.count) mean values") }
        guard dims[2] == crop.size, dims[3] == crop.size else { throw fail("input.shape \(dims) does not match crop.size \(crop.size)") }
    }
}

struct ManifestModel: Decodable {
    let name: String
    let variant: String?
}

struct ManifestArtifact: Decodable {
    /// The artifact's file (a `.mlpackage` directory for Core ML), beside manifest.json.
    let file: String
    /// edge_sdk.assets.sha256: of the bytes, or for a directory of each file's relative path and digest.
    let sha256: String
}

struct ManifestInput: Decodable {
    let name: String
    let shape: [ManifestDim]
    let dtype: String
    let layout: String

    /// The shape with a symbolic batch dimension read as 1, the batch this app sends.
    var dims: [Int] { shape.map { $0.value } }
}

/// A tensor dimension: a number, or a name for a dynamic one (ONNX "batch").
enum ManifestDim: Decodable {
    case fixed(Int)
    case symbolic(String)

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Int.self) {
            self = .fixed(n)
        } else {
            self = .symbolic(try c.decode(String.self))
        }
    }

    var value: Int {
        switch self {
        case .fixed(let n): return n
        case .symbolic: return 1
        }
    }
}

/// edge_sdk/preprocess.py CropSpec. `padValue` and `interpolation` are optional in the schema but
/// always written by the exporter; the app requires them rather than guess a default. `align` and
/// `template` are written only for landmark-aligned crops (align "keypoints"): absent, a box crop.
struct ManifestCrop: Decodable {
    let size: Int
    let margin: Double
    let square: Bool
    let resize: String
    let padValue: Int
    let colorOrder: String
    let mean: [Double]
    let std: [Double]
    let normalizeInModel: Bool
    let interpolation: String
    /// "box" (the detector's box, steps 1-4) or "keypoints" (a similarity onto `template`, steps a-d).
    let align: String?
    /// Aligned crops: four (x, y) points (right eye, left eye, nose tip, mouth) in units of the crop side.
    let template: [[Double]]?

    /// Keypoints an aligned crop uses: BlazeFace's first four.
    static let alignPoints = 4

    var alignsKeypoints: Bool { align == "keypoints" }
}

struct ManifestOutput: Decodable {
    let name: String
    let meaning: String
}

enum ManifestError: LocalizedError {
    case invalid(String)
    case missing(String)

    var errorDescription: String? {
        switch self {
        case .invalid(let s), .missing(let s): return s
        }
    }
}
