package dev.edgesdk.demo

import android.content.Context
import java.io.Closeable
import java.nio.FloatBuffer
import kotlin.math.exp
import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor

/**
 * The exported detector through ExecuTorch's Android API: one NCHW float32 face crop in
 * (shape `manifest.input.shape`), one logit out; sigmoid gives P(fake), compared with
 * `manifest.threshold` (fake when P >= threshold, as edge_sdk/pipeline.py decides).
 *
 * ExecuTorch's Module serialises calls with a lock; use one classifier per thread for speed.
 */
class DeepfakeClassifier private constructor(
    val manifest: ArtifactManifest,
    val modelDir: String,
    private val module: Module
) : Closeable {

    /** The crop arithmetic of this artifact's manifest. */
    val cropper = FaceCropper(manifest.crop)

    /** Number of floats one input holds (batch 1). */
    val inputElements: Int = manifest.inputShape.fold(1L) { acc, d -> acc * d }.toInt()

    private val input: FloatBuffer = Tensor.allocateFloatBuffer(inputElements)

    /** One forward pass on an NCHW float32 input of [inputElements] values; returns the logit. */
    fun logit(x: FloatArray): Float {
        require(x.size == inputElements) { "input has ${x.size} values, the model takes $inputElements" }
        input.rewind()
        input.put(x)
        input.rewind()
        val outputs = module.forward(EValue.from(Tensor.fromBlob(input, manifest.inputShape)))
        val out = outputs[0].toTensor().getDataAsFloatArray()
        check(out.size == 1) { "model returned ${out.size} values; ${manifest.outputMeaning} expects one logit" }
        return out[0]
    }

    fun isFake(probability: Double): Boolean = probability >= manifest.threshold

    override fun close() = module.destroy()

    companion object {
        /** P(fake) from a logit (manifest.output.meaning). */
        fun sigmoid(logit: Float): Double = 1.0 / (1.0 + exp(-logit.toDouble()))

        /** Find the export in assets, check its sha256, load it (memory-mapped) and load `forward`. */
        fun load(context: Context, modelDir: String? = null): DeepfakeClassifier {
            val located = ModelAssets.find(context, modelDir)
            val file = ModelAssets.materialize(context, located)
            val module = Module.load(file.absolutePath, Module.LOAD_MODE_MMAP)
            module.loadMethod("forward")
            return DeepfakeClassifier(located.manifest, located.dir, module)
        }
    }
}
