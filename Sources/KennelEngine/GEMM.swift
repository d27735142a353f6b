import CBLAS
import CMalloc
import Dispatch
import Foundation

/// Single-precision matrix products over row-major buffers: the engine's one call site of `cblas_sgemm`.
///
/// Layers never call BLAS themselves; convolution (im2col) and dense layers express their forward and
/// backward passes as `C = alpha·op(A)·op(B) + beta·C` through this type. OpenBLAS runs single-threaded and
/// large products are split across cores here, so the engine has one kind of thread (Dispatch's), never
/// OpenBLAS's threads spinning while the engine's own loops run.
public enum GEMM {
    /// Whether an operand is used as stored or transposed.
    public enum Operand: Sendable {
        case normal
        case transposed
    }

    /// Products smaller than this many multiply-adds run on the calling thread.
    static let parallelThreshold = 1 << 18

    private static let configureOpenBLAS: Void = {
        openblas_set_num_threads(1)
        // Page-faulting freed activation buffers back in every step cost as much as the elementwise layers.
        _ = kennel_keep_freed_memory()
    }()

    /// Computes `c = alpha · op(a) · op(b) + beta · c` where op(a) is m×k, op(b) is k×n and c is m×n, all
    /// row-major and contiguous. `a` holds m×k (or k×m when transposed) values, `b` k×n (or n×k).
    public static func multiply(_ a: UnsafePointer<Float>, _ transposeA: Operand,
                                _ b: UnsafePointer<Float>, _ transposeB: Operand,
                                into c: UnsafeMutablePointer<Float>,
                                m: Int, n: Int, k: Int, alpha: Float = 1, beta: Float = 0) {
        precondition(m >= 0 && n >= 0 && k >= 0, "GEMM dimensions must not be negative (m \(m), n \(n), k \(k))")
        guard m > 0, n > 0 else { return }
        _ = configureOpenBLAS
        let lda = transposeA == .normal ? k : m
        let ldb = transposeB == .normal ? n : k
        if m == 1 {
            // One input row (batch-1 inference through a dense layer): a matrix-vector product, which streams the
            // weights once instead of packing them as sgemm would.
            return rowTimesMatrix(a, b, transposeB, into: c, n: n, k: k, ldb: ldb, alpha: alpha, beta: beta)
        }
        let parts = m * n * k >= parallelThreshold ? Parallel.width : 1
        let pointers = Pointers(a: a, b: b, c: c)
        // Split the longer side of C into one block per core; each block is an independent sgemm.
        let splitRows = m >= n
        let length = splitRows ? m : n
        let blocks = min(parts, length)
        Parallel.forEach(blocks) { block in
            let start = length * block / blocks, end = length * (block + 1) / blocks
            guard end > start else { return }
            if splitRows {
                let aBlock = pointers.a + (transposeA == .normal ? start * lda : start)
                call(transposeA, transposeB, m: end - start, n: n, k: k, alpha: alpha, a: aBlock, lda: lda,
                     b: pointers.b, ldb: ldb, beta: beta, c: pointers.c + start * n, ldc: n)
            } else {
                let bBlock = pointers.b + (transposeB == .normal ? start : start * ldb)
                call(transposeA, transposeB, m: m, n: end - start, k: k, alpha: alpha, a: pointers.a, lda: lda,
                     b: bBlock, ldb: ldb, beta: beta, c: pointers.c + start, ldc: n)
            }
        }
    }

    /// c (1×n) = alpha · a (1×k) · op(b) + beta · c. With b stored k×n, each core streams a contiguous band of
    /// b's rows into its own partial sum (memory-bound, so contiguous bands matter more than anything else).
    private static func rowTimesMatrix(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ transposeB: Operand,
                                       into c: UnsafeMutablePointer<Float>, n: Int, k: Int, ldb: Int, alpha: Float,
                                       beta: Float) {
        guard transposeB == .normal else {
            // b is n×k row-major: c[j] = Σ_t b[j][t]·a[t], rows of b already contiguous.
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), alpha, b, Int32(ldb), a, 1, beta, c, 1)
            return
        }
        let bands = n * k >= parallelThreshold ? min(Parallel.width, k) : 1
        var partials = [Float](repeating: 0, count: bands * n)
        partials.withUnsafeMutableBufferPointer { partial in
            let pointers = Pointers(a: a, b: b, c: partial.baseAddress!)
            Parallel.forEach(bands) { band in
                let start = k * band / bands, end = k * (band + 1) / bands
                guard end > start else { return }
                cblas_sgemv(CblasRowMajor, CblasTrans, Int32(end - start), Int32(n), 1, pointers.b + start * ldb,
                            Int32(ldb), pointers.a + start, 1, 0, pointers.c + band * n, 1)
            }
        }
        for j in 0..<n {
            var sum: Float = 0
            for band in 0..<bands { sum += partials[band * n + j] }
            c[j] = alpha * sum + (beta == 0 ? 0 : beta * c[j])
        }
    }

    private static func call(_ transposeA: Operand, _ transposeB: Operand, m: Int, n: Int, k: Int, alpha: Float,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
                             c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transposeA == .normal ? CblasNoTrans : CblasTrans,
                    transposeB == .normal ? CblasNoTrans : CblasTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(max(lda, 1)), b, Int32(max(ldb, 1)),
                    beta, c, Int32(ldc))
    }

    /// The operands, carried into the parallel blocks (each block writes a disjoint part of `c`).
    private struct Pointers: @unchecked Sendable {
        let a: UnsafePointer<Float>
        let b: UnsafePointer<Float>
        let c: UnsafeMutablePointer<Float>
    }
}

/// The engine's parallel loops: Dispatch's concurrentPerform over at most one block per core.
enum Parallel {
    static let width = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Runs `body(0..<count)` across cores, inline when `count` is 1.
    static func forEach(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 {
            if count == 1 { body(0) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UnsafeBody(body: body)
            DispatchQueue.concurrentPerform(iterations: count) { box.body($0) }
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

    /// concurrentPerform wants a Sendable closure; the engine's blocks touch disjoint memory.
    private struct UnsafeBody: @unchecked Sendable {
        let body: (Int) -> Void
    }
}
