import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A program under a pseudo-terminal: the test plays the terminal (reads what the program
/// writes, types keys, answers queries).
final class PTY {
    let pid: pid_t
    let master: Int32
    /// Everything read, decoded whole (a read may end inside a UTF-8 sequence).
    var transcript: String { String(decoding: bytes, as: UTF8.self) }
    var bytes: [UInt8] = []
    var consumed = 0
    /// Called with the new output after each read; returns bytes to type back (a terminal's answer).
    var responder: ((String) -> String?)?

    init(_ argv: [String], env: [String: String], columns: Int = 100, rows: Int = 40, pixelWidth: Int = 0, pixelHeight: Int = 0) throws {
        var master: Int32 = -1
        var ws = winsize(ws_row: UInt16(rows), ws_col: UInt16(columns), ws_xpixel: UInt16(pixelWidth), ws_ypixel: UInt16(pixelHeight))
        let pid = forkpty(&master, nil, nil, &ws)
        if pid < 0 { throw XCTSkip("forkpty failed") }
        if pid == 0 {
            for (k, v) in env { setenv(k, v, 1) }
            var args: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
            args.append(nil)
            execv(argv[0], args)
            _exit(127)
        }
        self.pid = pid
        self.master = master
    }

    deinit {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        close(master)
    }

    func readAvailable(timeout: Double) {
        var pfd = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
        let deadline = Date().addingTimeInterval(timeout)
        var buf = [UInt8](repeating: 0, count: 65536)
        while Date() < deadline {
            pfd.revents = 0
            if poll(&pfd, 1, 20) > 0 {
                let n = read(master, &buf, buf.count)
                if n <= 0 { return }
                bytes += buf[0..<n]
                let text = String(decoding: buf[0..<n], as: UTF8.self)
                if let answer = responder?(text) { type(answer, pause: 0) }
            }
        }
    }

    /// Waits until `text` appears after the last match; returns whether it did.
    @discardableResult
    func expect(_ text: String, timeout: Double = 10, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let tail = String(transcript.dropFirst(consumed))
            if let r = tail.range(of: text) {
                consumed += tail.distance(from: tail.startIndex, to: r.upperBound)
                return true
            }
            readAvailable(timeout: 0.05)
        }
        XCTFail("did not see \(text.debugDescription) in:\n\(transcript.debugDescription)", file: file, line: line)
        return false
    }

    /// The output after the last match (reading for `settle` seconds first).
    func rest(settle: Double = 0.3) -> String {
        readAvailable(timeout: settle)
        return String(transcript.dropFirst(consumed))
    }

    func type(_ s: String, pause: useconds_t = 30_000) {
        _ = s.utf8CString.withUnsafeBufferPointer { Glibc.write(master, $0.baseAddress, $0.count - 1) }
        if pause > 0 { usleep(pause) }
    }

    /// Waits for the program to exit; its status.
    func wait(timeout: Double = 10) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while Date() < deadline {
            readAvailable(timeout: 0.05)
            if waitpid(pid, &status, WNOHANG) == pid { return (status >> 8) & 0xff }
        }
        return nil
    }
}

/// The built vls binary (as ToolTests finds it).
func builtVLS() throws -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var candidates: [String] = []
    for b in Bundle.allBundles { candidates.append(b.bundleURL.deletingLastPathComponent().appendingPathComponent("vls").path) }
    candidates.append(root.appendingPathComponent(".build/debug/vls").path)
    for c in candidates where FileManager.default.isExecutableFile(atPath: c) { return c }
    throw XCTSkip("vls binary not built (looked in \(candidates))")
}

/// Runs vls with pipes; status and standard output.
func runVLSPiped(_ args: [String]) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: try builtVLS())
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    p.standardInput = Pipe()
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self))
}
