import Testing
@testable import KennelEngine

struct GEMMTests {
    /// Reference product in plain loops, row-major, with optional transposes.
    private func naive(_ a: [Float], _ ta: Bool, _ b: [Float], _ tb: Bool, m: Int, n: Int, k: Int) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var sum: Float = 0
                for p in 0..<k {
                    let x = ta ? a[p * m + i] : a[i * k + p]
                    let y = tb ? b[j * k + p] : b[p * n + j]
                    sum += x * y
                }
                c[i * n + j] = sum
            }
        }
        return c
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func matchesNaiveProductForEveryTransposeCombination(transposeA: Bool, transposeB: Bool) {
        let (m, n, k) = (5, 7, 3)
        let a = (0..<(m * k)).map { Float($0 % 7) - 3 }
        let b = (0..<(k * n)).map { Float($0 % 5) * 0.5 - 1 }
        var c = [Float](repeating: 0, count: m * n)
        GEMM.multiply(a, transposeA ? .transposed : .normal, b, transposeB ? .transposed : .normal,
                      into: &c, m: m, n: n, k: k)
        let expected = naive(a, transposeA, b, transposeB, m: m, n: n, k: k)
        for (got, want) in zip(c, expected) { #expect(abs(got - want) < 1e-5) }
    }

    @Test func accumulatesWithAlphaAndBeta() {
        // [1 2; 3 4] · [1 0; 0 1] = identity product; c = 2·(a·b) + 1·c
        let a: [Float] = [1, 2, 3, 4]
        let identity: [Float] = [1, 0, 0, 1]
        var c: [Float] = [10, 10, 10, 10]
        GEMM.multiply(a, .normal, identity, .normal, into: &c, m: 2, n: 2, k: 2, alpha: 2, beta: 1)
        #expect(c == [12, 14, 16, 18])
    }

    @Test(arguments: [false, true])
    func singleRowProductsMatchTheNaiveProduct(transposeB: Bool) {
        // Large enough to be split across cores (n·k ≥ the parallel threshold).
        let (m, n, k) = (1, 300, 1000)
        let a = (0..<k).map { Float($0 % 11) * 0.1 - 0.5 }
        let b = (0..<(k * n)).map { Float($0 % 13) * 0.05 - 0.3 }
        var c = [Float](repeating: 1, count: n)
        GEMM.multiply(a, .normal, b, transposeB ? .transposed : .normal, into: &c, m: m, n: n, k: k, alpha: 0.5, beta: 2)
        let product = naive(a, false, b, transposeB, m: m, n: n, k: k)
        for (got, want) in zip(c, product.map { 0.5 * $0 + 2 }) { #expect(abs(got - want) < 1e-3 * max(1, abs(want))) }
    }

    @Test(arguments: [2, 5, 16, 17])
    func fewRowsThroughALargeMatrixMatchTheNaiveProduct(rows: Int) {
        // A handful of images through a dense layer: b is streamed once for every row (17 rows go to sgemm).
        let (n, k) = (300, 1000)
        let a = (0..<(rows * k)).map { Float($0 % 11) * 0.1 - 0.5 }
        let b = (0..<(k * n)).map { Float($0 % 13) * 0.05 - 0.3 }
        var c = [Float](repeating: 1, count: rows * n)
        GEMM.multiply(a, .normal, b, .normal, into: &c, m: rows, n: n, k: k, alpha: 0.5, beta: 2)
        let product = naive(a, false, b, false, m: rows, n: n, k: k)
        #expect(zip(c, product.map { 0.5 * $0 + 2 }).allSatisfy { abs($0 - $1) < 1e-3 * max(1, abs($1)) })
    }

    @Test func largeProductsSplitAcrossCoresMatchTheNaiveProduct() {
        let (m, n, k) = (300, 70, 40)
        let a = (0..<(k * m)).map { Float($0 % 9) * 0.1 - 0.4 }
        let b = (0..<(k * n)).map { Float($0 % 7) * 0.1 - 0.3 }
        for (transposeA, transposeB) in [(false, false), (true, false), (false, true), (true, true)] {
            var c = [Float](repeating: 0, count: m * n)
            GEMM.multiply(a, transposeA ? .transposed : .normal, b, transposeB ? .transposed : .normal, into: &c,
                          m: m, n: n, k: k)
            let expected = naive(a, transposeA, b, transposeB, m: m, n: n, k: k)
            #expect(zip(c, expected).allSatisfy { abs($0 - $1) < 1e-3 * max(1, abs($1)) })
        }
    }
}
