import Foundation
import KennelImage

/// Writes an image folder of two classes a tiny model learns at once: `n0-dark` and `n1-bright`, twelve 8×8 gray
/// PNGs each, varied by a small pattern. Returns the folder (`root/images`).
@discardableResult
public func writeToneImages(under root: String) throws -> String {
    let images = root + "/images"
    for (classIndex, name) in ["n0-dark", "n1-bright"].enumerated() {
        let folder = images + "/" + name
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for index in 0..<12 {
            let level = Float(classIndex == 0 ? 40 : 210)
            let image = Image(width: 8, height: 8, channels: 1,
                              pixels: (0..<64).map { level + Float(($0 * 7 + index * 13) % 30) })
            try Data(try ImageEncoder.png(image)).write(to: URL(fileURLWithPath: "\(folder)/\(index).png"))
        }
    }
    return images
}
