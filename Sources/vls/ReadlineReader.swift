import CReadline
import VLSLanguage
import VLSFiles
#if canImport(Glibc)
import Glibc
#endif

// State shared with readline's C callbacks (which cannot capture context).
nonisolated(unsafe) private var receivedLine: String?
nonisolated(unsafe) private var lineDone = false
nonisolated(unsafe) private var gotEOF = false
nonisolated(unsafe) private var completionSession: ReplSession?
nonisolated(unsafe) private var completionCandidates: [String] = []
nonisolated(unsafe) private var completionIndex = 0

/// GNU readline through its callback interface, so Ctrl-C can clear the line: SIGINT only
/// sets `Interrupt`, and the poll loop notices it.
final class ReadlineReader: LineReader {
    private let historyPath: String
    private var entries: [String] = []
    static let historyLimit = 1000

    init(session: ReplSession) {
        if let env = getenv("VLS_HISTORY"), env.pointee != 0 {
            historyPath = String(cString: env)
        } else if let home = getenv("HOME") {
            historyPath = String(cString: home) + "/.vls_history"
        } else {
            historyPath = ".vls_history"
        }
        completionSession = session
        ReadlineReader.installInput()
        vls_rl_setup(strdup("vls"), strdup(ReplSession.wordBreakCharacters)) { text, _, end in
            vls_rl_completion_options()
            guard let text, let session = completionSession else { return nil }
            let word = String(cString: text)
            var before = ""
            if let buf = vls_rl_line_buffer() {
                let all = Array(String(cString: buf).utf8)
                before = String(decoding: all.prefix(Int(end)), as: UTF8.self)
            }
            completionCandidates = session.completions(word: word, lineBeforeCursor: before)
            completionIndex = 0
            if completionCandidates.isEmpty { return nil }
            return rl_completion_matches(text) { _, state in
                if state == 0 { completionIndex = 0 }
                guard completionIndex < completionCandidates.count else { return nil }
                completionIndex += 1
                return strdup(completionCandidates[completionIndex - 1])
            }
        }
        entries = ReadlineReader.loadHistory(historyPath)
        for e in entries { add_history(e) }
        Interrupt.clear()
        var sa = sigaction()
        sa.__sigaction_handler.sa_handler = { _ in Interrupt.request() }
        sigemptyset(&sa.sa_mask)
        sa.sa_flags = 0
        sigaction(SIGINT, &sa, nil)
    }

    /// readline's input: bytes kept back (TerminalInput.typeAhead) first, then the terminal.
    static func installInput() {
        vls_rl_set_input({ stream in
            if !TerminalInput.typeAhead.isEmpty { return Int32(TerminalInput.typeAhead.removeFirst()) }
            return rl_getc(stream)
        }, {
            if !TerminalInput.typeAhead.isEmpty { return 1 }
            var pfd = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
            return poll(&pfd, 1, 100) > 0 ? 1 : 0   // readline's default waits 0.1 s too
        })
    }

    func readLine(prompt: String) -> LineInput {
        fflush(nil)
        lineDone = false
        gotEOF = false
        receivedLine = nil
        Interrupt.clear()
        rl_callback_handler_install(prompt) { line in
            if let line {
                receivedLine = String(cString: line)
                free(line)
            } else {
                gotEOF = true
            }
            lineDone = true
            rl_callback_handler_remove()
        }
        var pfd = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
        while !lineDone {
            if Interrupt.isRequested {
                Interrupt.clear()
                rl_free_line_state()
                rl_callback_sigcleanup()
                rl_replace_line("", 0)
                rl_callback_handler_remove()
                vls_rl_write_output("^C\n")
                fflush(nil)
                return .interrupted
            }
            if !TerminalInput.typeAhead.isEmpty {
                rl_callback_read_char()
                continue
            }
            pfd.revents = 0
            let r = poll(&pfd, 1, 100)
            if r < 0 {
                if errno == EINTR { continue }
                rl_callback_handler_remove()
                return .endOfInput
            }
            if r > 0 {
                if pfd.revents & Int16(POLLIN) != 0 && TerminalInput.lateDA1 {
                    // A terminal's late answer to show()'s query is not typed input.
                    var buf = [UInt8](repeating: 0, count: 4096)
                    let n = read(0, &buf, buf.count)
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { rl_callback_handler_remove(); return .endOfInput }
                    TerminalInput.typeAhead += TerminalInput.droppingLateAnswer(Array(buf[..<n]))
                } else if pfd.revents & Int16(POLLIN) != 0 {
                    rl_callback_read_char()
                } else if pfd.revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0 {
                    rl_callback_handler_remove()
                    return .endOfInput
                }
            }
        }
        if gotEOF {
            vls_rl_write_output("\n")
            return .endOfInput
        }
        return .line(receivedLine ?? "")
    }

    /// Records an entry and appends it to the history file at once (as the file is now:
    /// another REPL may have written since), capped, under a file lock and written
    /// atomically (`appendHistory`), so a REPL that is killed, or whose terminal closes,
    /// loses no line it accepted. I/O errors are ignored (history is a convenience).
    func addHistory(_ entry: String) {
        if entries.last == entry { return }
        entries.append(entry)
        add_history(entry)
        appendHistory([entry], to: historyPath, limit: ReadlineReader.historyLimit)
    }

    /// Nothing is left to write: every entry reached the file when it was accepted.
    func close() {}

    /// One entry per line; backslash and newline escaped, so multi-line entries stay whole.
    static func encode(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func decode(_ s: Substring) -> String {
        var out = ""
        var escaped = false
        for c in s {
            if escaped {
                out.append(c == "n" ? "\n" : c)
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else {
                out.append(c)
            }
        }
        return out
    }

    static func loadHistory(_ path: String) -> [String] {
        guard let bytes = try? Files.readFile(path) else { return [] }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        return lines.filter { !$0.hasPrefix("#vls-history") }.map(decode).suffix(historyLimit).map { $0 }
    }
}

extension String {
    func replacingOccurrences(of a: String, with b: String) -> String {
        replacing(a, with: b)
    }
}

/// Appends `added` to the history file at `path`, keeping the last `limit` entries.
///
/// The file is re-read under an exclusive lock on `PATH.lock` (opened with O_NOFOLLOW) and
/// replaced atomically with mode 0600 (the history may hold secrets typed at the prompt),
/// so two REPLs sharing one history lose neither's lines and a kill mid-write leaves the
/// old file whole. I/O errors are ignored (history is a convenience).
func appendHistory(_ added: [String], to path: String, limit: Int) {
    try? Files.update(path, permissions: .privateFile) { _ in
        let kept = (ReadlineReader.loadHistory(path) + added).suffix(limit)
        var text = "#vls-history v1\n"
        for e in kept { text += ReadlineReader.encode(e) + "\n" }
        return Array(text.utf8)
    }
}
