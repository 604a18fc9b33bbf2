import Foundation
import XCTest

/// Scripts/reproduce-paper.vls runs every analysis on a fixture model and a tiny
/// ImageNet-layout folder, writing its tables.
final class ReproducePaperTests: XCTestCase {
    func testRunsOnFixtureFolder() throws {
        let out = NSTemporaryDirectory() + "vls-paper-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let source = try String(contentsOfFile: BuiltinCaseTests.root + "/Scripts/reproduce-paper.vls", encoding: .utf8)
        let (lines, error, _) = BuiltinCaseTests.run(source, path: "reproduce-paper.vls",
                                                  args: ["Tests/Fixtures/models/standard", "Tests/Fixtures/folder", out, "Tests/Fixtures/folder"])
        XCTAssertNil(error, error ?? "")
        XCTAssertTrue(lines.contains { $0.contains("6 images") }, "the folder's 6 images are analysed")
        let files = try FileManager.default.contentsOfDirectory(atPath: out)
        for f in ["metrics-correct.json", "metrics-paper.csv", "vs-random.csv", "memories.csv", "memories-paper.csv", "perturbation-lens-negative.csv", "probes.csv"] {
            XCTAssertTrue(files.contains(f), "\(f) written")
        }
        let csv = try String(contentsOfFile: out + "/metrics-correct.csv", encoding: .utf8)
        XCTAssertEqual(csv.split(separator: "\n").count, 4, "header + 3 blocks")
    }

    func testFolderWhoseClassesAreNotTheModelsIsAnError() throws {
        let dir = NSTemporaryDirectory() + "vls-folder-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/zebra", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: BuiltinCaseTests.root + "/Tests/Fixtures/folder/class_0/img0.png", toPath: dir + "/zebra/a.png")
        let (_, error, _) = BuiltinCaseTests.run("""
            m = load("Tests/Fixtures/models/standard")
            for x, y in dataset("\(dir)").batches(2, model: m):
                print(y)
            """, path: "folder.vls")
        XCTAssertTrue(error?.contains("classes 'zebra' are not classes of the model") ?? false, error ?? "no error")
    }
}
