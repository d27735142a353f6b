import CPNG
import Foundation
import KennelTestSupport
import Testing
@testable import KennelImage

/// A deterministic test picture: smooth gradients with a little structure, so JPEG compresses it faithfully.
func testPicture(width: Int, height: Int, channels: Int) -> Image {
    var image = Image(width: width, height: height, channels: channels)
    for y in 0..<height {
        for x in 0..<width {
            for c in 0..<channels {
                image[y, x, c] = Float((x * 255 / max(1, width - 1) + y * 3 + c * 60) % 256)
            }
        }
    }
    return image
}

struct CodecTests {
    let decoder = ImageDecoder()

    @Test(arguments: [1, 3])
    func pngRoundTripIsExact(channels: Int) throws {
        let image = testPicture(width: 37, height: 23, channels: channels)
        let bytes = try ImageEncoder.png(image)
        #expect(ImageFormat.sniff(bytes) == .png)
        let decoded = try decoder.decode(bytes, color: channels == 1 ? .gray : .rgb)
        #expect(decoded == image)
    }

    @Test(arguments: [(1, false), (3, false), (3, true)])
    func jpegRoundTripIsClose(channels: Int, progressive: Bool) throws {
        let image = testPicture(width: 64, height: 48, channels: channels)
        let bytes = try ImageEncoder.jpeg(image, quality: 95, progressive: progressive)
        #expect(ImageFormat.sniff(bytes) == .jpeg)
        let decoded = try decoder.decode(bytes, color: channels == 1 ? .gray : .rgb)
        #expect(decoded.width == 64 && decoded.height == 48 && decoded.channels == channels)
        let meanError = zip(decoded.pixels, image.pixels).reduce(Float(0)) { $0 + abs($1.0 - $1.1) } / Float(image.pixels.count)
        #expect(meanError < 3, "mean absolute error \(meanError)")
    }

    @Test func colorJPEGDecodesToGrayAndGrayPNGToRGB() throws {
        let color = testPicture(width: 40, height: 30, channels: 3)
        let gray = try decoder.decode(try ImageEncoder.jpeg(color, quality: 95), color: .gray)
        #expect(gray.channels == 1)
        let expected = color.grayscale()
        let meanError = zip(gray.pixels, expected.pixels).reduce(Float(0)) { $0 + abs($1.0 - $1.1) } / Float(gray.pixels.count)
        #expect(meanError < 3)
        let rgb = try decoder.decode(try ImageEncoder.png(expected), color: .rgb)
        #expect(rgb.channels == 3)
        #expect(rgb[5, 7, 0] == rgb[5, 7, 2])
    }

    @Test func dctScalingDecodesBigPhotosNearTheTarget() throws {
        let photo = testPicture(width: 800, height: 600, channels: 3)
        let bytes = try ImageEncoder.jpeg(photo, quality: 90)
        let scaled = try decoder.decode(bytes, color: .gray, atLeast: (width: 151, height: 125))
        // 1/4 scale (200×150) is the smallest libjpeg-turbo scale that still covers 151×125.
        #expect(scaled.width == 200 && scaled.height == 150)
        let full = try decoder.decode(bytes, color: .gray)
        #expect(full.width == 800 && full.height == 600)
        #expect(try decoder.inspect(bytes) == ImageHeader(format: .jpeg, width: 800, height: 600, interlaced: false))
    }

    /// PNGs in the layouts the simplified writer can make: gray+alpha, RGBA, 16-bit gray, palette.
    @Test func pngVariantsDecode() throws {
        func write(format: UInt32, bytesPerSample: Int, samples: Int, colormap: [UInt8]? = nil,
                   colormapEntries: UInt32 = 0) throws -> [UInt8] {
            var image = png_image()
            image.version = UInt32(PNG_IMAGE_VERSION)
            image.width = 8
            image.height = 4
            image.format = format
            image.colormap_entries = colormapEntries
            defer { png_image_free(&image) }
            let pixels = [UInt8]((0..<(8 * 4 * samples * bytesPerSample)).map { UInt8(($0 * 37) % 256) })
            var size = 0
            let map = colormap ?? []
            func run(_ target: UnsafeMutableRawPointer?) -> Int32 {
                pixels.withUnsafeBytes { source in
                    map.withUnsafeBytes { entries in
                        png_image_write_to_memory(&image, target, &size, 0, source.baseAddress, 0,
                                                  map.isEmpty ? nil : entries.baseAddress)
                    }
                }
            }
            guard run(nil) != 0 else { throw ImageError.unsupported("fixture") }
            var output = [UInt8](repeating: 0, count: size)
            guard output.withUnsafeMutableBytes({ run($0.baseAddress) }) != 0 else {
                throw ImageError.unsupported("fixture")
            }
            return Array(output.prefix(size))
        }
        // PNG_FORMAT_FLAG_*: alpha 1, color 2, linear (16-bit) 4, colormap 8 (the composite macros do not import).
        let grayAlpha = try write(format: 1, bytesPerSample: 1, samples: 2)
        let rgba = try write(format: 2 | 1, bytesPerSample: 1, samples: 4)
        let sixteenBit = try write(format: 4, bytesPerSample: 2, samples: 1)
        let palette = try write(format: 2 | 8, bytesPerSample: 1, samples: 1,
                                colormap: (0..<(256 * 3)).map { UInt8($0 % 256) }, colormapEntries: 256)
        for bytes in [grayAlpha, rgba, sixteenBit, palette] {
            for color in [ColorMode.gray, .rgb] {
                let image = try decoder.decode(bytes, color: color)
                #expect(image.width == 8 && image.height == 4 && image.channels == color.channels)
            }
        }
    }
}

/// Bad input: every failure is a typed `ImageError`, never a crash.
struct BadImageTests {
    let decoder = ImageDecoder()

    /// The error decoding `bytes` gives, whole or straight into a box; both ways must fail alike.
    private func failure(_ bytes: [UInt8]) -> ImageError? {
        func error(_ decode: () throws -> Image) -> ImageError? {
            do {
                _ = try decode()
                return nil
            } catch let error as ImageError {
                return error
            } catch {
                Issue.record("unexpected \(error)")
                return nil
            }
        }
        let whole = error { try decoder.decode(bytes, color: .rgb) }
        let boxed = error { try decoder.decode(bytes, color: .rgb, into: 8, 8, mode: .pad) }
        #expect(whole == boxed, "\(bytes.count) bytes")
        return whole
    }

    @Test func emptyAndTextAreNotImages() {
        guard case .notAnImage = failure([]) else { Issue.record("empty accepted"); return }
        guard case .notAnImage = failure(Array("this is a text file named dog.jpg\n".utf8)) else {
            Issue.record("text accepted"); return
        }
    }

    @Test func truncatedFilesAreTruncated() throws {
        let picture = testPicture(width: 64, height: 64, channels: 3)
        let jpeg = try ImageEncoder.jpeg(picture)
        let png = try ImageEncoder.png(picture)
        for bytes in [Array(jpeg.prefix(jpeg.count / 2)), Array(png.prefix(png.count / 2)), Array(jpeg.prefix(200)),
                      Array(png.prefix(40))] {
            guard let error = failure(bytes) else { Issue.record("truncated image decoded"); continue }
            guard case .truncated = error else { Issue.record("expected truncated, got \(error) for \(bytes.count) bytes"); continue }
        }
    }

    @Test func hugeHeadersAreRefusedBeforeDecoding() throws {
        let png = try ImageEncoder.png(testPicture(width: 4, height: 4, channels: 1))
        #expect(failure(PNGFixture.withHeader(png, width: 100_000, height: 100_000))
                == .tooLarge(width: 100_000, height: 100_000, limit: 40_000_000))
        let jpeg = try ImageEncoder.jpeg(testPicture(width: 16, height: 16, channels: 3))
        #expect(failure(JPEGFixture.withFrameSize(jpeg, width: 60_000, height: 60_000))
                == .tooLarge(width: 60_000, height: 60_000, limit: 40_000_000))
        let strict = ImageDecoder(maximumPixels: 100)
        #expect(throws: ImageError.tooLarge(width: 16, height: 16, limit: 100)) { try strict.decode(jpeg, color: .gray) }
    }

    @Test func zeroDimensionsAreNotImages() throws {
        let png = try ImageEncoder.png(testPicture(width: 4, height: 4, channels: 1))
        guard case .notAnImage = failure(PNGFixture.withHeader(png, width: 0, height: 4)) else {
            Issue.record("zero-width PNG accepted"); return
        }
        let jpeg = try ImageEncoder.jpeg(testPicture(width: 16, height: 16, channels: 3))
        #expect(failure(JPEGFixture.withFrameSize(jpeg, width: 0, height: 16)) != nil)
    }

    @Test func randomBytesNeverCrash() {
        var random = SystemRandomNumberGenerator()
        for round in 0..<300 {
            var bytes = (0..<Int.random(in: 0...2048, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            // A third start like a JPEG, a third like a PNG, so the decoders themselves see garbage.
            if round % 3 == 0 { bytes = [0xFF, 0xD8, 0xFF, 0xE0] + bytes }
            if round % 3 == 1 { bytes = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + bytes }
            #expect(failure(bytes) != nil)
        }
    }
}

/// Edits a PNG's IHDR dimensions (and its CRC, so libpng reads on to the dimension check).
enum PNGFixture {
    static func withHeader(_ png: [UInt8], width: UInt32, height: UInt32) -> [UInt8] {
        var bytes = png
        // Signature (8) + length (4) + "IHDR" (4): width and height follow, CRC after the 13 data bytes.
        for (offset, value) in [(16, width), (20, height)] {
            for i in 0..<4 { bytes[offset + i] = UInt8((value >> (24 - 8 * UInt32(i))) & 0xFF) }
        }
        let crc = crc32(Array(bytes[12..<29]))
        for i in 0..<4 { bytes[29 + i] = UInt8((crc >> (24 - 8 * UInt32(i))) & 0xFF) }
        return bytes
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}

/// Edits a JPEG's start-of-frame dimensions.
enum JPEGFixture {
    static func withFrameSize(_ jpeg: [UInt8], width: UInt16, height: UInt16) -> [UInt8] {
        var bytes = jpeg
        for index in 0..<(bytes.count - 9) where bytes[index] == 0xFF && (0xC0...0xC2).contains(bytes[index + 1]) {
            // FF Cx, length (2), precision (1), height (2), width (2)
            bytes[index + 5] = UInt8(height >> 8)
            bytes[index + 6] = UInt8(height & 0xFF)
            bytes[index + 7] = UInt8(width >> 8)
            bytes[index + 8] = UInt8(width & 0xFF)
            break
        }
        return bytes
    }
}
