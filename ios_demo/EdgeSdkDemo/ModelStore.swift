import CoreML
import CryptoKit
import Foundation

/// Finds the exported Core ML model in the app bundle, checks it against its manifest and compiles it.
///
/// `edge-sdk export --target coreml --out ios_demo/EdgeSdkDemo/Models/` writes
/// `Models/coreml-<precision>/<model>.mlpackage` and `Models/coreml-<precision>/manifest.json`.
/// `Models` is a folder reference in project.yml, so the package is bundled as is (not compiled
/// by Xcode) and its sha256 can be checked exactly as edge_sdk computes it; the app compiles it on
/// first use and caches the compiled model by sha256.
enum ModelStore {
    struct Located {
        let folder: URL
        let manifest: ArtifactManifest
        var name: String { folder.lastPathComponent }
        var artifactURL: URL { folder.appendingPathComponent(manifest.artifact.file) }
    }

    static var modelsURL: URL? { Bundle.main.resourceURL?.appendingPathComponent(DemoSettings.modelsFolder) }

    /// The Core ML export to run: `wanted` if given, else the first preferred folder, else the only one.
    static func locate(_ wanted: String? = nil) throws -> Located {
        guard let root = modelsURL, let dirs = try? FileManager.default.contentsOfDirectory(
            at: root, includingPropertiesForKeys: nil) else {
            throw ManifestError.missing("no Models folder in the app bundle: see ios_demo/README.md")
        }
        let found = try dirs.compactMap { dir -> Located? in
            let url = dir.appendingPathComponent("manifest.json")
            guard FileManager.default.fileExists(atPath: url.path) else { return nil }
            return Located(folder: dir, manifest: try ArtifactManifest.load(from: url))
        }.filter { $0.manifest.target == "coreml" && $0.manifest.artifact.file.hasSuffix(".mlpackage") }
        if let wanted {
            guard let hit = found.first(where: { $0.name == wanted }) else {
                throw ManifestError.missing("no Core ML export in Models/\(wanted)")
            }
            return hit
        }
        for preferred in DemoSettings.preferredModelDirs {
            if let hit = found.first(where: { $0.name == preferred }) { return hit }
        }
        guard let only = found.first else {
            throw ManifestError.missing(
                "no exported model in Models/: run `edge-sdk export --model <name> --target coreml --precision fp16 "
                    + "--out ios_demo/EdgeSdkDemo/Models/` and rebuild (README)")
        }
        return only
    }

    /// Check the bundled package against `manifest.artifact.sha256`, then compile (cached by sha256).
    static func compiledModel(_ located: Located) async throws -> URL {
        let digest = try sha256(located.artifactURL)
        guard digest == located.manifest.artifact.sha256 else {
            throw ManifestError.invalid("\(located.manifest.artifact.file): sha256 \(digest.prefix(12))... does not match the "
                + "manifest's \(located.manifest.artifact.sha256.prefix(12))...: changed or incomplete; re-export")
        }
        let cacheRoot = try FileManager.default.url(for: .applicationSupportDirectory, in: .userDomainMask,
                                                    appropriateFor: nil, create: true)
            .appendingPathComponent("CompiledModels", isDirectory: true)
        let cached = cacheRoot.appendingPathComponent("\(digest).mlmodelc", isDirectory: true)
        if FileManager.default.fileExists(atPath: cached.path) { return cached }
        let compiled = try await MLModel.compileModel(at: located.artifactURL)
        try FileManager.default.createDirectory(at: cacheRoot, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(at: cached)
        try FileManager.default.moveItem(at: compiled, to: cached)
        return cached
    }

    /// edge_sdk.assets.sha256: a file's bytes; a directory (a .mlpackage): each file's relative
    /// path and digest as "path\0digest\n", files sorted by path components (Python Path order).
    static func sha256(_ url: URL) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw ManifestError.missing("\(url.lastPathComponent) is not in the bundle")
        }
        guard isDir.boolValue else { return try fileSha256(url) }
        let base = url.standardizedFileURL.pathComponents
        var files: [[String]] = []
        if let walker = FileManager.default.enumerator(at: url, includingPropertiesForKeys: [.isRegularFileKey]) {
            for case let file as URL in walker where (try? file.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true {
                files.append(Array(file.standardizedFileURL.pathComponents.dropFirst(base.count)))
            }
        }
        files.sort { $0.lexicographicallyPrecedes($1) }
        var h = SHA256()
        for parts in files {
            let digest = try fileSha256(parts.reduce(url) { $0.appendingPathComponent($1) })
            h.update(data: Data("\(parts.joined(separator: "/"))\u{0}\(digest)\n".utf8))
        }
        return hex(h.finalize())
    }

    private static func fileSha256(_ url: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var h = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { h.update(data: chunk) }
        return hex(h.finalize())
    }

    private static func hex(_ digest: SHA256.Digest) -> String { digest.map { String(format: "%02x", $0) }.joined() }
}
