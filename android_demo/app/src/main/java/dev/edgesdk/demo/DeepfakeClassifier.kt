package dev.edgesdk.demo

import android.content.Context
import java.io.Closeable
import kotlin.math.exp

/**
 * The exported detector, through the runtime its manifest names (ModelRunner: ExecuTorch for a
 * `.pte`, LiteRT for a `.tflite`): one NCHW float32 face crop in (shape `manifest.input.shape`),
 * one logit out; sigmoid gives P(fake), compared with `manifest.threshold` (fake when
 * P >= threshold, as edge_sdk/pipeline.py decides).
 *
 * Use one classifier per thread for speed.
 */
class DeepfakeClassifier private constructor(
    val manifest: ArtifactManifest,
    val modelDir: String,
    private val runner: ModelRunner
) : Closeable {

    /** The crop arithmetic of this artifact's manifest. */
    val cropper = FaceCropper(manifest.crop)

    /** Number of floats one input holds (batch 1). */
    val inputElements: Int = manifest.inputShape.fold(1L) { acc, d -> acc * d }.toInt()

    /** "executorch" or "litert". */
    val runtime: String get() = runner.runtime

    /** One forward pass on an NCHW float32 input of [inputElements] values; returns the logit. */
    fun logit(x: FloatArray): Float {
        require(x.size == inputElements) { "input has ${x.size} values, the model takes $inputElements" }
        return runner.logit(x)
    }

    fun isFake(probability: Double): Boolean = probability >= manifest.threshold

    override fun close() = runner.close()

    companion object {
        /** P(fake) from a logit (manifest.output.meaning). */
        fun sigmoid(logit: Float): Double = 1.0 / (1.0 + exp(-logit.toDouble()))

        /** Find the export in assets, check its sha256, and open it with the runtime its manifest names. */
        fun load(context: Context, modelDir: String? = null): DeepfakeClassifier {
            val located = ModelAssets.find(context, modelDir)
            val file = ModelAssets.materialize(context, located)
            val runner = ModelRunner.open(located.manifest, file, DemoSettings.LITERT_THREADS)
            return DeepfakeClassifier(located.manifest, located.dir, runner)
        }
    }
}
