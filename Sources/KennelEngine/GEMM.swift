import CBLAS

/// Single-precision matrix products over row-major buffers: the engine's one call site of `cblas_sgemm`.
///
/// Layers never call BLAS themselves; convolution (im2col) and dense layers express their forward and
/// backward passes as `C = alpha·op(A)·op(B) + beta·C` through this type.
public enum GEMM {
    /// Whether an operand is used as stored or transposed.
    public enum Operand: Sendable {
        case normal
        case transposed
    }

    /// Computes `c = alpha · op(a) · op(b) + beta · c` where op(a) is m×k, op(b) is k×n and c is m×n, all
    /// row-major and contiguous. `a` holds m×k (or k×m when transposed) values, `b` k×n (or n×k).
    public static func multiply(_ a: UnsafePointer<Float>, _ transposeA: Operand,
                                _ b: UnsafePointer<Float>, _ transposeB: Operand,
                                into c: UnsafeMutablePointer<Float>,
                                m: Int, n: Int, k: Int, alpha: Float = 1, beta: Float = 0) {
        precondition(m >= 0 && n >= 0 && k >= 0, "GEMM dimensions must not be negative (m \(m), n \(n), k \(k))")
        guard m > 0, n > 0 else { return }
        let leadingA = transposeA == .normal ? k : m
        let leadingB = transposeB == .normal ? n : k
        cblas_sgemm(CblasRowMajor,
                    transposeA == .normal ? CblasNoTrans : CblasTrans,
                    transposeB == .normal ? CblasNoTrans : CblasTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(max(leadingA, 1)), b, Int32(max(leadingB, 1)),
                    beta, c, Int32(n))
    }
}
