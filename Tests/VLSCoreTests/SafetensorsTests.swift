import Foundation
import XCTest
@testable import VLSCore

/// Every malformed checkpoint gives one clear error naming the file (and key); none crashes.
final class SafetensorsTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = Fixtures.temporaryDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// A safetensors file from a raw header string and data bytes.
    func file(_ name: String, header: String, data: [UInt8] = [], lengthOverride: UInt64? = nil) -> String {
        var bytes = [UInt8]()
        let h = Array(header.utf8)
        var n = lengthOverride ?? UInt64(h.count)
        withUnsafeBytes(of: &n) { bytes += $0 }
        bytes += h + data
        let path = dir + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    func expectError(_ path: String, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try SafetensorsFile(path: path)
            XCTFail("no error for \(path)", file: file, line: line)
        } catch {
            let message = "\(error)"
            XCTAssertTrue(message.contains(path), "error should name the file: \(message)", file: file, line: line)
            for f in fragments { XCTAssertTrue(message.contains(f), "'\(f)' missing in: \(message)", file: file, line: line) }
        }
    }

    let eight = [UInt8](repeating: 0, count: 8)

    func testValidFileRoundTrips() throws {
        let t = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        let path = dir + "/ok.safetensors"
        try SafetensorsWriter.write([("w", t)], metadata: ["format": "pt"], to: path)
        let f = try SafetensorsFile(path: path)
        XCTAssertEqual(try f.tensor("w").scalars, [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try f.tensor("w").shape, [2, 3])
        XCTAssertEqual(f.metadata["format"], "pt")
    }

    func testHalfPrecisionIsConverted() throws {
        // 1.0 and -2.0 in F16 (0x3C00, 0xC000) and BF16 (0x3F80, 0xC000)
        let p = file("half.safetensors", header: #"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]}}"#,
                     data: [0x00, 0x3C, 0x00, 0xC0, 0x80, 0x3F, 0x00, 0xC0])
        let f = try SafetensorsFile(path: p)
        XCTAssertEqual(try f.tensor("a").scalars, [1, -2])
        XCTAssertEqual(try f.tensor("b").scalars, [1, -2])
    }


    func testTruncatedFile() {
        let path = dir + "/trunc.safetensors"
        FileManager.default.createFile(atPath: path, contents: Data([1, 2, 3]))
        expectError(path, ["shorter than the 8-byte header length"])
    }

    func testZeroByteFile() {
        let path = dir + "/zero.safetensors"
        FileManager.default.createFile(atPath: path, contents: Data())
        expectError(path, ["empty"])
    }

    func testHeaderLengthPastEnd() {
        expectError(file("long.safetensors", header: "{}", lengthOverride: 4096), ["runs past the end"])
    }

    func testInvalidJSON() {
        expectError(file("json.safetensors", header: "{not json"), ["not valid JSON"])
    }

    func testUnknownDtype() {
        expectError(file("dtype.safetensors", header: #"{"w":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}}"#, data: [0]),
                    ["unknown dtype 'F8'", "'w'"])
    }

    func testOffsetsOutsideData() {
        expectError(file("offs.safetensors", header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0]),
                    ["outside the data section", "'w'"])
    }

    func testOverlappingTensors() {
        expectError(file("overlap.safetensors", header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: eight),
                    ["overlap"])
    }

    func testShapeMismatch() {
        expectError(file("shape.safetensors", header: #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: eight),
                    ["'w'", "holds 8 bytes"])
    }

    func testPickleIsRefused() {
        let path = dir + "/model.pth"
        FileManager.default.createFile(atPath: path, contents: Data([0x80, 0x02, 0x7d, 0x71]))
        expectError(path, ["pickle", "convert-checkpoint"])
        let disguised = dir + "/disguised.safetensors"
        FileManager.default.createFile(atPath: disguised, contents: Data([0x80, 0x04, 0x95, 0x10, 0, 0, 0, 0x10, 0x7d]))
        expectError(disguised, ["pickle"])
    }

    func testMissingAndExtraKeysAreNamed() throws {
        // Copy the standard fixture without 'head.bias', then with an extra tensor.
        let src = try SafetensorsFile(path: Fixtures.model("standard") + "/model.safetensors")
        var tensors = try src.names.map { ($0, try src.tensor($0)) }
        let config = Fixtures.model("standard") + "/config.json"
        func folder(_ name: String, _ ts: [(String, Tensor)]) throws -> String {
            let d = dir + "/" + name
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: config, toPath: d + "/config.json")
            try SafetensorsWriter.write(ts, to: d + "/model.safetensors")
            return d
        }
        let missing = try folder("missing", tensors.filter { $0.0 != "head.bias" })
        XCTAssertThrowsError(try ViT(path: missing)) { XCTAssertTrue("\($0)".contains("missing tensor 'head.bias'"), "\($0)") }
        tensors.append(("blocks.0.extra", Tensor([1], shape: [1])))
        let extra = try folder("extra", tensors)
        XCTAssertThrowsError(try ViT(path: extra)) { XCTAssertTrue("\($0)".contains("unused tensor 'blocks.0.extra'"), "\($0)") }
        let wrong = try folder("wrong", tensors.filter { $0.0 != "blocks.0.extra" }.map { $0.0 == "head.bias" ? ($0.0, Tensor(zeros: [11])) : $0 })
        XCTAssertThrowsError(try ViT(path: wrong)) {
            XCTAssertTrue("\($0)".contains("'head.bias' has shape [11], expected [10]") || "\($0)".contains("head.bias"), "\($0)")
        }
    }

    func testFolderWithOnlyAPickle() throws {
        let d = dir + "/pickled"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: d + "/pytorch_model.bin", contents: Data([0x80, 0x02]))
        XCTAssertThrowsError(try ViT(path: d)) { XCTAssertTrue("\($0)".contains("pickle"), "\($0)") }
        XCTAssertThrowsError(try ViT(path: dir + "/nowhere")) { XCTAssertTrue("\($0)".contains("no such file"), "\($0)") }
    }
}
