import Foundation
import VLSLanguage

/// Where the output builtins write. Scripts, the REPL and `vls notebook` keep the defaults
/// (standard error; no clearing); the Jupyter kernel points them at its iopub channel.
public enum OutputHooks {
    /// `warn(message)` writes here (the text ends with "\n").
    nonisolated(unsafe) public static var standardError: (String) -> Void = { text in
        fflush(stdout)   // keep a script's printed lines before the warning
        writeStandardError(text)
    }
    /// `clear_output(wait:)`: nil outside the kernel (a no-op there).
    nonisolated(unsafe) public static var clearOutput: ((_ wait: Bool) -> Void)? = nil
}

/// A value that a notebook front end can show as an HTML fragment (tables).
public protocol HTMLRepresentable {
    func htmlText() -> String
}

extension TableObject: HTMLRepresentable {
    /// `<table>` with the title as caption; the same cells and the same 60-row elision as `describe()`.
    public func htmlText() -> String {
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var out = "<table class=\"vls-table\">"
        if let title { out += "<caption>\(esc(title))</caption>" }
        out += "<thead><tr>" + columns.map { "<th>\(esc($0))</th>" }.joined() + "</tr></thead><tbody>"
        let body = rows.map { $0.map(TableObject.cell) }
        let elide = rows.count > 60
        let shown = elide ? Array(body.prefix(25)) + [columns.map { _ in "..." }] + Array(body.suffix(25)) : body
        for r in shown {
            out += "<tr>" + r.map { c in
                Double(c) != nil ? "<td style=\"text-align:right\">\(esc(c))</td>" : "<td>\(esc(c))</td>"
            }.joined() + "</tr>"
        }
        out += "</tbody></table>"
        if elide { out += "<p>(\(rows.count) rows)</p>" }
        return out
    }
}

/// warn and clear_output.
func outputBuiltins(_ session: Session) -> [NativeFunction] {
    [
        native("warn", "warn(message, /)", area: "system",
               "Writes the message and a newline to standard error (the stderr stream in a Jupyter notebook), apart from the printed results.") { a in
            OutputHooks.standardError(a.interpreter.str(try a.value(0, "message")) + "\n")
            return .nil
        },
        native("clear_output", "clear_output(wait: bool = false)", area: "system",
               "In a Jupyter notebook, clears the cell's output so far (with `wait: true`, when the next output arrives); does nothing elsewhere.") { a in
            let wait = try a.bool(0, "wait", default: false)
            OutputHooks.clearOutput?(wait)
            return .nil
        },
    ]
}

extension MetricsObject: HTMLRepresentable {
    /// Prints as its per-block table, so shows as that table.
    public func htmlText() -> String { table.htmlText() }
}
