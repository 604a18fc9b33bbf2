import Foundation
import XCTest
@testable import VLSBuiltins

/// The Stdlib embedded in the binary equals Stdlib/*.vls (run Scripts/embed-stdlib after an edit),
/// and every module parses and imports.
final class StdlibTests: XCTestCase {
    func testEmbeddedCopyIsCurrent() throws {
        let dir = BuiltinCaseTests.root + "/Stdlib"
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".vls") }.sorted()
        XCTAssertFalse(files.isEmpty)
        XCTAssertEqual(Set(EmbeddedStdlib.modules.keys), Set(files.map { String($0.dropLast(4)) }), "Stdlib modules differ: run Scripts/embed-stdlib")
        for f in files {
            let source = try String(contentsOfFile: dir + "/" + f, encoding: .utf8)
            let name = String(f.dropLast(4))
            XCTAssertEqual(EmbeddedStdlib.modules[name].map { $0 + "\n" }, source.hasSuffix("\n") ? source : source + "\n",
                           "Stdlib/\(f) changed since it was embedded: run Scripts/embed-stdlib")
            let (_, error) = BuiltinCaseTests.run("import \(name)\n", path: "import-\(name).vls")
            XCTAssertNil(error, "import \(name): \(error ?? "")")
        }
    }
}
