import CTurboJPEG
import Testing
@testable import KennelImage

/// JPEG sources Kennel's own encoder does not write: CMYK (as print workflows save them) and grayscale decoded
/// to RGB.
struct JPEGSourceTests {
    /// A CMYK JPEG through TurboJPEG directly: every pixel C=0, M=255, Y=255, K=255 in libjpeg's inverted
    /// (Adobe) convention, which is pure red.
    private func cmykJPEG(width: Int, height: Int) throws -> [UInt8] {
        let handle = try #require(tjInitCompress())
        defer { tjDestroy(handle) }
        var pixels = [UInt8](repeating: 0, count: width * height * 4)
        for pixel in 0..<(width * height) {
            pixels[pixel * 4 + 0] = 255  // inverted C: no cyan
            pixels[pixel * 4 + 1] = 0    // inverted M: full magenta
            pixels[pixel * 4 + 2] = 0    // inverted Y: full yellow
            pixels[pixel * 4 + 3] = 255  // inverted K: no black
        }
        var buffer: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let status = tjCompress2(handle, pixels, Int32(width), Int32(width * 4), Int32(height), TJPF_CMYK.rawValue,
                                 &buffer, &size, Int32(TJSAMP_444.rawValue), 95, 0)
        defer { if let buffer { tjFree(buffer) } }
        try #require(status == 0)
        return Array(UnsafeBufferPointer(start: buffer!, count: Int(size)))
    }

    @Test func cmykJPEGDecodesToRGBAndGray() throws {
        let bytes = try cmykJPEG(width: 16, height: 8)
        let rgb = try ImageDecoder().decode(bytes, color: .rgb)
        #expect(rgb.width == 16 && rgb.height == 8 && rgb.channels == 3)
        #expect(abs(rgb[4, 4, 0] - 255) < 3 && rgb[4, 4, 1] < 3 && rgb[4, 4, 2] < 3)
        let gray = try ImageDecoder().decode(bytes, color: .gray)
        #expect(abs(gray[4, 4, 0] - 0.2989 * 255) < 3)
    }

    @Test func grayscaleJPEGDecodesToRGB() throws {
        let gray = testPicture(width: 24, height: 16, channels: 1)
        let rgb = try ImageDecoder().decode(try ImageEncoder.jpeg(gray, quality: 95), color: .rgb)
        #expect(rgb.channels == 3)
        #expect(rgb[3, 5, 0] == rgb[3, 5, 1] && rgb[3, 5, 1] == rgb[3, 5, 2])
        #expect(abs(rgb[3, 5, 0] - gray[3, 5, 0]) < 4)
    }
}
