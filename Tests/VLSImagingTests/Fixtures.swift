import Foundation
import XCTest
@testable import VLSImaging

/// Paths and the decoded `reference.json` written by Scripts/fixtures/make_image_fixtures.py.
enum Fixtures {
    /// Tests/Fixtures/images, found from this file's path.
    static let directory: String = {
        let here = URL(fileURLWithPath: #filePath)
        return here.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/images").path
    }()

    /// Absolute path of a fixture image.
    static func path(_ name: String) -> String { directory + "/" + name }

    /// The parsed reference JSON.
    nonisolated(unsafe) static let reference: [String: Any] = {
        guard let data = FileManager.default.contents(atPath: path("reference.json")),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return [:] }
        return object
    }()

    /// Decodes a base64 uint8 array.
    static func bytes(_ value: Any?) -> [UInt8] {
        guard let s = value as? String, let d = Data(base64Encoded: s) else { return [] }
        return [UInt8](d)
    }

    /// Decodes a base64 little-endian float32 array.
    static func floats(_ value: Any?) -> [Float] {
        let raw = bytes(value)
        return stride(from: 0, to: raw.count - 3, by: 4).map { i in
            Float(bitPattern: UInt32(raw[i]) | UInt32(raw[i + 1]) << 8 | UInt32(raw[i + 2]) << 16 | UInt32(raw[i + 3]) << 24)
        }
    }

    /// Largest absolute difference between two byte arrays (Int.max if lengths differ).
    static func maxDiff(_ a: [UInt8], _ b: [UInt8]) -> Int {
        guard a.count == b.count else { return Int.max }
        return zip(a, b).map { abs(Int($0) - Int($1)) }.max() ?? 0
    }

    /// Loads a fixture image, failing the test on error.
    static func image(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> Image {
        do {
            return try Image(contentsOf: path(name))
        } catch {
            XCTFail("\(error)", file: file, line: line)
            throw error
        }
    }
}
