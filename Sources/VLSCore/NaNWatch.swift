import Foundation

/// Warns once per analysis, on standard error, when activations hold NaN: the analysis
/// still runs (NaN logits rank last, never first), but its numbers mean less, and the
/// first block where NaN appears is where to look (a NaN weight, an edit dividing by zero).
public enum NaNWatch {
    nonisolated(unsafe) private static var warned = Set<String>()
    private static let lock = NSLock()
    /// Where warnings go (standard error; tests replace it).
    nonisolated(unsafe) public static var sink: (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }

    /// Scans `t`; on the first NaN of `analysis` in this process, warns naming `block`.
    /// Returns whether `t` holds a NaN.
    @discardableResult
    public static func check(_ t: Tensor, block: Int, analysis: String) -> Bool {
        check(t, analysis: analysis) { "the activations hold NaN from block \(block) on" }
    }

    /// Scans `t` (the logits, a sublayer's output); on the first NaN of `analysis` in this
    /// process, warns naming `place` ("the logits (final norm or head)", "block 3 (MLP output)").
    @discardableResult
    public static func check(_ t: Tensor, at place: String, analysis: String) -> Bool {
        check(t, analysis: analysis) { "NaN appears in \(place)" }
    }

    private static func check(_ t: Tensor, analysis: String, what: () -> String) -> Bool {
        let c = t.contiguous()
        let p = c.pointer
        var found = false
        for i in 0..<c.count where p[i].isNaN { found = true; break }
        guard found else { return false }
        lock.lock()
        let first = warned.insert(analysis).inserted
        lock.unlock()
        if first {
            sink("warning: \(analysis): \(what()); NaN logits rank last and a row holding NaN counts as no prediction (wrong)\n")
        }
        return true
    }

    /// Forgets which analyses warned (tests).
    public static func reset() {
        lock.lock(); warned.removeAll(); lock.unlock()
    }
}
