import Foundation

/// Latency summary in milliseconds, computed like benchmarks/measure.py (numpy's linear percentiles).
struct LatencyStats {
    let n: Int
    let mean: Double
    let min: Double
    let p50: Double
    let p90: Double
    let p99: Double

    init(_ samplesMs: [Double]) {
        let sorted = samplesMs.sorted()
        n = sorted.count
        mean = n == 0 ? .nan : sorted.reduce(0, +) / Double(n)
        min = sorted.first ?? .nan
        p50 = LatencyStats.percentile(sorted, 50)
        p90 = LatencyStats.percentile(sorted, 90)
        p99 = LatencyStats.percentile(sorted, 99)
    }

    /// numpy.percentile(a, q) with the default 'linear' method, on sorted samples.
    static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let rank = q / 100 * Double(sorted.count - 1)
        let lo = Int(rank.rounded(.down))
        let hi = Swift.min(lo + 1, sorted.count - 1)
        return sorted[lo] + (rank - Double(lo)) * (sorted[hi] - sorted[lo])
    }

    var summary: String {
        String(format: "mean %.3f  p50 %.3f  p90 %.3f  p99 %.3f  min %.3f ms (n=%ld)", mean, p50, p90, p99, min, n)
    }
}

/// Rolling rate and mean over the last `window` events (the overlay's FPS and ms figures).
final class RollingMeter {
    private let window: Int
    private var times: [Double] = []
    private var values: [Double] = []
    private let lock = NSLock()

    init(window: Int = DemoSettings.rateWindow) { self.window = window }

    func add(time: Double, valueMs: Double) {
        lock.lock(); defer { lock.unlock() }
        times.append(time)
        values.append(valueMs)
        if times.count > window { times.removeFirst(times.count - window) }
        if values.count > window { values.removeFirst(values.count - window) }
    }

    var ratePerSecond: Double {
        lock.lock(); defer { lock.unlock() }
        guard times.count > 1, let first = times.first, let last = times.last, last > first else { return 0 }
        return Double(times.count - 1) / (last - first)
    }

    var meanMs: Double {
        lock.lock(); defer { lock.unlock() }
        return values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }
}
