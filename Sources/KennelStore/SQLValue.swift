import Foundation

/// One value crossing between Swift and either database engine: the four storage classes Kennel's schema uses.
public enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
}

/// A Swift type stored as one `SQLValue`: bound as an argument and read back from a column.
public protocol SQLValueConvertible: Sendable {
    var sqlValue: SQLValue { get }
    /// The value of `value`, or nil when it holds another type (an integer column is read as a `Double` too).
    static func from(_ value: SQLValue) -> Self?
}

extension Int64: SQLValueConvertible {
    public var sqlValue: SQLValue { .integer(self) }
    public static func from(_ value: SQLValue) -> Int64? {
        if case .integer(let integer) = value { return integer }
        return nil
    }
}

extension Int: SQLValueConvertible {
    public var sqlValue: SQLValue { .integer(Int64(self)) }
    public static func from(_ value: SQLValue) -> Int? { Int64.from(value).map(Int.init) }
}

extension Double: SQLValueConvertible {
    public var sqlValue: SQLValue { .real(self) }
    public static func from(_ value: SQLValue) -> Double? {
        switch value {
        case .real(let real): return real
        case .integer(let integer): return Double(integer)
        case .null, .text: return nil
        }
    }
}

extension String: SQLValueConvertible {
    public var sqlValue: SQLValue { .text(self) }
    public static func from(_ value: SQLValue) -> String? {
        if case .text(let text) = value { return text }
        return nil
    }
}

/// Times are stored as seconds since 1970, like TensorBoard's wall times.
extension Date: SQLValueConvertible {
    public var sqlValue: SQLValue { .real(timeIntervalSince1970) }
    public static func from(_ value: SQLValue) -> Date? { Double.from(value).map(Date.init(timeIntervalSince1970:)) }
}

extension Optional: SQLValueConvertible where Wrapped: SQLValueConvertible {
    public var sqlValue: SQLValue { self?.sqlValue ?? .null }
    /// NULL reads as nil; any other value must convert to `Wrapped`.
    public static func from(_ value: SQLValue) -> Wrapped?? {
        if value == .null { return .some(nil) }
        return Wrapped.from(value).map { .some($0) }
    }
}

extension SQLValueConvertible where Self: RawRepresentable, RawValue == String {
    public var sqlValue: SQLValue { .text(rawValue) }
    public static func from(_ value: SQLValue) -> Self? { String.from(value).flatMap(Self.init(rawValue:)) }
}

/// One result row: its columns by name, as the query spelled them.
public struct SQLRow: Sendable {
    private let columns: [String: SQLValue]

    public init(_ columns: [String: SQLValue]) { self.columns = columns }

    /// The column `name` as `T`; throws when the query has no such column or it holds another type.
    public func get<T: SQLValueConvertible>(_ name: String, as type: T.Type = T.self) throws -> T {
        guard let value = columns[name] else { throw StoreError.badRow("no column '\(name)' in the result") }
        guard let converted = T.from(value) else {
            throw StoreError.badRow("column '\(name)' holds \(value), not \(T.self)")
        }
        return converted
    }
}
