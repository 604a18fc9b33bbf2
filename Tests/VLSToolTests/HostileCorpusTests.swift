import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The hostile-input corpus (Tests/Fixtures/hostile): every case is a folder of inputs
/// (checkpoints, configs, images, npy files, scripts) and the built `vls` binary is run
/// over it in a scratch copy. Each must end with one clear error: exit status 1...127 (no
/// signal, no hang), the first line of standard error equal to the case's `expected`
/// file, and every input left byte for byte and mode for mode as it was, with no file
/// added (nothing overwritten, nothing half-written).
///
/// A case folder holds:
/// - `expected`: the first line of standard error (a final `*` matches any rest, for a
///   machine-dependent tail such as the CPU count);
/// - `command` (optional): the arguments, one per line (default `run` `run.vls`);
/// - `env` (optional): `NAME=VALUE` lines added to the environment;
/// - `setup` (optional): lines `fifo PATH`, `symlink TARGET PATH` (TARGET may start with
///   `{fixtures}/`, the Tests/Fixtures folder), `mkdir PATH`, for what git cannot hold or
///   what points outside the case;
/// - anything else: the inputs.
final class HostileCorpusTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path
    static let corpus = fixtures + "/hostile"

    /// The built `vls` binary (beside the test bundle, else .build/release, else .build/debug).
    static func binary() throws -> String {
        var candidates = [Bundle.main.bundleURL.appendingPathComponent("vls").path]
        for b in Bundle.allBundles { candidates.append(b.bundleURL.deletingLastPathComponent().appendingPathComponent("vls").path) }
        candidates.append(BuiltinCaseTests.root + "/.build/debug/vls")
        candidates.append(BuiltinCaseTests.root + "/.build/release/vls")
        for c in candidates where FileManager.default.isExecutableFile(atPath: c) { return c }
        throw XCTSkip("vls binary not built (looked in \(candidates))")
    }

    /// Every entry under `root` (lstat, not following links): relative path -> kind, mode and bytes.
    static func snapshot(_ root: String) -> [String: String] {
        var out: [String: String] = [:]
        func walk(_ rel: String) {
            let full = rel.isEmpty ? root : root + "/" + rel
            var st = stat()
            guard lstat(full, &st) == 0 else { return }
            let kind = st.st_mode & S_IFMT
            var desc = "mode \(String(st.st_mode, radix: 8))"
            if kind == S_IFREG, let d = FileManager.default.contents(atPath: full) {
                var h: UInt64 = 1469598103934665603
                for b in d { h = (h ^ UInt64(b)) &* 1099511628211 }
                desc += " \(d.count) bytes, FNV-1a \(h)"
            } else if kind == S_IFLNK, let t = try? FileManager.default.destinationOfSymbolicLink(atPath: full) {
                desc += " -> \(t)"
            }
            if !rel.isEmpty { out[rel] = desc }
            if kind == S_IFDIR, let names = try? FileManager.default.contentsOfDirectory(atPath: full) {
                for n in names { walk(rel.isEmpty ? n : rel + "/" + n) }
            }
        }
        walk("")
        return out
    }

    func testCorpus() throws {
        let vls = try Self.binary()
        let cases = try FileManager.default.contentsOfDirectory(atPath: Self.corpus).filter {
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: Self.corpus + "/" + $0, isDirectory: &isDir) && isDir.boolValue
        }.sorted()
        XCTAssertGreaterThan(cases.count, 10, "the hostile corpus is missing (\(Self.corpus))")
        for name in cases {
            try runCase(name, vls: vls)
        }
    }

    func runCase(_ name: String, vls: String) throws {
        let source = Self.corpus + "/" + name
        let work = NSTemporaryDirectory() + "vls-hostile-\(getpid())-\(name)"
        try? FileManager.default.removeItem(atPath: work)
        try FileManager.default.copyItem(atPath: source, toPath: work)
        defer { try? FileManager.default.removeItem(atPath: work) }
        func read(_ file: String) -> String? {
            (try? String(contentsOfFile: work + "/" + file, encoding: .utf8))
        }
        guard let expectedText = read("expected") else { return XCTFail("\(name): no 'expected' file") }
        let expected = expectedText.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let arguments = read("command").map { $0.split(separator: "\n").map(String.init) } ?? ["run", "run.vls"]
        var environment = ProcessInfo.processInfo.environment
        environment["VLS_MAX_TENSOR_BYTES"] = nil
        environment["SWIFT_BACKTRACE"] = "enable=no"
        for line in (read("env") ?? "").split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            if parts.count == 2 { environment[parts[0]] = parts[1] }
        }
        for line in (read("setup") ?? "").split(separator: "\n") {
            let words = line.split(separator: " ").map(String.init)
            switch words.first {
            case "fifo":
                XCTAssertEqual(mkfifo(work + "/" + words[1], 0o644), 0, "\(name): mkfifo")
            case "symlink":
                let target = words[1].replacingOccurrences(of: "{fixtures}", with: Self.fixtures)
                XCTAssertEqual(symlink(target, work + "/" + words[2]), 0, "\(name): symlink")
            case "mkdir":
                try FileManager.default.createDirectory(atPath: work + "/" + words[1], withIntermediateDirectories: true)
            default:
                XCTFail("\(name): unknown setup line '\(line)'")
            }
        }
        let before = Self.snapshot(work)

        let p = Process()
        p.executableURL = URL(fileURLWithPath: vls)
        p.arguments = arguments
        p.currentDirectoryURL = URL(fileURLWithPath: work)
        p.environment = environment
        let errPipe = Pipe()
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = errPipe
        try p.run()
        // Read stderr while it runs (a full pipe must not stall it), with a deadline for hangs.
        final class Box: @unchecked Sendable { var data = Data() }   // written before `done` is signalled
        let box = Box()
        let reader = DispatchQueue(label: "stderr")
        let done = DispatchSemaphore(value: 0)
        reader.async {
            box.data = errPipe.fileHandleForReading.readDataToEndOfFile()
            done.signal()
        }
        let deadline = Date().addingTimeInterval(60)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            done.wait()
            return XCTFail("\(name): still running after 60 s (a hang); stderr: \(String(decoding: box.data, as: UTF8.self).prefix(300))")
        }
        p.waitUntilExit()
        done.wait()
        let stderr = String(decoding: box.data, as: UTF8.self)
        let first = stderr.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        XCTAssertEqual(p.terminationReason, .exit, "\(name): ended by a signal; stderr: \(stderr.prefix(500))")
        XCTAssertTrue((1..<128).contains(p.terminationStatus), "\(name): exit status \(p.terminationStatus); stderr: \(stderr.prefix(500))")
        if expected.hasSuffix("*") {
            XCTAssertTrue(first.hasPrefix(String(expected.dropLast())), "\(name): first line of stderr was '\(first)', expected '\(expected)'")
        } else {
            XCTAssertEqual(first, expected, "\(name): first line of stderr")
        }
        XCTAssertFalse(stderr.unicodeScalars.contains { $0.value == 0x1B }, "\(name): a raw escape character reached the terminal")
        // Nothing overwritten, nothing added (the snapshot follows no link).
        let after = Self.snapshot(work)
        for (path, desc) in before {
            XCTAssertEqual(after[path], desc, "\(name): '\(path)' changed")
        }
        XCTAssertEqual(Set(after.keys).subtracting(before.keys).sorted(), [], "\(name): files added")
    }
}
