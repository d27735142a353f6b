import Foundation

/// How to bring an image to a target size (DESIGN.md "Images and datasets").
public enum ResizeMode: String, Sendable, Codable {
    /// Keep the aspect ratio: scale to cover the target, then cut the overflow from the center.
    case crop
    /// Keep the aspect ratio: scale to fit inside the target, then pad with zeros around it (the seed's fix for
    /// distortion; TensorFlow's resize_with_pad).
    case pad
    /// Ignore the aspect ratio: scale each axis to the target.
    case stretch

    /// The size a `width`×`height` source is scaled to on its way to the target box, before any crop or pad: what
    /// a shrunken decode (JPEG DCT scaling) must still cover so the resize never enlarges.
    public func scaledSize(ofWidth width: Int, height: Int, toWidth targetWidth: Int, height targetHeight: Int)
        -> (width: Int, height: Int) {
        let widthRatio = Double(targetWidth) / Double(width), heightRatio = Double(targetHeight) / Double(height)
        switch self {
        case .stretch: return (targetWidth, targetHeight)
        case .pad, .crop:
            let scale = self == .pad ? min(widthRatio, heightRatio) : max(widthRatio, heightRatio)
            return (Int((Double(width) * scale).rounded(.up)), Int((Double(height) * scale).rounded(.up)))
        }
    }
}

extension Image {
    /// Luminance with TensorFlow's weights 0.2989·R + 0.5870·G + 0.1140·B; a gray image is returned as is.
    public func grayscale() -> Image {
        guard channels == 3 else { return self }
        var gray = [Float](repeating: 0, count: width * height)
        pixels.withUnsafeBufferPointer { rgb in
            for pixel in 0..<gray.count {
                gray[pixel] = 0.2989 * rgb[pixel * 3] + 0.5870 * rgb[pixel * 3 + 1] + 0.1140 * rgb[pixel * 3 + 2]
            }
        }
        return Image(width: width, height: height, channels: 1, pixels: gray)
    }

    /// Gray repeated into three channels; an RGB image is returned as is.
    public func rgb() -> Image {
        guard channels == 1 else { return self }
        return Image(width: width, height: height, channels: 3, pixels: pixels.flatMap { [$0, $0, $0] })
    }

    /// Bilinear resize with half-pixel centers, as TensorFlow 2's `tf.image.resize` (no antialiasing).
    public func resized(width newWidth: Int, height newHeight: Int) -> Image {
        precondition(newWidth > 0 && newHeight > 0, "resize target must be positive")
        if newWidth == width && newHeight == height { return self }
        let xs = Interpolation(from: width, to: newWidth), ys = Interpolation(from: height, to: newHeight)
        let c = channels, rowLength = width * channels
        var output = [Float](repeating: 0, count: newWidth * newHeight * c)
        pixels.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                for y in 0..<newHeight {
                    let top = source.baseAddress! + ys.lower[y] * rowLength
                    let bottom = source.baseAddress! + ys.upper[y] * rowLength
                    let fy = ys.weight[y]
                    let row = target.baseAddress! + y * newWidth * c
                    for x in 0..<newWidth {
                        let left = xs.lower[x] * c, right = xs.upper[x] * c, fx = xs.weight[x]
                        for k in 0..<c {
                            let upper = top[left + k] + (top[right + k] - top[left + k]) * fx
                            let lower = bottom[left + k] + (bottom[right + k] - bottom[left + k]) * fx
                            row[x * c + k] = upper + (lower - upper) * fy
                        }
                    }
                }
            }
        }
        return Image(width: newWidth, height: newHeight, channels: c, pixels: output)
    }

    /// TensorFlow's interpolation weights along one axis: source position (i + 0.5)·scale − 0.5, its floor and
    /// ceiling clamped into the image, and the fraction between them.
    private struct Interpolation {
        var lower: [Int] = [], upper: [Int] = [], weight: [Float] = []

        init(from size: Int, to newSize: Int) {
            let scale = Float(size) / Float(newSize)
            for index in 0..<newSize {
                let position = (Float(index) + 0.5) * scale - 0.5
                let floorPosition = position.rounded(.down)
                lower.append(max(Int(floorPosition), 0))
                upper.append(min(Int(position.rounded(.up)), size - 1))
                weight.append(position - floorPosition)
            }
        }
    }

    /// Resizes to exactly `width`×`height` by `mode`.
    public func resized(width newWidth: Int, height newHeight: Int, mode: ResizeMode) -> Image {
        switch mode {
        case .stretch:
            return resized(width: newWidth, height: newHeight)
        case .pad:
            return resizedWithPad(width: newWidth, height: newHeight)
        case .crop:
            let scale = max(Float(newWidth) / Float(width), Float(newHeight) / Float(height))
            let coverWidth = max(newWidth, Int((Float(width) * scale).rounded()))
            let coverHeight = max(newHeight, Int((Float(height) * scale).rounded()))
            return resized(width: coverWidth, height: coverHeight).croppedOrPadded(width: newWidth, height: newHeight)
        }
    }

    /// TensorFlow's `resize_with_pad`: the largest aspect-preserving resize that fits, placed with zero
    /// padding (the extra row or column, if any, at the bottom or right).
    public func resizedWithPad(width targetWidth: Int, height targetHeight: Int) -> Image {
        let ratio = max(Float(width) / Float(targetWidth), Float(height) / Float(targetHeight))
        let fittedWidth = Float(width) / ratio, fittedHeight = Float(height) / ratio
        let resized = resized(width: max(1, Int(fittedWidth.rounded(.down))), height: max(1, Int(fittedHeight.rounded(.down))))
        let left = max(0, Int(((Float(targetWidth) - fittedWidth) / 2).rounded(.down)))
        let top = max(0, Int(((Float(targetHeight) - fittedHeight) / 2).rounded(.down)))
        return resized.padded(top: top, left: left, width: targetWidth, height: targetHeight)
    }

    /// TensorFlow's `resize_with_crop_or_pad`: each axis centrally cropped when too long, zero-padded
    /// centrally when too short.
    public func croppedOrPadded(width targetWidth: Int, height targetHeight: Int) -> Image {
        func offsets(_ size: Int, _ target: Int) -> (crop: Int, pad: Int) {
            let difference = target - size
            return (max(Self.floorDivide(-difference, 2), 0), max(Self.floorDivide(difference, 2), 0))
        }
        let (cropY, padY) = offsets(height, targetHeight), (cropX, padX) = offsets(width, targetWidth)
        let cropped = cropped(top: cropY, left: cropX, width: min(width, targetWidth), height: min(height, targetHeight))
        return cropped.padded(top: padY, left: padX, width: targetWidth, height: targetHeight)
    }

    private static func floorDivide(_ a: Int, _ b: Int) -> Int { Int((Double(a) / Double(b)).rounded(.down)) }

    /// The `width`×`height` box whose top-left corner is (`left`, `top`); the box must lie inside the image.
    public func cropped(top: Int, left: Int, width boxWidth: Int, height boxHeight: Int) -> Image {
        precondition(top >= 0 && left >= 0 && top + boxHeight <= height && left + boxWidth <= width,
                     "crop box \(boxWidth)×\(boxHeight) at (\(left), \(top)) leaves a \(width)×\(height) image")
        var output = [Float]()
        output.reserveCapacity(boxWidth * boxHeight * channels)
        for y in top..<(top + boxHeight) {
            let start = (y * width + left) * channels
            output += pixels[start..<(start + boxWidth * channels)]
        }
        return Image(width: boxWidth, height: boxHeight, channels: channels, pixels: output)
    }

    /// The image placed at (`left`, `top`) on a black `width`×`height` canvas, which must hold it.
    public func padded(top: Int, left: Int, width canvasWidth: Int, height canvasHeight: Int) -> Image {
        precondition(top >= 0 && left >= 0 && top + height <= canvasHeight && left + width <= canvasWidth,
                     "a \(width)×\(height) image at (\(left), \(top)) does not fit a \(canvasWidth)×\(canvasHeight) canvas")
        var canvas = Image(width: canvasWidth, height: canvasHeight, channels: channels)
        for y in 0..<height {
            let target = ((top + y) * canvasWidth + left) * channels
            canvas.pixels.replaceSubrange(target..<(target + width * channels),
                                          with: pixels[(y * width * channels)..<((y + 1) * width * channels)])
        }
        return canvas
    }

    /// The central `fraction` (0…1] of each axis, as `tf.image.central_crop`.
    public func centralCrop(fraction: Float) -> Image {
        precondition(fraction > 0 && fraction <= 1, "central crop fraction must be in (0, 1]")
        let top = Int((Float(height) - Float(height) * fraction) / 2), left = Int((Float(width) - Float(width) * fraction) / 2)
        return cropped(top: top, left: left, width: width - 2 * left, height: height - 2 * top)
    }

    /// Mirrored left to right.
    public func flippedHorizontally() -> Image {
        var output = self
        for y in 0..<height {
            for x in 0..<width {
                for k in 0..<channels { output[y, x, k] = self[y, width - 1 - x, k] }
            }
        }
        return output
    }

    /// Mirrored top to bottom.
    public func flippedVertically() -> Image {
        var output = self
        for y in 0..<height {
            let source = (height - 1 - y) * width * channels
            output.pixels.replaceSubrange((y * width * channels)..<((y + 1) * width * channels),
                                          with: pixels[source..<(source + width * channels)])
        }
        return output
    }

    /// Every sample plus `delta` (on the 0…255 scale), as `tf.image.adjust_brightness`.
    public func adjustingBrightness(by delta: Float) -> Image {
        Image(width: width, height: height, channels: channels, pixels: pixels.map { $0 + delta })
    }

    /// (x − mean) · factor + mean with each channel's own mean, as `tf.image.adjust_contrast`.
    public func adjustingContrast(by factor: Float) -> Image {
        var means = [Float](repeating: 0, count: channels)
        for (index, value) in pixels.enumerated() { means[index % channels] += value }
        means = means.map { $0 / Float(max(1, width * height)) }
        var output = pixels
        for index in output.indices {
            let mean = means[index % channels]
            output[index] = (output[index] - mean) * factor + mean
        }
        return Image(width: width, height: height, channels: channels, pixels: output)
    }

    /// Samples scaled to [0, 1] (`tf.image.convert_image_dtype` to float).
    public var unitFloats: [Float] { pixels.map { $0 / 255 } }
}
