import Foundation
import XCTest
import VLSBuiltins
import VLSLanguage

/// Runs every `Cases/*.vls` program with the builtins installed, from the repository root,
/// and checks its printed lines against its `# expect: ...` comments (in order), its error
/// against every `# expect error: ...` line and its exit class against `# expect exit: N`
/// (65 syntax, 70 runtime, 0 none).
final class BuiltinCaseTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let cases = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Cases").path

    /// Runs a program; returns printed lines and the error message, if any.
    static func run(_ source: String, path: String, args: [String] = [], fastPaths: Bool = true) -> (lines: [String], error: String?, exit: Int) {
        let savedFast = FastPaths.enabled
        FastPaths.enabled = fastPaths
        defer { FastPaths.enabled = savedFast }
        let interp = Interpreter()
        var out = ""
        interp.output = { out += $0 }
        Builtins.install(into: interp, options: SessionOptions(threads: 1, seed: 0, scriptArgs: args))
        let saved = FileManager.default.currentDirectoryPath
        _ = FileManager.default.changeCurrentDirectoryPath(root)
        defer { _ = FileManager.default.changeCurrentDirectoryPath(saved) }
        var error: String?
        var exit = 0
        switch interp.run(source: source, path: path) {
        case .ok: break
        case .syntaxErrors(let ds): error = ds.map { interp.render($0) }.joined(separator: "\n"); exit = 65
        case .runtimeError(let d): error = interp.render(d); exit = 70
        }
        let lines = out.isEmpty ? [] : out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).dropLast(out.hasSuffix("\n") ? 1 : 0).map { $0 }
        return (lines, error, exit)
    }

    func testCases() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.cases).filter { $0.hasSuffix(".vls") }.sorted()
        XCTAssertFalse(files.isEmpty, "no cases found in \(Self.cases)")
        // Scripts/sanitize names the sanitizer; a case marked `# not under: address` (resident
        // memory checks: ASan's quarantine keeps freed memory resident) is skipped there.
        let sanitizer = ProcessInfo.processInfo.environment["VLS_SANITIZER"]
        for f in files {
            let path = Self.cases + "/" + f
            let source = try String(contentsOfFile: path, encoding: .utf8)
            if let sanitizer, source.contains("# not under: \(sanitizer)") {
                print("skipping \(f) under the \(sanitizer) sanitizer")
                continue
            }
            var expected: [String] = []
            var expectedErrors: [String] = []
            var expectedExit: Int?
            for line in source.split(separator: "\n", omittingEmptySubsequences: false) {
                if let r = line.range(of: "# expect: ") { expected.append(String(line[r.upperBound...])) }
                if let r = line.range(of: "# expect error: ") { expectedErrors.append(String(line[r.upperBound...])) }
                if let r = line.range(of: "# expect exit: ") {
                    guard let n = Int(line[r.upperBound...].trimmingCharacters(in: .whitespaces)) else {
                        XCTFail("\(f): bad '# expect exit:' line: \(line)")
                        continue
                    }
                    expectedExit = n
                }
            }
            let (lines, error, exit) = Self.run(source, path: path)
            // The same program with every compiler fast path off must behave the same.
            let plain = Self.run(source, path: path, fastPaths: false)
            XCTAssertEqual(plain.lines, lines, "\(f): printed lines differ without the fast paths")
            XCTAssertEqual(plain.error, error, "\(f): error differs without the fast paths")
            XCTAssertEqual(lines, expected, "\(f): printed lines differ")
            if !expectedErrors.isEmpty {
                XCTAssertNotNil(error, "\(f): expected error '\(expectedErrors[0])'")
                for e in expectedErrors {
                    if let error { XCTAssertTrue(error.contains(e), "\(f): error lacks '\(e)'; it was: \(error)") }
                }
            } else {
                XCTAssertNil(error, "\(f): unexpected error: \(error ?? "")")
            }
            if let expectedExit { XCTAssertEqual(exit, expectedExit, "\(f): exit class (65 syntax, 70 runtime, 0 none); error: \(error ?? "")") }
        }
    }
}
