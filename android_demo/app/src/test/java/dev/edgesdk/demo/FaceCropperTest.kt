package dev.edgesdk.demo

import org.json.JSONArray
import org.json.JSONObject
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Test
import kotlin.math.abs

/**
 * The crop arithmetic against the Python runtime: crop_golden.json is written by
 * tests/test_demo_apps.py from edge_sdk's CropSpec (rectangles, OpenCV crops, tensors), which
 * also fails when the file goes stale. Box crops and landmark-aligned crops (cases with
 * "keypoints", crop.align "keypoints"). Run with `./gradlew :app:testDebugUnitTest`.
 */
class FaceCropperTest {

    private val golden: JSONObject by lazy {
        val url = javaClass.classLoader!!.getResource("crop_golden.json")
        assertNotNull("crop_golden.json missing from test resources", url)
        JSONObject(url!!.readText())
    }

    /** The synthetic frame of the golden file, as ARGB_8888 ints (formula shared with the Python test). */
    private fun frame(width: Int, height: Int): IntArray = IntArray(width * height) { i ->
        val x = i % width
        val y = i / width
        val r = (x * 5 + y * 3) and 0xFF
        val g = (x * y + 40) and 0xFF
        val b = (x * 11 + y * 7 + 50) and 0xFF
        (0xFF shl 24) or (r shl 16) or (g shl 8) or b
    }

    private fun ints(a: JSONArray) = IntArray(a.length()) { a.getInt(it) }

    /** [[x, y], ...] -> x0, y0, x1, y1, ... as the detector gives them (float). */
    private fun points(a: JSONArray) = FloatArray(a.length() * 2) { a.getJSONArray(it / 2).getDouble(it % 2).toFloat() }

    private fun manifestWithCrop(change: (JSONObject) -> Unit): String {
        val case = golden.getJSONArray("cases").getJSONObject(0)
        val m = JSONObject(case.getJSONObject("manifest").toString())
        change(m.getJSONObject("crop"))
        return m.toString()
    }

    private fun refused(text: String): String =
        try {
            ArtifactManifest.parse(text, "m.json")
            throw AssertionError("manifest accepted")
        } catch (e: ManifestException) {
            e.message ?: ""
        }

    @Test
    fun cropsMatchThePythonRuntime() {
        val cases = golden.getJSONArray("cases")
        assertTrue(cases.length() > 0)
        for (k in 0 until cases.length()) {
            val case = cases.getJSONObject(k)
            val name = case.getString("name")
            val manifest = ArtifactManifest.parse(case.getJSONObject("manifest").toString(), name)
            val cropper = FaceCropper(manifest.crop)
            val w = case.getInt("frame_width")
            val h = case.getInt("frame_height")
            val b = case.getJSONArray("box")
            val box = FaceBox(b.getDouble(0).toFloat(), b.getDouble(1).toFloat(), b.getDouble(2).toFloat(), b.getDouble(3).toFloat())
            val keypoints = if (case.has("keypoints")) points(case.getJSONArray("keypoints")) else null
            assertEquals("$name align", keypoints != null, manifest.crop.align == Align.KEYPOINTS)
            val rect = cropper.cropRect(box, w, h, keypoints) ?: throw AssertionError("$name: no crop rectangle")
            assertEquals("$name rect", ints(case.getJSONArray("rect")).toList(), listOf(rect.left, rect.top, rect.right, rect.bottom))

            val crop = ByteArray(cropper.size * cropper.size * cropper.channels)
            val used = cropper.cropFace(frame(w, h), w, h, box, keypoints, crop) ?: throw AssertionError("$name: no crop")
            assertEquals("$name cropFace rect", listOf(rect.left, rect.top, rect.right, rect.bottom),
                listOf(used.left, used.top, used.right, used.bottom))
            val expected = ints(case.getJSONArray("crop_uint8"))
            var worst = 0
            for (i in expected.indices) worst = maxOf(worst, abs((crop[i].toInt() and 0xFF) - expected[i]))
            assertTrue("$name: crop differs from OpenCV's by $worst levels", worst <= 1)

            // Normalisation of the runtime's own uint8 crop must match to_tensor() exactly.
            val runtimeCrop = ByteArray(expected.size) { expected[it].toByte() }
            val x = FloatArray(expected.size)
            cropper.toTensor(runtimeCrop, x)
            val tensor = case.getJSONArray("tensor")
            for (i in 0 until tensor.length()) {
                assertEquals("$name tensor[$i]", tensor.getDouble(i).toFloat(), x[i], 0f)
            }
        }
    }

    @Test
    fun boxOutsideTheFrameGivesNoCrop() {
        val case = golden.getJSONArray("cases").getJSONObject(0)
        val cropper = FaceCropper(ArtifactManifest.parse(case.getJSONObject("manifest").toString(), "case0").crop)
        val w = case.getInt("frame_width")
        val h = case.getInt("frame_height")
        assertEquals(null, cropper.cropRect(FaceBox(w + 10f, h + 10f, w + 20f, h + 20f), w, h))
    }

    @Test
    fun alignedCropNeedsItsKeypoints() {
        val cases = golden.getJSONArray("cases")
        val case = (0 until cases.length()).map { cases.getJSONObject(it) }.first { it.has("keypoints") }
        val cropper = FaceCropper(ArtifactManifest.parse(case.getJSONObject("manifest").toString(), "aligned").crop)
        val w = case.getInt("frame_width")
        val h = case.getInt("frame_height")
        val box = FaceBox(0f, 0f, w.toFloat(), h.toFloat())
        val crop = ByteArray(cropper.size * cropper.size * cropper.channels)
        assertEquals(null, cropper.cropFace(frame(w, h), w, h, box, null, crop))
        assertEquals(null, cropper.cropRect(box, w, h, FloatArray(6) { it.toFloat() }))  // three points only
        assertEquals(null, cropper.cropRect(box, w, h, FloatArray(8) { 5f }))  // all in one place
    }

    @Test
    fun manifestAlignIsChecked() {
        assertEquals(Align.BOX, ArtifactManifest.parse(manifestWithCrop { }, "box").crop.align)
        assertTrue(refused(manifestWithCrop { it.put("align", "landmarks") }).contains("crop.align 'landmarks'"))
        assertTrue(refused(manifestWithCrop { it.put("align", "keypoints") }).contains("crop.template"))
        val three = JSONArray(listOf(JSONArray(listOf(0.3, 0.3)), JSONArray(listOf(0.7, 0.3)), JSONArray(listOf(0.5, 0.7))))
        assertTrue(refused(manifestWithCrop { it.put("align", "keypoints").put("template", three) }).contains("crop.template"))
        assertTrue(refused(manifestWithCrop { it.put("template", three) }).contains("crop.template"))
    }

    @Test
    fun smootherAndTrackerFollowThePythonRuntime() {
        val tracker = IoUTracker()
        val a = FaceBox(10f, 10f, 50f, 50f)
        val moved = FaceBox(12f, 11f, 52f, 51f)
        val far = FaceBox(200f, 200f, 240f, 240f)
        val first = tracker.update(listOf(a, far))
        val second = tracker.update(listOf(far, moved))
        assertEquals(first[0], second[1])
        assertEquals(first[1], second[0])

        val smoother = TrackSmoother(alpha = 0.25)
        assertEquals(1.0, smoother.update(mapOf(7 to 1.0)).getValue(7), 0.0)
        assertEquals(0.75, smoother.update(mapOf(7 to 0.0)).getValue(7), 1e-12)
    }
}
