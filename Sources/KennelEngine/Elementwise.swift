/// Loops over contiguous buffers shared by the layers, written so the optimizer can vectorize them.
enum Elementwise {
    /// Adds `vector` to every row of the row-major matrix `matrix` (rows of `vector.count`).
    static func addRowVector(_ vector: [Float], to matrix: inout [Float]) {
        let width = vector.count
        vector.withUnsafeBufferPointer { v in
            matrix.withUnsafeMutableBufferPointer { m in
                var row = 0
                while row < m.count {
                    for k in 0..<width { m[row + k] += v[k] }
                    row += width
                }
            }
        }
    }

    /// Sums of each column of a row-major matrix with `columns` columns.
    static func columnSums(_ matrix: some Collection<Float>, columns: Int) -> [Float] {
        var sums = [Float](repeating: 0, count: columns)
        sums.withUnsafeMutableBufferPointer { s in
            var k = 0
            for value in matrix {
                s[k] += value
                k += 1
                if k == columns { k = 0 }
            }
        }
        return sums
    }
}
