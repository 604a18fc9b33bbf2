import Foundation
import XCTest
@testable import VLSCore

/// The one JSON scanner behind the safetensors header, config.json and part files: what it
/// decodes, what it refuses, and each reader's words for it.
final class StrictJSONScannerTests: XCTestCase {
    func scan<T>(_ text: String, _ body: (inout StrictJSONScanner) throws -> T) throws -> T {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBytes { raw in
            var s = StrictJSONScanner(raw)
            return try body(&s)
        }
    }

    func problem(_ text: String, _ body: (inout StrictJSONScanner) throws -> Void) -> (StrictJSONScanner.Problem, Int)? {
        do {
            try scan(text, body)
            return nil
        } catch let f as StrictJSONScanner.Failure {
            return (f.problem, f.offset)
        } catch {
            XCTFail("\(error)")
            return nil
        }
    }

    func testStringLimitCountsPlainBytes() {
        // a long string without a single escape is measured too
        XCTAssertEqual(problem("\"" + String(repeating: "a", count: 11) + "\"") { _ = try $0.string(maxBytes: 10) }?.0, .stringTooLong)
        XCTAssertNil(problem("\"" + String(repeating: "a", count: 10) + "\"") { _ = try $0.string(maxBytes: 10) })
    }

    func testStringsAndNumbers() throws {
        XCTAssertEqual(try scan(#""a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#) { try $0.string() }, "a\"\\/\u{8}\u{c}\n\r\té😀")
        XCTAssertEqual(try scan("-12.5e+3,") { s in s.text(try s.number()) }, "-12.5e+3")
        XCTAssertEqual(try scan("0]") { s in s.text(try s.number()) }, "0")
        XCTAssertEqual(problem(#""\ud800x""#) { _ = try $0.string() }?.0, .unpairedSurrogate)
        XCTAssertEqual(problem(#""\udc00""#) { _ = try $0.string() }?.0, .unpairedSurrogate)
        XCTAssertEqual(problem("\"a\u{01}\"") { _ = try $0.string() }?.0, .controlCharacter)
        XCTAssertEqual(problem(#""\x""#) { _ = try $0.string() }?.0, .invalidEscape)
        XCTAssertEqual(problem(#""\u12"#) { _ = try $0.string() }?.0, .shortUnicodeEscape)
        XCTAssertEqual(problem(#""\u12g4""#) { _ = try $0.string() }?.0, .badUnicodeEscape)
        XCTAssertEqual(problem(#""abc"#) { _ = try $0.string() }?.0, .unterminatedString)
        XCTAssertEqual(problem(#""\n\n\n""#) { _ = try $0.string(maxBytes: 2) }?.0, .stringTooLong)
        let invalid: [UInt8] = [0x22, 0xC3, 0x28, 0x22]   // a broken two-byte sequence
        XCTAssertThrowsError(try invalid.withUnsafeBytes { raw in var s = StrictJSONScanner(raw); _ = try s.string() }) { e in
            XCTAssertEqual((e as? StrictJSONScanner.Failure)?.problem, .notUTF8)
        }
        XCTAssertEqual(problem("012") { _ = try $0.number() }.map { [$0.1] }, [3])
        XCTAssertEqual(problem("012") { _ = try $0.number() }?.0, .leadingZero)
        XCTAssertEqual(problem("-") { _ = try $0.number() }?.0, .numberDigits)
        XCTAssertEqual(problem("1.") { _ = try $0.number() }?.0, .fractionDigits)
        XCTAssertEqual(problem("1e+") { _ = try $0.number() }?.0, .exponentDigits)
    }

    /// Any depth without recursion; strict: duplicate keys and trailing commas named.
    func testSkipValue() throws {
        let deep = String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000)
        XCTAssertNil(problem(deep) { try $0.skipValue(strict: true) })
        XCTAssertEqual(problem(String(repeating: "[", count: 200_000)) { try $0.skipValue(strict: false) }?.0, .unexpectedEnd)
        XCTAssertNil(problem(#"{"a": {"b": 1}, "b": [true, false, null, "x"]}"#) { try $0.skipValue(strict: true) })
        XCTAssertEqual(problem(#"{"a": 1, "b": {"a": 2, "a": 3}}"#) { try $0.skipValue(strict: true) }?.0, .duplicateKey("a"))
        XCTAssertNil(problem(#"{"a": 1, "a": 2}"#) { try $0.skipValue(strict: false) })
        XCTAssertEqual(problem("[1, 2,]") { try $0.skipValue(strict: true) }?.0, .trailingComma)
        XCTAssertEqual(problem("[1, 2,]") { try $0.skipValue(strict: false) }?.0, .numberDigits)
        XCTAssertEqual(problem(#"{"a" 1}"#) { try $0.skipValue(strict: true) }?.0, .expectedColon)
        XCTAssertEqual(problem("[1 2]") { try $0.skipValue(strict: true) }?.0, .expectedCommaOrBracket)
        XCTAssertEqual(problem("[tru]") { try $0.skipValue(strict: true) }?.0, .invalidLiteral)
    }

    /// Each reader's words and places for the scanner's problems.
    func testReadersWordTheirProblems() throws {
        func header(_ text: String) -> String {
            let bytes = Array(text.utf8)
            return bytes.withUnsafeBytes { raw in
                var p = SafetensorsHeaderParser(raw, fail: { CoreError("h: \($0)") })
                do { _ = try p.parse { _, _ in }; return "ok" } catch { return "\(error)" }
            }
        }
        func config(_ text: String) -> String {
            do { try Checkpoint.checkStrictJSON(Data(text.utf8), path: "c"); return "ok" } catch { return "\(error)" }
        }
        func part(_ text: String) -> String {
            do { _ = try PartJSON.parse(Data(text.utf8)); return "ok" } catch let e as PartJSON.SyntaxError { return e.message } catch { return "\(error)" }
        }
        XCTAssertEqual(header(#"{"w": {"shape": [01]}}"#), "h: the header is not valid JSON (invalid number at byte 27)")
        XCTAssertEqual(header(#"{"w": {"x": ["#), "h: the header is not valid JSON (unexpected end of the header at byte 21)")
        XCTAssertEqual(header(#"{"w\ud800": {}}"#), "h: the header is not valid JSON (unpaired surrogate in a string at byte 18)")
        XCTAssertEqual(config(#"{"a": [1,]}"#), "c: the file is not valid JSON (a trailing comma at byte 9)")
        XCTAssertEqual(config(#"{"a": [1"#), "c: the file is not valid JSON (expected ',' or a closing bracket at byte 8)")
        XCTAssertEqual(config(#"{"a": "#), "c: the file is not valid JSON (unexpected end at byte 6)")
        XCTAssertTrue(config(#"{"k\u0001": 1, "k\u0001": 2}"#).hasPrefix("c: the key 'k\\u{1}' appears twice in one object (at byte 24)"))
        XCTAssertEqual(part("[01]"), "not JSON at line 1, column 4: a number with a leading zero")
        XCTAssertEqual(part("{\n\"a\\ud800\": 1}"), "not JSON at line 2, column 10: a lone surrogate in a string")
        XCTAssertEqual(part(#"{"a": "\u12"}"#), "not JSON at line 1, column 13: a bad \\u escape")
        XCTAssertEqual(part(#"{"a": 1e}"#), "not JSON at line 1, column 9: a number needs digits in its exponent")
        XCTAssertEqual(part("[" + String(repeating: "1", count: 401) + "]"), "not JSON at line 1, column 403: a number of more than 400 characters")
    }
}
