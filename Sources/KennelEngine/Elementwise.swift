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
