package dev.edgesdk.demo

import android.content.Context
import android.graphics.Bitmap
import com.google.mediapipe.framework.image.BitmapImageBuilder
import com.google.mediapipe.framework.image.MPImage
import com.google.mediapipe.tasks.core.BaseOptions
import com.google.mediapipe.tasks.core.Delegate
import com.google.mediapipe.tasks.vision.core.RunningMode
import com.google.mediapipe.tasks.vision.facedetector.FaceDetector
import com.google.mediapipe.tasks.vision.facedetector.FaceDetectorResult
import java.io.Closeable
import kotlin.math.max
import kotlin.math.min

/**
 * One detected face: its box in frame pixels, BlazeFace's score and its keypoints in frame pixels,
 * flattened (x0, y0, x1, y1, ...): right eye, left eye, nose tip, mouth, right and left ear
 * tragion, the order edge_sdk/faces.py gives them; aligned crops use the first four.
 */
class DetectedFace(val box: FaceBox, val score: Float, val keypoints: FloatArray)

/**
 * MediaPipe Tasks FaceDetector in LIVE_STREAM mode with the BlazeFace short-range model, set up
 * like edge_sdk/faces.py. Results arrive on MediaPipe's thread through [onResult] with the frame
 * they belong to; frames sent while the detector is busy are dropped by its flow limiter.
 */
class FaceDetection(
    context: Context,
    onResult: (FaceDetectorResult, MPImage) -> Unit,
    onError: (RuntimeException) -> Unit
) : Closeable {

    private val detector: FaceDetector
    private var lastTimestampMs = -1L

    init {
        val base = BaseOptions.builder()
            .setModelAssetPath(DemoSettings.FACE_MODEL_ASSET)
            .setDelegate(Delegate.CPU)
            .build()
        val options = FaceDetector.FaceDetectorOptions.builder()
            .setBaseOptions(base)
            .setRunningMode(RunningMode.LIVE_STREAM)
            .setMinDetectionConfidence(DemoSettings.MIN_DETECTION_CONFIDENCE)
            .setMinSuppressionThreshold(DemoSettings.MIN_SUPPRESSION_THRESHOLD)
            .setResultListener { result, image -> onResult(result, image) }
            .setErrorListener { error -> onError(error) }
            .build()
        detector = FaceDetector.createFromOptions(context, options)
    }

    /** Send an upright ARGB_8888 frame; [timestampMs] must increase (MediaPipe requires it). */
    fun detectAsync(frame: Bitmap, timestampMs: Long) {
        val ts = max(timestampMs, lastTimestampMs + 1)
        lastTimestampMs = ts
        detector.detectAsync(BitmapImageBuilder(frame).build(), ts)
    }

    override fun close() = detector.close()

    companion object {
        /**
         * Boxes in frame pixels, clipped to the frame and sorted largest first, with their
         * keypoints, as edge_sdk/faces.py returns them (its detection scale is 1 for frames up to 640 px).
         */
        fun faces(result: FaceDetectorResult, frameWidth: Int, frameHeight: Int): List<DetectedFace> =
            result.detections().map { d ->
                val b = d.boundingBox()
                val box = FaceBox(
                    max(0f, b.left), max(0f, b.top),
                    min(frameWidth.toFloat(), b.right), min(frameHeight.toFloat(), b.bottom)
                )
                // Not clipped (a keypoint may lie outside the frame), as edge_sdk/faces.py keeps them.
                val points = d.keypoints().orElse(emptyList())
                val keypoints = FloatArray(points.size * 2) { i ->
                    if (i % 2 == 0) points[i / 2].x() * frameWidth else points[i / 2].y() * frameHeight
                }
                DetectedFace(box, d.categories().firstOrNull()?.score() ?: 0f, keypoints)
            }.sortedByDescending { it.box.area }
    }
}
