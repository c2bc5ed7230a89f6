package dev.edgesdk.demo

import android.app.Activity
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.os.Build
import android.os.Bundle
import android.util.Log
import android.widget.Button
import android.widget.TextView
import java.util.Locale
import kotlin.math.abs
import org.json.JSONObject

/**
 * N forward passes on a bundled face crop: mean / p50 / p90 / p99 latency of the runtime call (ExecuTorch or LiteRT)
 * alone and of normalise + call + sigmoid, computed like benchmarks/measure.py.
 *
 * The crop is `assets/bench_crop.png` (made by benchmarks/device_crop.py with the
 * Python runtime's detector and crop spec); beside it `bench_crop.json` holds the logit the Python
 * runtime got for the same crop and artifact, so the screen also shows on-device parity. Without
 * them a synthetic crop is used and parity is not shown.
 *
 * From a shell (results also go to logcat as one JSON line, tag EdgeSdkBench):
 *   adb shell am start -n dev.edgesdk.demo/.BenchmarkActivity --ei runs 200 --ei warmup 20 --ez autorun true
 */
class BenchmarkActivity : Activity() {

    private lateinit var report: TextView

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_benchmark)
        report = findViewById(R.id.report)
        val run = findViewById<Button>(R.id.run)
        val runs = intent.getIntExtra(EXTRA_RUNS, DemoSettings.BENCH_RUNS)
        val warmup = intent.getIntExtra(EXTRA_WARMUP, DemoSettings.BENCH_WARMUP)
        val modelDir = intent.getStringExtra(MainActivity.EXTRA_MODEL_DIR)
        run.setOnClickListener {
            run.isEnabled = false
            report.text = "running $warmup warm-up + $runs timed runs..."
            Thread {
                val text = try {
                    benchmark(modelDir, warmup, runs)
                } catch (e: Exception) {
                    Log.e(TAG, "benchmark failed", e)
                    "benchmark failed: ${e.message}"
                }
                runOnUiThread {
                    report.text = text
                    run.isEnabled = true
                }
            }.start()
        }
        if (intent.getBooleanExtra(EXTRA_AUTORUN, false)) run.performClick()
    }

    private class TestCrop(val pixels: ByteArray, val source: String, val referenceLogit: Double?, val referenceBackend: String?)

    private fun benchmark(modelDir: String?, warmup: Int, runs: Int): String {
        require(runs >= 1 && warmup >= 0) { "runs must be >= 1 and warmup >= 0" }
        DeepfakeClassifier.load(this, modelDir).use { c ->
            val m = c.manifest
            val crop = loadTestCrop(c)
            val x = FloatArray(c.inputElements)
            c.cropper.toTensor(crop.pixels, x)
            var logit = 0f
            repeat(warmup) { logit = c.logit(x) }
            val callMs = DoubleArray(runs)
            val fullMs = DoubleArray(runs)
            for (i in 0 until runs) {
                val t0 = System.nanoTime()
                c.cropper.toTensor(crop.pixels, x)
                val t1 = System.nanoTime()
                logit = c.logit(x)
                val t2 = System.nanoTime()
                DeepfakeClassifier.sigmoid(logit)
                val t3 = System.nanoTime()
                callMs[i] = (t2 - t1) / NANOS_PER_MS
                fullMs[i] = (t3 - t0) / NANOS_PER_MS
            }
            val call = LatencyStats(callMs)
            val full = LatencyStats(fullMs)
            val p = DeepfakeClassifier.sigmoid(logit)
            val parity = crop.referenceLogit?.let { ref ->
                String.format(Locale.ROOT, "host logit %.5f (%s), |d logit| %.2e", ref, crop.referenceBackend, abs(logit - ref))
            } ?: "no host reference (bench_crop.json absent or for another artifact)"
            val json = "{\"model\": \"${m.modelName}\", \"target\": \"${m.target}\", \"precision\": \"${m.precision}\", " +
                "\"sha256\": \"${m.artifactSha256}\", \"device\": \"${Build.MANUFACTURER} ${Build.MODEL}\", " +
                "\"soc\": \"${if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) Build.SOC_MODEL else "unknown"}\", " +
                "\"android\": ${Build.VERSION.SDK_INT}, \"warmup\": $warmup, \"runs\": $runs, " +
                "\"latency_ms\": ${call.toJson()}, \"with_pre_post_ms\": ${full.toJson()}, " +
                "\"logit\": $logit, \"reference_logit\": ${crop.referenceLogit}}"
            Log.i(TAG, json)
            return listOf(
                "model      ${m.description}  [assets/${c.modelDir}]",
                "exported   ${c.runtime}${if (c.runtime == "executorch") " " + (m.exportedWithExecutorch ?: "?") else ""}; sha256 ${m.artifactSha256.take(12)}... verified",
                "device     ${Build.MANUFACTURER} ${Build.MODEL}, Android ${Build.VERSION.RELEASE}",
                "input      ${m.inputName} ${m.inputShape.joinToString("x")} float32; crop ${crop.source}",
                "runs       $warmup warm-up + $runs timed",
                "",
                "forward    $call",
                "+pre/post  $full",
                "",
                String.format(Locale.ROOT, "logit %.5f  P(fake) %.4f  verdict %s (threshold %.2f)", logit, p,
                    if (c.isFake(p)) "fake" else "real", m.threshold),
                parity
            ).joinToString("\n")
        }
    }

    /** The bundled crop if it matches the model's input size, else a synthetic one. */
    private fun loadTestCrop(c: DeepfakeClassifier): TestCrop {
        val size = c.cropper.size
        val names = assets.list("") ?: emptyArray()
        if (DemoSettings.BENCH_CROP_ASSET in names) {
            val bitmap = assets.open(DemoSettings.BENCH_CROP_ASSET).use {
                BitmapFactory.decodeStream(it, null, BitmapFactory.Options().apply { inPreferredConfig = Bitmap.Config.ARGB_8888 })
            }
            if (bitmap != null && bitmap.width == size && bitmap.height == size) {
                val argb = IntArray(size * size)
                bitmap.getPixels(argb, 0, size, 0, 0, size, size)
                // The PNG already is the crop: a full-frame rectangle at the crop size is an identity resize.
                val rgb = ByteArray(size * size * c.cropper.channels)
                c.cropper.crop(argb, size, CropRect(0, 0, size, size), rgb)
                var refLogit: Double? = null
                var refBackend: String? = null
                if (DemoSettings.BENCH_REFERENCE_ASSET in names) {
                    val ref = JSONObject(assets.open(DemoSettings.BENCH_REFERENCE_ASSET).bufferedReader().use { it.readText() })
                    if (ref.optString("artifact_sha256") == c.manifest.artifactSha256 && !ref.isNull("logit")) {
                        refLogit = ref.getDouble("logit")
                        refBackend = ref.optString("backend")
                    }
                }
                return TestCrop(rgb, DemoSettings.BENCH_CROP_ASSET, refLogit, refBackend)
            }
            Log.w(TAG, "${DemoSettings.BENCH_CROP_ASSET} is not ${size}x$size: using a synthetic crop")
        }
        val rgb = ByteArray(size * size * c.cropper.channels) { i -> (i * PATTERN_STEP).toByte() }
        return TestCrop(rgb, "synthetic (no ${DemoSettings.BENCH_CROP_ASSET})", null, null)
    }

    companion object {
        const val TAG = "EdgeSdkBench"
        const val EXTRA_RUNS = "runs"
        const val EXTRA_WARMUP = "warmup"
        const val EXTRA_AUTORUN = "autorun"
        private const val NANOS_PER_MS = 1e6
        private const val PATTERN_STEP = 7
    }
}
