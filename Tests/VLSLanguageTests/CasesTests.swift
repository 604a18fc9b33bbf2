import Foundation
import XCTest
@testable import VLSLanguage

/// Runs every program in Cases/<feature>/<case>.vls and checks its `# expect: line`
/// (printed lines, in order), `# expect error: substring` (rendered diagnostics) and
/// `# expect exit: 65|70` comments.
final class CasesTests: XCTestCase {
    static let casesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Cases")

    /// Runs a program on a fresh interpreter compiled with or without the fast paths:
    /// printed lines, rendered errors and the exit class (0, 65 or 70).
    static func run(_ source: String, path: String, fastPaths: Bool) -> (printed: [String], errors: String, exit: Int) {
        let saved = FastPaths.enabled
        FastPaths.enabled = fastPaths
        defer { FastPaths.enabled = saved }
        let interp = Interpreter()
        var out = ""
        interp.output = { out += $0 }
        let outcome = interp.run(source: source, path: path)
        var errors = ""
        var exit = 0
        switch outcome {
        case .ok: break
        case .syntaxErrors(let ds): errors = ds.map { interp.render($0) }.joined(); exit = 65
        case .runtimeError(let d): errors = interp.render(d); exit = 70
        }
        var printed = out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if printed.last == "" { printed.removeLast() }
        return (printed, errors, exit)
    }

    func testAllCases() throws {
        let files = try FileManager.default.subpathsOfDirectory(atPath: Self.casesDirectory.path)
            .filter { $0.hasSuffix(".vls") }.sorted()
        XCTAssertGreaterThan(files.count, 30, "language cases not found at \(Self.casesDirectory.path)")
        var checked = 0
        for rel in files {
            let path = Self.casesDirectory.appendingPathComponent(rel).path
            let source = try String(contentsOfFile: path, encoding: .utf8)
            let lines = source.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let expected = lines.compactMap { $0.hasPrefix("# expect: ") ? String($0.dropFirst(10)) : ($0 == "# expect:" ? "" : nil) }
            let expectedErrors = lines.compactMap { $0.hasPrefix("# expect error: ") ? String($0.dropFirst(16)) : nil }
            let expectedExit = lines.compactMap { $0.hasPrefix("# expect exit: ") ? Int($0.dropFirst(15)) : nil }.first
            if expected.isEmpty && expectedErrors.isEmpty { continue } // a helper module
            checked += 1

            // Every case runs twice: with the compiler's fast paths and without (the plain
            // path), and the two must print, fail and exit alike.
            let (printed, errors, exit) = Self.run(source, path: path, fastPaths: true)
            let plain = Self.run(source, path: path, fastPaths: false)
            XCTAssertEqual(plain.printed, printed, "\(rel): output differs without the fast paths")
            XCTAssertEqual(plain.errors, errors, "\(rel): errors differ without the fast paths")
            XCTAssertEqual(plain.exit, exit, "\(rel): exit differs without the fast paths")
            XCTAssertEqual(printed, expected, "\(rel): printed output differs")
            if expectedErrors.isEmpty {
                XCTAssertEqual(exit, 0, "\(rel): unexpected error:\n\(errors)")
            } else {
                XCTAssertNotEqual(exit, 0, "\(rel): expected an error")
                for e in expectedErrors {
                    XCTAssertTrue(errors.contains(e), "\(rel): error output lacks '\(e)':\n\(errors)")
                }
            }
            if let expectedExit { XCTAssertEqual(exit, expectedExit, "\(rel): exit class\n\(errors)") }
        }
        XCTAssertGreaterThan(checked, 30)
    }
}
