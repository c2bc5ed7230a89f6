package dev.edgesdk.demo

import java.io.Closeable
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.FloatBuffer
import kotlin.math.roundToInt
import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor
import org.tensorflow.lite.DataType
import org.tensorflow.lite.InterpreterApi

/**
 * One forward pass of an exported detector: an NCHW float32 face crop in (`manifest.input.shape`,
 * batch 1), one logit out. Two runtimes read the same manifest: ExecuTorch (`.pte`, the default)
 * and LiteRT (`.tflite`, `edge-sdk export --target litert`), chosen by `manifest.target`.
 */
interface ModelRunner : Closeable {
    val runtime: String

    fun logit(x: FloatArray): Float

    companion object {
        /** The runtime for an export's manifest.target; other targets do not run on Android. */
        fun open(manifest: ArtifactManifest, file: File, threads: Int): ModelRunner = when (manifest.target) {
            "executorch" -> ExecuTorchRunner(file, manifest.inputShape)
            "litert" -> LiteRtRunner(file, threads)
            else -> throw ManifestException("target ${manifest.target} does not run on Android (executorch or litert)")
        }
    }
}

/** ExecuTorch's Android API (XNNPACK). Its Module serialises calls with a lock: one runner per thread. */
class ExecuTorchRunner(file: File, private val shape: LongArray) : ModelRunner {
    override val runtime = "executorch"
    private val module: Module = Module.load(file.absolutePath, Module.LOAD_MODE_MMAP).also { it.loadMethod("forward") }
    private val input: FloatBuffer = Tensor.allocateFloatBuffer(shape.fold(1L) { acc, d -> acc * d }.toInt())

    override fun logit(x: FloatArray): Float {
        input.rewind()
        input.put(x)
        input.rewind()
        val out = module.forward(EValue.from(Tensor.fromBlob(input, shape)))[0].toTensor().getDataAsFloatArray()
        check(out.size == 1) { "model returned ${out.size} values; one logit expected" }
        return out[0]
    }

    override fun close() = module.destroy()
}

/**
 * LiteRT's interpreter (XNNPACK on the CPU). An int8 export keeps int8 input and output, as
 * edge_sdk/backends/litert.py runs it: the crop is quantized with the input tensor's scale and
 * zero point read from the file, and the logit dequantized with the output's.
 */
class LiteRtRunner(file: File, threads: Int) : ModelRunner {
    override val runtime = "litert"
    private val interpreter: InterpreterApi =
        InterpreterApi.create(file, InterpreterApi.Options().setNumThreads(threads))
    private val inputTensor = interpreter.getInputTensor(0)
    private val outputTensor = interpreter.getOutputTensor(0)
    private val quantizedInput = inputTensor.dataType() == DataType.INT8
    private val input: ByteBuffer = ByteBuffer.allocateDirect(inputTensor.numBytes()).order(ByteOrder.nativeOrder())
    private val output: ByteBuffer = ByteBuffer.allocateDirect(outputTensor.numBytes()).order(ByteOrder.nativeOrder())

    override fun logit(x: FloatArray): Float {
        require(x.size == inputTensor.numElements()) { "input has ${x.size} values, the model takes ${inputTensor.numElements()}" }
        input.rewind()
        if (quantizedInput) {
            val q = inputTensor.quantizationParams()
            for (v in x) input.put(((v / q.scale).roundToInt() + q.zeroPoint).coerceIn(Byte.MIN_VALUE.toInt(), Byte.MAX_VALUE.toInt()).toByte())
        } else {
            for (v in x) input.putFloat(v)
        }
        input.rewind()
        output.rewind()
        interpreter.run(input, output)
        output.rewind()
        check(outputTensor.numElements() == 1) { "model returned ${outputTensor.numElements()} values; one logit expected" }
        return if (outputTensor.dataType() == DataType.INT8) {
            val q = outputTensor.quantizationParams()
            (output.get().toInt() - q.zeroPoint) * q.scale
        } else {
            output.getFloat()
        }
    }

    override fun close() = interpreter.close()
}
