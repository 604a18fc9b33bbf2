import Foundation
import XCTest
@testable import VLSImaging

/// IDX reading: the real Fashion-MNIST test set and crafted bad headers.
final class IDXFileTests: XCTestCase {
    /// The installed Fashion-MNIST test split: 10000 28x28 images, labels 9, 2, 1, 1, 6, ...
    func testFashionMNISTTestSplit() throws {
        let dir = IDXDataset.fashionMNISTDirectory
        guard FileManager.default.fileExists(atPath: dir + "/t10k-images-idx3-ubyte.gz") else {
            throw XCTSkip("Fashion-MNIST not installed at \(dir)")
        }
        let data = try IDXDataset.fashionMNIST(split: "test")
        XCTAssertEqual(data.count, 10000)
        XCTAssertEqual(data.images.shape, [10000, 28, 28])
        XCTAssertEqual(Array(data.labels.prefix(5)), [9, 2, 1, 1, 6])
        XCTAssertEqual(data.classNames[data.labels[0]], "Ankle boot")
        let image = try data.image(0)
        XCTAssertEqual(image.width, 28)
        XCTAssertEqual(image.height, 28)
        XCTAssertEqual(image.pixels.count, 28 * 28 * 3)
        XCTAssertGreaterThan(image.pixels.max() ?? 0, 200)
        // Pixel (x, y) of item 0 replicated to R, G, B.
        let raw = try XCTUnwrap(data.images.item(0))
        XCTAssertEqual(image.pixel(x: 14, y: 20).g, raw[raw.startIndex + 20 * 28 + 14])
        XCTAssertThrowsError(try data.image(10000))
        XCTAssertThrowsError(try IDXDataset.fashionMNIST(split: "validation"))
    }

    /// A hand-made valid file parses; crafted bad headers give errors naming the file.
    func testCraftedHeaders() throws {
        let good: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 10, 20, 30, 40]
        let file = try IDXFile(bytes: good, name: "good.idx")
        XCTAssertEqual(file.shape, [2, 1, 2])
        XCTAssertEqual(try file.image(1).pixels, [30, 30, 30, 40, 40, 40])
        XCTAssertEqual(try IDXFile(bytes: [0, 0, 8, 1, 0, 0, 0, 3, 9, 2, 1], name: "l").labels(), [9, 2, 1])

        let bad: [String: [UInt8]] = [
            "magic": [1, 0, 8, 1, 0, 0, 0, 1, 5],
            "element type": [0, 0, 0x0D, 1, 0, 0, 0, 1, 5],
            "dimensions 9": [0, 0, 8, 9, 0, 0, 0, 1],
            "header declares 3": [0, 0, 8, 3, 0, 0],
            "holds 3": [0, 0, 8, 1, 0, 0, 0, 9, 1, 2, 3],
            "too large": [0, 0, 8, 2, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            "zero": [0, 0, 8, 1, 0, 0, 0, 0],
            "empty": [],
            "truncated": [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 0x63],
        ]
        for (fragment, bytes) in bad.sorted(by: { $0.key < $1.key }) {
            XCTAssertThrowsError(try IDXFile(bytes: bytes, name: "crafted-\(fragment).idx")) { error in
                let message = (error as? ImagingError)?.message ?? ""
                print("bad IDX: \(message)")
                XCTAssertTrue(message.contains("crafted-\(fragment).idx"), message)
            }
        }
    }

    /// gzip through the shim, with the output cap enforced.
    func testGunzipCap() throws {
        let path = IDXDataset.fashionMNISTDirectory + "/t10k-labels-idx1-ubyte.gz"
        guard let data = FileManager.default.contents(atPath: path) else { throw XCTSkip("no Fashion-MNIST") }
        XCTAssertEqual(try gunzip([UInt8](data), maxBytes: 1 << 20).count, 10008)
        XCTAssertThrowsError(try gunzip([UInt8](data), maxBytes: 1000))
        XCTAssertThrowsError(try gunzip([1, 2, 3, 4], maxBytes: 1000))
    }
}
