/// Where a source image lands in a `width`×`height` box: bilinearly scaled to `scaledWidth`×`scaledHeight` and
/// its top-left corner put at (`left`, `top`). A negative offset cuts the overflow (crop); what the scaled image
/// leaves uncovered is zero (pad). Every resize of the project, in memory or while decoding, goes through
/// `render`, so there is one bilinear implementation.
public struct Placement: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let sourceWidth: Int
    public let sourceHeight: Int
    public let scaledWidth: Int
    public let scaledHeight: Int
    public let left: Int
    public let top: Int

    /// A plain resize of the whole source to `width`×`height` (no aspect kept).
    public init(sourceWidth: Int, sourceHeight: Int, width: Int, height: Int) {
        self.init(sourceWidth: sourceWidth, sourceHeight: sourceHeight, width: width, height: height,
                  scaledWidth: width, scaledHeight: height, left: 0, top: 0)
    }

    /// The placement `mode` gives a `sourceWidth`×`sourceHeight` image in a `width`×`height` box, computed as
    /// TensorFlow's resize, resize_with_pad and resize-then-resize_with_crop_or_pad compute it.
    public init(_ mode: ResizeMode, sourceWidth: Int, sourceHeight: Int, width: Int, height: Int) {
        switch mode {
        case .stretch:
            self.init(sourceWidth: sourceWidth, sourceHeight: sourceHeight, width: width, height: height)
        case .pad:
            let ratio = max(Float(sourceWidth) / Float(width), Float(sourceHeight) / Float(height))
            let fittedWidth = Float(sourceWidth) / ratio, fittedHeight = Float(sourceHeight) / ratio
            self.init(sourceWidth: sourceWidth, sourceHeight: sourceHeight, width: width, height: height,
                      scaledWidth: max(1, Int(fittedWidth.rounded(.down))),
                      scaledHeight: max(1, Int(fittedHeight.rounded(.down))),
                      left: max(0, Int(((Float(width) - fittedWidth) / 2).rounded(.down))),
                      top: max(0, Int(((Float(height) - fittedHeight) / 2).rounded(.down))))
        case .crop:
            let scale = max(Float(width) / Float(sourceWidth), Float(height) / Float(sourceHeight))
            let coverWidth = max(width, Int((Float(sourceWidth) * scale).rounded()))
            let coverHeight = max(height, Int((Float(sourceHeight) * scale).rounded()))
            self.init(sourceWidth: sourceWidth, sourceHeight: sourceHeight, width: width, height: height,
                      scaledWidth: coverWidth, scaledHeight: coverHeight,
                      left: -((coverWidth - width) / 2), top: -((coverHeight - height) / 2))
        }
    }

    private init(sourceWidth: Int, sourceHeight: Int, width: Int, height: Int, scaledWidth: Int, scaledHeight: Int,
                 left: Int, top: Int) {
        precondition(width > 0 && height > 0 && sourceWidth > 0 && sourceHeight > 0, "placement sizes must be positive")
        self.sourceWidth = sourceWidth
        self.sourceHeight = sourceHeight
        self.width = width
        self.height = height
        self.scaledWidth = scaledWidth
        self.scaledHeight = scaledHeight
        self.left = left
        self.top = top
    }

    /// The box's columns and rows the scaled image covers.
    private var coveredColumns: Range<Int> { max(0, left)..<max(max(0, left), min(width, left + scaledWidth)) }
    private var coveredRows: Range<Int> { max(0, top)..<max(max(0, top), min(height, top + scaledHeight)) }

    /// Reads `source` once, top to bottom, and returns the box in `color` (nil: the source's channels), with
    /// bilinear interpolation on half-pixel centers as TensorFlow 2's `tf.image.resize` (no antialiasing). Only
    /// the two source rows an output row interpolates between are kept, and only covered pixels are computed, so
    /// the memory is a few source rows plus the box whatever the source's size. Rows past the last one needed
    /// are still read, so a truncated source fails as it would when decoded whole.
    public func render<Source: RowSource>(_ source: inout Source, color: ColorMode? = nil) throws -> Image {
        precondition(source.width == sourceWidth && source.height == sourceHeight,
                     "a \(sourceWidth)×\(sourceHeight) placement cannot render a \(source.width)×\(source.height) source")
        let channels = color?.channels ?? source.channels, readChannels = source.channels
        let columns = coveredColumns, rows = coveredRows
        let xs = Interpolation(from: sourceWidth, to: scaledWidth, indices: columns.lowerBound - left..<columns.upperBound - left)
        let ys = Interpolation(from: sourceHeight, to: scaledHeight, indices: rows.lowerBound - top..<rows.upperBound - top)
        let readLength = sourceWidth * readChannels, sourceRowLength = sourceWidth * channels
        let coveredLength = columns.count * channels
        var output = [Float](repeating: 0, count: width * height * channels)
        // One scratch buffer: the row as read (when its channels must be converted), two source rows in `color`
        // (slot r % 2 holds source row r: an output row needs rows lower and upper, which differ by at most one)
        // and the same two rows interpolated along x at the covered columns.
        let converting = readChannels != channels
        var scratch = [Float](repeating: 0, count: (converting ? readLength : 0) + 2 * sourceRowLength + 2 * coveredLength)
        try scratch.withUnsafeMutableBufferPointer { scratch in
            try output.withUnsafeMutableBufferPointer { output in
                let read = scratch.baseAddress!, sourceRows = read + (converting ? readLength : 0)
                let scaledRows = sourceRows + 2 * sourceRowLength
                var rowsRead = 0, scaledThrough = -1
                // Source rows are all read, in order (a truncated source fails as it would decoded whole), but only
                // those an output row interpolates between are scaled along x, each once.
                for (offset, y) in rows.enumerated() {
                    let lower = ys.lower[offset], upper = ys.upper[offset], fy = ys.weight[offset]
                    while rowsRead <= upper {
                        try Self.read(&source, slot: sourceRows + (rowsRead % 2) * sourceRowLength, length: sourceRowLength,
                                      channels: channels, through: converting ? read : nil, readLength: readLength)
                        rowsRead += 1
                    }
                    for index in stride(from: max(lower, scaledThrough + 1), through: upper, by: 1) {
                        xs.scale(sourceRows + (index % 2) * sourceRowLength, channels: channels,
                                 into: scaledRows + (index % 2) * coveredLength)
                    }
                    scaledThrough = upper
                    let top = scaledRows + (lower % 2) * coveredLength, bottom = scaledRows + (upper % 2) * coveredLength
                    let row = output.baseAddress! + (y * width + columns.lowerBound) * channels
                    for index in 0..<coveredLength { row[index] = top[index] + (bottom[index] - top[index]) * fy }
                }
                while rowsRead < sourceHeight {
                    try Self.read(&source, slot: sourceRows, length: sourceRowLength, channels: channels,
                                  through: converting ? read : nil, readLength: readLength)
                    rowsRead += 1
                }
            }
        }
        return Image(width: width, height: height, channels: channels, pixels: output)
    }

    /// Reads `source`'s next row into `slot` in `channels`: straight there when the channels agree, otherwise
    /// through `buffer` and converted.
    private static func read<Source: RowSource>(_ source: inout Source, slot: UnsafeMutablePointer<Float>, length: Int,
                                                channels: Int, through buffer: UnsafeMutablePointer<Float>?,
                                                readLength: Int) throws {
        let target = UnsafeMutableBufferPointer(start: slot, count: length)
        guard let buffer else { return try source.readRow(into: target) }
        try source.readRow(into: UnsafeMutableBufferPointer(start: buffer, count: readLength))
        Image.convert(UnsafeBufferPointer(start: buffer, count: readLength), channels: source.channels, into: target,
                      channels: channels)
    }
}

/// TensorFlow's interpolation weights along one axis for the scaled positions `indices`: source position
/// (i + 0.5)·scale − 0.5, its floor and ceiling clamped into the source, and the fraction between them.
private struct Interpolation {
    var lower: [Int] = [], upper: [Int] = [], weight: [Float] = []
    var count: Int { lower.count }
    /// Whether the size is unchanged: every position is then a source index exactly, with weight 0.
    let unscaled: Bool

    init(from size: Int, to newSize: Int, indices: Range<Int>) {
        unscaled = size == newSize
        if unscaled {
            (lower, upper, weight) = (Array(indices), Array(indices), Array(repeating: 0, count: indices.count))
            return
        }
        let scale = Float(size) / Float(newSize)
        lower.reserveCapacity(indices.count)
        upper.reserveCapacity(indices.count)
        weight.reserveCapacity(indices.count)
        for index in indices {
            let position = (Float(index) + 0.5) * scale - 0.5
            let floorPosition = position.rounded(.down)
            lower.append(max(Int(floorPosition), 0))
            upper.append(min(Int(position.rounded(.up)), size - 1))
            weight.append(position - floorPosition)
        }
    }

    /// `row` (of `channels` samples a pixel) interpolated at these positions, into `target`.
    func scale(_ row: UnsafePointer<Float>, channels: Int, into target: UnsafeMutablePointer<Float>) {
        if unscaled {
            // a + (a - a) · 0 is a: the samples themselves.
            if let first = lower.first { target.update(from: row + first * channels, count: count * channels) }
            return
        }
        lower.withUnsafeBufferPointer { lower in
            upper.withUnsafeBufferPointer { upper in
                weight.withUnsafeBufferPointer { weight in
                    for x in 0..<lower.count {
                        let left = lower[x] * channels, right = upper[x] * channels, fx = weight[x]
                        for k in 0..<channels {
                            target[x * channels + k] = row[left + k] + (row[right + k] - row[left + k]) * fx
                        }
                    }
                }
            }
        }
    }
}
