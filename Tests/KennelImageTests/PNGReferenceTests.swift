import Foundation
import KennelTestSupport
import Testing
@testable import KennelImage

/// PNG decoding against TensorFlow's decode_png on the committed fixtures (tools/make_png_vectors.py).
/// 16-bit PNGs without gamma were once decoded as linear light (up to 73 levels too bright), colour PNGs for
/// gray models used libpng's weights (pure red 126 instead of 76), and alpha was composited onto white.
struct PNGReferenceTests {
    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        let file: String
        let width, height: Int
        let rgb: [UInt8]
        let gray: [Float]
        var testDescription: String { file }
    }

    static let cases: [Case] = {
        let url = repositoryRoot.appendingPathComponent("Tests/Fixtures/png_reference.json")
        struct File: Decodable { let cases: [Case] }
        return (try? JSONDecoder().decode(File.self, from: Data(contentsOf: url)).cases) ?? []
    }()

    @Test func theFixturesAreThere() {
        #expect(Self.cases.count == 7)
    }

    @Test(arguments: cases)
    func decodesAsTensorFlowDoes(reference: Case) throws {
        let bytes = [UInt8](try Data(contentsOf: repositoryRoot.appendingPathComponent("Tests/Fixtures/" + reference.file)))
        let decoder = ImageDecoder()
        let rgb = try decoder.decode(bytes, color: .rgb)
        #expect(rgb.width == reference.width && rgb.height == reference.height)
        #expect(rgb.bytes == reference.rgb, "RGB samples differ from tf.io.decode_png(channels=3)")
        let gray = try decoder.decode(bytes, color: .gray)
        // TensorFlow's weights sum to 0.9999; a gray source is taken as it is, so allow that 0.0255.
        #expect(assertClose(gray.pixels, reference.gray, tolerance: 0.03 / 255, "\(reference.file) gray") == nil)
        #expect(gray.bytes == reference.gray.map { UInt8(($0 + 0.5).rounded(.down)) })
    }
}
