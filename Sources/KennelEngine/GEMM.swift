import CBLAS
import CDNNL
import CMalloc
import Foundation

/// Single-precision matrix products over row-major buffers: the engine's one call site of a GEMM.
///
/// Layers never call BLAS themselves; dense layers express their forward and backward passes as
/// `C = alpha·op(A)·op(B) + beta·C` through this type. Products run on oneDNN's `dnnl_sgemm` (AVX-512 JIT; the
/// Debian OpenBLAS 0.3.21 takes this CPU for a Haswell and runs AVX2 kernels): fashion-convnet training went
/// from 2,926–2,994 to 3,302–3,520 images/s. Large products are split here into one block per core on the
/// engine's thread team (`Parallel`), each block a single-threaded call; that measured faster than letting
/// `dnnl_sgemm` split the product itself (3,105–3,174 images/s). Matrix-vector products (one image through a dense
/// layer) stay on OpenBLAS's `sgemv`, single-threaded, so no second thread pool exists.
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
        if m == 1 && transposeB == .transposed {
            // b is n×k row-major: c[j] = Σ_t b[j][t]·a[t], rows of b already contiguous.
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), alpha, b, Int32(ldb), a, 1, beta, c, 1)
            return
        }
        if m == 1 && transposeB == .normal {
            return vectorTimesMatrix(a, b, into: c, n: n, k: k, ldb: ldb, alpha: alpha, beta: beta)
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

    /// c (1×n) = alpha · a (1×k) · b (k×n) + beta · c, one image through a dense layer: memory-bound, so each
    /// core takes a contiguous band of b's rows into its own partial sums (a matrix-vector product each), added
    /// up here.
    /// Batches of two or more go to sgemm: a hand-written loop over a few rows measured 2.5–4× slower than
    /// dnnl_sgemm (fashion-convnet's 3136×1024 layer, batches of 2 to 16), which also took half of the CPU time
    /// of HTTP classification under load.
    private static func vectorTimesMatrix(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                          into c: UnsafeMutablePointer<Float>, n: Int, k: Int, ldb: Int,
                                          alpha: Float, beta: Float) {
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
        for index in 0..<n {
            var sum: Float = 0
            for band in 0..<bands { sum += partials[band * n + index] }
            c[index] = alpha * sum + (beta == 0 ? 0 : beta * c[index])
        }
    }

    private static func call(_ transposeA: Operand, _ transposeB: Operand, m: Int, n: Int, k: Int, alpha: Float,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
                             c: UnsafeMutablePointer<Float>, ldc: Int) {
        let status = dnnl_sgemm(transposeA == .normal ? 0x4E : 0x54, transposeB == .normal ? 0x4E : 0x54,
                                Int64(m), Int64(n), Int64(k), alpha, a, Int64(max(lda, 1)), b, Int64(max(ldb, 1)),
                                beta, c, Int64(ldc))
        OneDNN.check(status, "multiplying \(m)×\(k) by \(k)×\(n)")
    }

    /// The operands, carried into the parallel blocks (each block writes a disjoint part of `c`).
    private struct Pointers: @unchecked Sendable {
        let a: UnsafePointer<Float>
        let b: UnsafePointer<Float>
        let c: UnsafeMutablePointer<Float>
    }
}
