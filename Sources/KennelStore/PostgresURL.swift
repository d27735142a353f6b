import Foundation

/// Where a PostgreSQL server is and how to log in: `postgres://user[:password]@host[:port]/database`, with an
/// optional `?sslmode=disable|require` (default: disable, for a server on a private network or loopback).
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var requireTLS: Bool

    /// Parses `text`; throws `StoreError.badDatabaseURL` saying what is wrong.
    public init(_ text: String) throws {
        guard let components = URLComponents(string: text), let scheme = components.scheme,
              ["postgres", "postgresql"].contains(scheme) else {
            throw StoreError.badDatabaseURL("'\(Self.redacting(text))' is not a postgres:// URL")
        }
        guard let user = components.user, !user.isEmpty else {
            throw StoreError.badDatabaseURL("the URL names no user")
        }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw StoreError.badDatabaseURL("the URL names no database (…/DATABASE at its end)")
        }
        let sslmode = components.queryItems?.first { $0.name == "sslmode" }?.value ?? "disable"
        guard ["disable", "require"].contains(sslmode) else {
            throw StoreError.badDatabaseURL("sslmode must be disable or require, not '\(sslmode)'")
        }
        host = components.host.flatMap { $0.isEmpty ? nil : $0 } ?? "localhost"
        port = components.port ?? 5432
        self.user = user
        password = components.password?.removingPercentEncoding
        self.database = database
        requireTLS = sslmode == "require"
    }

    /// The URL without its password, for logs and messages.
    public var description: String {
        "postgres://\(user)@\(host):\(port)/\(database)" + (requireTLS ? "?sslmode=require" : "")
    }

    /// The URL with its password, to hand to another Kennel process (`--database`).
    public var connectionString: String {
        let secret = password.flatMap { $0.addingPercentEncoding(withAllowedCharacters: .urlPasswordAllowed) }
        return "postgres://\(user)\(secret.map { ":" + $0 } ?? "")@\(host):\(port)/\(database)"
            + (requireTLS ? "?sslmode=require" : "")
    }

    private static func redacting(_ text: String) -> String {
        text.replacingOccurrences(of: #":[^:@/]*@"#, with: ":***@", options: .regularExpression)
    }
}
