import KennelTestSupport
import Testing
@testable import KennelImage

struct ImageOperationTests {
    private func image(_ reference: ReferenceCase.Array) -> Image {
        Image(width: reference.shape[1], height: reference.shape[0], channels: reference.shape[2], pixels: reference.data)
    }

    @Test func grayscaleMatchesTensorFlow() throws {
        let reference = try ReferenceCase.named("rgb_to_grayscale")
        let gray = image(reference.inputs!["image"]!).grayscale()
        #expect(assertClose(gray.pixels, reference.output!.array!.data, "grayscale") == nil)
    }

    @Test func seedGrayscaleVectors() {
        let pixels = Image(width: 3, height: 1, channels: 3, pixels: [0, 0, 0, 255, 255, 255, 254, 0, 0]).grayscale()
        #expect(pixels.bytes == [0, 255, 76])
    }

    @Test(arguments: ["resize_bilinear_to_3x4", "resize_bilinear_to_9x11", "resize_bilinear_to_5x7"])
    func bilinearResizeMatchesTensorFlow(caseName: String) throws {
        let reference = try ReferenceCase.named(caseName)
        let expected = reference.output!.array!
        let resized = image(reference.inputs!["image"]!).resized(width: expected.shape[1], height: expected.shape[0])
        #expect(assertClose(resized.pixels, expected.data, caseName) == nil)
    }

    @Test func cropOrPadMatchesTensorFlow() throws {
        let reference = try ReferenceCase.named("resize_with_crop_or_pad_to_4x9")
        let expected = reference.output!.array!
        let result = image(reference.inputs!["image"]!).croppedOrPadded(width: expected.shape[1], height: expected.shape[0])
        #expect(assertClose(result.pixels, expected.data, "crop or pad") == nil)
    }

    @Test func resizeWithPadMatchesTensorFlow() throws {
        let reference = try ReferenceCase.named("resize_with_pad_to_6x6")
        let expected = reference.output!.array!
        let result = image(reference.inputs!["image"]!).resized(width: 6, height: 6, mode: .pad)
        #expect(assertClose(result.pixels, expected.data, "resize with pad") == nil)
    }

    @Test func resizeAgainstHandComputedValues() {
        // 2×1 → 4×1: source positions (i + 0.5)·0.5 − 0.5 = −0.25, 0.25, 0.75, 1.25 → 0, 25, 75, 100.
        let row = Image(width: 2, height: 1, channels: 1, pixels: [0, 100]).resized(width: 4, height: 1)
        #expect(row.pixels == [0, 25, 75, 100])
        // 4×4 → 2×2 averages each 2×2 block at its center.
        let square = Image(width: 4, height: 4, channels: 1, pixels: (0..<16).map(Float.init)).resized(width: 2, height: 2)
        #expect(square.pixels == [2.5, 4.5, 10.5, 12.5])
    }

    /// The seed's 3×3 image: rows [1,2,3], [4,5,6], [7,8,9].
    private let seed = Image(width: 3, height: 3, channels: 1, pixels: [1, 2, 3, 4, 5, 6, 7, 8, 9])

    @Test func seedCropPadAndFlips() {
        #expect(seed.cropped(top: 1, left: 1, width: 2, height: 2).pixels == [5, 6, 8, 9])
        #expect(seed.padded(top: 1, left: 1, width: 5, height: 5).pixels ==
                [0, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 4, 5, 6, 0, 0, 7, 8, 9, 0, 0, 0, 0, 0, 0])
        #expect(seed.flippedHorizontally().pixels == [3, 2, 1, 6, 5, 4, 9, 8, 7])
        #expect(seed.flippedVertically().pixels == [7, 8, 9, 4, 5, 6, 1, 2, 3])
        // TensorFlow truncates the border: at 0.34 it would be int(0.99) = 0 rows, so the whole image.
        #expect(seed.centralCrop(fraction: 0.2).pixels == [5])
        #expect(seed.centralCrop(fraction: 0.34) == seed)
        #expect(seed.croppedOrPadded(width: 1, height: 1).pixels == [5])
    }

    @Test func brightnessContrastAndUnitFloats() {
        #expect(seed.adjustingBrightness(by: 10).pixels == [11, 12, 13, 14, 15, 16, 17, 18, 19])
        // Mean 5: (x − 5)·2 + 5.
        #expect(seed.adjustingContrast(by: 2).pixels == [-3, -1, 1, 3, 5, 7, 9, 11, 13])
        #expect(Image(width: 2, height: 1, channels: 1, pixels: [0, 255]).unitFloats == [0, 1])
        #expect(Image(width: 2, height: 1, channels: 1, pixels: [-3, 300]).bytes == [0, 255])
    }

    /// `bytes` avoids the checked conversion to be vectorizable; it must give what that conversion gives, halves
    /// (which bilinear resizing produces) and the values either side of them included.
    @Test func bytesRoundHalfUpAndClampAsTheCheckedConversion() {
        var values: [Float] = stride(from: -2, through: 258, by: 0.125).map { $0 }
        for whole in 0...256 {
            let half = Float(whole) - 0.5
            values += [half, half.nextUp, half.nextDown, Float(whole).nextUp, Float(whole).nextDown]
        }
        values += [-.infinity, .infinity, -0.0, .leastNonzeroMagnitude, 1e30, -1e30]
        let image = Image(width: values.count, height: 1, channels: 1, pixels: values)
        #expect(image.bytes == values.map { UInt8(max(0, min(255, $0)) + 0.5) })
    }

    @Test func resizeModesKeepOrIgnoreTheAspectRatio() {
        let wide = Image(width: 8, height: 4, channels: 3, pixels: (0..<96).map { Float($0 % 256) })
        for mode in [ResizeMode.crop, .pad, .stretch] {
            let result = wide.resized(width: 6, height: 6, mode: mode)
            #expect(result.width == 6 && result.height == 6 && result.channels == 3)
        }
        // Padding a 2:1 image into a square leaves black bands above and below.
        let padded = Image(width: 8, height: 4, channels: 1, pixels: [Float](repeating: 200, count: 32))
            .resized(width: 4, height: 4, mode: .pad)
        #expect(padded.pixels[0..<4].allSatisfy { $0 == 0 })
        #expect(padded.pixels[4..<12].allSatisfy { $0 == 200 })
        #expect(padded.pixels[12..<16].allSatisfy { $0 == 0 })
        // Cropping covers the square completely.
        let cropped = Image(width: 8, height: 4, channels: 1, pixels: [Float](repeating: 200, count: 32))
            .resized(width: 4, height: 4, mode: .crop)
        #expect(cropped.pixels.allSatisfy { abs($0 - 200) < 1e-3 })
        #expect(wide.rgb() == wide)
        #expect(seed.rgb().channels == 3)
    }
}
