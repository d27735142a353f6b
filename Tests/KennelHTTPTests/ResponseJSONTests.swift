import Foundation
import Testing
@testable import KennelHTTP

/// The JSON Kennel writes without JSONEncoder (numbers of a batch's answer) must read back as what was meant.
struct ResponseJSONTests {
    private func parsed(_ bytes: [UInt8]) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
    }

    @Test func numbersReadBackAsTheSameFloats() throws {
        var values: [Float] = [0, 1, -1, 0.1, 1e-7, 3.4028235e38, .leastNonzeroMagnitude, 0.99999994, 123456.79]
        values += (0..<500).map { _ in Float.random(in: 0..<1) }
        let flat = try #require(try parsed(Response.jsonArray(of: values)) as? [NSNumber])
        #expect(flat.map(\.floatValue) == values)
        let rows = try #require(try parsed(Response.jsonArray(of: Array(values.prefix(6)), rowLength: 3)) as? [[NSNumber]])
        #expect(rows.map { $0.map(\.floatValue) } == [Array(values[0..<3]), Array(values[3..<6])])
        #expect(String(decoding: try Response.jsonArray(of: []), as: UTF8.self) == "[]")
        #expect(String(decoding: try Response.jsonArray(of: [], rowLength: 3), as: UTF8.self) == "[]")
        #expect(String(decoding: try Response.jsonArray(of: [0.5, 2], rowLength: 1), as: UTF8.self) == "[[0.5],[2.0]]")
    }

    @Test func aNumberJSONCannotCarryIsAnEncodingError() {
        for value in [Float.nan, .infinity, -.infinity] {
            #expect(throws: EncodingError.self) { try Response.jsonArray(of: [1, value]) }
        }
    }

    @Test func anObjectKeepsItsMembersInOrderAroundTextAlreadyEncoded() throws {
        let object = Response.jsonObject([("model", try Response.jsonBytes("a \"quoted\" name")),
                                          ("data", try Response.jsonArray(of: [0.25])), ("none", Array("null".utf8))])
        #expect(String(decoding: object, as: UTF8.self) == #"{"model":"a \"quoted\" name","data":[0.25],"none":null}"#)
        #expect(String(decoding: Response.jsonObject([]), as: UTF8.self) == "{}")
    }
}
