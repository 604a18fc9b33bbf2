import Foundation

/// Key-value memories of the MLP and attention sublayers (Docs/method.md#key-value-memories).
///
/// MLP: keys are fc1's outputs before the activation (one coefficient per hidden unit),
/// value j is column j of fc2.weight. Attention: keys are the concatenated per-head
/// outputs A_h·V_h (the input of attn.proj; coefficient j is head j / dh, dim j % dh),
/// value j is column j of attn.proj.weight. Raw value projection: P = W_head · W_values
/// (C x n_values), no norm and no bias.
public enum MemoryKind: String, Sendable, CaseIterable, Codable { case mlp, attn }

/// Which definition of the memory analyses to follow.
///
/// `correct` (the default) reads memories as they act on the residual stream: on a
/// layer-scale model (DeiT-3) value j is gamma ⊙ column j and the sublayer output is the
/// one added to the residual (after the layer scale, vls's `attn_out` / `mlp_out`); on a
/// distilled model values and sublayer outputs go through the same head as `project`
/// (the mean of the class and distillation heads); compositionality is reported for CLS
/// and image tokens separately, prefix tokens (registers, distillation token) in neither.
///
/// `paper` follows the authors' code (src/memories.py `compute_composition`,
/// src/extractor.py, src/plots/mech_interp.py `plot_memory_compositionality`): values
/// are the raw fc2 / attn.proj columns, the sublayer output is taken before the layer
/// scale (fc2 / attn.proj output; the block's post-norm applied on post-norm models, as
/// the code does for its GAP model), `model.head` alone is the head, and
/// compositionality is one percentage pooled over every token of every image (CLS,
/// registers, distillation token and patches alike). On models without layer scale,
/// distillation head or extra prefix tokens the two modes share values and outputs and
/// differ only in the token pooling.
public enum MemoryMode: String, Sendable, CaseIterable, Codable { case correct, paper }

extension ViT {
    /// The value matrix [D, n] of a block's sublayer: column j is value j. `paper`: the raw
    /// weights (a view, never mutated); `correct`: gamma ⊙ column on layer-scale models
    /// (a copy), the raw weights otherwise.
    public func memoryValues(_ kind: MemoryKind, block b: Int, mode: MemoryMode = .correct) -> Tensor {
        let bw = weights.blocks[b]
        let raw = kind == .mlp ? bw.fc2.weight : bw.proj.weight     // [D, F] or [D, D]
        guard mode == .correct, !config.postNorm, let gamma = kind == .mlp ? bw.ls2 : bw.ls1 else { return raw }
        let x = raw.contiguous()
        let D = x.shape[0], n = x.shape[1]
        let out = Tensor(uninitialized: [D, n])
        for d in 0..<D {
            let g = gamma.pointer[d]
            for j in 0..<n { out.mutablePointer[d * n + j] = x.pointer[d * n + j] * g }
        }
        return out
    }

    /// The head the memory analyses project through [C, D]: `model.head`, or for a
    /// distilled model in `correct` mode the mean of the class and distillation heads (as
    /// `project`'s default; the lens is linear after the norm, so this is the same map).
    public func memoryHead(mode: MemoryMode = .correct) -> Tensor {
        guard mode == .correct, let hd = weights.headDist else { return weights.head.weight }
        let a = weights.head.weight.contiguous(), b = hd.weight.contiguous()
        let out = Tensor(uninitialized: a.shape)
        for i in 0..<a.count { out.mutablePointer[i] = (a.pointer[i] + b.pointer[i]) / 2 }
        return out
    }

    /// The head choice of `project` that matches `memoryHead(mode:)`.
    func memoryHeadChoice(_ mode: MemoryMode) -> HeadChoice { mode == .paper ? .cls : .mean }

    /// Raw value projection P = W_head · W_values: [C, n].
    public func valueProjection(_ kind: MemoryKind, block b: Int, mode: MemoryMode = .correct) throws -> Tensor {
        try memoryHead(mode: mode).matmul(memoryValues(kind, block: b, mode: mode))
    }

    /// Class-value agreement: cosine of every head row with every value column (both
    /// normalised to unit length, on copies), then the max over values per class: [C].
    public func classValueAgreement(_ kind: MemoryKind, block b: Int, mode: MemoryMode = .correct) throws -> Tensor {
        let head = memoryHead(mode: mode).contiguous()                  // [C, D]
        let values = memoryValues(kind, block: b, mode: mode).contiguous()  // [D, n]
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

/// Token groups of the compositionality counts.
public enum MemoryTokenGroup: Int, Sendable, CaseIterable, Codable {
    /// Token 0 of a model with a CLS token.
    case cls
    /// Patch tokens (after every prefix token).
    case image
    /// Other prefix tokens: registers, the distillation token.
    case otherPrefix
}

/// Key-value agreement, its random-class baseline, the CLS accuracy effect and
/// compositionality, accumulated over batches (counts: exact merge).
public struct MemoryStats: Codable, Sendable {
    public let depth: Int
    public let classes: Int
    public let k: Int
    public let mode: MemoryMode
    /// The random class drawn for each class (seeded or given, shared by its images, may equal it).
    public let randomClass: [Int]
    /// [kind][block][class]: tokens that agree with the true class / with the random class / all tokens.
    public var agree: [[[Int]]]
    public var agreeRandom: [[[Int]]]
    public var tokens: [[[Int]]]
    /// [kind][block]: per image, whether its CLS agrees (1/0), and whether the image was classified correctly.
    public var clsAgree: [[[UInt8]]]
    public var correct: [UInt8]
    /// [kind][block][group]: tokens whose own top-1 class equals the class of one of its
    /// top-k memories / all tokens, by token group (`MemoryTokenGroup`).
    public var composed: [[[Int]]]
    public var composedTotal: [[[Int]]]

    init(depth: Int, classes: Int, k: Int, mode: MemoryMode, randomClass: [Int]) {
        self.depth = depth; self.classes = classes; self.k = k; self.mode = mode; self.randomClass = randomClass
        let z3 = [[[Int]]](repeating: [[Int]](repeating: [Int](repeating: 0, count: classes), count: depth), count: 2)
        agree = z3; agreeRandom = z3; tokens = z3
        clsAgree = [[[UInt8]]](repeating: [[UInt8]](repeating: [], count: depth), count: 2)
        correct = []
        let groups = MemoryTokenGroup.allCases.count
        composed = [[[Int]]](repeating: [[Int]](repeating: [Int](repeating: 0, count: groups), count: depth), count: 2)
        composedTotal = composed
    }

    /// Compositionality in % of one kind and block: over `groups` (all tokens when nil, the
    /// authors' pooled definition); nil when the groups hold no token.
    public func compositionality(_ kind: MemoryKind, block b: Int, groups: [MemoryTokenGroup]? = nil) -> Double? {
        let kd = kind == .mlp ? 0 : 1
        let gs = (groups ?? MemoryTokenGroup.allCases).map(\.rawValue)
        let n = gs.map { composed[kd][b][$0] }.reduce(0, +), total = gs.map { composedTotal[kd][b][$0] }.reduce(0, +)
        return total == 0 ? nil : 100 * Double(n) / Double(total)
    }

    public mutating func merge(_ o: MemoryStats) throws {
        guard o.depth == depth, o.classes == classes, o.k == k, o.mode == mode, o.randomClass == randomClass else {
            throw CoreError("cannot merge memory statistics of different models, k, modes or random classes")
        }
        for kd in 0..<2 {
            for b in 0..<depth {
                for c in 0..<classes {
                    agree[kd][b][c] += o.agree[kd][b][c]; agreeRandom[kd][b][c] += o.agreeRandom[kd][b][c]
                    tokens[kd][b][c] += o.tokens[kd][b][c]
                }
                clsAgree[kd][b] += o.clsAgree[kd][b]
                for g in 0..<composed[kd][b].count {
                    composed[kd][b][g] += o.composed[kd][b][g]; composedTotal[kd][b][g] += o.composedTotal[kd][b][g]
                }
            }
        }
        correct += o.correct
    }
}

/// Streams batches, reading keys at `mlp_pre` and `z` and the sublayer outputs.
public final class MemoryCollector: HookHandler {
    public private(set) var stats: MemoryStats
    let model: ViT
    let mode: MemoryMode
    /// [kind][block]: the top-k values of each class (by raw projection) and each memory's class.
    let topValues: [[[Set<Int>]]]
    let memoryClass: [[[Int]]]
    /// `paper` on a pre-norm layer-scale model: the sublayer output before the layer scale
    /// is recomputed from the sublayer's input (z, the activated MLP hidden) with its weights.
    let preScaleOutputs: Bool
    private var labels: [Int] = []
    private var keyTop: [MemoryKind: [[Int]]] = [:]   // per token: its top-k coefficients (current block)

    /// The seeded random classes: one uniform draw in 0..<classes per class (vls's generator).
    public static func randomClasses(classes: Int, seed: UInt64) -> [Int] {
        var g = SeededGenerator(seed: seed)
        return (0..<classes).map { _ in Int(g.next() % UInt64(classes)) }
    }

    /// - Parameters:
    ///   - randomClasses: the random class of each class for the baseline (C entries, each
    ///     in 0..<C); drawn from `seed` when nil.
    public init(model: ViT, k: Int = 5, seed: UInt64, randomClasses: [Int]? = nil, mode: MemoryMode = .correct) throws {
        self.model = model
        self.mode = mode
        let c = model.config
        guard k >= 1 else { throw CoreError("k must be at least 1, got \(k)") }
        let rc: [Int]
        if let given = randomClasses {
            guard given.count == c.numClasses else {
                throw CoreError("random_classes needs one class per class of the model (\(c.numClasses)), got \(given.count)")
            }
            if let bad = given.firstIndex(where: { $0 < 0 || $0 >= c.numClasses }) {
                throw CoreError("random_classes[\(bad)] = \(given[bad]) is not a class of the model (0...\(c.numClasses - 1))")
            }
            rc = given
        } else {
            rc = Self.randomClasses(classes: c.numClasses, seed: seed)
        }
        stats = MemoryStats(depth: c.depth, classes: c.numClasses, k: k, mode: mode, randomClass: rc)
        preScaleOutputs = mode == .paper && c.layerScale && !c.postNorm
        var tv: [[[Set<Int>]]] = [], mc: [[[Int]]] = []
        for kind in MemoryKind.allCases {
            var perBlockTop: [[Set<Int>]] = [], perBlockClass: [[Int]] = []
            for b in 0..<c.depth {
                let P = try model.valueProjection(kind, block: b, mode: mode)   // [C, n]
                let (idx, _) = try LensMath.topk(P, k: min(k, P.shape[1]))
                perBlockTop.append((0..<c.numClasses).map { ci in Set((0..<idx.shape[1]).map { Int(idx.item([ci, $0])) }) })
                // Each memory's class: the top-1 of its column, `noPrediction` for a column holding NaN.
                perBlockClass.append(LensMath.predictions(P.transposed(0, 1)))
            }
            tv.append(perBlockTop); mc.append(perBlockClass)
        }
        topValues = tv; memoryClass = mc
    }

    public func add(images: Tensor, labels: [Int]) throws {
        for l in labels where l < 0 || l >= model.config.numClasses { throw CoreError("label \(l) is not a class of the model") }
        self.labels = labels
        let logits = try model.forward(images, hooks: self)
        NaNWatch.check(logits, at: "the logits (final norm or head)", analysis: "memories")
        let pred = LensMath.predictions(logits)   // a row holding NaN predicts nothing (counted wrong)
        stats.correct += zip(pred, labels).map { $0 == $1 ? 1 : 0 }
    }

    public func wants(_ p: HookPoint) -> Bool {
        if preScaleOutputs { return [.mlpPre, .z, .mlpPost].contains(p.kind) }
        return [.mlpPre, .z, .attnOut, .mlpOut].contains(p.kind)
    }

    public func visit(_ p: HookPoint, _ value: inout Tensor) throws {
        guard let b = p.block else { return }
        switch p.kind {
        case .mlpPre, .z:
            let kind: MemoryKind = p.kind == .mlpPre ? .mlp : .attn
            let B = value.shape[0], T = value.shape[1]
            let flat = try value.contiguous().reshaped([B, T, value.count / (B * T)])
            let (idx, _) = try LensMath.topk(flat, k: min(stats.k, flat.shape[2]))
            let kk = idx.shape[2], n = flat.shape[2]
            let fp = flat.contiguous().pointer
            var tops: [[Int]] = []
            // A token whose keys hold NaN has no top-k memories (topk would hand out
            // arbitrary indices): [] here, and it is counted nowhere, so a block whose
            // keys are all NaN shows nan, not numbers that look valid.
            for i in 0..<(B * T) {
                let row = fp + i * n
                if (0..<n).contains(where: { row[$0].isNaN }) { tops.append([]); continue }
                tops.append((0..<kk).map { Int(idx.pointer[i * kk + $0]) })
            }
            keyTop[kind] = tops
            let kd = kind == .mlp ? 0 : 1
            for i in 0..<B {
                let c = labels[i], r = stats.randomClass[c]
                for t in 0..<T {
                    let top = tops[i * T + t]
                    if top.isEmpty {
                        // The per-image CLS row needs an entry: a NaN key does not agree.
                        if t == 0 && model.config.classToken { stats.clsAgree[kd][b].append(0) }
                        continue
                    }
                    let agrees = top.contains { topValues[kd][b][c].contains($0) }
                    if agrees { stats.agree[kd][b][c] += 1 }
                    if top.contains(where: { topValues[kd][b][r].contains($0) }) { stats.agreeRandom[kd][b][c] += 1 }
                    stats.tokens[kd][b][c] += 1
                    if t == 0 && model.config.classToken { stats.clsAgree[kd][b].append(agrees ? 1 : 0) }
                }
            }
            if preScaleOutputs && kind == .attn {
                try compose(.attn, block: b, output: try linear(flat, model.weights.blocks[b].proj))
            }
        case .mlpPost:
            try compose(.mlp, block: b, output: try linear(value, model.weights.blocks[b].fc2))
        case .attnOut, .mlpOut:
            try compose(p.kind == .mlpOut ? .mlp : .attn, block: b, output: value)
        default: break
        }
    }

    /// Counts the tokens whose sublayer output `output` [B, T, D] has its top-1 class among
    /// the classes of the token's top-k memories.
    func compose(_ kind: MemoryKind, block b: Int, output: Tensor) throws {
        guard let tops = keyTop[kind] else { return }
        let kd = kind == .mlp ? 0 : 1
        let T = output.shape[1]
        NaNWatch.check(output, at: "\(NaNWatch.blockName(b))'s \(kind == .mlp ? "MLP" : "attention") output", analysis: "memories")
        let top1 = LensMath.predictions(try model.project(output, head: model.memoryHeadChoice(mode)))   // [B, T]; NaN rows: noPrediction
        for (i, cls) in top1.enumerated() {
            // A token whose output holds NaN has no top-1 class, and one whose keys hold NaN
            // no memories: neither is counted (a block of NaN shows no compositionality).
            guard cls != LensMath.noPrediction, !tops[i].isEmpty else { continue }
            let g = group(token: i % T).rawValue
            if tops[i].contains(where: { memoryClass[kd][b][$0] == Int(cls) }) { stats.composed[kd][b][g] += 1 }
            stats.composedTotal[kd][b][g] += 1
        }
    }

    /// Token t's group: CLS, image (patch) or another prefix token.
    func group(token t: Int) -> MemoryTokenGroup {
        let c = model.config
        return t >= c.numPrefixTokens ? .image : (t == 0 && c.classToken ? .cls : .otherPrefix)
    }

    /// x [B, T, in] through a linear layer: [B, T, out].
    func linear(_ x: Tensor, _ l: Linear) throws -> Tensor {
        let B = x.shape[0], T = x.shape[1]
        let src = x.contiguous()
        guard src.count == B * T * l.inFeatures else { throw CoreError("memories: activation of shape \(x.shape) does not fit a layer with \(l.inFeatures) inputs") }
        let out = Tensor(uninitialized: [B, T, l.outFeatures])
        BLAS.linear(x: src.pointer, rows: B * T, inFeatures: l.inFeatures, weight: l.weight.pointer, bias: l.bias?.pointer,
                    outFeatures: l.outFeatures, y: out.mutablePointer, rowBlock: T)
        return out
    }
}
