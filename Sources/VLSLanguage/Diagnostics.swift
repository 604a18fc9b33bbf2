/// One frame of a runtime traceback: the call of `function` at `location`.
public struct TraceEntry: Sendable {
    public var function: String
    public var file: SourceFile?
    public var location: SourceLocation?
}

/// An error with its place in the source. Syntax errors and runtime errors are both
/// diagnostics; they are rendered in one place (`rendered`).
public struct Diagnostic: Error, CustomStringConvertible {
    public var message: String
    public var file: SourceFile?
    public var location: SourceLocation?
    /// Call sites the error passed through, innermost first.
    public var traceback: [TraceEntry] = []
    /// A syntax error found at end of input (the REPL asks for more).
    public var atEnd = false
    /// The program was stopped by Ctrl-C (`Interrupt.request`); not set for a spent step
    /// budget or any other error (the kernel's `Interrupted`).
    public var isInterrupt = false

    public init(message: String, file: SourceFile?, location: SourceLocation?) {
        self.message = message; self.file = file; self.location = location
    }

    /// An error thrown by a native, an operator or the interpreter, at `location`: a
    /// `RuntimeError` keeps its message and interrupt flag, any other error is shown with
    /// `String(describing:)`.
    init(_ error: Error, file: SourceFile?, location: SourceLocation?) {
        self.init(message: diagnosticMessage(error), file: file, location: location)
        if let r = error as? RuntimeError { isInterrupt = r.isInterrupt }
    }

    /// What a loop or a call throws when `Interrupt.poll()` said stop.
    static func stopped(_ file: SourceFile?, _ location: SourceLocation?) -> Diagnostic {
        Diagnostic(RuntimeError.interrupted, file: file, location: location)
    }

    public var description: String { rendered() }

    /// `FILE:LINE:COL: error: message`, the source line, a caret, then the traceback.
    public func rendered() -> String {
        var out = ""
        if let file, let location {
            out += "\(file.path):\(location.line):\(location.column): error: \(message)\n"
            let src = file.line(location.line)
            if !src.isEmpty {
                out += "    " + src + "\n"
                var caret = "    "
                for (i, c) in src.enumerated() where i < location.column - 1 { caret.append(c == "\t" ? "\t" : " ") }
                out += caret + "^\n"
            }
        } else if let file {
            out += "\(file.path): error: \(message)\n"
        } else {
            out += "error: \(message)\n"
        }
        if !traceback.isEmpty {
            out += "traceback (innermost call first):\n"
            // A runaway recursion: keep the innermost and outermost calls.
            var shown = traceback.enumerated().map { ($0.offset, $0.element) }
            if traceback.count > 12 {
                shown = Array(shown.prefix(6)) + Array(shown.suffix(4))
            }
            for (i, t) in shown {
                if traceback.count > 12 && i == traceback.count - 4 {
                    out += "  ... (\(traceback.count - 10) more calls)\n"
                }
                if let f = t.file, let l = t.location {
                    out += "  \(f.path):\(l.line):\(l.column): in call to '\(t.function)'\n"
                } else {
                    out += "  in call to '\(t.function)'\n"
                }
            }
        }
        return out
    }
}
