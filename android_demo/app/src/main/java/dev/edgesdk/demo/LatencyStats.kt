package dev.edgesdk.demo

import kotlin.math.floor
import kotlin.math.min

/** Latency summary in milliseconds, computed like benchmarks/measure.py (numpy's linear percentiles). */
class LatencyStats(samplesMs: DoubleArray) {
    private val sorted = samplesMs.sortedArray()
    val n: Int = sorted.size
    val mean: Double = if (n == 0) Double.NaN else sorted.average()
    val min: Double = if (n == 0) Double.NaN else sorted.first()
    val p50: Double = percentile(50.0)
    val p90: Double = percentile(90.0)
    val p99: Double = percentile(99.0)

    /** numpy.percentile(a, q) with the default 'linear' method. */
    fun percentile(q: Double): Double {
        if (n == 0) return Double.NaN
        val rank = q / 100.0 * (n - 1)
        val lo = floor(rank).toInt()
        val hi = min(lo + 1, n - 1)
        return sorted[lo] + (rank - lo) * (sorted[hi] - sorted[lo])
    }

    fun toJson(): String =
        "{\"n\": $n, \"mean\": ${fmt(mean)}, \"min\": ${fmt(min)}, \"p50\": ${fmt(p50)}, " +
            "\"p90\": ${fmt(p90)}, \"p99\": ${fmt(p99)}}"

    override fun toString(): String =
        "mean ${fmt(mean)}  p50 ${fmt(p50)}  p90 ${fmt(p90)}  p99 ${fmt(p99)}  min ${fmt(min)} ms (n=$n)"

    private fun fmt(v: Double): String = String.format(java.util.Locale.ROOT, "%.3f", v)
}

/** Rolling rate and mean over the last [window] events (the overlay's FPS and ms figures). */
class RollingMeter(private val window: Int = DemoSettings.RATE_WINDOW) {
    private val times = ArrayDeque<Long>()
    private val values = ArrayDeque<Double>()

    @Synchronized
    fun add(nowNanos: Long, valueMs: Double) {
        times.addLast(nowNanos)
        values.addLast(valueMs)
        while (times.size > window) times.removeFirst()
        while (values.size > window) values.removeFirst()
    }

    @Synchronized
    fun ratePerSecond(): Double {
        if (times.size < 2) return 0.0
        val span = (times.last() - times.first()) / NANOS_PER_SECOND
        return if (span > 0) (times.size - 1) / span else 0.0
    }

    @Synchronized
    fun meanMs(): Double = if (values.isEmpty()) 0.0 else values.average()

    private companion object {
        const val NANOS_PER_SECOND = 1e9
    }
}
