import Foundation
import XCTest
@testable import VLSImaging

/// Image headers that declare more pixels than `Image.maxSide` / `Image.maxPixels` are
/// refused before the decoder allocates anything.
final class ImageBoundsTests: XCTestCase {
    /// CRC-32 (PNG chunks).
    static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return ~c
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

    /// A fixture PNG with its IHDR width and height replaced (CRC recomputed).
    func png(width: UInt32, height: UInt32) throws -> [UInt8] {
        var b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("small.png"))))
        // signature (8), IHDR length (4), "IHDR" (4), width (4), height (4), 5 bytes, CRC
        XCTAssertEqual(Array(b[12..<16]), Array("IHDR".utf8))
        b.replaceSubrange(16..<20, with: Self.bigEndian(width))
        b.replaceSubrange(20..<24, with: Self.bigEndian(height))
        b.replaceSubrange(29..<33, with: Self.bigEndian(Self.crc32(b[12..<29])))
        return b
    }

    func testPNGDimensionsAreBounded() throws {
        let small = try Image(contentsOf: Fixtures.path("small.png"))
        // the patch itself is sound: the fixture's own size, re-encoded, still decodes
        XCTAssertEqual(try Image(bytes: try png(width: UInt32(small.width), height: UInt32(small.height))).width, small.width)
        for (w, h) in [(40000, 1), (1, 40000), (30000, 30000), (0x7FFF_FFFF, 0x7FFF_FFFF)] {
            XCTAssertThrowsError(try Image(bytes: try png(width: UInt32(w), height: UInt32(h))), "\(w)x\(h)")
        }
    }

    func testJPEGDimensionsAreBounded() throws {
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("photo.jpg"))))
        guard let sof = (0..<(original.count - 9)).first(where: { original[$0] == 0xFF && original[$0 + 1] == 0xC0 }) else {
            return XCTFail("no SOF0 marker in photo.jpg")
        }
        for (w, h) in [(60000, 60000), (20000, 20000), (40000, 8)] {
            var b = original
            // FF C0, length (2), precision (1), height (2), width (2)
            b[sof + 5] = UInt8(h >> 8); b[sof + 6] = UInt8(h & 0xFF)
            b[sof + 7] = UInt8(w >> 8); b[sof + 8] = UInt8(w & 0xFF)
            XCTAssertThrowsError(try Image(bytes: b), "\(w)x\(h)") { e in
                XCTAssertTrue("\(e)".contains("out of range") || "\(e)".contains("too large") || "\(e)".contains("invalid JPEG"), "\(e)")
            }
        }
    }

    /// Fuzzer finding (jpeg, 396 s in): 128 bytes declaring a 28533x8516 CMYK image with no
    /// entropy data took 17-30 s and 1.5 GB to decode into gray. Now refused at once: the
    /// pixel count is over Pillow's bomb limit, and data that stops early is an error.
    func testForgedJPEGHeaderIsRefusedQuickly() throws {
        let path = Fixtures.path("../fuzz/jpeg/forged-huge-header-no-data")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let t0 = Date()
        XCTAssertThrowsError(try Image(bytes: bytes)) { e in
            XCTAssertTrue("\(e)".contains("out of range"), "\(e)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(t0), 1.0)
        // The same forgery at a size under the cap: the missing data is the error.
        var small = bytes
        guard let sof = (0..<(small.count - 9)).first(where: { small[$0] == 0xFF && small[$0 + 1] == 0xC0 }) else {
            return XCTFail("no SOF0 marker")
        }
        small[sof + 5] = 0x01; small[sof + 6] = 0x00; small[sof + 7] = 0x01; small[sof + 8] = 0x00   // 256x256
        XCTAssertThrowsError(try Image(bytes: small)) { e in
            XCTAssertTrue("\(e)".contains("invalid JPEG"), "\(e)")
        }
    }

    func testConstructedImagesAreBounded() {
        XCTAssertThrowsError(try Image(width: Image.maxSide + 1, height: 1, gray: []))
        XCTAssertThrowsError(try Image(width: 20000, height: 20000, gray: []))
    }
}
