import Foundation

/// Key-value memories of the MLP and attention sublayers (method.md section 3).
///
/// MLP: keys are fc1's outputs before the activation (one coefficient per hidden unit),
/// value j is column j of fc2.weight. Attention: keys are the concatenated per-head
/// outputs A_h·V_h (the input of attn.proj; coefficient j is head j / dh, dim j % dh),
/// value j is column j of attn.proj.weight. Raw value projection: P = W_head · W_values
/// (C x n_values), no norm and no bias.
public enum MemoryKind: String, Sendable, CaseIterable, Codable { case mlp, attn }

extension ViT {
    /// The value matrix [D, n] of a block's sublayer (a view of the weights, never mutated).
    public func memoryValues(_ kind: MemoryKind, block b: Int) -> Tensor {
        switch kind {
        case .mlp: return weights.blocks[b].fc2.weight        // [D, F]: column j is value j
        case .attn: return weights.blocks[b].proj.weight      // [D, D]
        }
    }

    /// Raw value projection P = W_head · W_values: [C, n].
    public func valueProjection(_ kind: MemoryKind, block b: Int) throws -> Tensor {
        try weights.head.weight.matmul(memoryValues(kind, block: b))
    }

    /// Class-value agreement: cosine of every head row with every value column (both
    /// normalised to unit length, on copies), then the max over values per class: [C].
    public func classValueAgreement(_ kind: MemoryKind, block b: Int) throws -> Tensor {
        let head = weights.head.weight          // [C, D]
        let values = memoryValues(kind, block: b)  // [D, n]
        let C = head.shape[0], D = head.shape[1], n = values.shape[1]
        let hn = Tensor(uninitialized: [C, D]), vn = Tensor(uninitialized: [D, n])
        for c in 0..<C {
            var s: Float = 0
            for d in 0..<D { let v = head.pointer[c * D + d]; s += v * v }
            let inv = s > 0 ? 1 / s.squareRoot() : 0
            for d in 0..<D { hn.mutablePointer[c * D + d] = head.pointer[c * D + d] * inv }
        }
        var norms = [Float](repeating: 0, count: n)
        for d in 0..<D { for j in 0..<n { let v = values.pointer[d * n + j]; norms[j] += v * v } }
        for d in 0..<D { for j in 0..<n { vn.mutablePointer[d * n + j] = norms[j] > 0 ? values.pointer[d * n + j] / norms[j].squareRoot() : 0 } }
        return try hn.matmul(vn).reduce(.max, axis: 1)
    }
}

/// Key-value agreement, its random-class baseline, the CLS accuracy effect and
/// compositionality, accumulated over batches (counts: exact merge).
public struct MemoryStats: Codable, Sendable {
    public let depth: Int
    public let classes: Int
    public let k: Int
    /// The random class drawn for each class (seeded, shared by its images, may equal it).
    public let randomClass: [Int]
    /// [kind][block][class]: tokens that agree with the true class / with the random class / all tokens.
    public var agree: [[[Int]]]
    public var agreeRandom: [[[Int]]]
    public var tokens: [[[Int]]]
    /// [kind][block]: per image, whether its CLS agrees (1/0), and whether the image was classified correctly.
    public var clsAgree: [[[UInt8]]]
    public var correct: [UInt8]
    /// [kind][block]: tokens whose own top-1 class equals the class of one of its top-k memories / all.
    public var composed: [[Int]]
    public var composedTotal: [[Int]]

    init(depth: Int, classes: Int, k: Int, randomClass: [Int]) {
        self.depth = depth; self.classes = classes; self.k = k; self.randomClass = randomClass
        let z3 = [[[Int]]](repeating: [[Int]](repeating: [Int](repeating: 0, count: classes), count: depth), count: 2)
        agree = z3; agreeRandom = z3; tokens = z3
        clsAgree = [[[UInt8]]](repeating: [[UInt8]](repeating: [], count: depth), count: 2)
        correct = []
        composed = [[Int]](repeating: [Int](repeating: 0, count: depth), count: 2)
        composedTotal = composed
    }

    public mutating func merge(_ o: MemoryStats) throws {
        guard o.depth == depth, o.classes == classes, o.k == k, o.randomClass == randomClass else {
            throw CoreError("cannot merge memory statistics of different models, k or seeds")
        }
        for kd in 0..<2 {
            for b in 0..<depth {
                for c in 0..<classes {
                    agree[kd][b][c] += o.agree[kd][b][c]; agreeRandom[kd][b][c] += o.agreeRandom[kd][b][c]
                    tokens[kd][b][c] += o.tokens[kd][b][c]
                }
                clsAgree[kd][b] += o.clsAgree[kd][b]
                composed[kd][b] += o.composed[kd][b]; composedTotal[kd][b] += o.composedTotal[kd][b]
            }
        }
        correct += o.correct
    }
}

/// Streams batches, reading keys at `mlp_pre` and `z` and the sublayer outputs.
public final class MemoryCollector: HookHandler {
    public private(set) var stats: MemoryStats
    let model: ViT
    /// [kind][block]: the top-k values of each class (by raw projection) and each memory's class.
    let topValues: [[[Set<Int>]]]
    let memoryClass: [[[Int]]]
    private var labels: [Int] = []
    private var keyTop: [MemoryKind: [[Int]]] = [:]   // per token: its top-k coefficients (current block)

    public init(model: ViT, k: Int = 5, seed: UInt64) throws {
        self.model = model
        let c = model.config
        var g = SeededGenerator(seed: seed)
        let rc = (0..<c.numClasses).map { _ in Int(g.next() % UInt64(c.numClasses)) }
        stats = MemoryStats(depth: c.depth, classes: c.numClasses, k: k, randomClass: rc)
        var tv: [[[Set<Int>]]] = [], mc: [[[Int]]] = []
        for kind in MemoryKind.allCases {
            var perBlockTop: [[Set<Int>]] = [], perBlockClass: [[Int]] = []
            for b in 0..<c.depth {
                let P = try model.valueProjection(kind, block: b)   // [C, n]
                let (idx, _) = try LensMath.topk(P, k: min(k, P.shape[1]))
                perBlockTop.append((0..<c.numClasses).map { ci in Set((0..<idx.shape[1]).map { Int(idx.item([ci, $0])) }) })
                perBlockClass.append(try P.reduce(.argmax, axis: 0).scalars.map { Int($0) })
            }
            tv.append(perBlockTop); mc.append(perBlockClass)
        }
        topValues = tv; memoryClass = mc
    }

    public func add(images: Tensor, labels: [Int]) throws {
        for l in labels where l < 0 || l >= model.config.numClasses { throw CoreError("label \(l) is not a class of the model") }
        self.labels = labels
        let logits = try model.forward(images, hooks: self)
        let pred = try logits.reduce(.argmax, axis: -1).scalars
        stats.correct += zip(pred, labels).map { Int($0) == $1 ? 1 : 0 }
    }

    public func wants(_ p: HookPoint) -> Bool { [.mlpPre, .z, .attnOut, .mlpOut].contains(p.kind) }

    public func visit(_ p: HookPoint, _ value: inout Tensor) throws {
        guard let b = p.block else { return }
        switch p.kind {
        case .mlpPre, .z:
            let kind: MemoryKind = p.kind == .mlpPre ? .mlp : .attn
            let B = value.shape[0], T = value.shape[1]
            let flat = try value.contiguous().reshaped([B, T, value.count / (B * T)])
            let (idx, _) = try LensMath.topk(flat, k: min(stats.k, flat.shape[2]))
            let kk = idx.shape[2]
            var tops: [[Int]] = []
            for i in 0..<(B * T) { tops.append((0..<kk).map { Int(idx.pointer[i * kk + $0]) }) }
            keyTop[kind] = tops
            let kd = kind == .mlp ? 0 : 1
            for i in 0..<B {
                let c = labels[i], r = stats.randomClass[c]
                for t in 0..<T {
                    let top = tops[i * T + t]
                    let agrees = top.contains { topValues[kd][b][c].contains($0) }
                    if agrees { stats.agree[kd][b][c] += 1 }
                    if top.contains(where: { topValues[kd][b][r].contains($0) }) { stats.agreeRandom[kd][b][c] += 1 }
                    stats.tokens[kd][b][c] += 1
                    if t == 0 && model.config.classToken { stats.clsAgree[kd][b].append(agrees ? 1 : 0) }
                }
            }
        case .attnOut, .mlpOut:
            let kind: MemoryKind = p.kind == .mlpOut ? .mlp : .attn
            guard let tops = keyTop[kind] else { return }
            let kd = kind == .mlp ? 0 : 1
            let top1 = try model.project(value).reduce(.argmax, axis: -1).scalars   // [B, T]
            for (i, cls) in top1.enumerated() {
                if tops[i].contains(where: { memoryClass[kd][b][$0] == Int(cls) }) { stats.composed[kd][b] += 1 }
                stats.composedTotal[kd][b] += 1
            }
        default: break
        }
    }
}
