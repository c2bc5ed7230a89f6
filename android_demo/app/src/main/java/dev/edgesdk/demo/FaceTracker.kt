package dev.edgesdk.demo

import kotlin.math.max
import kotlin.math.min

/** Intersection over union of two boxes (edge_sdk/aggregate.py iou). */
fun iou(a: FaceBox, b: FaceBox): Double {
    val ix = max(0.0, min(a.x1, b.x1).toDouble() - max(a.x0, b.x0))
    val iy = max(0.0, min(a.y1, b.y1).toDouble() - max(a.y0, b.y0))
    val inter = ix * iy
    val union = a.area.toDouble() + b.area - inter
    return if (union > 0) inter / union else 0.0
}

/**
 * Greedy IoU association, a port of edge_sdk/aggregate.py IoUTracker: each face joins the unmatched
 * live track whose last box overlaps it most (at least [minIou]); tracks unseen for more than
 * [maxGap] frames are dropped.
 */
class IoUTracker(
    private val minIou: Double = DemoSettings.TRACK_MIN_IOU,
    private val maxGap: Int = DemoSettings.TRACK_MAX_GAP
) {
    private class Track(var box: FaceBox, var lastSeen: Int)

    private val tracks = LinkedHashMap<Int, Track>()
    private var nextId = 0
    private var step = 0

    fun update(boxes: List<FaceBox>): IntArray {
        step += 1
        tracks.entries.removeAll { step - it.value.lastSeen > maxGap }
        val pairs = ArrayList<Triple<Double, Int, Int>>()
        for ((j, b) in boxes.withIndex()) {
            for ((id, t) in tracks) pairs.add(Triple(iou(b, t.box), j, id))
        }
        // Python sorts (iou, j, id) tuples in reverse: highest IoU first, ties by larger j, then id.
        pairs.sortWith(compareByDescending<Triple<Double, Int, Int>> { it.first }
            .thenByDescending { it.second }.thenByDescending { it.third })
        val ids = IntArray(boxes.size) { -1 }
        val used = HashSet<Int>()
        for ((score, j, id) in pairs) {
            if (score < minIou) break
            if (ids[j] == -1 && id !in used) {
                ids[j] = id
                used.add(id)
            }
        }
        for ((j, b) in boxes.withIndex()) {
            if (ids[j] == -1) ids[j] = nextId++
            tracks[ids[j]] = Track(b, step)
        }
        return ids
    }
}

/**
 * Per-track exponential moving average of P(fake), a port of edge_sdk/aggregate.py TrackSmoother:
 * s = alpha * p + (1 - alpha) * s_prev; a new track starts at its first score; tracks not
 * updated for [maxGap] calls are forgotten.
 */
class TrackSmoother(
    private val alpha: Double = DemoSettings.SMOOTH_ALPHA,
    private val maxGap: Int = DemoSettings.SMOOTH_MAX_GAP
) {
    private val state = HashMap<Int, Pair<Double, Int>>()
    private var step = 0

    init {
        require(alpha > 0 && alpha <= 1) { "smoothing alpha must be in (0, 1], got $alpha" }
    }

    fun update(scores: Map<Int, Double>): Map<Int, Double> {
        step += 1
        for ((id, p) in scores) {
            val prev = state[id]
            val s = if (prev == null) p else alpha * p + (1 - alpha) * prev.first
            state[id] = Pair(s, step)
        }
        state.entries.removeAll { step - it.value.second > maxGap }
        return scores.keys.associateWith { state.getValue(it).first }
    }
}
