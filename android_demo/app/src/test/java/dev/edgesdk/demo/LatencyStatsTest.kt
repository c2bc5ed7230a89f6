package dev.edgesdk.demo

import org.junit.Assert.assertEquals
import org.junit.Test

class LatencyStatsTest {
    @Test
    fun percentilesAreNumpyLinear() {
        // numpy.percentile([1, 2, 3, 4, 10], [50, 90]) == [3.0, 7.6]
        val s = LatencyStats(doubleArrayOf(4.0, 1.0, 10.0, 3.0, 2.0))
        assertEquals(3.0, s.p50, 1e-12)
        assertEquals(7.6, s.p90, 1e-12)
        assertEquals(4.0, s.mean, 1e-12)
    }
}
