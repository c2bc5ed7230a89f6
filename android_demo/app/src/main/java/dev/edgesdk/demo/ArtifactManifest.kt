package dev.edgesdk.demo

import org.json.JSONArray
import org.json.JSONException
import org.json.JSONObject

/**
 * `manifest.json`, written by `edge-sdk export` beside every artifact (schema:
 * edge_sdk/schemas/manifest.schema.json). Everything the app needs to feed the model comes from
 * here: input name/shape, the crop spec (size, margin, square, pad/stretch, pad value, mean/std,
 * normalize_in_model; for landmark-aligned crops, align and template) and the decision threshold. The app has no preprocessing numbers of its own.
 *
 * Pure Kotlin (org.json only), so the JVM unit tests can parse real manifests.
 */
class ArtifactManifest(
    val schemaVersion: Int,
    val modelName: String,
    val modelVariant: String?,
    val artifactFile: String,
    val artifactSha256: String,
    val target: String,
    val precision: String,
    val inputName: String,
    /** NCHW; a symbolic batch dimension ("batch") is read as 1, the batch this app sends. */
    val inputShape: LongArray,
    val inputDtype: String,
    val inputLayout: String,
    val crop: CropSpec,
    val outputName: String,
    val outputMeaning: String,
    val threshold: Double,
    /** The ExecuTorch release that wrote the .pte; the app's executorch-android should match it. */
    val exportedWithExecutorch: String?
) {
    val description: String get() = "$modelName ($target $precision)"

    companion object {
        const val SUPPORTED_SCHEMA_VERSION = 1
        /** The schema's `output.meaning` constant: one logit per face, sigmoid gives P(fake). */
        const val LOGIT_MEANING = "logit; sigmoid gives P(fake)"

        /** Parse and check a manifest; [source] names the file in error messages. */
        fun parse(text: String, source: String): ArtifactManifest {
            val root = try {
                JSONObject(text)
            } catch (e: JSONException) {
                throw ManifestException("$source: not valid JSON (${e.message})")
            }
            val field = ManifestFields(root, source)
            val schemaVersion = field.integer("schema_version")
            if (schemaVersion != SUPPORTED_SCHEMA_VERSION) {
                throw ManifestException(
                    "$source: schema_version $schemaVersion, this app reads version $SUPPORTED_SCHEMA_VERSION; " +
                        "re-export with the edge_sdk this app was built for"
                )
            }
            val crop = CropSpec(
                size = field.integer("crop.size"),
                margin = field.number("crop.margin"),
                square = field.boolean("crop.square"),
                resize = Resize.fromManifest(field.string("crop.resize"), source),
                // Not required by the schema, but always written by CropSpec.to_dict(); the app
                // refuses to guess a pad value or interpolation rather than assume a default.
                padValue = field.integer("crop.pad_value"),
                colorOrder = field.string("crop.color_order"),
                mean = field.numbers("crop.mean"),
                std = field.numbers("crop.std"),
                normalizeInModel = field.boolean("crop.normalize_in_model"),
                interpolation = field.string("crop.interpolation"),
                // Written only for aligned crops; a manifest without it is a box crop.
                align = Align.fromManifest(field.optionalString("crop.align"), source),
                template = field.optionalPoints("crop.template") ?: DoubleArray(0)
            )
            val manifest = ArtifactManifest(
                schemaVersion = schemaVersion,
                modelName = field.string("model.name"),
                modelVariant = field.optionalString("model.variant"),
                artifactFile = field.string("artifact.file"),
                artifactSha256 = field.string("artifact.sha256"),
                target = field.string("target"),
                precision = field.string("precision"),
                inputName = field.string("input.name"),
                inputShape = field.dims("input.shape"),
                inputDtype = field.string("input.dtype"),
                inputLayout = field.string("input.layout"),
                crop = crop,
                outputName = field.string("output.name"),
                outputMeaning = field.string("output.meaning"),
                threshold = field.number("threshold"),
                exportedWithExecutorch = field.optionalString("versions.executorch")
            )
            manifest.check(source)
            return manifest
        }
    }

    /** What this app can feed: one NCHW float32 RGB face crop whose side is the crop size. */
    private fun check(source: String) {
        fun fail(what: String): Nothing = throw ManifestException("$source: $what")
        if (outputMeaning != LOGIT_MEANING) fail("output.meaning is '$outputMeaning', expected '$LOGIT_MEANING'")
        if (crop.colorOrder != "RGB") fail("crop.color_order ${crop.colorOrder}: only RGB is supported")
        if (crop.interpolation != "bilinear") fail("crop.interpolation ${crop.interpolation}: only bilinear is implemented")
        if (crop.mean.size != crop.std.size || crop.std.any { it <= 0f }) fail("crop.mean/std are inconsistent")
        if (crop.padValue < 0 || crop.padValue > 0xFF) fail("crop.pad_value ${crop.padValue} is not an 8-bit level")
        if (crop.align == Align.KEYPOINTS) {
            val t = crop.template
            if (t.size != Align.POINTS * 2) {
                fail("crop.template has ${t.size / 2} points; an aligned crop needs ${Align.POINTS} (eyes, nose tip, mouth)")
            }
            if (t.any { !it.isFinite() }) fail("crop.template has a value that is not a finite number")
            if ((0 until Align.POINTS).all { t[2 * it] == t[0] && t[2 * it + 1] == t[1] }) {
                fail("crop.template points coincide: no transform onto them exists")
            }
        } else if (crop.template.isNotEmpty()) {
            fail("crop.template is for crop.align 'keypoints'; this is a box crop")
        }
        if (inputLayout != "NCHW") {
            fail("input.layout $inputLayout: this app runs single-frame NCHW models, not clip models (NTCHW)")
        }
        if (inputDtype != "float32") {
            fail("input.dtype $inputDtype: this app feeds float32 tensors (export without --image-input)")
        }
        if (inputShape.size != 4) fail("input.shape has ${inputShape.size} dimensions, expected 4 (NCHW)")
        if (inputShape[1].toInt() != crop.mean.size) {
            fail("input.shape channels ${inputShape[1]} do not match the crop spec's ${crop.mean.size} mean values")
        }
        if (inputShape[2].toInt() != crop.size || inputShape[3].toInt() != crop.size) {
            fail("input.shape ${inputShape.joinToString("x")} does not match crop.size ${crop.size}")
        }
    }
}

class ManifestException(message: String) : Exception(message)

/**
 * The only way the app reads manifest fields: typed accessors taking the field's dotted path
 * ("crop.mean"). tests/test_demo_apps.py finds every `field.<accessor>("...")` call in the Kotlin
 * sources and checks that the path exists in the JSON Schema and in a manifest the exporter wrote.
 */
internal class ManifestFields(private val root: JSONObject, private val source: String) {

    private fun fail(path: String, what: String): Nothing = throw ManifestException("$source: field $path $what")

    private fun find(path: String): Any? {
        var node: Any = root
        for (key in path.split('.')) {
            val obj = node as? JSONObject ?: fail(path, "has no object at '$key'")
            if (!obj.has(key) || obj.isNull(key)) return null
            node = obj.get(key)
        }
        return node
    }

    private fun require(path: String): Any = find(path) ?: fail(path, "is missing")

    fun string(path: String): String = require(path) as? String ?: fail(path, "is not a string")

    fun optionalString(path: String): String? = find(path)?.let { it as? String ?: fail(path, "is not a string") }

    fun boolean(path: String): Boolean = require(path) as? Boolean ?: fail(path, "is not a boolean")

    fun number(path: String): Double = (require(path) as? Number)?.toDouble() ?: fail(path, "is not a number")

    fun integer(path: String): Int {
        val v = require(path) as? Number ?: fail(path, "is not a number")
        if (v.toDouble() != v.toLong().toDouble()) fail(path, "is not an integer")
        return v.toInt()
    }

    fun numbers(path: String): FloatArray {
        val a = require(path) as? JSONArray ?: fail(path, "is not an array")
        return FloatArray(a.length()) { i -> (a.get(i) as? Number)?.toFloat() ?: fail(path, "[$i] is not a number") }
    }

    /** (x, y) points, [[x, y], ...], flattened to x0, y0, x1, y1, ...; null when the field is absent. */
    fun optionalPoints(path: String): DoubleArray? {
        val rows = (find(path) ?: return null) as? JSONArray ?: fail(path, "is not an array of (x, y) points")
        val out = DoubleArray(rows.length() * 2)
        for (i in 0 until rows.length()) {
            val pt = rows.get(i) as? JSONArray ?: fail(path, "[$i] is not an (x, y) pair")
            if (pt.length() != 2) fail(path, "[$i] has ${pt.length()} values, not 2 (x, y)")
            for (k in 0 until 2) out[2 * i + k] = (pt.get(k) as? Number)?.toDouble() ?: fail(path, "[$i][$k] is not a number")
        }
        return out
    }

    /** Tensor dimensions: integers, or a name for a dynamic dimension, which this app runs as 1. */
    fun dims(path: String): LongArray {
        val a = require(path) as? JSONArray ?: fail(path, "is not an array")
        return LongArray(a.length()) { i ->
            when (val d = a.get(i)) {
                is Number -> d.toLong()
                is String -> 1L
                else -> fail(path, "[$i] is neither a number nor a name")
            }
        }
    }
}
