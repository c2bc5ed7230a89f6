package dev.edgesdk.demo

import android.Manifest
import android.content.Intent
import android.content.pm.PackageManager
import android.graphics.Bitmap
import android.graphics.Matrix
import android.os.Bundle
import android.os.SystemClock
import android.util.Log
import android.util.Size
import android.widget.Button
import androidx.activity.ComponentActivity
import androidx.activity.result.contract.ActivityResultContracts
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import androidx.camera.core.Preview
import androidx.camera.core.resolutionselector.ResolutionSelector
import androidx.camera.core.resolutionselector.ResolutionStrategy
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import com.google.mediapipe.framework.image.BitmapExtractor
import com.google.mediapipe.framework.image.MPImage
import com.google.mediapipe.tasks.vision.facedetector.FaceDetectorResult
import java.util.Locale
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * Camera -> BlazeFace (MediaPipe, LIVE_STREAM) -> crop per the manifest -> ExecuTorch or LiteRT -> overlay.
 *
 * CameraX delivers RGBA_8888 frames (keep-only-latest) on [analysisExecutor]; each is rotated
 * upright and sent to the detector. Its results arrive on MediaPipe's thread with the frame, where
 * every face is cropped, classified, tracked (IoU) and smoothed (EMA), then drawn.
 *
 * Extras: `--es model_dir executorch-fp32` (or `litert-int8`) picks an export folder in assets/.
 */
class MainActivity : ComponentActivity() {

    private lateinit var previewView: PreviewView
    private lateinit var overlay: OverlayView

    private val analysisExecutor: ExecutorService = Executors.newSingleThreadExecutor()
    @Volatile private var classifier: DeepfakeClassifier? = null
    @Volatile private var detection: FaceDetection? = null
    @Volatile private var mirrored = true
    private var lensFacing = CameraSelector.LENS_FACING_FRONT

    // Used only on MediaPipe's result thread.
    private val tracker = IoUTracker()
    private val smoother = TrackSmoother()
    private var cropBuffer = ByteArray(0)
    private var inputBuffer = FloatArray(0)
    private val inferenceMs = RollingMeter()
    private val endToEndMs = RollingMeter()

    private val cameraPermission =
        registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
            if (granted) startCamera() else overlay.showMessage(getString(R.string.camera_permission_denied))
        }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        previewView = findViewById(R.id.preview)
        overlay = findViewById(R.id.overlay)
        findViewById<Button>(R.id.open_benchmark).setOnClickListener {
            startActivity(Intent(this, BenchmarkActivity::class.java).putExtra(EXTRA_MODEL_DIR, classifier?.modelDir))
        }
        findViewById<Button>(R.id.switch_camera).setOnClickListener {
            lensFacing = if (lensFacing == CameraSelector.LENS_FACING_FRONT) {
                CameraSelector.LENS_FACING_BACK
            } else {
                CameraSelector.LENS_FACING_FRONT
            }
            startCamera()
        }

        val modelDir = intent.getStringExtra(EXTRA_MODEL_DIR)
        analysisExecutor.execute { loadModels(modelDir) }

        if (ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) {
            startCamera()
        } else {
            cameraPermission.launch(Manifest.permission.CAMERA)
        }
    }

    private fun loadModels(modelDir: String?) {
        try {
            val c = DeepfakeClassifier.load(this, modelDir)
            cropBuffer = ByteArray(c.cropper.size * c.cropper.size * c.cropper.channels)
            inputBuffer = FloatArray(c.inputElements)
            classifier = c
            detection = FaceDetection(this, ::onFaces) { e ->
                Log.e(TAG, "face detection failed", e)
                overlay.showMessage("face detection failed: ${e.message}")
            }
            Log.i(TAG, "loaded ${c.manifest.description} from assets/${c.modelDir}, threshold ${c.manifest.threshold}")
            c.manifest.exportedWithExecutorch?.let { Log.i(TAG, "exported with executorch $it") }
        } catch (e: Exception) {
            Log.e(TAG, "could not load the model", e)
            overlay.showMessage("Could not load the model:\n${e.message}")
        }
    }

    private fun startCamera() {
        val providerFuture = ProcessCameraProvider.getInstance(this)
        providerFuture.addListener({ bindCamera(providerFuture.get()) }, ContextCompat.getMainExecutor(this))
    }

    private fun bindCamera(provider: ProcessCameraProvider) {
        val resolution = ResolutionSelector.Builder()
            .setResolutionStrategy(
                ResolutionStrategy(
                    Size(DemoSettings.ANALYSIS_WIDTH, DemoSettings.ANALYSIS_HEIGHT),
                    ResolutionStrategy.FALLBACK_RULE_CLOSEST_HIGHER_THEN_LOWER
                )
            )
            .build()
        val preview = Preview.Builder().setResolutionSelector(resolution).build()
        preview.setSurfaceProvider(previewView.surfaceProvider)
        val analysis = ImageAnalysis.Builder()
            .setResolutionSelector(resolution)
            .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
            .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
            .build()
        analysis.setAnalyzer(analysisExecutor) { proxy -> analyze(proxy) }
        val selector = CameraSelector.Builder().requireLensFacing(lensFacing).build()
        mirrored = lensFacing == CameraSelector.LENS_FACING_FRONT
        try {
            provider.unbindAll()
            provider.bindToLifecycle(this, selector, preview, analysis)
        } catch (e: Exception) {
            Log.e(TAG, "camera binding failed", e)
            overlay.showMessage("Camera unavailable: ${e.message}")
        }
    }

    /** Analysis thread: frame -> upright ARGB bitmap -> detector (results come to [onFaces]). */
    private fun analyze(proxy: ImageProxy) {
        val detector = detection
        if (detector == null) {
            proxy.close()
            return
        }
        val arrivedMs = SystemClock.uptimeMillis()
        val frame = proxy.use { upright(it.toBitmap(), it.imageInfo.rotationDegrees) }
        detector.detectAsync(frame, arrivedMs)
    }

    /** MediaPipe's result thread: crop, classify, track, smooth, draw. */
    private fun onFaces(result: FaceDetectorResult, image: MPImage) {
        val c = classifier ?: return
        val frame = BitmapExtractor.extract(image)
        val w = frame.width
        val h = frame.height
        val pixels = IntArray(w * h)
        frame.getPixels(pixels, 0, w, 0, 0, w, h)

        val faces = FaceDetection.faces(result, w, h)
        val kept = ArrayList<FaceBox>()
        val probabilities = ArrayList<Double>()
        for (face in faces) {
            // Box or landmark-aligned crop, as the manifest's crop.align says.
            c.cropper.cropFace(pixels, w, h, face.box, face.keypoints, cropBuffer) ?: continue
            c.cropper.toTensor(cropBuffer, inputBuffer)
            val t0 = System.nanoTime()
            val logit = c.logit(inputBuffer)
            val t1 = System.nanoTime()
            inferenceMs.add(t1, (t1 - t0) / NANOS_PER_MS)
            kept.add(face.box)
            probabilities.add(DeepfakeClassifier.sigmoid(logit))
        }
        val ids = tracker.update(kept)
        val smoothed = smoother.update(ids.indices.associate { ids[it] to probabilities[it] })
        val overlayFaces = ids.indices.map { i ->
            val s = smoothed.getValue(ids[i])
            OverlayView.Face(kept[i], ids[i], probabilities[i], s, c.isFake(s))
        }
        val now = System.nanoTime()
        endToEndMs.add(now, (SystemClock.uptimeMillis() - result.timestampMs()).toDouble())
        val m = c.manifest
        val status = listOf(
            "${m.description}  [${c.modelDir.ifEmpty { "assets" }}]",
            String.format(
                Locale.ROOT, "inference %.1f ms  end-to-end %.1f ms  %.1f FPS",
                inferenceMs.meanMs(), endToEndMs.meanMs(), endToEndMs.ratePerSecond()
            ),
            String.format(Locale.ROOT, "threshold %.2f (manifest)  faces %d", m.threshold, overlayFaces.size)
        )
        overlay.show(OverlayView.Frame(w, h, mirrored, overlayFaces, status))
    }

    override fun onDestroy() {
        super.onDestroy()
        analysisExecutor.execute {
            detection?.close()
            classifier?.close()
        }
        analysisExecutor.shutdown()
    }

    companion object {
        const val TAG = "EdgeSdkDemo"
        const val EXTRA_MODEL_DIR = "model_dir"
        private const val NANOS_PER_MS = 1e6

        /** The analysis buffer rotated to display orientation (what the user sees, unmirrored). */
        fun upright(frame: Bitmap, rotationDegrees: Int): Bitmap {
            if (rotationDegrees == 0) return frame
            val m = Matrix()
            m.postRotate(rotationDegrees.toFloat())
            return Bitmap.createBitmap(frame, 0, 0, frame.width, frame.height, m, false)
        }
    }
}
