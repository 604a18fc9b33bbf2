import Foundation

/// Warns once per analysis, on standard error, when activations hold NaN: the analysis
/// still runs (NaN logits rank last, never first), but its numbers mean less, and the
/// first block where NaN appears is where to look (a NaN weight, an edit dividing by zero).
///
/// Blocks are named both ways: `blocks.1` as hooks count them (from 0) and `block 2` as
/// the per-block tables print them (from 1).
public enum NaNWatch {
    nonisolated(unsafe) private static var warned = Set<String>()
    private static let lock = NSLock()
    /// Where warnings go (standard error; tests replace it).
    nonisolated(unsafe) public static var sink: (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }

    /// `blocks.1 (block 2 in tables)`.
    public static func blockName(_ block: Int) -> String { "blocks.\(block) (block \(block + 1) in tables)" }

    /// Scans `t`; on the first NaN of `analysis` in this process, warns naming `block`.
    /// Returns whether `t` holds a NaN.
    @discardableResult
    public static func check(_ t: Tensor, block: Int, analysis: String) -> Bool {
        check(t, analysis: analysis) { "the activations hold NaN from \(blockName(block)) on" }
    }

    /// Scans `t` (the logits, a sublayer's output); on the first NaN of `analysis` in this
    /// process, warns naming `place` ("the logits (final norm or head)", "block 3 (MLP output)").
    @discardableResult
    public static func check(_ t: Tensor, at place: String, analysis: String) -> Bool {
        check(t, analysis: analysis) { "NaN appears in \(place)" }
    }

    /// For analyses that see only their own result (saliency maps, gradients): when any of
    /// `outputs` holds NaN and `analysis` has not warned yet, one more forward pass of
    /// `images` finds the first place NaN appears (`ViT.firstNaN`), and the warning names
    /// it. Returns whether an output holds NaN.
    @discardableResult
    public static func check(_ outputs: [Tensor], model: ViT, images: Tensor, analysis: String) -> Bool {
        guard outputs.contains(where: hasNaN) else { return false }
        guard !hasWarned(analysis) else { return true }
        let place = (try? model.firstNaN(images)) ?? nil
        warn(analysis, place.map { "NaN appears in \($0)" } ?? "NaN appears in its result, not in the model's activations (a NaN gradient, target or edit)")
        return true
    }

    /// Per block, in order: on the first NaN among the captured `points` of a run (one
    /// per block), warns naming that block. For analyses reading captured activations.
    @discardableResult
    public static func check(_ run: RunResult, points: [HookPoint], analysis: String) -> Bool {
        for p in points {
            guard let t = run.captured[p] else { continue }
            if hasNaN(t) {
                let b = p.block
                warn(analysis, b.map { "the activations hold NaN from \(blockName($0)) on (\(p.kind.shortName))" } ?? "NaN appears in \(p.kind.shortName)")
                return true
            }
        }
        return false
    }

    /// Per block: the first block of `acts` ([blocks, ...]) holding NaN, warned about.
    @discardableResult
    public static func check(blocks acts: Tensor, analysis: String) -> Bool {
        guard acts.rank >= 1 else { return false }
        for b in 0..<acts.shape[0] where hasNaN(acts.select(b)) {
            warn(analysis, "the activations hold NaN from \(blockName(b)) on")
            return true
        }
        return false
    }

    static func hasNaN(_ t: Tensor) -> Bool {
        let c = t.contiguous()
        let p = c.pointer
        for i in 0..<c.count where p[i].isNaN { return true }
        return false
    }

    static func hasWarned(_ analysis: String) -> Bool {
        lock.lock(); defer { lock.unlock() }
        return warned.contains(analysis)
    }

    /// Warns once per analysis and process.
    static func warn(_ analysis: String, _ what: String) {
        lock.lock()
        let first = warned.insert(analysis).inserted
        lock.unlock()
        if first {
            sink("warning: \(analysis): \(what); NaN logits rank last and a row holding NaN counts as no prediction (wrong)\n")
        }
    }

    private static func check(_ t: Tensor, analysis: String, what: () -> String) -> Bool {
        guard hasNaN(t) else { return false }
        warn(analysis, what())
        return true
    }

    /// Forgets which analyses warned (tests).
    public static func reset() {
        lock.lock(); warned.removeAll(); lock.unlock()
    }
}

extension ViT {
    /// Where NaN first appears in a forward pass of `images`: "the embeddings (...)", a
    /// block ("blocks.1 (block 2 in tables)", its residual stream) or "the logits (final
    /// norm or head)"; nil when the whole pass is finite.
    public func firstNaN(_ images: Tensor) throws -> String? {
        final class Finder: HookHandler {
            var place: String?
            func wants(_ p: HookPoint) -> Bool { p.kind == .posEmbed || p.kind == .residPost }
            func visit(_ p: HookPoint, _ value: inout Tensor) throws {
                guard place == nil, NaNWatch.hasNaN(value) else { return }
                place = p.kind == .posEmbed ? "the embeddings (patch embedding, tokens or position table)"
                    : p.block.map { NaNWatch.blockName($0) + "'s residual stream" } ?? p.kind.shortName
            }
        }
        let finder = Finder()
        let logits = try forward(images, hooks: finder)
        if let place = finder.place { return place }
        return NaNWatch.hasNaN(logits) ? "the logits (final norm or head)" : nil
    }
}
