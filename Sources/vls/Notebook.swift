import Foundation
import VLSFiles
import VLSImaging
import VLSLanguage

/// `vls notebook`: runs a script cell by cell in one session and renders one
/// self-contained HTML page (code, printed output, figures inline, errors in their cell).
struct NotebookRenderer {
    let interpreter: Interpreter
    let path: String

    struct Cell {
        var isProse: Bool
        var startLine: Int
        var lines: [String]
    }

    /// Cells start at lines beginning `# %%`; `# %% md` starts a prose cell.
    static func split(_ source: String) -> [Cell] {
        var cells: [Cell] = []
        var current = Cell(isProse: false, startLine: 1, lines: [])
        for (i, raw) in source.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw)
            if line.hasPrefix("# %%") {
                if !current.lines.allSatisfy({ $0.trimmingCharacters(in: .whitespaces).isEmpty }) { cells.append(current) }
                let tag = line.dropFirst(4).trimmingCharacters(in: .whitespaces)
                current = Cell(isProse: tag.hasPrefix("md"), startLine: i + 2, lines: [])
            } else {
                current.lines.append(line)
            }
        }
        if !current.lines.allSatisfy({ $0.trimmingCharacters(in: .whitespaces).isEmpty }) { cells.append(current) }
        return cells
    }

    /// Returns the page and whether a cell failed.
    func render(_ source: String) -> (String, Bool) {
        var body = ""
        var failed = false
        let savedOutput = interpreter.output
        let savedDisplay = interpreter.display
        defer { interpreter.output = savedOutput; interpreter.display = savedDisplay }
        for cell in NotebookRenderer.split(source) {
            if cell.isProse {
                body += "<section class=\"prose\">\(NotebookRenderer.markdown(cell.lines))</section>\n"
                continue
            }
            var code = cell.lines
            while let l = code.last, l.trimmingCharacters(in: .whitespaces).isEmpty { code.removeLast() }
            body += "<section class=\"cell\"><pre class=\"code\">\(escape(code.joined(separator: "\n")))</pre>\n"
            if failed {
                body += "<div class=\"skipped\">not run (an earlier cell failed)</div></section>\n"
                continue
            }
            var out = ""
            var figures = ""
            interpreter.output = { out += $0 }
            interpreter.display = { fig in
                if !out.isEmpty { figures += "<pre class=\"out\">\(escape(out))</pre>"; out = "" }
                figures += NotebookRenderer.figureHTML(fig)
            }
            let padded = String(repeating: "\n", count: cell.startLine - 1) + cell.lines.joined(separator: "\n")
            var error: String?
            switch interpreter.run(source: padded, path: path) {
            case .ok(let value):
                if let value {
                    if case .object(let o) = value, let d = o as? Displayable {
                        interpreter.display(d)
                    } else if case .nil = value {
                    } else {
                        out += interpreter.repr(value) + "\n"
                    }
                }
            case .syntaxErrors(let ds): error = ds.map { interpreter.render($0) }.joined()
            case .runtimeError(let d): error = interpreter.render(d)
            }
            interpreter.output = savedOutput
            if let error {
                failed = true
                writeStandardError(error)
            }
            body += figures
            if !out.isEmpty { body += "<pre class=\"out\">\(escape(out))</pre>" }
            if let error { body += "<pre class=\"error\">\(escape(error))</pre>" }
            body += "</section>\n"
        }
        let title = escape(Paths.name(of: path))
        let page = """
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>\(title)</title>
        <style>
        body { font-family: -apple-system, "Segoe UI", sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
        pre { padding: .6rem .8rem; border-radius: 4px; overflow-x: auto; font-size: .9rem; margin: .3rem 0; }
        .code { background: #f4f4f8; border-left: 3px solid #88a; }
        .out { background: #fff; border-left: 3px solid #ccc; }
        .error { background: #fff0f0; border-left: 3px solid #c33; color: #900; }
        .skipped { color: #888; font-style: italic; }
        .cell { margin: 1.2rem 0; }
        figure { margin: .5rem 0; } figure img, figure svg { max-width: 100%; }
        figcaption { color: #555; font-size: .85rem; }
        </style></head><body>
        <h1>\(title)</h1>
        \(body)</body></html>

        """
        return (page, failed)
    }

    static func figureHTML(_ fig: Displayable) -> String {
        var inner = ""
        if let svg = fig.svgText() {
            inner = svg
        } else if let png = fig.pngData() {
            inner = "<img alt=\"\(escapeHTML(fig.caption))\" src=\"data:image/png;base64,\(Data(png).base64EncodedString())\">"
        } else {
            inner = "<pre class=\"out\">\(escapeHTML(fig.describe()))</pre>"
        }
        return "<figure>\(inner)<figcaption>\(escapeHTML(fig.caption))</figcaption></figure>\n"
    }

    /// Comment lines as markdown-ish text: `#` headings, `-` bullets, paragraphs, `code`, **bold**.
    static func markdown(_ lines: [String]) -> String {
        var html = ""
        var paragraph: [String] = []
        var inList = false
        func flush() {
            if !paragraph.isEmpty { html += "<p>\(inline(paragraph.joined(separator: " ")))</p>\n"; paragraph = [] }
        }
        for raw in lines {
            var line = raw
            if line.hasPrefix("# ") { line.removeFirst(2) } else if line.hasPrefix("#") { line.removeFirst() }
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.isEmpty {
                flush()
                if inList { html += "</ul>\n"; inList = false }
                continue
            }
            if t.hasPrefix("#") {
                flush()
                let level = min(t.prefix { $0 == "#" }.count + 1, 6)
                html += "<h\(level)>\(inline(t.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces)))</h\(level)>\n"
            } else if t.hasPrefix("- ") || t.hasPrefix("* ") {
                flush()
                if !inList { html += "<ul>\n"; inList = true }
                html += "<li>\(inline(String(t.dropFirst(2))))</li>\n"
            } else {
                if inList { html += "</ul>\n"; inList = false }
                paragraph.append(t)
            }
        }
        flush()
        if inList { html += "</ul>\n" }
        return html
    }

    static func inline(_ s: String) -> String {
        var out = ""
        var code = false
        var bold = false
        let chars = Array(escapeHTML(s))
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "`" { out += code ? "</code>" : "<code>"; code.toggle(); i += 1; continue }
            if !code && c == "*" && i + 1 < chars.count && chars[i + 1] == "*" {
                out += bold ? "</strong>" : "<strong>"; bold.toggle(); i += 2; continue
            }
            out.append(c)
            i += 1
        }
        if code { out += "</code>" }
        if bold { out += "</strong>" }
        return out
    }

    private func escape(_ s: String) -> String { NotebookRenderer.escapeHTML(s) }

    static func escapeHTML(_ s: String) -> String { escapeMarkup(s) }
}
