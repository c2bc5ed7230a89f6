package dev.edgesdk.demo

import android.content.Context
import java.io.File
import java.io.FileInputStream
import java.security.MessageDigest

/**
 * Finds the exported model in the APK's assets and makes it loadable.
 *
 * `edge-sdk export --target executorch --out app/src/main/assets/` writes
 * `assets/<target>-<precision>/<model>.pte` and `assets/<target>-<precision>/manifest.json`
 * (`--target litert`: `<model>.tflite`); the artifact's file name is whatever
 * `manifest.artifact.file` says, never assumed here.
 */
object ModelAssets {
    const val MANIFEST = "manifest.json"

    /** manifest.target and artifact suffix of the exports this app runs (ModelRunner). */
    private val RUNNABLE = listOf("executorch" to ".pte", "litert" to ".tflite")

    /** A manifest found in assets: its folder ("" for the assets root) and its contents. */
    class Located(val dir: String, val manifest: ArtifactManifest) {
        fun assetPath(name: String): String = if (dir.isEmpty()) name else "$dir/$name"
    }

    /**
     * The export to run (ExecuTorch XNNPACK or LiteRT): [wanted] (an assets folder name) if given,
     * else the first of [DemoSettings.PREFERRED_MODEL_DIRS] present, else the only export there.
     */
    fun find(context: Context, wanted: String? = null): Located {
        val assets = context.assets
        val dirs = ArrayList<String>()
        if ((assets.list("") ?: emptyArray()).contains(MANIFEST)) dirs.add("")
        for (dir in assets.list("") ?: emptyArray()) {
            if ((assets.list(dir) ?: emptyArray()).contains(MANIFEST)) dirs.add(dir)
        }
        val candidates = dirs.map { dir ->
            val path = if (dir.isEmpty()) MANIFEST else "$dir/$MANIFEST"
            val text = assets.open(path).bufferedReader().use { it.readText() }
            Located(dir, ArtifactManifest.parse(text, "assets/$path"))
        }.filter { m -> RUNNABLE.any { (target, suffix) -> m.manifest.target == target && m.manifest.artifactFile.endsWith(suffix) } }
            // executorch-coreml-* also has target "executorch", but its Core ML delegate runs only on Apple devices.
            .filter { !it.dir.startsWith("executorch-coreml") }
        if (wanted != null) {
            return candidates.firstOrNull { it.dir == wanted }
                ?: throw ManifestException("no ExecuTorch or LiteRT export in assets/$wanted (found: ${names(candidates)})")
        }
        for (preferred in DemoSettings.PREFERRED_MODEL_DIRS) {
            candidates.firstOrNull { it.dir == preferred }?.let { return it }
        }
        return when (candidates.size) {
            1 -> candidates[0]
            0 -> throw ManifestException(
                "no exported model in assets/: run `edge-sdk export --model <name> --target executorch " +
                    "--precision int8 --calib <faces> --out android_demo/app/src/main/assets/` (README)"
            )
            else -> throw ManifestException("several exports in assets/ (${names(candidates)}): pass --es model_dir <folder>")
        }
    }

    /**
     * ExecuTorch and LiteRT load from a file, so the artifact is copied out of the APK once, into a
     * folder named by its sha256, and checked against `manifest.artifact.sha256` on every load.
     */
    fun materialize(context: Context, located: Located): File {
        val m = located.manifest
        val dest = File(context.filesDir, "models/${m.artifactSha256}/${m.artifactFile}")
        if (!dest.isFile) {
            dest.parentFile?.mkdirs()
            val tmp = File(dest.parentFile, dest.name + ".partial")
            context.assets.open(located.assetPath(m.artifactFile)).use { src ->
                tmp.outputStream().use { dst -> src.copyTo(dst) }
            }
            if (!tmp.renameTo(dest)) throw ManifestException("could not move ${tmp.path} to ${dest.path}")
        }
        val digest = sha256(dest)
        if (digest != m.artifactSha256) {
            dest.delete()
            throw ManifestException(
                "assets/${located.assetPath(m.artifactFile)}: sha256 ${digest.take(12)}... does not match the " +
                    "manifest's ${m.artifactSha256.take(12)}...: the file was changed or is incomplete; re-export"
            )
        }
        return dest
    }

    fun sha256(file: File): String {
        val md = MessageDigest.getInstance("SHA-256")
        FileInputStream(file).use { input ->
            val buffer = ByteArray(DEFAULT_BUFFER_SIZE)
            while (true) {
                val n = input.read(buffer)
                if (n < 0) break
                md.update(buffer, 0, n)
            }
        }
        return md.digest().joinToString("") { "%02x".format(it) }
    }

    private fun names(found: List<Located>): String =
        if (found.isEmpty()) "none" else found.joinToString(", ") { if (it.dir.isEmpty()) "(assets root)" else it.dir }
}
