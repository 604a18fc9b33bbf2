#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import VLSFiles

/// The driver: source text to a result (parse, resolve, compile, execute), on a large stack.
extension Interpreter {
    // MARK: - Running

    /// The one driver shared by the REPL, the runner and the notebook: parse (reporting
    /// every syntax error), resolve, compile, execute.
    public func run(source: String, path: String) -> RunOutcome {
        if runDepth > 0 { return runInline(source: source, path: path) }
        var outcome: RunOutcome = .ok(nil)
        runOnLargeStack {
            outcome = self.runInline(source: source, path: path)
        }
        return outcome
    }

    private func runInline(source: String, path: String) -> RunOutcome {
        runDepth += 1
        defer { runDepth -= 1 }
        let file = SourceFile(path: path, text: source)
        let program: Exec
        let lastIsExpression: Bool
        switch compile(file, module: main) {
        case .failure(let diags): return .syntaxErrors(diags.diagnostics)
        case .success(let (p, last)): program = p; lastIsExpression = last
        }
        let frame = Frame.make(count: 0, parent: nil)
        if runDepth == 1 { callDepth = 0 }
        do {
            _ = try program(frame)
            return .ok(lastIsExpression ? frame.returnValue : nil)
        } catch let d as Diagnostic {
            return .runtimeError(d)
        } catch {
            return .runtimeError(Diagnostic(message: diagnosticMessage(error), file: file, location: nil))
        }
    }

    /// Parses, resolves and compiles a file into one closure. The value of a final
    /// expression statement is left in the frame's `returnValue`.
    func compile(_ file: SourceFile, module: ModuleScope) -> Result<(Exec, Bool), SyntaxErrors> {
        let (stmts, errors) = Parser.parse(file.text)
        let resolver = Resolver()
        if errors.isEmpty { resolver.resolve(stmts) }
        var diagnostics = errors.map {
            var d = Diagnostic(message: $0.message, file: file, location: $0.location)
            d.atEnd = $0.atEnd
            return d
        }
        diagnostics += resolver.errors.map { Diagnostic(message: $0.message, file: file, location: $0.location) }
        if !diagnostics.isEmpty { return .failure(SyntaxErrors(diagnostics)) }
        let compiler = Compiler(interpreter: self, file: file, module: module)
        var execs = stmts.dropLast().map(compiler.statement)
        var lastIsExpression = false
        if let last = stmts.last {
            if case .expression(let e) = last.kind {
                let ev = compiler.expr(e)
                execs.append { f in f.returnValue = try ev(f); return .normal }
                lastIsExpression = true
            } else {
                execs.append(compiler.statement(last))
            }
        }
        let program: Exec = { f in
            for e in execs { _ = try e(f) }
            return .normal
        }
        return .success((program, lastIsExpression))
    }
}

/// Every syntax error of one compile.
struct SyntaxErrors: Error {
    var diagnostics: [Diagnostic]
    init(_ d: [Diagnostic]) { diagnostics = d }
}

/// Runs `work` on a thread with a 512 MB stack, so deep recursion in scripts ends in a
/// clean "stack overflow" error rather than a crash.
func runOnLargeStack(_ work: @escaping () -> Void) {
    final class Job { let work: () -> Void; init(_ w: @escaping () -> Void) { work = w } }
    #if canImport(Glibc)
    let ctx = Unmanaged.passRetained(Job(work)).toOpaque()
    var attr = pthread_attr_t()
    pthread_attr_init(&attr)
    defer { pthread_attr_destroy(&attr) }
    pthread_attr_setstacksize(&attr, 512 << 20)
    var tid = pthread_t()
    let rc = pthread_create(&tid, &attr, { raw in
        guard let raw else { return nil }
        let job = Unmanaged<Job>.fromOpaque(raw).takeRetainedValue()
        job.work()
        return nil
    }, ctx)
    if rc != 0 {
        Unmanaged<Job>.fromOpaque(ctx).release()
        work()
        return
    }
    pthread_join(tid, nil)
    #else
    work()
    #endif
}
