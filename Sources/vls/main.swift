import VLSFiles
import Foundation
import VLSLanguage
import VLSCore
#if canImport(Glibc)
import Glibc

// Large tensors (a lens over every block and token is 50-200 MB) come from the heap and
// are reused, rather than mmapped and unmapped per call: each fresh mapping is tens of
// thousands of page faults (profiled: the three-layer lens 15% slower for it). Tensors
// of 256 MB and more are still mapped, and free heap above 512 MB goes back to the system.
// (glibc's mallopt, looked up at run time: Swift's Glibc module does not export malloc.h.)
if let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") {   // RTLD_DEFAULT
    let mallopt = unsafeBitCast(sym, to: (@convention(c) (Int32, Int32) -> Int32).self)
    _ = mallopt(-3, 256 << 20)   // M_MMAP_THRESHOLD
    _ = mallopt(-1, 512 << 20)   // M_TRIM_THRESHOLD
}
#endif

// An empty variable is an unset one, as for most tools (`VLS_THREADS= vls run x.vls`):
// VLS_MAX_TENSOR_BYTES is read that way by MemoryCap; VLS_THREADS is dropped here.
if let t = getenv("VLS_THREADS"), String(cString: t).allSatisfy({ $0 == " " || $0 == "\t" }) { unsetenv("VLS_THREADS") }

// The memory cap's variable is checked before any command runs (each reads it: scripts,
// merge, the kernel): a value that is not a size, under one byte or above the physical
// memory is an error naming the variable, never a silent default.
if let problem = MemoryCap.problem() {
    FileHandle.standardError.write(Data("Error: \(problem)\n".utf8))
    exit(64)
}

// `vls FILE.vls [ARG...]` means `vls run FILE.vls [ARG...]`; no argument starts the REPL.
var arguments = Array(CommandLine.arguments.dropFirst())
let subcommands: Set<String> = ["repl", "run", "notebook", "merge", "kernel", "help"]
let optionsWithValue: Set<String> = ["--threads", "--seed", "--shard", "--max-steps"]

// vls's own options (up to the script): a value that starts with '-' is still the option's
// value (`--threads -1` said "Missing value": the parser took -1 for an option), and
// --threads must be a positive integer, said so whatever was given.
do {
    func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("Error: \(message)\nUsage: vls run [--threads <threads>] [--seed <seed>] [--shard <shard>] [--max-steps <max-steps>] <file> [<script-args> ...]\n".utf8))
        exit(64)
    }
    var i = 0
    while i < arguments.count {
        let a = arguments[i]
        var option = a, value: String?
        var step = 1
        if let eq = a.firstIndex(of: "="), optionsWithValue.contains(String(a[..<eq])) {
            option = String(a[..<eq]); value = String(a[a.index(after: eq)...])
        } else if optionsWithValue.contains(a) {
            if i + 1 < arguments.count {
                let v = arguments[i + 1]
                value = v
                if v.hasPrefix("-") && v.count > 1 && !v.hasPrefix("--") {
                    // `--seed -5`: one argument, so the parser reads -5 as the value.
                    arguments[i] = a + "=" + v
                    arguments.remove(at: i + 1)
                } else {
                    step = 2
                }
            } else if a == "--threads" {
                fail("--threads needs a value: a positive integer, at most this machine's CPU count (\(Threads.maximum))")
            }
        } else if !a.hasPrefix("-") && !subcommands.contains(a) {
            break   // the script: what follows is its own
        }
        if option == "--threads", let v = value, !(Int(v).map { $0 >= 1 } ?? false) {
            fail("--threads must be a positive integer, at most this machine's CPU count (\(Threads.maximum)); got '\(escapingControlCharacters(String(v.prefix(40))))'")
        }
        i += step
    }
}
if !arguments.contains(where: { $0.hasPrefix("--generate-completion-script") }) {
    var i = 0
    while i < arguments.count {
        let a = arguments[i]
        if optionsWithValue.contains(a) { i += 2; continue }
        if a.hasPrefix("-") { i += 1; continue }
        if !subcommands.contains(a) { arguments.insert("run", at: 0) }
        break
    }
}
VLSCommand.main(arguments)
