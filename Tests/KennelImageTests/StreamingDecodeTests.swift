import Testing
@testable import KennelImage

/// Decoding straight into a model-sized box: the PNG is read row by row and only two source rows are kept, yet
/// the result is exactly what decoding the whole picture and resizing it gives, and the memory it reserves no
/// longer grows with the source's area.
struct StreamingDecodeTests {
    /// TensorFlow's bilinear resize with half-pixel centers, written pixel by pixel straight from its definition,
    /// then placed in the box: an independent check of `Placement.render`'s two-row window.
    private func reference(_ image: Image, _ placement: Placement) -> Image {
        func axis(_ index: Int, _ size: Int, _ scaled: Int) -> (Int, Int, Float) {
            let position = (Float(index) + 0.5) * (Float(size) / Float(scaled)) - 0.5
            let floor = position.rounded(.down)
            return (max(Int(floor), 0), min(Int(position.rounded(.up)), size - 1), position - floor)
        }
        var box = Image(width: placement.width, height: placement.height, channels: image.channels)
        for row in 0..<placement.height {
            let y = row - placement.top
            guard y >= 0 && y < placement.scaledHeight else { continue }
            let (top, bottom, fy) = axis(y, image.height, placement.scaledHeight)
            for column in 0..<placement.width {
                let x = column - placement.left
                guard x >= 0 && x < placement.scaledWidth else { continue }
                let (left, right, fx) = axis(x, image.width, placement.scaledWidth)
                for c in 0..<image.channels {
                    let upper = image[top, left, c] + (image[top, right, c] - image[top, left, c]) * fx
                    let lower = image[bottom, left, c] + (image[bottom, right, c] - image[bottom, left, c]) * fx
                    box[row, column, c] = upper + (lower - upper) * fy
                }
            }
        }
        return box
    }

    @Test(arguments: [ResizeMode.pad, .crop, .stretch])
    func renderingMatchesThePixelByPixelDefinition(mode: ResizeMode) throws {
        // Shrinking, enlarging, mixed and degenerate sizes, each axis on both sides of the box.
        let sources = [(97, 61), (5, 3), (1, 40), (40, 1), (28, 28), (300, 7)]
        let boxes = [(28, 28), (13, 31), (64, 9), (1, 1)]
        for (width, height) in sources {
            let picture = testPicture(width: width, height: height, channels: 3)
            for (boxWidth, boxHeight) in boxes {
                let placement = Placement(mode, sourceWidth: width, sourceHeight: height, width: boxWidth,
                                          height: boxHeight)
                var rows = ImageRows(picture)
                let rendered = try placement.render(&rows)
                #expect(rendered == reference(picture, placement),
                        "\(mode) \(width)×\(height) → \(boxWidth)×\(boxHeight)")
            }
        }
    }

    @Test(arguments: [ResizeMode.pad, .crop, .stretch])
    func decodingIntoABoxEqualsDecodingWholeThenResizing(mode: ResizeMode) throws {
        let decoder = ImageDecoder()
        for channels in [1, 3] {
            let png = try ImageEncoder.png(testPicture(width: 211, height: 147, channels: channels))
            for color in [ColorMode.gray, .rgb] {
                let whole = try decoder.decode(png, color: color)
                let streamed = try decoder.decode(png, color: color, into: 28, 20, mode: mode)
                #expect(streamed == whole.resized(width: 28, height: 20, mode: mode), "\(channels) → \(color)")
            }
        }
    }

    @Test func aHugePNGDecodesIntoABoxWithinAFewMegabytes() throws {
        // 6300×6300 gray in 38 KB: decoded whole it needs 40 MB of bytes and 160 MB of Float.
        let bomb = try ImageEncoder.png(Image(width: 6300, height: 6300, channels: 1))
        let budget = DecodeBudget(capacity: 2 << 20, wait: 0)
        let decoder = ImageDecoder(budget: budget)
        let box = try decoder.decode(bomb, color: .gray, into: 28, 28, mode: .pad)
        #expect(box.width == 28 && box.pixels.allSatisfy { $0 == 0 })
        #expect(budget.reserved == 0)
        // Decoded whole it does not fit that budget: the bound comes from streaming, not from a loose estimate.
        #expect(throws: ImageError.self) { try decoder.decode(bomb, color: .gray) }
    }

    @Test func aPNGTruncatedAfterTheRowsABoxNeedsIsStillTruncated() throws {
        // Cropping a tall image keeps its middle rows; the missing tail must still be noticed.
        let png = try ImageEncoder.png(testPicture(width: 40, height: 400, channels: 3))
        let cut = Array(png.prefix(png.count * 3 / 4))
        #expect {
            try ImageDecoder().decode(cut, color: .rgb, into: 10, 10, mode: .crop)
        } throws: { error in
            if case ImageError.truncated = error { return true }
            return false
        }
    }
}

extension StreamingDecodeTests {
    /// A decoder that does not wait for the budget (one on an HTTP polling thread) is refused at once while
    /// another decode holds the budget; one that waits is refused only after its wait.
    @Test func anImpatientDecoderIsRefusedAtOnceWhenTheBudgetIsHeld() throws {
        let png = try ImageEncoder.png(testPicture(width: 40, height: 40, channels: 1))
        let budget = DecodeBudget(capacity: 1 << 20, wait: 0.3)
        var impatient = ImageDecoder(budget: budget)
        impatient.waitsForBudget = false
        let patient = ImageDecoder(budget: budget)
        #expect(try impatient.decode(png, color: .gray, into: 28, 28, mode: .pad).width == 28)
        try budget.withReservation(1 << 20) {
            var started = ContinuousClock.now
            #expect(throws: ImageError.budgetExhausted(wait: 0)) {
                try impatient.decode(png, color: .gray, into: 28, 28, mode: .pad)
            }
            #expect(ContinuousClock.now - started < .milliseconds(100))
            started = ContinuousClock.now
            #expect(throws: ImageError.budgetExhausted(wait: 0.3)) {
                try patient.decode(png, color: .gray, into: 28, 28, mode: .pad)
            }
            #expect(ContinuousClock.now - started >= .milliseconds(250))
        }
    }
}
