import Foundation

/// Intersection over union of two boxes (edge_sdk/aggregate.py iou).
func iou(_ a: FaceBox, _ b: FaceBox) -> Double {
    let ix = max(0, Double(min(a.x1, b.x1)) - Double(max(a.x0, b.x0)))
    let iy = max(0, Double(min(a.y1, b.y1)) - Double(max(a.y0, b.y0)))
    let inter = ix * iy
    let union = Double(a.area) + Double(b.area) - inter
    return union > 0 ? inter / union : 0
}

/// Greedy IoU association, a port of edge_sdk/aggregate.py IoUTracker: each face joins the
/// unmatched live track whose last box overlaps it most; tracks unseen for more than `maxGap`
/// frames are dropped.
final class IoUTracker {
    private let minIoU: Double
    private let maxGap: Int
    private var tracks: [Int: (box: FaceBox, lastSeen: Int)] = [:]
    private var nextId = 0
    private var step = 0

    init(minIoU: Double = DemoSettings.trackMinIoU, maxGap: Int = DemoSettings.trackMaxGap) {
        self.minIoU = minIoU
        self.maxGap = maxGap
    }

    func update(_ boxes: [FaceBox]) -> [Int] {
        step += 1
        tracks = tracks.filter { step - $0.value.lastSeen <= maxGap }
        var pairs: [(Double, Int, Int)] = []
        for (j, b) in boxes.enumerated() {
            for (id, t) in tracks { pairs.append((iou(b, t.box), j, id)) }
        }
        // Python sorts (iou, j, id) tuples in reverse: highest IoU first, then larger j, then larger id.
        pairs.sort { $0.0 != $1.0 ? $0.0 > $1.0 : ($0.1 != $1.1 ? $0.1 > $1.1 : $0.2 > $1.2) }
        var ids = [Int?](repeating: nil, count: boxes.count)
        var used = Set<Int>()
        for (score, j, id) in pairs {
            if score < minIoU { break }
            if ids[j] == nil && !used.contains(id) {
                ids[j] = id
                used.insert(id)
            }
        }
        var out: [Int] = []
        for (j, b) in boxes.enumerated() {
            let id: Int
            if let matched = ids[j] {
                id = matched
            } else {
                id = nextId
                nextId += 1
            }
            tracks[id] = (b, step)
            out.append(id)
        }
        return out
    }
}

/// Per-track exponential moving average of P(fake), a port of edge_sdk/aggregate.py TrackSmoother:
/// s = alpha * p + (1 - alpha) * s_prev; a new track starts at its first score.
final class TrackSmoother {
    private let alpha: Double
    private let maxGap: Int
    private var state: [Int: (value: Double, step: Int)] = [:]
    private var step = 0

    init(alpha: Double = DemoSettings.smoothAlpha, maxGap: Int = DemoSettings.smoothMaxGap) {
        precondition(alpha > 0 && alpha <= 1, "smoothing alpha must be in (0, 1]")
        self.alpha = alpha
        self.maxGap = maxGap
    }

    func update(_ scores: [Int: Double]) -> [Int: Double] {
        step += 1
        for (id, p) in scores {
            let s = state[id].map { alpha * p + (1 - alpha) * $0.value } ?? p
            state[id] = (s, step)
        }
        state = state.filter { step - $0.value.step <= maxGap }
        var out: [Int: Double] = [:]
        for id in scores.keys { out[id] = state[id]?.value }
        return out
    }
}
