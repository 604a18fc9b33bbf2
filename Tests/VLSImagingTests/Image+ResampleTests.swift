import XCTest
@testable import VLSImaging

/// Resampling and the two pipelines against Pillow references.
final class ImageResampleTests: XCTestCase {
    /// Every filter at every reference size equals `PIL.Image.resize` (printed max diff).
    func testResizeMatchesPillow() throws {
        guard let cases = Fixtures.reference["resize"] as? [[String: Any]] else {
            return XCTFail("reference.json missing 'resize'")
        }
        XCTAssertFalse(cases.isEmpty)
        let base = try Fixtures.image("base.png")
        var worst: [String: Int] = [:]
        for entry in cases {
            guard let name = entry["filter"] as? String, let filter = ResampleFilter(name: name),
                  let w = entry["width"] as? Int, let h = entry["height"] as? Int
            else { XCTFail("bad resize entry"); continue }
            let out = try base.resized(width: w, height: h, filter: filter)
            let diff = Fixtures.maxDiff(out.pixels, Fixtures.bytes(entry["rgb"]))
            worst[name] = max(worst[name] ?? 0, diff)
            XCTAssertEqual(diff, 0, "\(name) \(w)x\(h)")
        }
        for (name, diff) in worst.sorted(by: { $0.key < $1.key }) {
            print("resize \(name): max |vls - PIL| = \(diff) (8-bit levels)")
        }
    }

    /// Both pipelines at size 24 match the Pillow/numpy re-implementation of timm/torchvision.
    func testPipelinesMatchReference() throws {
        guard let cases = Fixtures.reference["pipelines"] as? [[String: Any]] else {
            return XCTFail("reference.json missing 'pipelines'")
        }
        XCTAssertFalse(cases.isEmpty)
        for entry in cases {
            guard let source = entry["source"] as? String, let kind = entry["kind"] as? String,
                  let size = entry["size"] as? Int, let interp = entry["interpolation"] as? String,
                  let filter = ResampleFilter(name: interp),
                  let mean = (entry["mean"] as? [Double])?.map(Float.init),
                  let std = (entry["std"] as? [Double])?.map(Float.init)
            else { XCTFail("bad pipeline entry"); continue }
            let pipeline: Preprocessing
            if kind == "timm" {
                pipeline = try .timm(size: size, cropPct: entry["crop_pct"] as? Double ?? 0.875,
                                     interpolation: filter, mean: mean, std: std)
            } else {
                pipeline = try .squash(size: size, interpolation: filter, mean: mean, std: std)
            }
            let image = try Fixtures.image(source)
            let geometry = try pipeline.geometry(image)
            // The 8-bit stage is stored for the timm entries only (fixture size).
            let stored = entry["geometry"] != nil
            let geometryDiff = stored ? Fixtures.maxDiff(geometry.pixels, Fixtures.bytes(entry["geometry"])) : 0
            let chw = try pipeline.apply(image)
            let expected = Fixtures.floats(entry["chw"])
            XCTAssertEqual(chw.count, expected.count)
            // Compare on the 8-bit scale: |diff| * std * 255.
            var worst: Float = 0
            for c in 0..<3 {
                let plane = size * size
                for i in 0..<plane {
                    worst = max(worst, abs(chw[c * plane + i] - expected[c * plane + i]) * std[c] * 255)
                }
            }
            print("\(pipeline) on \(source): 8-bit max diff \(stored ? "\(geometryDiff)" : "n/a"), normalised max diff \(worst)/255")
            XCTAssertEqual(geometryDiff, 0, "\(kind) \(source)")
            XCTAssertLessThanOrEqual(worst, 1, "\(kind) \(source)")
        }
    }

    /// Batches concatenate single outputs; denormalize inverts normalize.
    func testBatchAndDenormalize() throws {
        let image = try Fixtures.image("base.png")
        let pipeline = try Preprocessing.timm(size: 24, cropPct: 0.875)
        let one = try pipeline.apply(image)
        XCTAssertEqual(try pipeline.apply(batch: [image, image]), one + one)
        XCTAssertEqual(try pipeline.denormalize(one, width: 24, height: 24), try pipeline.geometry(image))
        XCTAssertThrowsError(try pipeline.denormalize([1, 2], width: 24, height: 24))
    }

    /// The printed pipeline names every parameter.
    func testPipelineDescription() throws {
        let timm = try Preprocessing.timm(size: 224, cropPct: 0.875, interpolation: .bicubic,
                                          mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])
        XCTAssertEqual("\(timm)", "timm: resize short side 256 (bicubic), center crop 224, mean (0.5, 0.5, 0.5), std (0.5, 0.5, 0.5)")
        let squash = try Preprocessing.squash()
        XCTAssertEqual("\(squash)", "squash: resize to 224x224 (bilinear), mean (0.5, 0.5, 0.5), std (0.5, 0.5, 0.5)")
        XCTAssertEqual(try Preprocessing.timm(size: 224, cropPct: 0.9).resizeSize, 248)
        XCTAssertThrowsError(try Preprocessing.timm(cropPct: 0))
        XCTAssertThrowsError(try Preprocessing.timm(size: Int.max))
        XCTAssertEqual(Image.nearestIndices(inSize: 0, outSize: 3), [])
        XCTAssertThrowsError(try Preprocessing.squash(std: [1, 0, 1]))
    }

    /// torchvision's rounding: Resize(int) long side and CenterCrop's round-half-even offsets.
    func testShortSideAndCenterCrop() throws {
        XCTAssertTrue(Preprocessing.shortSideSize(width: 37, height: 29, short: 27) == (34, 27))
        XCTAssertTrue(Preprocessing.shortSideSize(width: 13, height: 17, short: 27) == (27, 35))
        var gray = [UInt8](repeating: 0, count: 5 * 4)
        for i in 0..<gray.count { gray[i] = UInt8(i) }
        let image = try Image(width: 5, height: 4, gray: gray)
        // (5 - 2) / 2 = 1.5 -> 2 and (4 - 1) / 2 = 1.5 -> 2 (half to even); (4 - 3) / 2 = 0.5 -> 0.
        let crop = try image.centerCropped(width: 2, height: 1)
        XCTAssertEqual(crop.pixels.enumerated().filter { $0.offset % 3 == 0 }.map(\.element), [12, 13])
        let crop2 = try image.centerCropped(width: 3, height: 3)
        XCTAssertEqual(crop2.pixel(x: 0, y: 0).r, 1)
        let padded = try image.centerCropped(width: 7, height: 4)
        XCTAssertEqual(padded.pixel(x: 0, y: 0).r, 0)
        XCTAssertEqual(padded.pixel(x: 1, y: 0).r, 0)
    }

    /// Same size is the identity; nearest picks Pillow's pixel centres.
    func testIdentityAndNearestIndices() throws {
        let base = try Fixtures.image("base.png")
        XCTAssertEqual(try base.resized(width: base.width, height: base.height, filter: .bicubic), base)
        XCTAssertEqual(Image.nearestIndices(inSize: 4, outSize: 2), [1, 3])
        XCTAssertEqual(Image.nearestIndices(inSize: 2, outSize: 4), [0, 0, 1, 1])
        XCTAssertThrowsError(try base.resized(width: 0, height: 3, filter: .bilinear))
    }
}
