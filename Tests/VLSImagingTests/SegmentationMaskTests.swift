import Foundation
import XCTest
@testable import VLSImaging

/// Masks against PIL `resize(NEAREST)`, and image folders.
final class SegmentationMaskTests: XCTestCase {
    /// Patch-grid ids equal G * 256 + R of PIL's NEAREST resize of the mask.
    func testPatchGridMatchesPillowNearest() throws {
        guard let cases = Fixtures.reference["masks"] as? [[String: Any]] else {
            return XCTFail("reference.json missing 'masks'")
        }
        let mask = try SegmentationMask(contentsOf: Fixtures.path("mask.png"))
        XCTAssertEqual(mask.classIDs, [3, 7, 300, 511, 1000])
        for entry in cases {
            guard let rows = entry["rows"] as? Int, let cols = entry["cols"] as? Int,
                  let ids = entry["ids"] as? [Int] else { XCTFail("bad mask entry"); continue }
            XCTAssertEqual(try mask.patchGrid(rows: rows, cols: cols).map(Int.init), ids, "\(rows)x\(cols)")
        }
        XCTAssertEqual(Image.nearestIndices(inSize: 224, outSize: 14).prefix(3), [8, 24, 40])
        XCTAssertThrowsError(try mask.patchGrid(rows: 0, cols: 3))
    }

    /// ImageNet layout and labels.csv folders list sorted classes and files.
    func testImageFolderListing() throws {
        let root = NSTemporaryDirectory() + "vls-folder-\(getpid())"
        let fm = FileManager.default
        try? fm.removeItem(atPath: root)
        defer { try? fm.removeItem(atPath: root) }
        let png = try XCTUnwrap(fm.contents(atPath: Fixtures.path("small.png")))
        for (cls, files) in [("n02", ["b.png", "a.PNG", "notes.txt"]), ("n01", ["z.jpg"])] {
            try fm.createDirectory(atPath: root + "/" + cls, withIntermediateDirectories: true)
            for f in files { _ = fm.createFile(atPath: root + "/" + cls + "/" + f, contents: png) }
        }
        let folder = try ImageFolder(path: root)
        XCTAssertEqual(folder.classes, ["n01", "n02"])
        XCTAssertEqual(folder.entries.map { ($0.path as NSString).lastPathComponent }, ["z.jpg", "a.PNG", "b.png"])
        XCTAssertEqual(folder.entries.map(\.label), [0, 1, 1])
        XCTAssertEqual(try folder.image(at: 1).width, 13)
        XCTAssertNoThrow(try folder.image(at: 0))  // PNG bytes named .jpg: detected by magic bytes
        _ = fm.createFile(atPath: root + "/labels.csv", contents: Data("path,label\nn02/b.png,10\n\"n01/z.jpg\",2\n".utf8))
        let csv = try ImageFolder(path: root)
        XCTAssertEqual(csv.classes, ["2", "10"])
        XCTAssertEqual(csv.entries.map(\.label), [1, 0])
        XCTAssertThrowsError(try ImageFolder(path: root + "/missing"))
    }
}
