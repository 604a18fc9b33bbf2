#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import VLSFiles

/// What a line reader returns.
public enum LineInput: Equatable {
    case line(String)
    /// Ctrl-C at the prompt: the pending input is dropped.
    case interrupted
    /// Ctrl-D or end of file.
    case endOfInput
}

/// Where the REPL gets its lines: GNU readline in the tool, a script in tests.
public protocol LineReader: AnyObject {
    func readLine(prompt: String) -> LineInput
    /// A complete entry (possibly several lines) to keep in the history.
    func addHistory(_ entry: String)
}

/// The state of an interactive session, independent of how lines are read: accumulates
/// lines until the input is complete, runs it, shows the value, handles `:commands`.
public final class ReplSession {
    public let interpreter: Interpreter
    /// Where errors go (stderr by default).
    public var errorOutput: (String) -> Void = { text in
        writeStandardError(text)
    }
    public var primaryPrompt = "> "
    public var continuationPrompt = ".. "
    /// The inputs that ran without error, in order (`:save` writes them).
    public private(set) var acceptedInputs: [String] = []
    private var inputCount = 0

    public init(interpreter: Interpreter) {
        self.interpreter = interpreter
    }

    /// Reads and runs entries until end of input or `:quit`.
    public func run(reader: LineReader) {
        var buffer: [String] = []
        while true {
            let prompt = buffer.isEmpty ? primaryPrompt : continuationPrompt
            switch reader.readLine(prompt: prompt) {
            case .endOfInput:
                return
            case .interrupted:
                buffer.removeAll()
            case .line(let line):
                if buffer.isEmpty {
                    let t = line.trimmingWhitespace()
                    if t.isEmpty { continue }
                    if t.hasPrefix(":") {
                        reader.addHistory(t)
                        if !command(t) { return }
                        continue
                    }
                }
                buffer.append(line)
                let source = buffer.joined(separator: "\n")
                if Completeness.check(source) == .incomplete { continue }
                buffer.removeAll()
                var lines = source.split(separator: "\n", omittingEmptySubsequences: false)
                while let l = lines.last, l.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { lines.removeLast() }
                let entry = lines.joined(separator: "\n")
                reader.addHistory(entry)
                evaluate(entry)
            }
        }
    }

    /// Runs one complete entry; shows its value (and stores it in `_`) or its error.
    @discardableResult
    public func evaluate(_ entry: String, path: String = "<repl>") -> Bool {
        Interrupt.clear()
        inputCount += 1
        switch interpreter.run(source: entry, path: path) {
        case .ok(let value):
            acceptedInputs.append(entry)
            if let value { show(value) }
            remember(entry, shown: value)
            return true
        case .syntaxErrors(let diags):
            for d in diags { errorOutput(interpreter.render(d)) }
            return false
        case .runtimeError(let d):
            errorOutput(interpreter.render(d))
            return false
        }
    }

    private func show(_ value: Value) {
        if case .nil = value { return }
        interpreter.setGlobal("_", value)
        if case .object(let o) = value, let d = o as? Displayable {
            interpreter.display(d)
        } else {
            interpreter.output(interpreter.repr(value) + "\n")
        }
    }

    // MARK: - Commands

    /// Runs a `:command`; returns false for `:quit`.
    public func command(_ text: String) -> Bool {
        let body = text.dropFirst()
        let name = String(body.prefix { !$0.isWhitespace })
        let arg = String(body.dropFirst(name.count)).trimmingWhitespace()
        switch name {
        case "quit", "q", "exit":
            return false
        case "help", "h":
            if arg.isEmpty {
                interpreter.output(generalHelp())
            } else if let h = interpreter.helpText(for: arg) {
                interpreter.output(h + "\n")
            } else {
                errorOutput("error: no help for '\(arg)' (not a builtin or variable)\n")
            }
        case "vars":
            let vars = interpreter.userVariables().filter { $0.0 != "_" }
            if vars.isEmpty { interpreter.output("(no variables)\n") }
            for (n, v) in vars {
                var r = interpreter.repr(v)
                if r.count > 70 { r = String(r.prefix(67)) + "..." }
                interpreter.output("\(n): \(v.typeName) = \(r)\n")
            }
        case "time":
            if arg.isEmpty { errorOutput("error: usage: :time EXPR\n"); return true }
            let t0 = monotonicSeconds()
            evaluate(arg)
            let dt = monotonicSeconds() - t0
            interpreter.output("time: \(Format.fixed(dt * 1000, 3)) ms\n")
        case "load":
            if arg.isEmpty { errorOutput("error: usage: :load FILE\n"); return true }
            let text: String?
            do { text = try readTextFile(arg) } catch {
                errorOutput("error: \(error)\n")
                return true
            }
            guard let text else {
                errorOutput("error: cannot read '\(arg)': no such file\n")
                return true
            }
            evaluate(text, path: arg)
        case "save":
            if arg.isEmpty { errorOutput("error: usage: :save FILE\n"); return true }
            let text = acceptedInputs.joined(separator: "\n") + (acceptedInputs.isEmpty ? "" : "\n")
            if let problem = writeTextFile(arg, text) {
                errorOutput("error: \(problem)\n")
            } else {
                interpreter.output("saved \(acceptedInputs.count) input\(acceptedInputs.count == 1 ? "" : "s") to \(arg)\n")
            }
        default:
            errorOutput("error: unknown command ':\(name)' (try :help)\n")
        }
        return true
    }

    public func generalHelp() -> String {
        var out = """
        Type an expression to see its value (`_` is the last one), or a statement.
        Blocks (def, if, for, while) end with an empty line. Ctrl-C cancels, Ctrl-D quits.
        Commands: :help [name]  :vars  :time EXPR  :load FILE  :save FILE  :quit

        """
        for (area, names) in interpreter.namesByArea() {
            out += "\(area):\n"
            var line = " "
            for name in names {
                if line.count + name.count > 76 { out += line + "\n"; line = " " }
                line += " " + name
            }
            out += line + "\n"
        }
        out += "help(f) or :help f shows one function.\n"
        return out
    }

    // MARK: - Completion

    /// Candidates that replace `word`, the text before the cursor back to a break
    /// character (readline's word). After `import`: Stdlib modules and .vls files. Inside a
    /// string: a run's hook names (`r["`), a model's (`capture: ["`), else file paths. After
    /// `expr.`: the members of the value of `expr`, evaluated without side effects
    /// (`ValueAtPrompt`). Otherwise names in scope and, inside a call's parentheses, its
    /// keyword names from the declaration.
    public func completions(word: String, lineBeforeCursor: String) -> [String] {
        let before = String(lineBeforeCursor.dropLast(word.count))
        let prompt = ValueAtPrompt(interpreter: interpreter, cache: resultCache)
        if let modules = importCompletions(lineBeforeCursor) { return modules }
        if ReplSession.insideString(before) {
            if let keys = prompt.stringCompletions(before) { return keys.filter { $0.hasPrefix(word) }.sorted() }
            return pathCompletions(word)
        }
        if let (receiver, prefix) = ValueAtPrompt.memberContext(lineBeforeCursor) {
            guard let members = prompt.members(of: receiver) else { return [] }
            let head = String(word.dropLast(prefix.count))
            return members.filter { $0.hasPrefix(prefix) }.sorted().map { head + $0 }
        }
        var names = Set(interpreter.globalNames())
        for k in keywords { names.insert(k) }
        let plain = names.filter { $0.hasPrefix(word) }.sorted()
        guard let keywordNames = prompt.callKeywords(before) else { return plain }
        return keywordNames.filter { $0.hasPrefix(word) }.map { $0 + ":" } + plain
    }

    /// `import na`: Stdlib module names and the .vls files of the current directory.
    private func importCompletions(_ line: String) -> [String]? {
        let t = line.drop { $0 == " " || $0 == "\t" }
        guard t.hasPrefix("import "), !t.contains("\""), !t.contains("'") else { return nil }
        let word = String(t.dropFirst("import ".count)).trimmingWhitespace()
        guard !word.contains(" ") else { return nil }
        var names = Set(interpreter.stdlibNames)
        if let d = opendir(".") {
            while let e = readdir(d) {
                let name = withUnsafePointer(to: e.pointee.d_name) { p in
                    p.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                if name.hasSuffix(".vls"), !name.hasPrefix(".") { names.insert(String(name.dropLast(4))) }
            }
            closedir(d)
        }
        return names.filter { $0.hasPrefix(word) }.sorted()
    }

    /// Results of calls the session has already made, by their source text, for completion
    /// after `m.run(x).` without calling anything (see `ValueAtPrompt`).
    var resultCache = ResultCache()

    /// Records `name = call(...)` and a shown `call(...)` of a one-line entry.
    private func remember(_ entry: String, shown: Value?) {
        guard !entry.contains("\n") else { return }
        let t = entry.trimmingWhitespace()
        if let eq = ReplSession.assignment(t) {
            let name = String(t[..<eq]).trimmingWhitespace()
            let expr = String(t[t.index(after: eq)...])
            if ValueAtPrompt.isIdentifier(name), let v = interpreter.global(name) { resultCache.record(expr, v) }
        } else if let shown {
            resultCache.record(t, shown)
        }
    }

    /// The `=` of `name = expr` (not `==`, `<=`, `+=`, a keyword's or one inside brackets).
    static func assignment(_ t: String) -> String.Index? {
        var depth = 0
        var quote: Character?
        var prev: Character = " "
        for i in t.indices {
            let c = t[i]
            if let q = quote { if c == q && prev != "\\" { quote = nil }; prev = c; continue }
            switch c {
            case "\"", "'": quote = c
            case "(", "[", "{": depth += 1
            case ")", "]", "}": depth -= 1
            case "=":
                let next = t.index(after: i) < t.endIndex ? t[t.index(after: i)] : " "
                if depth == 0, next != "=", !"=<>!+-*/%@&|^:".contains(prev) { return i }
            default: break
            }
            prev = c
        }
        return nil
    }

    /// Characters that end a word for completion (no '.', '/' or '~': they belong to words).
    public static let wordBreakCharacters = " \t\n\"'()[]{},=+-*%<>!&|:;@"

    static func insideString(_ s: String) -> Bool {
        var quote: Character?
        var escaped = false
        for c in s {
            if escaped { escaped = false; continue }
            if c == "\\" { escaped = true; continue }
            if let q = quote { if c == q { quote = nil } } else if c == "\"" || c == "'" { quote = c } else if c == "#" { return false }
        }
        return quote != nil
    }

    private func pathCompletions(_ word: String) -> [String] {
        var dir = ""
        var prefix = word
        if let slash = word.lastIndex(of: "/") {
            dir = String(word[...slash])
            prefix = String(word[word.index(after: slash)...])
        }
        var fsDir = dir.isEmpty ? "." : dir
        if fsDir.hasPrefix("~"), let home = getenv("HOME") { fsDir = String(cString: home) + fsDir.dropFirst() }
        guard let d = opendir(fsDir) else { return [] }
        defer { closedir(d) }
        var out: [String] = []
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) { p in
                p.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." { continue }
            if name.hasPrefix(".") && !prefix.hasPrefix(".") { continue }
            guard name.hasPrefix(prefix) else { continue }
            var st = stat()
            let full = (fsDir.hasSuffix("/") ? fsDir : fsDir + "/") + name
            let isDir = stat(full, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
            out.append(dir + name + (isDir ? "/" : ""))
        }
        return out.sorted()
    }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Writes through `Files.writeAtomically` (a temporary file beside `path` and a rename: a
/// kill mid-write keeps the old file); nil on success, else the reason.
func writeTextFile(_ path: String, _ text: String) -> String? {
    do {
        try Files.writeAtomically(Array(text.utf8), to: path)
        return nil
    } catch {
        return "\(error)"
    }
}

/// Writes to file descriptor 2 (unbuffered).
public func writeStandardError(_ text: String) {
    let bytes = Array(text.utf8)
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeBufferPointer { buf -> Int in
            guard let base = buf.baseAddress else { return 0 }
            return write(2, base + off, buf.count - off)
        }
        if n <= 0 { break }
        off += n
    }
}

/// Whether an input is ready to run: the REPL shows the `..` prompt while it is incomplete.
public enum Completeness: Sendable, Equatable {
    case complete, incomplete, invalid

    /// Complete when it parses and (for block statements) ends with a blank line;
    /// incomplete when the parser hit end of input; invalid otherwise.
    public static func check(_ source: String) -> Completeness {
        var lexer = Lexer(source)
        let tokens = lexer.run()
        if lexer.unterminatedAtEnd || lexer.openBrackets > 0 {
            if lexer.errors.contains(where: { !$0.atEnd }) { return .invalid }
            return .incomplete
        }
        var parser = Parser(tokens: tokens)
        _ = parser.program()
        let errs = lexer.errors.map { Parser.ParseError(message: $0.message, location: $0.location, atEnd: $0.atEnd) } + parser.errors
        if !errs.isEmpty {
            guard errs.allSatisfy(\.atEnd) else { return .invalid }
            // An empty line ends the entry even if a block is still missing its body.
            let lastLine = source.split(separator: "\n", omittingEmptySubsequences: false).last ?? ""
            let endsWithBlankLine = source.contains("\n") && lastLine.allSatisfy { $0 == " " || $0 == "\t" || $0 == "\r" }
            return endsWithBlankLine ? .invalid : .incomplete
        }
        // A block statement continues until a blank line.
        let hasBlock = tokens.contains { $0.kind == .indent }
        if hasBlock {
            let lastLine = source.split(separator: "\n", omittingEmptySubsequences: false).last ?? ""
            if !lastLine.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { return .incomplete }
        }
        return .complete
    }
}
