import Foundation
import VLSBuiltins
import VLSLanguage
#if canImport(Glibc)
import Glibc
#endif

// One session's cells, independent of transport: runs a cell and emits what Jupyter calls
// iopub messages (stream, display_data, execute_result, error, clear_output) through `emit`;
// completes, inspects, checks completeness, keeps history. The kernel sends the messages
// over ZeroMQ; `vls notebook --ipynb --execute` turns them into a notebook's outputs.
// Everything here runs on one thread (the kernel's main thread), except StreamBuffer.

final class CellRunner {
    let interp: Interpreter
    let repl: ReplSession
    /// An iopub message: its type and content.
    var emit: (String, JSON) -> Void = { _, _ in }
    /// Called before a cell's result and at its end: the kernel forwards captured output.
    var flushCaptured: () -> Void = {}
    let streams = StreamBuffer()

    var executionCount = 0
    var history: [(line: Int, input: String, output: String?)] = []
    /// Payloads of the running execute_request (help's pages).
    var payload: [JSON] = []
    var silent = false

    init(interpreter: Interpreter) {
        interp = interpreter
        repl = ReplSession(interpreter: interpreter)
        streams.publish = { [unowned self] name, text in emit("stream", ["name": name, "text": text]) }
        installHooks()
    }

    func installHooks() {
        interp.output = { [unowned self] text in
            guard !silent else { return }
            flushCaptured()   // what native code wrote to the descriptors before this comes first
            streams.append("stdout", text)
        }
        interp.display = { [unowned self] figure in
            if !silent { publishDisplay(figure) }
        }
        OutputHooks.standardError = { [unowned self] text in
            guard !silent else { return }
            flushCaptured()
            streams.append("stderr", text)
        }
        OutputHooks.clearOutput = { [unowned self] wait in
            guard !silent else { return }
            finishOutput()
            emit("clear_output", ["wait": wait])
        }
        // help(x) answers with a page payload (the front end's pager), as IPython's `?x`.
        let original = interp.builtinsByArea().flatMap { $0.1 }.first { $0.name == "help" }
        // The same declaration as the builtin's (one signature and docstring), another body.
        let spec = original?.spec ?? NativeSpec(signature: Signature("help(f = nil, /)"), doc: "Shows the signature and docstring of a function (or the members of a value).", area: "basics")
        interp.define(NativeFunction(name: "help", spec: spec) { [unowned self] a in
            let text: String
            if let v = a.optional(0, "f") { text = a.interpreter.helpText(of: v) } else { text = repl.generalHelp() }
            payload.append(["source": "page", "data": ["text/plain": text] as JSON, "start": 0])
            return .nil
        })
    }

    func publishDisplay(_ figure: Displayable) {
        finishOutput()
        var data: JSON = ["text/plain": figure.caption]
        var metadata: JSON = [:]
        if let png = figure.pngData() {
            data["image/png"] = Data(png).base64EncodedString()
            if png.count >= 24 {   // IHDR width and height: the front end sizes the image before decoding
                let w = png[16..<20].reduce(0) { $0 << 8 | Int($1) }, h = png[20..<24].reduce(0) { $0 << 8 | Int($1) }
                metadata["image/png"] = ["width": w, "height": h] as JSON
            }
        }
        if let svg = figure.svgText() { data["image/svg+xml"] = svg }
        emit("display_data", ["data": data, "metadata": metadata, "transient": JSON()])
    }

    /// The mime bundle of a cell's value: text/plain always, text/html for tables.
    func mimeBundle(_ value: Value) -> JSON {
        var data: JSON = ["text/plain": interp.repr(value)]
        if case .object(let o) = value, let h = o as? HTMLRepresentable { data["text/html"] = h.htmlText() }
        return data
    }

    func errorContent(_ outcome: RunOutcome) -> JSON? {
        let diags: [Diagnostic]
        let ename: String
        switch outcome {
        case .ok: return nil
        case .syntaxErrors(let ds): diags = ds; ename = "SyntaxError"
        case .runtimeError(let d): diags = [d]; ename = d.isInterrupt ? "Interrupted" : "RuntimeError"
        }
        var lines = diags.map { interp.render($0) }.joined().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        while lines.last == "" { lines.removeLast() }
        return ["ename": ename, "evalue": diags.first?.message ?? "", "traceback": lines]
    }

    /// Runs one cell; returns the execute_reply content.
    func execute(_ code: String, silent: Bool = false, storeHistory: Bool = true, userExpressions: JSON = [:]) -> JSON {
        self.silent = silent
        let storeHistory = silent ? false : storeHistory
        payload = []
        if storeHistory { executionCount += 1 }
        let count = executionCount
        if !silent { emit("execute_input", ["code": code, "execution_count": count]) }

        Interrupt.clear()
        let outcome = interp.run(source: code, path: storeHistory ? "<cell \(count)>" : "<cell>")
        var resultText: String?
        if case .ok(let value?) = outcome, !isNil(value) {
            if storeHistory { interp.setGlobal("_", value) }
            if case .object(let o) = value, let d = o as? Displayable {
                if !silent { publishDisplay(d) }
            } else {
                let bundle = mimeBundle(value)
                resultText = bundle["text/plain"] as? String
                if !silent {
                    finishOutput()
                    emit("execute_result", ["execution_count": count, "data": bundle, "metadata": JSON()])
                }
            }
        }
        let error = errorContent(outcome)
        finishOutput()
        if let error, !silent { emit("error", error) }
        if storeHistory { history.append((count, code, resultText)) }
        // As ipykernel: user expressions only after a cell that succeeded, and what they
        // print leaves before the reply (and the idle status).
        var expressions: JSON = [:]
        if error == nil {
            expressions = evaluate(userExpressions)
            finishOutput()
        }
        Interrupt.clear()   // an interrupt that arrived as the cell ended does not stop the next one
        self.silent = false

        var content: JSON = ["execution_count": count]
        if let error {
            content.merge(error) { a, _ in a }
            content["status"] = "error"
        } else {
            content["status"] = "ok"
            content["payload"] = payload
            content["user_expressions"] = expressions
        }
        return content
    }

    /// Everything the cell wrote (interpreter and file descriptors) leaves before the result.
    func finishOutput() {
        fflush(nil)
        flushCaptured()
        streams.flush()
    }

    private func isNil(_ v: Value) -> Bool { if case .nil = v { return true }; return false }

    func evaluate(_ exprs: JSON) -> JSON {
        var out: JSON = [:]
        for (name, e) in exprs {
            guard let src = e as? String else { continue }
            let outcome = interp.run(source: src, path: "<user_expression>")
            if let err = errorContent(outcome) {
                var r = err; r["status"] = "error"; out[name] = r
            } else if case .ok(let v) = outcome {
                out[name] = ["status": "ok", "data": v.map(mimeBundle) ?? ["text/plain": "nil"], "metadata": JSON()] as JSON
            }
        }
        return out
    }

    // MARK: Completion and inspection

    /// Jupyter cursor positions count Unicode code points.
    private func split(_ code: String, at cursor: Int?) -> (before: String, after: String) {
        let scalars = Array(code.unicodeScalars)
        let pos = max(0, min(cursor ?? scalars.count, scalars.count))
        var b = String.UnicodeScalarView(), a = String.UnicodeScalarView()
        b.append(contentsOf: scalars[..<pos]); a.append(contentsOf: scalars[pos...])
        return (String(b), String(a))
    }

    func complete(_ code: String, cursor: Int?) -> JSON {
        let (before, _) = split(code, at: cursor)
        let line = before.split(separator: "\n", omittingEmptySubsequences: false).last.map(String.init) ?? ""
        let breaks = Set(ReplSession.wordBreakCharacters.unicodeScalars)
        let word = String(String.UnicodeScalarView(line.unicodeScalars.reversed().prefix { !breaks.contains($0) }.reversed()))
        let end = before.unicodeScalars.count
        let matches = repl.completions(word: word, lineBeforeCursor: line)
        return ["status": "ok", "matches": matches, "cursor_start": end - word.unicodeScalars.count,
                "cursor_end": end, "metadata": JSON()]
    }

    func inspect(_ code: String, cursor: Int?) -> JSON {
        let (before, after) = split(code, at: cursor)
        func isName(_ s: Unicode.Scalar) -> Bool { s == "_" || s == "." || s.properties.isAlphabetic || ("0"..."9").contains(s) }
        let left = String(String.UnicodeScalarView(before.unicodeScalars.reversed().prefix(while: isName).reversed()))
        let right = String(String.UnicodeScalarView(after.unicodeScalars.prefix(while: isName)))
        let name = (left + right).trimmingCharacters(in: CharacterSet(charactersIn: "."))
        var text = lookup(name)
        // Inside a call's parentheses (`zeros(2, |`): the function being called.
        if text == nil, let open = CellRunner.openParenthesis(before) {
            text = lookup(String(String.UnicodeScalarView(before[..<open].unicodeScalars.reversed().prefix(while: isName).reversed())))
        }
        guard let text else { return ["status": "ok", "found": false, "data": JSON(), "metadata": JSON()] }
        return ["status": "ok", "found": true, "data": ["text/plain": text] as JSON, "metadata": JSON()]
    }

    private func lookup(_ name: String) -> String? {
        guard !name.isEmpty, !(name.first?.isNumber ?? true) else { return nil }
        if let t = interp.helpText(for: name) { return t }
        if name.contains("."), let v = attributeChain(name) { return interp.helpText(of: v) }
        return nil
    }

    /// The innermost parenthesis still open at the end of `s` (strings not looked into).
    static func openParenthesis(_ s: String) -> String.Index? {
        var stack: [String.Index] = []
        var quote: Character?
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            if let q = quote {
                if c == "\\" { i = s.index(after: i); if i == s.endIndex { break } } else if c == q { quote = nil }
            } else if c == "\"" || c == "'" { quote = c } else if c == "(" { stack.append(i) } else if c == ")" { _ = stack.popLast() }
            i = s.index(after: i)
        }
        return stack.last
    }

    /// `a.b.c` through globals and properties only: nothing is called.
    private func attributeChain(_ chain: String) -> Value? {
        let parts = chain.split(separator: ".").map(String.init)
        guard let first = parts.first, var v = interp.global(first) else { return nil }
        for p in parts.dropFirst() {
            guard case .object(let o) = v, let next = try? o.getProperty(p, interpreter: interp) else { return nil }
            v = next
        }
        return v
    }

    func isComplete(_ code: String) -> JSON {
        // CRLF line ends, as `vls run` accepts them.
        var code = code.replacingOccurrences(of: "\r\n", with: "\n")
        // A front end sends the text with its final newline; the REPL's check sees lines
        // without it ("while true:\n" is incomplete as "while true:" is, not invalid).
        if code.hasSuffix("\n") { code.removeLast() }
        switch Completeness.check(code) {
        case .complete: return ["status": "complete"]
        case .invalid: return ["status": "invalid"]
        case .incomplete:
            let last = code.split(separator: "\n", omittingEmptySubsequences: false).last.map(String.init) ?? ""
            var indent = String(last.prefix { $0 == " " || $0 == "\t" })
            if last.trimmingCharacters(in: .whitespaces).hasSuffix(":") { indent += "    " }
            return ["status": "incomplete", "indent": indent]
        }
    }

    // MARK: History

    /// tail (last n), range (lines start..<stop of this session) and search (glob pattern,
    /// newest n, optionally unique). Session numbers: this session is 1 (0 also means it).
    func historyReply(_ c: JSON) -> JSON {
        let withOutput = jsonBool(c["output"], default: false)
        var entries = history
        switch c["hist_access_type"] as? String ?? "tail" {
        case "tail":
            let n = jsonInt(c["n"]) ?? 10
            entries = Array(entries.suffix(max(0, n)))
        case "range":
            // 0 and 1 name this session; -1 (IPython: the previous one) and any other
            // number name sessions this kernel never had; a non-number is no session.
            let session = c["session"] == nil ? 0 : (jsonInt(c["session"]) ?? -99)
            if ![0, 1].contains(session) { entries = []; break }
            let start = jsonInt(c["start"]) ?? 1
            let stop = jsonInt(c["stop"])
            entries = entries.filter { $0.line >= start && (stop == nil || $0.line < stop!) }
        case "search":
            let pattern = c["pattern"] as? String ?? "*"
            entries = entries.filter { fnmatch(pattern, $0.input, 0) == 0 }
            if jsonBool(c["unique"], default: false) {
                var seen = Set<String>()
                entries = entries.reversed().filter { seen.insert($0.input).inserted }.reversed()
            }
            if let n = jsonInt(c["n"]) { entries = Array(entries.suffix(max(0, n))) }
        default:
            entries = []
        }
        let rows: [[Any]] = entries.map { e in
            withOutput ? [1, e.line, [e.input, e.output ?? NSNull()] as [Any]] : [1, e.line, e.input]
        }
        return ["status": "ok", "history": rows]
    }
}

/// Stream text on its way to iopub: consecutive writes to one stream go out together
/// (at most every 50 ms while a cell runs, and at its end), so a loop of prints is a few
/// messages, not thousands; `\r` progress text keeps its carriage returns.
final class StreamBuffer {
    private let lock = NSLock()
    private var name = ""
    private var text = ""
    private var since = 0.0
    var publish: (String, String) -> Void = { _, _ in }

    func append(_ stream: String, _ s: String) {
        lock.lock()
        if !text.isEmpty && stream != name { sendLocked() }
        if text.isEmpty { since = monotonicNow() }
        name = stream
        text += s
        if text.utf8.count > 1 << 16 { sendLocked() }
        lock.unlock()
    }

    /// Sends what has waited 50 ms (called by the capture thread's timer).
    func flushIfDue() {
        lock.lock()
        if !text.isEmpty && monotonicNow() - since >= 0.05 { sendLocked() }
        lock.unlock()
    }

    func flush() {
        lock.lock()
        sendLocked()
        lock.unlock()
    }

    private func sendLocked() {
        guard !text.isEmpty else { return }
        publish(name, text)   // under the lock: keeps stream order
        text = ""
    }
}

func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// File descriptors 1 and 2 redirected into pipes that a thread reads: what native code
/// writes there (the dataset progress bar on stderr, a C library's message) reaches the
/// notebook as stream output instead of the kernel's console.
final class OutputCapture {
    private var readEnds: [(fd: Int32, name: String)] = []
    /// The start of a UTF-8 sequence split across reads, per pipe.
    private var carry: [[UInt8]] = [[], []]
    private let lock = NSLock()
    var deliver: (String, String) -> Void = { _, _ in }
    var flushTimer: () -> Void = {}
    private var _silent = false
    var silent: Bool {
        get { lock.lock(); defer { lock.unlock() }; return _silent }
        set { lock.lock(); _silent = newValue; lock.unlock() }
    }

    init?() {
        for (target, name) in [(Int32(1), "stdout"), (Int32(2), "stderr")] {
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else { return nil }
            fflush(nil)
            guard dup2(fds[1], target) >= 0 else { return nil }
            close(fds[1])
            _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
            readEnds.append((fds[0], name))
        }
    }

    func start() {
        let t = Thread { [self] in
            while true {
                var pfds = readEnds.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
                _ = poll(&pfds, nfds_t(pfds.count), 50)
                drain()
                flushTimer()
            }
        }
        t.stackSize = 1 << 20
        t.start()
    }

    /// Reads whatever is in the pipes now and hands it on.
    func drain() {
        lock.lock()
        defer { lock.unlock() }
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        for (i, end) in readEnds.enumerated() {
            var bytes = carry[i]
            carry[i] = []
            while true {
                let n = read(end.fd, &buf, buf.count)
                if n <= 0 { break }
                bytes += buf[0..<n]
            }
            carry[i] = OutputCapture.incompleteTail(bytes)
            bytes.removeLast(carry[i].count)
            if !bytes.isEmpty && !_silent { deliver(end.name, String(decoding: bytes, as: UTF8.self)) }
        }
    }

    /// The trailing bytes of an unfinished UTF-8 sequence (empty when the text ends whole).
    static func incompleteTail(_ b: [UInt8]) -> [UInt8] {
        var i = b.count - 1
        var back = 0
        while i >= 0 && back < 4 {
            let c = b[i]
            if c & 0xC0 != 0x80 {   // a lead byte (or ASCII)
                let need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1
                return back + 1 < need ? Array(b[i...]) : []
            }
            i -= 1; back += 1
        }
        return []
    }
}
