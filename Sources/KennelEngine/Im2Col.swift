/// Rearranges NHWC image patches into rows of a matrix so a convolution becomes one matrix product, and back.
///
/// For a batch slice of `n` images, the column matrix has one row per output pixel (n·OH·OW rows, in NHWC
/// order) and one column per kernel tap and input channel (KH·KW·C, matching an HWIO kernel's row order), so
/// `columns · kernel` is the NHWC output directly.
enum Im2Col {
    /// Fills `columns` (n·OH·OW × KH·KW·C) from `input` (n × H × W × C); taps in the padding are zero.
    /// Rows are split across cores.
    static func pack(_ input: UnsafePointer<Float>, images n: Int, channels c: Int, geometry g: WindowGeometry,
                     into columns: UnsafeMutablePointer<Float>) {
        let pointers = Elementwise.Pointers(source: input, target: columns)
        let rowLength = g.kernelHeight * g.kernelWidth * c
        Parallel.forRanges(n * g.outputHeight * g.outputWidth, grain: 64) { rows in
            packRows(rows, pointers.source, channels: c, geometry: g, into: pointers.target + rows.lowerBound * rowLength)
        }
    }

    /// Fills the column-matrix rows `rows` (output pixels counted across the batch, NHWC order) into `columns`,
    /// which receives them from its start: a slice of the matrix, for a caller that multiplies it while it is
    /// still in cache.
    static func packRows(_ rows: Range<Int>, _ input: UnsafePointer<Float>, channels c: Int, geometry g: WindowGeometry,
                         into columns: UnsafeMutablePointer<Float>) {
        let rowLength = g.kernelHeight * g.kernelWidth * c
        let imageSize = g.inputHeight * g.inputWidth * c
        let pixelsPerImage = g.outputHeight * g.outputWidth
        var row = columns
        for pixel in rows {
            let image = pixel / pixelsPerImage, oy = (pixel % pixelsPerImage) / g.outputWidth, ox = pixel % g.outputWidth
            let source = input + image * imageSize
            // Runs of kernel columns that fall inside the image are contiguous in NHWC.
            let firstX = ox * g.strideX - g.padLeft
            let kxStart = max(0, -firstX)
            let kxEnd = min(g.kernelWidth, g.inputWidth - firstX)
            let firstY = oy * g.strideY - g.padTop
            if firstY >= 0, firstY + g.kernelHeight <= g.inputHeight, kxStart == 0, kxEnd == g.kernelWidth {
                // The whole window is inside the image: kernelHeight contiguous runs, nothing to zero.
                let span = g.kernelWidth * c
                var tap = source + (firstY * g.inputWidth + firstX) * c
                for _ in 0..<g.kernelHeight {
                    copy(from: tap, to: row, count: span)
                    row += span
                    tap += g.inputWidth * c
                }
                continue
            }
            for ky in 0..<g.kernelHeight {
                let iy = firstY + ky
                if iy < 0 || iy >= g.inputHeight || kxStart >= kxEnd {
                    zero(row, count: g.kernelWidth * c)
                } else {
                    zero(row, count: kxStart * c)
                    copy(from: source + (iy * g.inputWidth + firstX + kxStart) * c, to: row + kxStart * c,
                         count: (kxEnd - kxStart) * c)
                    zero(row + kxEnd * c, count: (g.kernelWidth - kxEnd) * c)
                }
                row += g.kernelWidth * c
            }
        }
        assert(row == columns + rows.count * rowLength)
    }

    /// Adds each column-matrix entry back onto the input position it came from (the adjoint of `pack`);
    /// `input` must be zeroed by the caller. Images are split across cores (each writes only its own image).
    static func unpackAdding(_ columns: UnsafePointer<Float>, images n: Int, channels c: Int, geometry g: WindowGeometry,
                             into input: UnsafeMutablePointer<Float>) {
        let pointers = Elementwise.Pointers(source: columns, target: input)
        Parallel.forRanges(n) { images in
            unpackImages(images, pointers.source, channels: c, geometry: g, into: pointers.target)
        }
    }

    private static func unpackImages(_ images: Range<Int>, _ columns: UnsafePointer<Float>, channels c: Int,
                                      geometry g: WindowGeometry, into input: UnsafeMutablePointer<Float>) {
        let rowLength = g.kernelHeight * g.kernelWidth * c
        let imageSize = g.inputHeight * g.inputWidth * c
        for image in images {
            let target = input + image * imageSize
            for oy in 0..<g.outputHeight {
                for ox in 0..<g.outputWidth {
                    var row = columns + ((image * g.outputHeight + oy) * g.outputWidth + ox) * rowLength
                    for ky in 0..<g.kernelHeight {
                        let iy = oy * g.strideY - g.padTop + ky
                        let firstX = ox * g.strideX - g.padLeft
                        let kxStart = max(0, -firstX)
                        let kxEnd = min(g.kernelWidth, g.inputWidth - firstX)
                        if iy >= 0 && iy < g.inputHeight && kxStart < kxEnd {
                            let destination = target + (iy * g.inputWidth + firstX + kxStart) * c
                            let source = row + kxStart * c
                            for i in 0..<((kxEnd - kxStart) * c) { destination[i] += source[i] }
                        }
                        row += g.kernelWidth * c
                    }
                }
            }
        }
    }

    /// Zeroes a run of floats (a loop for short runs, as `copy`).
    @inline(__always)
    private static func zero(_ target: UnsafeMutablePointer<Float>, count: Int) {
        if count >= 32 {
            target.update(repeating: 0, count: count)
        } else {
            for i in 0..<count { target[i] = 0 }
        }
    }

    /// Copies a run of floats; short runs (a few taps of a one-channel image) in a loop, since a memmove call
    /// per run of one to five floats cost more than the copying.
    @inline(__always)
    private static func copy(from source: UnsafePointer<Float>, to target: UnsafeMutablePointer<Float>, count: Int) {
        if count >= 32 {
            target.update(from: source, count: count)
        } else {
            for i in 0..<count { target[i] = source[i] }
        }
    }
}
