package dev.edgesdk.demo

import kotlin.math.floor
import kotlin.math.max
import kotlin.math.min

/** How the crop is brought to `size` x `size` (manifest `crop.resize`). */
enum class Resize {
    /** Longer side scaled to `size`, centred on a `pad_value` square (isotropic). */
    PAD,
    /** Both sides scaled to `size` (aspect ratio not kept). */
    STRETCH;

    companion object {
        fun fromManifest(value: String, source: String): Resize = when (value) {
            "pad" -> PAD
            "stretch" -> STRETCH
            else -> throw ManifestException("$source: crop.resize '$value' is neither 'pad' nor 'stretch'")
        }
    }
}

/** The manifest's `crop` object (edge_sdk/preprocess.py CropSpec). */
class CropSpec(
    val size: Int,
    val margin: Double,
    val square: Boolean,
    val resize: Resize,
    val padValue: Int,
    val colorOrder: String,
    val mean: FloatArray,
    val std: FloatArray,
    val normalizeInModel: Boolean,
    val interpolation: String
)

/** A face box in frame pixels, (x0, y0) top-left and (x1, y1) bottom-right, as the detector gives it. */
class FaceBox(val x0: Float, val y0: Float, val x1: Float, val y1: Float) {
    val area: Float get() = max(0f, x1 - x0) * max(0f, y1 - y0)
}

/** The pixel rectangle cut from the frame: [left, right) x [top, bottom). */
class CropRect(val left: Int, val top: Int, val right: Int, val bottom: Int) {
    val width: Int get() = right - left
    val height: Int get() = bottom - top
}

/**
 * edge_sdk's crop spec, step by step as edge_sdk/preprocess.py documents it, so the phone feeds
 * the model the pixels the Python runtime would:
 *
 * 1. box (x0, y0, x1, y1) in pixels; centre (cx, cy); if `square`, w = h = max(w, h);
 * 2. margin: w' = w * (1 + 2 * margin), h' likewise;
 * 3. left = floor(cx - w'/2 + 0.5), top = floor(cy - h'/2 + 0.5), right = left + floor(w' + 0.5),
 *    bottom = top + floor(h' + 0.5), then clipped to the frame;
 * 4. bilinear resize (OpenCV INTER_LINEAR's half-pixel sampling, edge pixels replicated):
 *    `pad` scales the longer side to `size`, the other to floor(s * scale + 0.5), centred at
 *    offset floor((size - s) / 2) on a `pad_value` square; `stretch` resizes to size x size;
 *    samples are rounded half up to 8 bits, as the runtime's uint8 crop is;
 * 5. RGB planes, float32 = (pixel / 255 - mean) / std in NCHW, or pixel / 255 when
 *    `normalize_in_model` (the graph normalises).
 *
 * tests/test_demo_apps.py re-implements this class in numpy and checks it against the Python
 * runtime's crops (OpenCV's fixed-point bilinear differs by at most one 8-bit level).
 * Not thread-safe: one instance per analysis thread.
 */
class FaceCropper(private val spec: CropSpec) {
    val size: Int = spec.size
    val channels: Int = spec.mean.size

    /** Float value for each 8-bit level, per channel: the normalisation as a lookup table. */
    private val levels: Array<FloatArray> = Array(channels) { c ->
        FloatArray(LEVELS) { v ->
            val x = v.toFloat() / MAX_LEVEL
            if (spec.normalizeInModel) x else (x - spec.mean[c]) / spec.std[c]
        }
    }

    /** Steps 1-3: the rectangle of the frame that becomes the crop, or null if none of it is inside. */
    fun cropRect(box: FaceBox, frameWidth: Int, frameHeight: Int): CropRect? {
        val x0 = box.x0.toDouble()
        val y0 = box.y0.toDouble()
        val x1 = box.x1.toDouble()
        val y1 = box.y1.toDouble()
        val cx = (x0 + x1) / 2
        val cy = (y0 + y1) / 2
        var w = x1 - x0
        var h = y1 - y0
        if (spec.square) {
            w = max(w, h)
            h = w
        }
        w *= 1 + 2 * spec.margin
        h *= 1 + 2 * spec.margin
        val left = roundHalfUp(cx - w / 2)
        val top = roundHalfUp(cy - h / 2)
        val right = left + roundHalfUp(w)
        val bottom = top + roundHalfUp(h)
        val rect = CropRect(max(left, 0), max(top, 0), min(right, frameWidth), min(bottom, frameHeight))
        return if (rect.width < 1 || rect.height < 1) null else rect
    }

    /**
     * Step 4: the 8-bit RGB crop, `size * size * 3` bytes in HWC order, from ARGB_8888 frame pixels
     * (the order of `Bitmap.getPixels`).
     */
    fun crop(argb: IntArray, frameWidth: Int, rect: CropRect, out: ByteArray) {
        require(out.size == size * size * RGB) { "crop buffer must hold $size x $size x $RGB bytes" }
        val pw = rect.width
        val ph = rect.height
        val nw: Int
        val nh: Int
        if (spec.resize == Resize.STRETCH) {
            nw = size
            nh = size
        } else {
            val scale = size.toDouble() / max(ph, pw)
            nw = max(1, min(size, roundHalfUp(pw * scale)))
            nh = max(1, min(size, roundHalfUp(ph * scale)))
        }
        val ox = (size - nw) / 2
        val oy = (size - nh) / 2
        out.fill(spec.padValue.toByte())
        val xs = SampleAxis(pw, nw)
        val ys = SampleAxis(ph, nh)
        for (j in 0 until nh) {
            val row0 = (rect.top + ys.lo[j]) * frameWidth + rect.left
            val row1 = (rect.top + ys.hi[j]) * frameWidth + rect.left
            val fy = ys.frac[j]
            var o = ((oy + j) * size + ox) * RGB
            for (i in 0 until nw) {
                val fx = xs.frac[i]
                val p00 = argb[row0 + xs.lo[i]]
                val p01 = argb[row0 + xs.hi[i]]
                val p10 = argb[row1 + xs.lo[i]]
                val p11 = argb[row1 + xs.hi[i]]
                for (c in 0 until RGB) {
                    val shift = RED_SHIFT - BITS * c
                    val top = (1f - fx) * channel(p00, shift) + fx * channel(p01, shift)
                    val bottom = (1f - fx) * channel(p10, shift) + fx * channel(p11, shift)
                    val v = (1f - fy) * top + fy * bottom
                    out[o + c] = min(MAX_LEVEL, max(0, floor(v + 0.5f).toInt())).toByte()
                }
                o += RGB
            }
        }
    }

    /** Step 5: 8-bit HWC crop -> one NCHW float32 face at [offset] of [out]. */
    fun toTensor(crop: ByteArray, out: FloatArray, offset: Int = 0) {
        val plane = size * size
        for (p in 0 until plane) {
            for (c in 0 until channels) {
                out[offset + c * plane + p] = levels[c][crop[p * RGB + c].toInt() and MAX_LEVEL]
            }
        }
    }

    /** Per output column (or row): the two source indices and the weight of the second (cv::resize). */
    private class SampleAxis(source: Int, target: Int) {
        val lo = IntArray(target)
        val hi = IntArray(target)
        val frac = FloatArray(target)

        init {
            val scale = 1.0 / (target.toDouble() / source)
            for (d in 0 until target) {
                val s = ((d + 0.5) * scale - 0.5).toFloat()
                var i0 = floor(s).toInt()
                var f = s - i0
                if (i0 < 0) {
                    i0 = 0
                    f = 0f
                }
                if (i0 >= source - 1) {
                    i0 = source - 1
                    f = 0f
                }
                lo[d] = i0
                hi[d] = min(i0 + 1, source - 1)
                frac[d] = f
            }
        }
    }

    private companion object {
        /** 8-bit samples: the uint8 -> [0, 1] conversion is a format fact, not a model setting. */
        const val MAX_LEVEL = 0xFF
        const val LEVELS = MAX_LEVEL + 1
        const val BITS = 8
        const val RED_SHIFT = 16
        /** Bytes per pixel of the 8-bit crop; the colour order is the manifest's (checked: RGB). */
        const val RGB = 3

        fun channel(argb: Int, shift: Int): Float = ((argb shr shift) and MAX_LEVEL).toFloat()

        /** floor(v + 0.5): edge_sdk.preprocess._round (not Kotlin's round-half-even). */
        fun roundHalfUp(v: Double): Int = floor(v + 0.5).toInt()
    }
}
