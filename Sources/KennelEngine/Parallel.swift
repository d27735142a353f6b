import COpenMP
import Foundation

/// The engine's parallel loops, at most one block per core, on libgomp's thread team: the same threads oneDNN's
/// primitives run on. One team means its threads, which spin briefly after each region, are the ones the next
/// region wants; a second pool (Dispatch's) running between oneDNN calls would find a core taken by them.
/// Measured on fashion-convnet training (batch 64, 2 cores) with oneDNN convolutions: 2,158 images/s with the
/// loops on Dispatch (a quarter of the time went to OpenMP threads spinning), 2,926–2,994 on the OpenMP team.
/// Serving decodes a request's images with it on the model's thread, for the same reason.
public enum Parallel {
    static let width = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Runs `body(i)` for i in 0..<count across the calling thread's team (block i on member i mod its size),
    /// inline when `count` is 1 or the team has one member (OMP_NUM_THREADS=1). Blocks must touch disjoint memory.
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        let threads = min(count, Int(omp_get_max_threads()))
        if threads <= 1 {
            for index in 0..<count { body(index) }
            return
        }
        withoutActuallyEscaping(body) { body in
            var body = body
            withUnsafeMutablePointer(to: &body) { context in
                kennel_parallel_for(count, UInt32(threads), context) { context, index in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(index)
                }
            }
        }
    }

    /// Splits `0..<count` into at most one contiguous range per core (none smaller than `grain`, except when
    /// everything is smaller) and runs `body` on each, in parallel.
    static func forRanges(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        let parts = max(1, min(width, count / max(grain, 1)))
        forEach(parts) { part in
            let range = (count * part / parts)..<(count * (part + 1) / parts)
            if !range.isEmpty { body(range) }
        }
    }
}
