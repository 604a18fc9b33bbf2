import XCTest
@testable import VLSCore

/// Lens saliency (closed form), rollout, attention and the perturbation test against
/// PyTorch autograd and token removal in timm (Scripts/fixtures_saliency.py).
final class SaliencyTests: XCTestCase {
    func testAgainstTorch() throws {
        for name in ["standard", "deit3"] {
            let folder = Fixtures.model(name)
            let m = try ViT(path: folder)
            let ref = try SafetensorsFile(path: folder + "/saliency.safetensors")
            let x = try ref.tensor("input")
            let labels = try ref.tensor("labels").scalars.map { Int($0) }
            for (key, loss) in [("lens.ce", LensLoss.crossEntropy), ("lens.paper", .doubleSoftmax), ("lens.logit", .logit)] {
                let got = try m.lensSaliency(x, classes: labels, loss: loss)
                let err = relativeError(got, try ref.tensor(key))
                print("saliency \(name) \(key): max relative error \(err)")
                XCTAssertLessThan(err, 1e-4, "\(name) \(key)")
            }
            let roll = relativeError(try m.rolloutSaliency(x), try ref.tensor("rollout"))
            let att = relativeError(try m.attentionSaliency(x), try ref.tensor("attention"))
            print("saliency \(name) rollout: \(roll), attention: \(att)")
            XCTAssertLessThan(roll, 1e-4)
            XCTAssertLessThan(att, 1e-4)
            let imp = try ref.tensor("lens.ce")
            for order in [PerturbationCurve.Order.negative, .positive] {
                var curve = PerturbationCurve(order: order, patches: m.config.numPatches)
                // two batches, to check accumulation
                try m.perturb(x.narrowed(axis: 0, start: 0, count: 3).contiguous(), labels: Array(labels[0..<3]),
                              importance: imp.narrowed(axis: 0, start: 0, count: 3).contiguous(), into: &curve)
                try m.perturb(x.narrowed(axis: 0, start: 3, count: 1).contiguous(), labels: [labels[3]],
                              importance: imp.narrowed(axis: 0, start: 3, count: 1).contiguous(), into: &curve)
                let want = try ref.tensor("perturbation.\(order.rawValue)").scalars.map(Double.init)
                XCTAssertEqual(curve.accuracy.count, want.count)
                for (a, b) in zip(curve.accuracy, want) { XCTAssertEqual(a, b, accuracy: 1e-6, "\(name) \(order)") }
                let auc = Double(try ref.tensor("perturbation.\(order.rawValue).auc").scalars[0])
                XCTAssertEqual(curve.auc, auc, accuracy: 1e-6)
                print("perturbation \(name) \(order): AUC \(curve.auc) (torch \(auc))")
            }
        }
    }

    func testModelsWithoutClassTokenSaySo() throws {
        let m = try ViT(path: Fixtures.model("gap"))
        let x = Tensor(zeros: [1, 3, 32, 32])
        XCTAssertThrowsError(try m.lensSaliency(x, classes: [0])) { XCTAssertTrue("\($0)".contains("no CLS token")) }
        XCTAssertThrowsError(try m.rolloutSaliency(x)) { XCTAssertTrue("\($0)".contains("no CLS token")) }
    }
}
