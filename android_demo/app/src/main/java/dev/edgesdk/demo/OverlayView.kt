package dev.edgesdk.demo

import android.content.Context
import android.graphics.Canvas
import android.graphics.Color
import android.graphics.Paint
import android.graphics.RectF
import android.util.AttributeSet
import android.util.TypedValue
import android.view.View
import java.util.Locale
import kotlin.math.min

/**
 * Draws what the pipeline saw on top of the camera preview: each face's box, its verdict, its
 * smoothed P(fake) (per-track EMA) with the current frame's value and track id, and a status block
 * (model, inference / end-to-end ms, FPS, threshold). Frame coordinates are mapped with the
 * preview's FIT_CENTER scaling, mirrored for the front camera as the preview is.
 */
class OverlayView(context: Context, attrs: AttributeSet?) : View(context, attrs) {

    class Face(val box: FaceBox, val track: Int, val probability: Double, val smoothed: Double, val fake: Boolean)

    class Frame(val width: Int, val height: Int, val mirrored: Boolean, val faces: List<Face>, val status: List<String>)

    @Volatile private var frame: Frame? = null
    @Volatile private var message: String? = null

    private val density = resources.displayMetrics
    private fun dp(v: Float) = TypedValue.applyDimension(TypedValue.COMPLEX_UNIT_DIP, v, density)
    private fun sp(v: Float) = TypedValue.applyDimension(TypedValue.COMPLEX_UNIT_SP, v, density)

    private val fakeColor = Color.parseColor("#E53935")
    private val realColor = Color.parseColor("#43A047")
    private val boxPaint = Paint(Paint.ANTI_ALIAS_FLAG).apply { style = Paint.Style.STROKE; strokeWidth = dp(3f) }
    private val fillPaint = Paint().apply { style = Paint.Style.FILL }
    private val textPaint = Paint(Paint.ANTI_ALIAS_FLAG).apply { color = Color.WHITE; textSize = sp(14f) }
    private val panelPaint = Paint().apply { color = Color.parseColor("#99000000") }

    fun show(frame: Frame) {
        this.frame = frame
        postInvalidate()
    }

    fun showMessage(text: String?) {
        message = text
        postInvalidate()
    }

    override fun onDraw(canvas: Canvas) {
        super.onDraw(canvas)
        frame?.let { drawFrame(canvas, it) }
        message?.let { drawPanel(canvas, it.split("\n"), dp(12f), height / 3f) }
    }

    private fun drawFrame(canvas: Canvas, f: Frame) {
        val scale = min(width.toFloat() / f.width, height.toFloat() / f.height)
        val dx = (width - f.width * scale) / 2
        val dy = (height - f.height * scale) / 2
        for (face in f.faces) {
            val x0 = if (f.mirrored) f.width - face.box.x1 else face.box.x0
            val x1 = if (f.mirrored) f.width - face.box.x0 else face.box.x1
            val r = RectF(dx + x0 * scale, dy + face.box.y0 * scale, dx + x1 * scale, dy + face.box.y1 * scale)
            val color = if (face.fake) fakeColor else realColor
            boxPaint.color = color
            canvas.drawRect(r, boxPaint)
            val label = String.format(
                Locale.ROOT, "%s %.2f (now %.2f) #%d",
                if (face.fake) "FAKE" else "real", face.smoothed, face.probability, face.track
            )
            val pad = dp(4f)
            val textWidth = textPaint.measureText(label)
            fillPaint.color = color
            canvas.drawRect(r.left, r.top - textPaint.textSize - 2 * pad, r.left + textWidth + 2 * pad, r.top, fillPaint)
            canvas.drawText(label, r.left + pad, r.top - pad - textPaint.descent(), textPaint)
        }
        drawPanel(canvas, f.status, dp(8f), dp(8f))
    }

    private fun drawPanel(canvas: Canvas, lines: List<String>, x: Float, y: Float) {
        if (lines.isEmpty()) return
        val pad = dp(6f)
        val lineHeight = textPaint.textSize * 1.25f
        val w = lines.maxOf { textPaint.measureText(it) }
        canvas.drawRect(x, y, x + w + 2 * pad, y + lines.size * lineHeight + 2 * pad, panelPaint)
        lines.forEachIndexed { i, line -> canvas.drawText(line, x + pad, y + pad + (i + 1) * lineHeight - textPaint.descent(), textPaint) }
    }
}
