import Foundation

/// One part of a `multipart/form-data` body (RFC 7578), such as a file sent with `curl -F image=@dog.jpg`,
/// as libmicrohttpd's post processor delivered it.
public struct FormPart: Sendable, Equatable {
    /// The form field's name.
    public let name: String?
    public let filename: String?
    public let contentType: String?
    public var body: Data

    public init(name: String?, filename: String?, contentType: String?, body: Data = Data()) {
        self.name = name
        self.filename = filename
        self.contentType = contentType
        self.body = body
    }
}
