import Foundation

/// The token-removal perturbation test (Docs/method.md#saliency-and-the-perturbation-test): rank the n image tokens by
/// importance; for k = 1..n-1 keep the prefix tokens plus the k most important ("negative"
/// test: least important removed first) or the k least important ("positive" test),
/// dropping the others after the position embedding; top-1 accuracy per k.
public struct PerturbationCurve: Codable, Sendable {
    public enum Order: String, Codable, Sendable { case negative, positive }
    public let order: Order
    public let patches: Int
    public var images = 0
    /// correct[k - 1]: images still classified correctly keeping k tokens.
    public var correct: [Int]

    public init(order: Order, patches: Int) {
        self.order = order
        self.patches = patches
        correct = [Int](repeating: 0, count: max(patches - 1, 0))
    }

    public var accuracy: [Double] { correct.map { Double($0) / Double(max(images, 1)) } }

    /// The paper's AUC of this curve (`PerturbationCurve.auc(_:patches:)`).
    public var auc: Double { Self.auc(accuracy, patches: patches) }
    /// The trapezoid AUC of this curve (`PerturbationCurve.trapezoidAUC(_:patches:)`).
    public var trapezoidAUC: Double { Self.trapezoidAUC(accuracy, patches: patches) }

    /// The paper's AUC of an accuracy curve over k = 1..n-1: sum(acc) / (max(acc) · n).
    /// Undefined (NaN) for a curve with no correct image at any k (a NaN model): 0 would
    /// read as the best positive-order score. The one definition: runs, merges and
    /// load_part all finish through it.
    public static func auc(_ accuracy: [Double], patches: Int) -> Double {
        guard let m = accuracy.max(), m > 0 else { return .nan }
        return accuracy.reduce(0, +) / (m * Double(patches))
    }

    /// Trapezoid rule over the fraction of tokens kept (k / n), Chefer et al.'s convention.
    public static func trapezoidAUC(_ accuracy: [Double], patches: Int) -> Double {
        guard accuracy.count > 1 else { return accuracy.first ?? 0 }
        var s = 0.0
        for i in 1..<accuracy.count { s += (accuracy[i] + accuracy[i - 1]) / 2 / Double(patches) }
        return s
    }
}

extension ViT {
    /// Adds a batch to a perturbation curve: images [B, 3, H, W], labels, importance [B, N]
    /// (higher = more important). Ties keep the lower patch index first.
    public func perturb(_ images: Tensor, labels: [Int], importance: Tensor, into curve: inout PerturbationCurve) throws {
        let B = images.shape[0], N = config.numPatches
        guard importance.shape == [B, N] else {
            throw CoreError("perturbation: importance must be [\(B), \(N)] (one value per patch), got \(importance.shape)")
        }
        guard labels.count == B else { throw CoreError("perturbation: \(labels.count) labels for \(B) images") }
        let imp = importance.contiguous()
        // NaN has no place in an order (every comparison false): refused, never ranked as ties
        if let i = (0..<imp.count).first(where: { imp.pointer[$0].isNaN }) {
            throw CoreError("perturbation: importance holds NaN (image \(i / N), patch \(i % N)); an explainer over NaN activations gives no order")
        }
        let orders: [[Int]] = (0..<B).map { i in
            let row = imp.pointer + i * N
            return (0..<N).sorted { a, b in
                let (x, y) = (row[a], row[b])
                if x == y { return a < b }
                return curve.order == .negative ? x > y : x < y
            }
        }
        for k in 1..<N {
            try CoreInterrupt.check()
            let keep = orders.map { Array($0.prefix(k)).sorted() }
            let logits = try run(images, capture: [], edits: [DropTokens(keepPerImage: keep, prefixTokens: config.numPrefixTokens)]).logits
            NaNWatch.check(logits, at: "the logits (final norm or head)", analysis: "perturbation")
            let pred = LensMath.predictions(logits)   // a row holding NaN predicts nothing (counted wrong)
            curve.correct[k - 1] += zip(pred, labels).filter { $0 == $1 }.count
        }
        curve.images += B
    }
}
