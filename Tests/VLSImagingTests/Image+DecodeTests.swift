import XCTest
@testable import VLSImaging

/// Decoding against Pillow's `convert('RGB')` pixels, and bad files.
final class ImageDecodeTests: XCTestCase {
    /// Every PNG decodes to exactly Pillow's pixels; JPEGs within the stated tolerance.
    func testDecodedPixelsMatchPillow() throws {
        guard let decoded = Fixtures.reference["decoded"] as? [String: Any] else {
            return XCTFail("reference.json missing 'decoded'")
        }
        XCTAssertFalse(decoded.isEmpty)
        for (name, value) in decoded.sorted(by: { $0.key < $1.key }) {
            guard let entry = value as? [String: Any] else { continue }
            let image = try Fixtures.image(name)
            XCTAssertEqual(image.width, entry["width"] as? Int, name)
            XCTAssertEqual(image.height, entry["height"] as? Int, name)
            let diff = Fixtures.maxDiff(image.pixels, Fixtures.bytes(entry["rgb"]))
            print("decode \(name): max |vls - PIL| = \(diff)")
            if name.hasSuffix(".png") {
                XCTAssertEqual(diff, 0, name)
            } else {
                // libjpeg-turbo 2.1 (Debian) vs the one bundled in Pillow's wheel.
                XCTAssertLessThanOrEqual(diff, 1, name)
            }
        }
    }

    /// 16-bit gray keeps the high byte (Pillow's `I;16` -> RGB would clamp to 255 instead).
    func testGray16KeepsHighByte() throws {
        guard let entry = (Fixtures.reference["decoded_high_byte"] as? [String: Any])?["gray16.png"] as? [String: Any] else {
            return XCTFail("reference.json missing 'decoded_high_byte'")
        }
        let image = try Fixtures.image("gray16.png")
        XCTAssertEqual(Fixtures.maxDiff(image.pixels, Fixtures.bytes(entry["rgb"])), 0)
    }

    /// Corrupt, truncated, empty and non-image files each give one error naming the file.
    func testBadFilesGiveErrorsNamingTheFile() {
        let cases = [
            "truncated.png": "truncated",
            "truncated.jpg": "truncated",
            "corrupt.png": "invalid PNG",
            "corrupt.jpg": "invalid JPEG",
            "empty.png": "empty",
            "not-an-image.png": "not a PNG or JPEG",
            "missing.png": "no such file",
        ]
        for (name, fragment) in cases.sorted(by: { $0.key < $1.key }) {
            let path = Fixtures.path(name)
            XCTAssertThrowsError(try Image(contentsOf: path), name) { error in
                let message = (error as? ImagingError)?.message ?? "\(error)"
                print("\(name): \(message)")
                XCTAssertTrue(message.contains("'\(path)'"), "message should name the file: \(message)")
                XCTAssertTrue(message.contains(fragment), "expected '\(fragment)' in: \(message)")
            }
        }
        XCTAssertThrowsError(try Image(contentsOf: Fixtures.directory)) // a directory
    }

    /// Magic-byte detection.
    func testFormatDetection() {
        XCTAssertEqual(ImageFormat.detect([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0]), .png)
        XCTAssertEqual(ImageFormat.detect([0xFF, 0xD8, 0xFF, 0xE0]), .jpeg)
        XCTAssertNil(ImageFormat.detect([0x47, 0x49, 0x46]))
        XCTAssertThrowsError(try Image(bytes: []))
    }

    /// Encoding to PNG and decoding again gives the same pixels.
    func testPNGRoundTrip() throws {
        let image = try Fixtures.image("base.png")
        let bytes = try image.pngData()
        XCTAssertEqual(ImageFormat.detect(bytes), .png)
        XCTAssertEqual(try Image(bytes: bytes), image)
        let rgba = try encodePNG(pixels: [UInt8](repeating: 200, count: 2 * 3 * 4), width: 2, height: 3, channels: 4)
        let back = try Image(bytes: rgba)
        XCTAssertEqual(back.pixels, [UInt8](repeating: 200, count: 2 * 3 * 3))
        XCTAssertThrowsError(try encodePNG(pixels: [1, 2], width: 2, height: 2, channels: 3))
    }

    /// Gray arrays become RGB by replication; wrong sizes are errors.
    func testGrayInitialiser() throws {
        let image = try Image(width: 2, height: 1, gray: [7, 250])
        XCTAssertEqual(image.pixels, [7, 7, 7, 250, 250, 250])
        XCTAssertThrowsError(try Image(width: 2, height: 2, gray: [1]))
        XCTAssertThrowsError(try Image(width: 0, height: 2, gray: []))
    }
}
