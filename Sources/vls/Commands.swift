import ArgumentParser
import VLSBuiltins
import VLSLanguage
import VLSFiles
import VLSCore
#if canImport(Glibc)
import Glibc
#endif

/// Exit codes (sysexits): 0 ok, 64 usage, 65 syntax error, 70 runtime error, 74 unreadable.
enum Exit {
    static let syntax: Int32 = 65
    static let runtime: Int32 = 70
    static let io: Int32 = 74
}

struct VLSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vls",
        abstract: "A notebook-style scripting REPL for reading Vision Transformers.",
        discussion: """
        With no arguments on a terminal, starts the REPL; with a script on stdin, runs it.
        `vls FILE.vls [ARG...]` is the same as `vls run FILE.vls [ARG...]`.
        Exit codes: 0 ok, 64 usage, 65 syntax error, 70 runtime error, 74 unreadable script.
        """,
        version: "vls 0.1.0",
        subcommands: [Repl.self, Run.self, Notebook.self, Merge.self, KernelCommand.self],
        defaultSubcommand: Repl.self
    )
}

/// Options shared by every way of running code.
struct SessionFlags: ParsableArguments {
    @Option(help: "Worker threads for the numerical core (default: $VLS_THREADS, else the CPUs this process may run on, its affinity mask; at most the CPU count).")
    var threads: Int?

    @Option(help: "Seed from which every random draw of the run derives.")
    var seed: UInt64 = 0

    @Option(help: "Run the K-th of N deterministic slices of every dataset (K in 1...N).")
    var shard: String?

    @Option(help: "Stop the program with an error after this many interpreter steps (loop iterations and calls), for scripts you did not write.")
    var maxSteps: Int?

    @Flag(help: "Turn off every compiler fast path (the same as VLS_NO_FAST_PATHS=1): for testing that they agree with the plain path.")
    var noFastPaths = false

    func validate() throws {
        if let problem = Limits.environmentProblem() { throw ValidationError(problem) }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let maxSteps, maxSteps < 1 { throw ValidationError("--max-steps must be at least 1") }
        _ = try parsedShard()
        _ = try resolvedThreads()
    }

    func parsedShard() throws -> (index: Int, count: Int)? {
        guard let shard else { return nil }
        let parts = shard.split(separator: "/")
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]), n >= 1, k >= 1, k <= n else {
            throw ValidationError("--shard expects K/N with 1 <= K <= N, got '\(shard)'")
        }
        // The part format's limit, checked before any work (a huge N used to run, or allocate, first).
        guard n <= Part.maxShards else {
            throw ValidationError("--shard: N must be at most \(Part.maxShards), got \(n)")
        }
        return (k, n)
    }

    /// `--threads`, else `VLS_THREADS`, within 1...the CPU count (more workers than CPUs
    /// only contend; a huge count overflowed buffer sizes).
    func resolvedThreads() throws -> Int? {
        if let threads {
            guard threads <= Threads.maximum else {
                throw ValidationError("--threads \(threads) is more than this machine's CPU count (\(Threads.maximum))")
            }
            return threads
        }
        guard let env = getenv("VLS_THREADS") else { return nil }
        let s = String(cString: env)
        if s.isEmpty { return nil }
        guard let n = Int(s), n >= 1 else { throw ValidationError("VLS_THREADS must be a positive integer, got '\(s)'") }
        guard n <= Threads.maximum else {
            throw ValidationError("VLS_THREADS=\(n) is more than this machine's CPU count (\(Threads.maximum))")
        }
        return n
    }

    /// A fresh interpreter with the core's builtins and `args` (both set by `Builtins.install`).
    func makeInterpreter(scriptArgs: [String]) throws -> Interpreter {
        if noFastPaths { FastPaths.enabled = false }
        let interp = Interpreter()
        Interrupt.setStepLimit(maxSteps)
        let threads = try resolvedThreads()
        if let threads, threads > Threads.available {
            // Allowed (the mask may change, or the user knows better), but said: the extra
            // workers share the CPUs of the mask.
            writeStandardError("vls: note: \(threads) threads on the \(Threads.available) CPU\(Threads.available == 1 ? "" : "s") this process may run on (its affinity mask, e.g. from taskset); the workers will share \(Threads.available == 1 ? "it" : "them")\n")
        }
        let options = SessionOptions(threads: threads, seed: seed, scriptArgs: scriptArgs, shard: try parsedShard())
        Builtins.install(into: interp, options: options)
        return interp
    }
}

/// Prints diagnostics and maps an outcome to an exit code.
func finish(_ outcome: RunOutcome, _ interp: Interpreter) -> Int32 {
    fflush(nil)
    switch outcome {
    case .ok: return 0
    case .syntaxErrors(let ds):
        for d in ds { writeStandardError(interp.render(d)) }
        return Exit.syntax
    case .runtimeError(let d):
        writeStandardError(interp.render(d))
        return Exit.runtime
    }
}

/// In scripts and notebooks, Ctrl-C stops the program at its next check with an
/// "interrupted" error and traceback (exit 70); a second Ctrl-C kills it outright.
func installScriptInterruptHandler() {
    Interrupt.clear()
    var sa = sigaction()
    sa.__sigaction_handler.sa_handler = { sig in
        if Interrupt.isRequested {
            signal(sig, SIG_DFL)
            raise(sig)
        }
        Interrupt.request()
    }
    sigemptyset(&sa.sa_mask)
    sa.sa_flags = 0
    sigaction(SIGINT, &sa, nil)
}

func readScript(_ path: String) throws -> String {
    do {
        guard let bytes = try Files.readFile(path, streams: true) else {
            writeStandardError("vls: cannot read '\(path)': No such file or directory\n")
            throw ExitCode(Exit.io)
        }
        return try scriptText(bytes, path: path)
    } catch let e as FileError {
        writeStandardError("vls: \(e.message)\n")
        throw ExitCode(Exit.io)
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a script; everything after the file reaches the script as `args`.")

    @OptionGroup var session: SessionFlags

    @Argument(help: "The .vls script.")
    var file: String

    @Argument(parsing: .captureForPassthrough, help: "Arguments for the script (`args`).")
    var scriptArgs: [String] = []

    func run() throws {
        let source = try readScript(file)
        let interp = try session.makeInterpreter(scriptArgs: scriptArgs)
        installScriptInterruptHandler()
        let code = finish(interp.run(source: source, path: file), interp)
        if code != 0 { throw ExitCode(code) }
    }
}

struct Repl: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The interactive prompt (default); runs stdin as a script when it is not a terminal.")

    @OptionGroup var session: SessionFlags

    func run() throws {
        let interp = try session.makeInterpreter(scriptArgs: [])
        if isatty(0) == 0 {
            var bytes: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = read(0, &buf, buf.count)
                if n <= 0 { break }
                bytes.append(contentsOf: buf[0..<n])
            }
            let code = finish(interp.run(source: try scriptText(bytes, path: "<stdin>"), path: "<stdin>"), interp)
            if code != 0 { throw ExitCode(code) }
            return
        }
        let repl = ReplSession(interpreter: interp)
        repl.errorOutput = { text in
            fflush(nil)
            writeStandardError(text)
        }
        let reader = ReadlineReader(session: repl)
        print("vls 0.1.0 — :help for help, Ctrl-D to quit")
        repl.run(reader: reader)
        reader.close()
    }
}

struct Notebook: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a script cell by cell (`# %%`, `# %% md`) and write one HTML page, or a Jupyter notebook (--ipynb).")

    @OptionGroup var session: SessionFlags

    @Flag(help: "Write a Jupyter notebook (nbformat 4.5, kernel vls) instead of an HTML page.")
    var ipynb = false

    @Flag(help: "With --ipynb: run the cells and store their outputs (without it the notebook is written unexecuted).")
    var execute = false

    @Option(name: .shortAndLong, help: "The HTML file to write (may also follow the script).")
    var output: String?

    @Argument(help: "The .vls script.")
    var file: String

    @Argument(parsing: .captureForPassthrough, help: "Arguments for the script (`args`).")
    var scriptArgs: [String] = []

    /// `-o OUT` may come after the script (`vls notebook FILE.vls -o OUT.html ARG...`).
    mutating func validate() throws {
        for flag in ["--ipynb", "--execute"] where scriptArgs.contains(flag) {   // also after the script
            scriptArgs.removeAll { $0 == flag }
            if flag == "--ipynb" { ipynb = true } else { execute = true }
        }
        if execute && !ipynb { throw ValidationError("--execute goes with --ipynb (the HTML page always runs the cells)") }
        if output == nil, let i = scriptArgs.firstIndex(where: { $0 == "-o" || $0 == "--output" }) {
            guard i + 1 < scriptArgs.count else { throw ValidationError("-o needs a file name") }
            output = scriptArgs[i + 1]
            scriptArgs.removeSubrange(i...(i + 1))
        } else if output == nil, let i = scriptArgs.firstIndex(where: { $0.hasPrefix("--output=") }) {
            output = String(scriptArgs[i].dropFirst(9))
            scriptArgs.remove(at: i)
        }
        if output == nil { throw ValidationError(ipynb ? "missing '-o OUT.ipynb' (where to write the notebook)" : "missing '-o OUT.html' (where to write the page)") }
    }

    func run() throws {
        guard let output else { throw ValidationError("missing '-o OUT.html'") }
        if Files.sameFile(output, file) {   // checked before the script runs, and again at the write
            writeStandardError("vls: \(output): refusing to overwrite the input '\(file)' with its own output (choose another output file)\n")
            throw ExitCode(Exit.io)
        }
        let source = try readScript(file)
        // Every module the script names in an `import`, run or not (an import inside a
        // branch or a cell after a failing one), is an input `-o` must not replace.
        let named = importedPaths(in: source, script: file)
        if let hit = named.first(where: { Files.sameFile(output, $0) }) {
            writeStandardError("vls: \(output): refusing to overwrite '\(hit)', a module the script imports (choose another output file)\n")
            throw ExitCode(Exit.io)
        }
        if ipynb { return try writeNotebook(source, to: output, named: named) }
        let interp = try session.makeInterpreter(scriptArgs: scriptArgs)
        installScriptInterruptHandler()
        let (html, failed) = NotebookRenderer(interpreter: interp, path: file).render(source)
        // A kill mid-write keeps the old page; `-o` naming the script itself or a module it
        // imported is refused.
        do {
            try Files.writeAtomically(Array(html.utf8), to: output, inputs: [file] + named + interp.importedFiles)
        } catch {
            writeStandardError("vls: \(error)\n")
            throw ExitCode(Exit.io)
        }
        if failed { throw ExitCode(Exit.runtime) }
    }

    private func writeNotebook(_ source: String, to output: String, named: [String]) throws {
        var runner: CellRunner?
        var interp: Interpreter?
        if execute {
            let made = try session.makeInterpreter(scriptArgs: scriptArgs)
            interp = made
            runner = CellRunner(interpreter: made)
            installScriptInterruptHandler()
        }
        let (nb, failed) = IpynbWriter(path: file, runner: runner).notebook(source)
        guard let text = IpynbWriter.serialize(nb) else { throw ExitCode(Exit.runtime) }
        do {
            try Files.writeAtomically(Array(text.utf8), to: output, inputs: [file] + named + (interp?.importedFiles ?? []))
        } catch {
            writeStandardError("vls: \(error)\n")
            throw ExitCode(Exit.io)
        }
        if failed {
            writeStandardError("vls notebook: a cell failed; its error is in \(output), the cells after it did not run\n")
            throw ExitCode(Exit.runtime)
        }
    }
}

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Combine the partial results of sharded runs (`--shard K/N`) into one.")

    @Option(name: .shortAndLong, help: "The merged output: a part file (.json, read back with load_part) or the finished table (.csv).")
    var output: String

    @Flag(help: "Merge the shards that are there and record the missing ones in the result (otherwise a missing shard is an error).")
    var partial = false

    @Argument(help: "Part files written by sharded runs (`.save(\"part.json\")` under `vls run --shard K/N`).")
    var parts: [String]

    func run() throws {
        do {
            let summary = try Builtins.mergeParts(parts, output: output, partial: partial)
            writeStandardError("vls merge: \(summary)\n")
        } catch {
            writeStandardError("vls merge: error: \(error)\n")
            throw ExitCode(Exit.runtime)
        }
    }
}

/// The files a script's `import` statements name (`import name` -> name.vls beside the
/// script, `import "path.vls"` relative to it), found in the text without running it.
func importedPaths(in source: String, script: String) -> [String] {
    let dir = script.contains("/") ? String(script[..<script.lastIndex(of: "/")!]) : "."
    var out: [String] = []
    for raw in source.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
        var line = raw.drop { $0 == " " || $0 == "\t" }
        guard line.hasPrefix("import") else { continue }
        line = line.dropFirst("import".count)
        guard let first = line.first, first == " " || first == "\t" else { continue }
        line = line.drop { $0 == " " || $0 == "\t" }
        var target: String
        if line.first == "\"" || line.first == "'" {
            let q = line.first!
            let rest = line.dropFirst()
            guard let end = rest.firstIndex(of: q) else { continue }
            target = String(rest[..<end])
        } else {
            target = String(line.prefix { $0.isLetter || $0.isNumber || $0 == "_" })
            guard !target.isEmpty else { continue }
            target += ".vls"
        }
        out.append(target.hasPrefix("/") ? target : dir + "/" + target)
    }
    return out
}
