import Foundation
import KennelImage
import Testing
@testable import KennelData

struct PreprocessingTests {
    @Test func eachResizeModeNamesTheSizeItScalesTo() {
        // A 500×375 photo into the dogs-seed box (151 wide, 250 tall).
        #expect(ResizeMode.pad.scaledSize(ofWidth: 500, height: 375, toWidth: 151, height: 250) == (151, 114))
        #expect(ResizeMode.crop.scaledSize(ofWidth: 500, height: 375, toWidth: 151, height: 250) == (334, 250))
        #expect(ResizeMode.stretch.scaledSize(ofWidth: 500, height: 375, toWidth: 151, height: 250) == (151, 250))
    }

    @Test func aShrunkenJPEGDecodePreparesNearlyTheSameImageAsAFullOne() throws {
        // Smooth content, as photos mostly are: the half-size DCT decode and the full decode then resized agree.
        var photo = Image(width: 500, height: 375, channels: 1)
        for y in 0..<375 { for x in 0..<500 { photo[y, x, 0] = 128 + 100 * Float(sin(Double(x) / 23) * cos(Double(y) / 31)) } }
        let jpeg = try ImageEncoder.jpeg(photo, quality: 95)
        for mode in [ResizeMode.pad, .crop, .stretch] {
            let preprocessing = try Preprocessing(width: 151, height: 250, color: .gray, resize: mode)
            let shrunk = try preprocessing.prepare(jpeg, decoder: ImageDecoder())
            let full = preprocessing.prepare(try ImageDecoder().decode(jpeg, color: .gray))
            let meanDifference = zip(shrunk, full).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) } / full.count
            #expect(shrunk.count == full.count && meanDifference <= 2, "\(mode): mean difference \(meanDifference)")
        }
    }
}
