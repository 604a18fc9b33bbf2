import VLSFiles
import Foundation
import VLSLanguage
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
