package dev.edgesdk.demo

import kotlin.math.ceil
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

/** How the face is framed (manifest `crop.align`, "box" when absent). */
enum class Align {
    /** The detector's box: square, margin, rectangle, resize (steps 1-4). */
    BOX,
    /** A similarity of the face's first four keypoints onto `crop.template` (steps a-d). */
    KEYPOINTS;

    companion object {
        /** Keypoints an aligned crop uses: right eye, left eye, nose tip, mouth (BlazeFace's first four). */
        const val POINTS = 4

        fun fromManifest(value: String?, source: String): Align = when (value) {
            null, "box" -> BOX
            "keypoints" -> KEYPOINTS
            else -> throw ManifestException("$source: crop.align '$value' is neither 'box' nor 'keypoints'")
        }
    }
}

/**
 * The manifest's `crop` object (edge_sdk/preprocess.py CropSpec). [template]: aligned crops'
 * four (x, y) points in units of the crop side, flattened (x0, y0, x1, y1, ...); empty for box crops.
 */
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
    val interpolation: String,
    val align: Align = Align.BOX,
    val template: DoubleArray = DoubleArray(0)
)

/** A face box in frame pixels, (x0, y0) top-left and (x1, y1) bottom-right, as the detector gives it. */
class FaceBox(val x0: Float, val y0: Float, val x1: Float, val y1: Float) {
    val area: Float get() = max(0f, x1 - x0) * max(0f, y1 - y0)
}

/**
 * Aligned crops: crop point = A p + t for frame point p, A = [[a, -b], [b, a]] (steps a-c), and
 * its inverse A^-1 = [[ia, ib], [-ib, ia]] (frame point = A^-1 (crop point - t)).
 */
class Similarity(val a: Double, val b: Double, val tx: Double, val ty: Double) {
    private val d = a * a + b * b
    val ia: Double = a / d
    val ib: Double = b / d
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
 * `align` "keypoints" (landmark-aligned crops) replaces steps 1-4, in double precision:
 *
 * a. p = the face's first four keypoints (right eye, left eye, nose tip, mouth; frame pixels),
 *    q = template x size; mp, mq their means; P = p - mp, Q = q - mq;
 * b. n = sum(Px^2 + Py^2), a = sum(Px Qx + Py Qy) / n, b = sum(Px Qy - Py Qx) / n;
 * c. crop point = A p + t with A = [[a, -b], [b, a]], t = mq - A mp;
 * d. crop pixel (u, v) samples the frame bilinearly at A^-1 ((u + 0.5, v + 0.5) - t) - 0.5,
 *    `pad_value` for the neighbours outside the frame (OpenCV's warpAffine, BORDER_CONSTANT),
 *    float weights, rounded half up to 8 bits; `margin`, `square` and `resize` do not apply.
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

    /**
     * One face -> its 8-bit crop in [out], framed as the manifest says (box, or the first four of
     * [keypoints], x0, y0, x1, y1, ... in frame pixels); the frame rectangle the crop covers, or
     * null when the face gives no crop (outside the frame; an aligned crop without four keypoints).
     */
    fun cropFace(argb: IntArray, frameWidth: Int, frameHeight: Int, box: FaceBox, keypoints: FloatArray?, out: ByteArray): CropRect? {
        if (spec.align == Align.KEYPOINTS) {
            val m = alignment(keypoints) ?: return null
            val rect = alignedRect(m, frameWidth, frameHeight) ?: return null
            warp(argb, frameWidth, frameHeight, m, out)
            return rect
        }
        val rect = cropRect(box, frameWidth, frameHeight) ?: return null
        crop(argb, frameWidth, rect, out)
        return rect
    }

    /**
     * Steps 1-3: the rectangle of the frame that becomes the crop, or null if none of it is inside.
     * Aligned crops: the bounds of the frame pixels the crop covers (from [keypoints]; null without them).
     */
    fun cropRect(box: FaceBox, frameWidth: Int, frameHeight: Int, keypoints: FloatArray? = null): CropRect? {
        if (spec.align == Align.KEYPOINTS) {
            return alignment(keypoints)?.let { alignedRect(it, frameWidth, frameHeight) }
        }
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
     * Steps a-c: the similarity taking the first four [keypoints] (x0, y0, x1, y1, ... in frame
     * pixels) onto the template, or null for box crops, fewer than four finite keypoints, or
     * keypoints that coincide.
     */
    fun alignment(keypoints: FloatArray?): Similarity? {
        if (spec.align != Align.KEYPOINTS || keypoints == null || keypoints.size < Align.POINTS * 2) return null
        val p = DoubleArray(Align.POINTS * 2) { keypoints[it].toDouble() }
        if (p.any { !it.isFinite() }) return null
        val q = DoubleArray(Align.POINTS * 2) { spec.template[it] * size }
        var mpx = 0.0
        var mpy = 0.0
        var mqx = 0.0
        var mqy = 0.0
        for (k in 0 until Align.POINTS) {
            mpx += p[2 * k]
            mpy += p[2 * k + 1]
            mqx += q[2 * k]
            mqy += q[2 * k + 1]
        }
        mpx /= Align.POINTS
        mpy /= Align.POINTS
        mqx /= Align.POINTS
        mqy /= Align.POINTS
        var n = 0.0
        var sa = 0.0
        var sb = 0.0
        for (k in 0 until Align.POINTS) {
            val px = p[2 * k] - mpx
            val py = p[2 * k + 1] - mpy
            val qx = q[2 * k] - mqx
            val qy = q[2 * k + 1] - mqy
            n += px * px + py * py
            sa += px * qx + py * qy
            sb += px * qy - py * qx
        }
        if (!(n > 0)) return null
        val a = sa / n
        val b = sb / n
        if (!(a * a + b * b > 0)) return null
        return Similarity(a, b, mqx - (a * mpx - b * mpy), mqy - (b * mpx + a * mpy))
    }

    /** Aligned crops: the bounds of the frame pixels under the crop's corners, clipped; null if outside. */
    fun alignedRect(m: Similarity, frameWidth: Int, frameHeight: Int): CropRect? {
        var x0 = Double.POSITIVE_INFINITY
        var y0 = Double.POSITIVE_INFINITY
        var x1 = Double.NEGATIVE_INFINITY
        var y1 = Double.NEGATIVE_INFINITY
        for (corner in 0 until Align.POINTS) {
            val dx = (corner % 2) * size - m.tx
            val dy = (corner / 2) * size - m.ty
            val x = m.ia * dx + m.ib * dy
            val y = m.ia * dy - m.ib * dx
            x0 = min(x0, x)
            y0 = min(y0, y)
            x1 = max(x1, x)
            y1 = max(y1, y)
        }
        val rect = CropRect(
            max(floor(x0).toInt(), 0), max(floor(y0).toInt(), 0),
            min(ceil(x1).toInt(), frameWidth), min(ceil(y1).toInt(), frameHeight)
        )
        return if (rect.width < 1 || rect.height < 1) null else rect
    }

    /**
     * Step d: the aligned 8-bit RGB crop, `size * size * 3` bytes in HWC order, from ARGB_8888
     * frame pixels; neighbours outside the frame count as `pad_value`.
     */
    fun warp(argb: IntArray, frameWidth: Int, frameHeight: Int, m: Similarity, out: ByteArray) {
        require(out.size == size * size * RGB) { "crop buffer must hold $size x $size x $RGB bytes" }
        require(argb.size >= frameWidth * frameHeight) { "frame holds ${argb.size} pixels, not $frameWidth x $frameHeight" }
        val pad = spec.padValue
        val padArgb = (pad shl RED_SHIFT) or (pad shl BITS) or pad
        fun texel(x: Int, y: Int): Int =
            if (x < 0 || y < 0 || x >= frameWidth || y >= frameHeight) padArgb else argb[y * frameWidth + x]
        var o = 0
        for (v in 0 until size) {
            val qy = v + 0.5 - m.ty
            for (u in 0 until size) {
                val qx = u + 0.5 - m.tx
                val sx = m.ia * qx + m.ib * qy - 0.5
                val sy = m.ia * qy - m.ib * qx - 0.5
                val fx0 = floor(sx)
                val fy0 = floor(sy)
                val fx = (sx - fx0).toFloat()
                val fy = (sy - fy0).toFloat()
                // Clamped so that far-away samples stay integers; there all four neighbours are padding.
                val x0 = max(-2.0, min(frameWidth.toDouble(), fx0)).toInt()
                val y0 = max(-2.0, min(frameHeight.toDouble(), fy0)).toInt()
                val p00 = texel(x0, y0)
                val p01 = texel(x0 + 1, y0)
                val p10 = texel(x0, y0 + 1)
                val p11 = texel(x0 + 1, y0 + 1)
                blend(p00, p01, p10, p11, fx, fy, out, o)
                o += RGB
            }
        }
    }

    /**
     * Step 4: the 8-bit RGB crop, `size * size * 3` bytes in HWC order, from ARGB_8888 frame pixels
     * (the order of `Bitmap.getPixels`). Box crops (an aligned crop is [warp]ed); a rectangle of the
     * crop's own size copies the pixels unchanged whatever the spec.
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
                blend(p00, p01, p10, p11, fx, fy, out, o)
                o += RGB
            }
        }
    }

    /** Bilinear blend of four ARGB neighbours, per channel in float, rounded half up into [out] at [o]. */
    private fun blend(p00: Int, p01: Int, p10: Int, p11: Int, fx: Float, fy: Float, out: ByteArray, o: Int) {
        for (c in 0 until RGB) {
            val shift = RED_SHIFT - BITS * c
            val top = (1f - fx) * channel(p00, shift) + fx * channel(p01, shift)
            val bottom = (1f - fx) * channel(p10, shift) + fx * channel(p11, shift)
            val v = (1f - fy) * top + fy * bottom
            out[o + c] = min(MAX_LEVEL, max(0, floor(v + 0.5f).toInt())).toByte()
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
