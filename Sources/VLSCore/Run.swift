import Foundation

/// Hook names as users write them: full names (`blocks.3.hook_resid_post`) or short forms
/// (`resid_post` = every block, `resid_post 3` / `resid_post[3]` = one block, `logits`).
public enum HookNames {
    /// The points a name denotes, or an error listing near matches.
    public static func resolve(_ raw: String, model: ViT) throws -> [HookPoint] {
        let name = raw.trimmingCharacters(in: .whitespaces)
        let all = model.hookPoints
        if let p = HookPoint(name: name) {
            guard all.contains(p) else {
                if let b = p.block, b >= model.config.depth {
                    throw CoreError("unknown hook '\(raw)': the model has blocks 0...\(model.config.depth - 1)")
                }
                throw CoreError("unknown hook '\(raw)': this model has no such point (\(model.config.postNorm ? "post-norm blocks have no ln1/ln2" : "not available"))")
            }
            return [p]
        }
        // Short forms, optionally followed by a block number.
        var base = name
        var block: Int?
        if let sp = name.lastIndex(where: { $0 == " " || $0 == "[" }) {
            let tail = name[name.index(after: sp)...].trimmingCharacters(in: CharacterSet(charactersIn: "] "))
            if let b = Int(tail) {
                block = b
                base = String(name[..<sp]).trimmingCharacters(in: .whitespaces)
            }
        }
        let aliases: [String: HookPoint.Kind] = ["embed": .embed, "pos_embed": .posEmbed, "ln_final": .lnFinal, "logits": .logits,
                                                 "scores": .attnScores, "attn_scores": .attnScores]
        let kind = aliases[base] ?? HookPoint.Kind.allCases.first { $0.shortName == base }
        if let kind {
            if !kind.isPerBlock {
                guard block == nil else { throw CoreError("hook '\(base)' is not per block: write '\(base)' alone") }
                return [HookPoint(kind)]
            }
            let points = all.filter { $0.kind == kind }
            guard !points.isEmpty else { throw CoreError("unknown hook '\(raw)': post-norm blocks have no \(base)") }
            if let block {
                let b = block < 0 ? block + model.config.depth : block
                guard b >= 0, b < model.config.depth else {
                    throw CoreError("hook '\(raw)': block \(block) out of range (the model has \(model.config.depth) blocks, 0...\(model.config.depth - 1))")
                }
                return [HookPoint(kind, block: b)]
            }
            return points
        }
        let candidates = all.map(\.name).filter { !$0.hasPrefix("blocks.") || $0.hasPrefix("blocks.0.") }
            + HookPoint.Kind.allCases.map(\.shortName)
        let near = candidates.map { ($0, editDistance($0, base)) }.sorted { $0.1 < $1.1 }.prefix(3).map(\.0)
        throw CoreError("unknown hook '\(raw)'; did you mean \(near.map { "'\($0)'" }.joined(separator: ", "))? (model.hooks lists them all)")
    }

    /// Levenshtein distance, for suggestions.
    public static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var prev = Array(0...y.count), cur = prev
        for i in 1...x.count {
            cur[0] = i
            for j in 1...y.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[y.count]
    }
}

/// An intervention: a value passed to a run that reads or replaces activations at the
/// hook points it names. Edits compose in the order given.
public protocol Edit: AnyObject {
    /// A one-line description (`self_only() at blocks 0-11`).
    var summary: String { get }
    /// True when this edit acts at `point`.
    func applies(to point: HookPoint) -> Bool
    /// Reads or replaces the activation (a view valid only during the call).
    func apply(_ point: HookPoint, _ value: inout Tensor) throws
}

/// The result of a run: logits and the captured activations (copies).
public final class RunResult: @unchecked Sendable {
    public let model: ViT
    public let logits: Tensor
    public let captured: [HookPoint: Tensor]
    /// Hook points in capture order.
    public let order: [HookPoint]
    public let edits: [String]
    /// Token count of the run (differs from the model's when tokens were dropped).
    public let tokens: Int

    init(model: ViT, logits: Tensor, captured: [HookPoint: Tensor], order: [HookPoint], edits: [String], tokens: Int) {
        self.model = model
        self.logits = logits
        self.captured = captured
        self.order = order
        self.edits = edits
        self.tokens = tokens
    }

    /// A captured activation by hook name; short per-block forms stack over blocks
    /// ([blocks, ...]).
    public func activation(_ name: String) throws -> Tensor {
        let points = try HookNames.resolve(name, model: model)
        var tensors: [Tensor] = []
        for p in points {
            guard let t = captured[p] else {
                let have = order.isEmpty ? "nothing was captured" : "captured: " + summarizeCaptured()
                throw CoreError("'\(p.name)' was not captured in this run (\(have)); pass capture: [\"\(p.kind.shortName)\"] to model.run")
            }
            tensors.append(t)
        }
        if points.count == 1 && (HookPoint(name: name.trimmingCharacters(in: .whitespaces)) != nil || !points[0].kind.isPerBlock || name.contains(" ") || name.contains("[")) {
            return tensors[0]
        }
        return try Tensor.stack(tensors)
    }

    /// Captured points, grouped by kind (`resid_post x12, pattern x12`).
    public func summarizeCaptured() -> String {
        var counts: [(HookPoint.Kind, Int)] = []
        for p in order {
            if let i = counts.firstIndex(where: { $0.0 == p.kind }) { counts[i].1 += 1 } else { counts.append((p.kind, 1)) }
        }
        return counts.map { kind, n in
            n > 1 ? "\(kind.shortName) x\(n)" : (order.first { $0.kind == kind }?.name ?? kind.shortName)
        }.joined(separator: ", ")
    }
}

extension ViT {
    /// Runs `images` capturing `capture` and applying `edits` in order.
    public func run(_ images: Tensor, capture: [HookPoint], edits: [Edit] = []) throws -> RunResult {
        let handler = RunHandler(capture: capture, edits: edits)
        let logits = try forward(images, hooks: (capture.isEmpty && edits.isEmpty) ? nil : handler)
        return RunResult(model: self, logits: logits, captured: handler.captured, order: capture,
                         edits: edits.map(\.summary), tokens: handler.tokens ?? config.numTokens)
    }
}

/// Captures copies and applies edits at the points asked for.
final class RunHandler: HookHandler {
    let capture: Set<HookPoint>
    let edits: [Edit]
    var captured: [HookPoint: Tensor] = [:]
    var tokens: Int?

    init(capture: [HookPoint], edits: [Edit]) {
        self.capture = Set(capture)
        self.edits = edits
    }

    func wants(_ point: HookPoint) -> Bool {
        capture.contains(point) || edits.contains { $0.applies(to: point) } || point.kind == .posEmbed
    }

    func visit(_ point: HookPoint, _ value: inout Tensor) throws {
        for e in edits where e.applies(to: point) { try e.apply(point, &value) }
        if point.kind == .posEmbed { tokens = value.shape[1] }
        if capture.contains(point) { captured[point] = value.copy() }
    }
}
