import XCTest
@testable import VLSCore

/// The forward pass against timm on tiny perturbed models of every supported variant.
final class ForwardParityTests: XCTestCase {
    static let variants = ["standard", "hf", "gap", "gap_norm", "rpn", "miil", "registers", "deit3", "distilled", "clip_quickgelu", "bare"]
    static let tolerance: Float = 1e-4

    func testEveryVariantMatchesTimm() throws {
        for name in Self.variants {
            let folder = Fixtures.model(name)
            let path = name == "bare" ? folder + "/weights.safetensors" : folder
            let model = try ViT(path: path)
            let ref = try SafetensorsFile(path: folder + "/reference.safetensors")
            let points = ref.names.compactMap { HookPoint(name: $0) }
            XCTAssertGreaterThan(points.count, 4 * model.config.depth, "\(name): reference holds too few hook points")
            let recorder = Recorder(points)
            let logits = try model.forward(try ref.tensor("input"), hooks: recorder)
            var worst: (Float, String) = (0, "")
            let e = relativeError(logits, try ref.tensor("logits"))
            XCTAssertEqual(logits.shape, try ref.tensor("logits").shape)
            XCTAssertLessThan(e, Self.tolerance, "\(name): logits")
            worst = (e, "logits")
            for p in points {
                guard let got = recorder.values[p] else { XCTFail("\(name): \(p) not visited"); continue }
                let want = try ref.tensor(p.name)
                XCTAssertEqual(got.shape, want.shape, "\(name): \(p) shape")
                guard got.shape == want.shape else { continue }
                let err = relativeError(got, want)
                XCTAssertLessThan(err, Self.tolerance, "\(name): \(p)")
                if err > worst.0 { worst = (err, p.name) }
            }
            print("parity \(name): \(points.count + 1) tensors, max relative error \(worst.0) at \(worst.1) [\(model.config.summary)]")
        }
    }

    func testArchitectureIsReadFromConfigAndShapes() throws {
        let std = try ViT(path: Fixtures.model("standard")).config
        XCTAssertEqual(std.depth, 3); XCTAssertEqual(std.heads, 4); XCTAssertEqual(std.width, 32)
        XCTAssertEqual(std.patchSize, 8); XCTAssertEqual(std.imageSize, 32); XCTAssertEqual(std.eps, 1e-6)
        XCTAssertEqual(std.labels?.first, "class_0")
        let rpn = try ViT(path: Fixtures.model("rpn")).config
        XCTAssertTrue(rpn.postNorm); XCTAssertFalse(rpn.classToken); XCTAssertEqual(rpn.pooling, .avg); XCTAssertTrue(rpn.fcNorm)
        let clip = try ViT(path: Fixtures.model("clip_quickgelu")).config
        XCTAssertEqual(clip.eps, 1e-5); XCTAssertEqual(clip.activation, .quickGelu); XCTAssertTrue(clip.preNorm)
        let reg = try ViT(path: Fixtures.model("registers")).config
        XCTAssertEqual(reg.regTokens, 2); XCTAssertTrue(reg.noEmbedClass); XCTAssertEqual(reg.numPrefixTokens, 3)
        let dist = try ViT(path: Fixtures.model("distilled")).config
        XCTAssertTrue(dist.distilled); XCTAssertEqual(dist.numTokens, 18)
        let hf = try ViT(path: Fixtures.model("hf")).config
        XCTAssertEqual(hf.keyScheme, .huggingFace); XCTAssertEqual(hf.eps, 1e-6); XCTAssertEqual(hf.preprocessing.pipeline, "squash")
        let bare = try ViT(path: Fixtures.model("bare") + "/weights.safetensors").config
        XCTAssertEqual(bare.heads, 1)
        XCTAssertTrue(bare.notes.contains { $0.contains("64 per head") }, "a guessed head count is said aloud")
    }
}
