/// The image encodings Kennel decodes, recognised from their leading bytes, never from a file name or a
/// Content-Type header.
public enum ImageFormat: String, Sendable, CaseIterable {
    case jpeg
    case png

    /// The MIME type of the encoding.
    public var mimeType: String {
        switch self {
        case .jpeg: return "image/jpeg"
        case .png: return "image/png"
        }
    }

    private static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// The format whose signature `bytes` start with, or nil when it is neither JPEG (SOI marker FF D8 FF)
    /// nor PNG (the 8-byte PNG signature).
    public static func sniff(_ bytes: some Collection<UInt8>) -> ImageFormat? {
        if bytes.starts(with: pngSignature) { return .png }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        return nil
    }
}
