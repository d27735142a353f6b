import Foundation

/// The statements one read or write transaction runs, whatever the engine. SQL is written once, in the dialect
/// both engines share: `?` placeholders, `RETURNING`, `ON CONFLICT … DO UPDATE`, `IS NOT DISTINCT FROM`.
public protocol SQLSession {
    /// Runs a statement; returns how many rows it changed.
    @discardableResult
    func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int
    /// Runs a query; returns every row.
    func fetch(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow]
    /// Sends `payload` on `channel` to the other processes listening (`DatabaseEngine.listen`) when the
    /// transaction commits; nothing when it rolls back, or when no other process shares the database.
    func notify(_ channel: String, _ payload: String) throws
}

extension SQLSession {
    @discardableResult
    public func execute(_ sql: String, _ arguments: any SQLValueConvertible...) throws -> Int {
        try execute(sql, arguments.map(\.sqlValue))
    }

    public func fetch(_ sql: String, _ arguments: any SQLValueConvertible...) throws -> [SQLRow] {
        try fetch(sql, arguments.map(\.sqlValue))
    }

    /// The column `value` of the first row as `T`, or nil when there is no row or the value is NULL.
    public func scalar<T: SQLValueConvertible>(_ type: T.Type, _ sql: String, _ arguments: [SQLValue]) throws -> T? {
        guard let row = try fetch(sql, arguments).first else { return nil }
        return try row.get("value", as: T?.self)
    }

    public func scalar<T: SQLValueConvertible>(_ type: T.Type, _ sql: String, _ arguments: any SQLValueConvertible...)
        throws -> T? {
        try scalar(type, sql, arguments.map(\.sqlValue))
    }

    /// The column `value` of every row as `T` (NULLs skipped).
    public func values<T: SQLValueConvertible>(_ type: T.Type, _ sql: String, _ arguments: any SQLValueConvertible...)
        throws -> [T] {
        try fetch(sql, arguments.map(\.sqlValue)).compactMap { try $0.get("value", as: T?.self) }
    }

    /// The records `SELECT <columns> FROM <table> <clause>` returns (`clause`: WHERE, ORDER BY, LIMIT as needed).
    public func records<R: StoredRecord>(_ type: R.Type, _ clause: String = "", _ arguments: [SQLValue] = []) throws
        -> [R] {
        try fetch("SELECT \(R.columns.joined(separator: ", ")) FROM \(R.table) \(clause)", arguments).map(R.init(row:))
    }

    public func records<R: StoredRecord>(_ type: R.Type, _ clause: String, _ arguments: any SQLValueConvertible...)
        throws -> [R] {
        try records(type, clause, arguments.map(\.sqlValue))
    }

    /// The first record `clause` selects, or nil.
    public func record<R: StoredRecord>(_ type: R.Type, _ clause: String, _ arguments: any SQLValueConvertible...)
        throws -> R? {
        try records(type, clause + " LIMIT 1", arguments.map(\.sqlValue)).first
    }

    /// Inserts `record`; when `R` has a generated key, returns it. With `updatingOnConflict` (a unique key's
    /// columns), a row with the same key is updated in place instead.
    @discardableResult
    public func insert<R: StoredRecord>(_ record: R, updatingOnConflict key: [String] = []) throws -> Int64? {
        let written = zip(R.columns, record.values).filter { $0.0 != R.generatedKey }
        let columns = written.map(\.0), values = written.map(\.1)
        var sql = "INSERT INTO \(R.table) (\(columns.joined(separator: ", "))) VALUES (\(SQL.placeholders(columns.count)))"
        if !key.isEmpty {
            let updates = columns.filter { !key.contains($0) }.map { "\($0) = excluded.\($0)" }
            sql += " ON CONFLICT (\(key.joined(separator: ", "))) DO UPDATE SET \(updates.joined(separator: ", "))"
        }
        guard let generated = R.generatedKey else {
            try execute(sql, values)
            return nil
        }
        let rows = try fetch(sql + " RETURNING \(generated) AS value", values)
        return try rows.first?.get("value", as: Int64.self)
    }
}

/// A table's row type: its columns in order, read from a row and written as values.
public protocol StoredRecord: Sendable {
    static var table: String { get }
    /// Every column, as the migrations spell them.
    static var columns: [String] { get }
    /// The column the database fills on insert (`id`), if any.
    static var generatedKey: String? { get }
    init(row: SQLRow) throws
    /// The record's values in `columns` order (the generated key's may be NULL before insertion).
    var values: [SQLValue] { get }
}

extension StoredRecord {
    public static var generatedKey: String? { nil }
}

/// Helpers for writing SQL both engines read.
public enum SQL {
    /// `?, ?, ?` for `count` arguments.
    public static func placeholders(_ count: Int) -> String {
        Array(repeating: "?", count: count).joined(separator: ", ")
    }

    /// `column IN (?, ?)` for `values`; a condition that is false for an empty list (`IN ()` is not SQL).
    public static func `in`(_ column: String, _ count: Int) -> String {
        count == 0 ? "1 = 0" : "\(column) IN (\(placeholders(count)))"
    }
}
