/// Loops over contiguous buffers shared by the layers, written so the optimizer can vectorize them and split
/// across cores when large.
enum Elementwise {
    /// Work below this many elements stays on the calling thread.
    static let grain = 1 << 15

    /// Adds `vector` to every row of the row-major matrix `matrix` (rows of `vector.count`).
    static func addRowVector(_ vector: [Float], to matrix: inout [Float]) {
        let width = vector.count
        vector.withUnsafeBufferPointer { v in
            matrix.withUnsafeMutableBufferPointer { m in
                let pointers = Pointers(source: v.baseAddress!, target: m.baseAddress!)
                Parallel.forRanges(m.count / width, grain: max(1, grain / width)) { rows in
                    for row in rows {
                        let target = pointers.target + row * width
                        for k in 0..<width { target[k] += pointers.source[k] }
                    }
                }
            }
        }
    }

    /// The least and greatest of `values` (0 and 0 when empty).
    static func extremes(_ values: [Float]) -> (low: Float, high: Float) {
        guard let first = values.first else { return (0, 0) }
        var low = SIMD16<Float>(repeating: first), high = low
        let whole = values.count / 16 * 16
        values.withUnsafeBufferPointer { v in
            var index = 0
            while index < whole {
                let lane = SIMD16<Float>(v[index..<(index + 16)])
                low = pointwiseMin(low, lane)
                high = pointwiseMax(high, lane)
                index += 16
            }
        }
        var (least, greatest) = (low.min(), high.max())
        for value in values[whole...] { (least, greatest) = (min(least, value), max(greatest, value)) }
        return (least, greatest)
    }

    /// Sums of each column of a row-major matrix with `columns` columns.
    static func columnSums(_ matrix: UnsafeBufferPointer<Float>, columns: Int) -> [Float] {
        var sums = [Float](repeating: 0, count: columns)
        sums.withUnsafeMutableBufferPointer { s in
            var row = 0
            while row < matrix.count {
                for k in 0..<columns { s[k] += matrix[row + k] }
                row += columns
            }
        }
        return sums
    }

    static func columnSums(_ matrix: [Float], columns: Int) -> [Float] {
        matrix.withUnsafeBufferPointer { columnSums($0, columns: columns) }
    }

    /// Runs `body` on disjoint slices of `values` (in parallel when large). Bodies index their slice from 0, a
    /// form the compiler vectorizes.
    static func forSlices(_ values: inout [Float], _ body: (UnsafeMutableBufferPointer<Float>) -> Void) {
        values.withUnsafeMutableBufferPointer { buffer in
            let base = Pointers(source: buffer.baseAddress!, target: buffer.baseAddress!)
            forRanges(buffer.count) { range in
                body(UnsafeMutableBufferPointer(start: base.target + range.lowerBound, count: range.count))
            }
        }
    }

    /// Runs `body` on matching disjoint slices of `values` and `other` (same count), in parallel when large.
    static func forSlices(_ values: inout [Float], with other: [Float],
                          _ body: (UnsafeMutableBufferPointer<Float>, UnsafeBufferPointer<Float>) -> Void) {
        precondition(values.count == other.count, "elementwise operands differ in size")
        values.withUnsafeMutableBufferPointer { buffer in
            other.withUnsafeBufferPointer { source in
                let base = Pointers(source: source.baseAddress!, target: buffer.baseAddress!)
                forRanges(buffer.count) { range in
                    body(UnsafeMutableBufferPointer(start: base.target + range.lowerBound, count: range.count),
                         UnsafeBufferPointer(start: base.source + range.lowerBound, count: range.count))
                }
            }
        }
    }

    /// Applies `body` to disjoint ranges of `count` indices, in parallel when large.
    static func forRanges(_ count: Int, _ body: (Range<Int>) -> Void) {
        Parallel.forRanges(count, grain: grain, body)
    }

    /// Two buffers carried into parallel parts that touch disjoint elements.
    struct Pointers: @unchecked Sendable {
        let source: UnsafePointer<Float>
        let target: UnsafeMutablePointer<Float>
    }
}

/// Explicit 16-lane loops for the hot elementwise kernels: the compiler keeps scalar selects and branches
/// as scalar code, but SIMD16 arithmetic becomes vector instructions. Each takes a vector body and the same
/// operation for the tail.
enum SIMDLoop {
    typealias Vector = SIMD16<Float>

    /// y[i] = body(y[i]).
    @inline(__always)
    static func update(_ y: UnsafeMutableBufferPointer<Float>, _ vector: (Vector) -> Vector,
                       _ scalar: (Float) -> Float) {
        guard let base = y.baseAddress else { return }
        let raw = UnsafeMutableRawPointer(base)
        var i = 0
        while i + 16 <= y.count {
            raw.storeBytes(of: vector(raw.loadUnaligned(fromByteOffset: i * 4, as: Vector.self)),
                           toByteOffset: i * 4, as: Vector.self)
            i += 16
        }
        while i < y.count { y[i] = scalar(y[i]); i += 1 }
    }

    /// g[i] = body(g[i], x[i]).
    @inline(__always)
    static func update(_ g: UnsafeMutableBufferPointer<Float>, with x: UnsafeBufferPointer<Float>,
                       _ vector: (Vector, Vector) -> Vector, _ scalar: (Float, Float) -> Float) {
        guard let base = g.baseAddress, let other = x.baseAddress else { return }
        let target = UnsafeMutableRawPointer(base), source = UnsafeRawPointer(other)
        var i = 0
        while i + 16 <= g.count {
            let result = vector(target.loadUnaligned(fromByteOffset: i * 4, as: Vector.self),
                                source.loadUnaligned(fromByteOffset: i * 4, as: Vector.self))
            target.storeBytes(of: result, toByteOffset: i * 4, as: Vector.self)
            i += 16
        }
        while i < g.count { g[i] = scalar(g[i], x[i]); i += 1 }
    }
}
