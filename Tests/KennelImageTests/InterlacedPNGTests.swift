import CZlibSystem
import Testing
@testable import KennelImage

/// libpng's simplified writer cannot interlace, so this builds an Adam7 PNG by hand.
struct InterlacedPNGTests {
    private func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + body + bigEndian(PNGFixture.crc32(body))
    }

    private func bigEndian(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8((value >> (24 - 8 * UInt32($0))) & 0xFF) } }

    /// An 8-bit PNG (gray or RGB) in Adam7 order: seven passes, each a sub-image of filtered rows.
    fileprivate func interlacedPNG(_ image: Image) throws -> [UInt8] {
        let passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        let samples = image.bytes
        var raw: [UInt8] = []
        for (x0, y0, dx, dy) in passes where x0 < image.width && y0 < image.height {
            for y in stride(from: y0, to: image.height, by: dy) {
                raw.append(0)
                for x in stride(from: x0, to: image.width, by: dx) {
                    let start = (y * image.width + x) * image.channels
                    raw += samples[start..<(start + image.channels)]
                }
            }
        }
        var compressedSize = compressBound(UInt(raw.count))
        var compressed = [UInt8](repeating: 0, count: Int(compressedSize))
        try #require(compress2(&compressed, &compressedSize, raw, UInt(raw.count), 9) == Z_OK)
        let header = bigEndian(UInt32(image.width)) + bigEndian(UInt32(image.height))
            + [8, image.channels == 1 ? 0 : 2, 0, 0, 1]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header)
            + chunk("IDAT", Array(compressed.prefix(Int(compressedSize)))) + chunk("IEND", [])
    }

    @Test(arguments: [(1, 13, 9), (3, 8, 8), (3, 1, 1)])
    func interlacedPNGsDecodeExactly(channels: Int, width: Int, height: Int) throws {
        let image = testPicture(width: width, height: height, channels: channels)
        let decoded = try ImageDecoder().decode(try interlacedPNG(image), color: channels == 1 ? .gray : .rgb)
        #expect(decoded == image)
    }
}

extension InterlacedPNGTests {
    @Test func interlacedPNGsDecodeIntoABoxAsWhole() throws {
        let png = try interlacedPNG(testPicture(width: 53, height: 37, channels: 3))
        let decoder = ImageDecoder()
        for mode in [ResizeMode.pad, .crop, .stretch] {
            let whole = try decoder.decode(png, color: .gray).resized(width: 16, height: 12, mode: mode)
            #expect(try decoder.decode(png, color: .gray, into: 16, 12, mode: mode) == whole)
        }
        #expect(try decoder.inspect(png).interlaced)
    }
}

extension InterlacedPNGTests {
    @Test func anInterlacedPNGReservesItsWholeImage() throws {
        // Adam7 rows arrive over seven passes, so such a PNG is decoded whole and must reserve that much.
        let png = try interlacedPNG(Image(width: 1000, height: 1000, channels: 1))
        let decoder = ImageDecoder(budget: DecodeBudget(capacity: 2 << 20, wait: 0))
        #expect {
            try decoder.decode(png, color: .gray, into: 8, 8, mode: .pad)
        } throws: { error in
            if case ImageError.overBudget = error { return true }
            return false
        }
        let sequential = try ImageEncoder.png(Image(width: 1000, height: 1000, channels: 1))
        #expect(try decoder.decode(sequential, color: .gray, into: 8, 8, mode: .pad).width == 8)
    }
}
