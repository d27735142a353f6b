import Testing
@testable import KennelImage

struct ImageFormatTests {
    @Test func recognisesSignaturesFromBytes() {
        #expect(ImageFormat.sniff([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0]) == .png)
        #expect(ImageFormat.sniff([0xFF, 0xD8, 0xFF, 0xE0, 0x00]) == .jpeg)
    }

    @Test func refusesOtherBytesAndTruncatedSignatures() {
        #expect(ImageFormat.sniff(Array("GIF89a".utf8)) == nil)
        #expect(ImageFormat.sniff([0x89, 0x50, 0x4E]) == nil)
        #expect(ImageFormat.sniff([UInt8]()) == nil)
        #expect(ImageFormat.sniff(Array("<html>".utf8)) == nil)
    }

    @Test func namesMimeTypes() {
        #expect(ImageFormat.jpeg.mimeType == "image/jpeg")
        #expect(ImageFormat.png.mimeType == "image/png")
    }
}
