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
    public func grayscale() -> Image { converted(to: .gray) }

    /// Gray repeated into three channels; an RGB image is returned as is.
    public func rgb() -> Image { converted(to: .rgb) }

    private func converted(to color: ColorMode) -> Image {
        guard channels != color.channels else { return self }
        var rows = ImageRows(self)
        return Self.fromMemory { try Image(reading: &rows, color: color) }
    }

    /// Bilinear resize with half-pixel centers, as TensorFlow 2's `tf.image.resize` (no antialiasing).
    public func resized(width newWidth: Int, height newHeight: Int) -> Image {
        precondition(newWidth > 0 && newHeight > 0, "resize target must be positive")
        if newWidth == width && newHeight == height { return self }
        return placed(Placement(sourceWidth: width, sourceHeight: height, width: newWidth, height: newHeight))
    }

    /// Resizes to exactly `width`×`height` by `mode`, converting to `color` on the way (nil keeps the channels).
    public func resized(width newWidth: Int, height newHeight: Int, mode: ResizeMode, color: ColorMode? = nil)
        -> Image {
        placed(Placement(mode, sourceWidth: width, sourceHeight: height, width: newWidth, height: newHeight),
               color: color)
    }

    private func placed(_ placement: Placement, color: ColorMode? = nil) -> Image {
        var rows = ImageRows(self)
        return Self.fromMemory { try placement.render(&rows, color: color) }
    }

    /// Row sources over memory never fail; this states it once.
    private static func fromMemory(_ body: () throws -> Image) -> Image {
        do { return try body() } catch { preconditionFailure("reading an image in memory failed: \(error)") }
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
