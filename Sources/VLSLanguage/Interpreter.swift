#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs vls programs. One interpreter is one session: globals persist between `run` calls
/// (the REPL), natives are installed with `define`, output goes through `output`.
public final class Interpreter {
    /// Where `print` writes (text includes the trailing newline). Default: stdout.
    public var output: (String) -> Void = { text in
        print(text, terminator: "")
    }
    /// Shows a figure (`show(fig)` or a bare expression that is Displayable).
    /// Default: prints the caption.
    public var display: (Displayable) -> Void
    /// `import name` asks this first; returns the module source and a path for messages.
    public var stdlibProvider: (String) -> (source: String, path: String)? = { _ in nil }
    /// Deepest nesting of user function calls before "stack overflow".
    public var maxCallDepth = 1000

    private(set) var builtins: [String: NativeFunction] = [:]
    private var builtinOrder: [String] = []
    let main: ModuleScope
    private var modules: [String: Value] = [:]
    /// The files imported so far (`import name` found beside the importer, `import
    /// "path.vls"`), in order: inputs of the run that an output must not replace.
    public private(set) var importedFiles: [String] = []
    private var loading: Set<String> = []
    var callDepth = 0
    /// The Ctrl-C flag (see `Interrupt.poll(_:)`).
    let stopFlag = Interrupt.rawFlag
    private var runDepth = 0

    /// `FastPaths.enabled` when the interpreter was made (frames are pooled only with it).
    let fastPaths = FastPaths.enabled

    public init() {
        display = { _ in }
        let box = BuiltinLookup()
        main = ModuleScope(name: "main", builtins: box.lookup)
        box.interpreter = self
        display = { [unowned self] fig in self.output(fig.caption + "\n") }
        CoreBuiltins.install(into: self)
    }

    // MARK: - Embedding

    /// Installs a global builtin (listed by `:help` under `fn.area`).
    public func define(_ fn: NativeFunction) {
        if builtins[fn.name] == nil { builtinOrder.append(fn.name) }
        builtins[fn.name] = fn
        let c = main.cell(fn.name)
        c.set(.native(fn))
        c.defined = true
    }

    /// Sets a variable of the main module (e.g. `args`).
    public func setGlobal(_ name: String, _ value: Value) {
        let c = main.cell(name)
        c.set(value)
        c.defined = true
    }

    /// A variable of the main module, if defined.
    public func global(_ name: String) -> Value? {
        guard let c = main.lookup(name), c.defined else { return nil }
        return c.value
    }

    /// Names defined in the main module (user variables and builtins), sorted.
    public func globalNames() -> [String] {
        main.cells.values.filter(\.defined).map(\.name).sorted()
    }

    /// User variables of the main module (not builtins), sorted, with their values.
    public func userVariables() -> [(String, Value)] {
        main.cells.values.filter { c in
            guard c.defined else { return false }
            if case .native(let n) = c.value, builtins[c.name] === n { return false }
            return true
        }.map { ($0.name, $0.value) }.sorted { $0.0 < $1.0 }
    }

    /// Builtins grouped by area, areas and names in definition order.
    public func builtinsByArea() -> [(String, [NativeFunction])] {
        var areas: [String] = []
        var by: [String: [NativeFunction]] = [:]
        for n in builtinOrder {
            guard let f = builtins[n] else { continue }
            if by[f.area] == nil { areas.append(f.area) }
            by[f.area, default: []].append(f)
        }
        return areas.map { ($0, by[$0] ?? []) }
    }

    /// The help of a builtin, user function, or value named `name`; a dotted name
    /// (`m.run`, `xs.append`, `module.fn`) is the help of that member, from its declaration.
    public func helpText(for name: String) -> String? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if parts.count > 1 {
            guard var v = global(parts[0]) else { return nil }
            for p in parts.dropFirst().dropLast() {
                guard let next = try? Ops.getAttribute(v, p, self) else { return nil }
                v = next
            }
            let member = parts[parts.count - 1]
            if case .object(let o) = v, let h = o.memberHelp(member) { return h }
            if let h = Methods.help(of: v, member) { return h }
            guard let m = try? Ops.getAttribute(v, member, self) else { return nil }
            return helpText(of: m)
        }
        if let v = global(name) { return helpText(of: v) }
        if let f = builtins[name] { return helpText(of: .native(f)) }
        return nil
    }

    /// Signature and docstring of a function; type and members of other values.
    public func helpText(of v: Value) -> String {
        switch v {
        case .native(let f): return "\(f.signature)\n    \(f.doc)"
        case .function(let f): return f.signature + (f.doc.map { "\n    " + $0 } ?? "\n    (no docstring)")
        default:
            let members = Methods.memberNames(of: v)
            var out = v.typeName
            if members.isEmpty { return out }
            for m in members {
                let h: String?
                if case .object(let o) = v { h = o.memberHelp(m) } else { h = Methods.help(of: v, m) }
                guard let h else { out += "\n  \(m)"; continue }
                let lines = h.split(separator: "\n", maxSplits: 1).map(String.init)
                var doc = lines.count > 1 ? lines[1].trimmingWhitespace() : ""
                if let end = doc.firstRange(of: ". ") { doc = String(doc[..<end.lowerBound]) + "." }
                out += "\n  \(lines[0])" + (doc.isEmpty ? "" : " — \(doc)")
            }
            return out
        }
    }

    /// How print shows a value (strings bare).
    public func str(_ v: Value) -> String { Format.str(v) }
    /// How the REPL and containers show a value (strings quoted).
    public func repr(_ v: Value) -> String { Format.repr(v) }

    public func render(_ d: Diagnostic) -> String { d.rendered() }

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
            return .runtimeError(Diagnostic(message: String(describing: error), file: file, location: nil))
        }
    }

    /// Parses, resolves and compiles a file into one closure. The value of a final
    /// expression statement is left in the frame's `returnValue`.
    func compile(_ file: SourceFile, module: ModuleScope) -> Result<(Exec, Bool), SyntaxErrors> {
        let (stmts, errors) = Parser.parse(file.text)
        let resolver = Resolver()
        if errors.isEmpty { resolver.resolve(stmts) }
        let all = errors + resolver.errors
        if !all.isEmpty {
            return .failure(SyntaxErrors(all.map {
                var d = Diagnostic(message: $0.message, file: file, location: $0.location)
                d.atEnd = $0.atEnd
                return d
            }))
        }
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

    // MARK: - Calls

    /// Calls a function value from Swift (natives calling callbacks).
    public func call(_ callee: Value, _ args: [Value], keywords: [(String, Value)] = []) throws -> Value {
        switch callee {
        case .function(let fn):
            var frame = try bind(fn, args, keywords, nil, nil)
            return try invoke(fn, &frame, nil, nil)
        case .native(let nf):
            return try nf.invoke(args, keywords, self)
        default:
            throw RuntimeError("\(callee.typeName) is not callable")
        }
    }

    /// Builds the frame of a call from evaluated arguments.
    private func bind(_ fn: UserFunction, _ args: [Value], _ keywords: [(String, Value)], _ file: SourceFile?, _ loc: SourceLocation?) throws -> Frame {
        let code = fn.code
        if args.count > code.paramCount { throw arityError(fn, args.count, file, loc) }
        let frame = code.makeFrame(parent: fn.captured)
        for i in 0..<args.count { frame.slots[i] = args[i] }
        try fillParameters(fn, frame, args.count, keywords.map(\.0), keywords.map(\.1), file, loc)
        return frame
    }

    private func arityError(_ fn: UserFunction, _ given: Int, _ file: SourceFile?, _ loc: SourceLocation?) -> Error {
        let n = fn.code.paramCount
        return err("'\(fn.name)' takes \(fn.code.firstDefault < n ? "at most " : "")\(n) argument\(n == 1 ? "" : "s") (\(given) given)", file, loc)
    }

    private func err(_ message: String, _ file: SourceFile?, _ loc: SourceLocation?) -> Error {
        if let file { return Diagnostic(message: message, file: file, location: loc) }
        return RuntimeError(message)
    }

    /// Keyword arguments and defaults for the parameters after the `given` positional ones.
    private func fillParameters(_ fn: UserFunction, _ frame: Frame, _ given: Int, _ kwNames: [String], _ kwValues: [Value], _ file: SourceFile?, _ loc: SourceLocation?) throws {
        let code = fn.code
        if kwNames.isEmpty {
            if given < code.paramCount {
                for i in given..<code.paramCount {
                    if i < code.firstDefault {
                        throw err("'\(fn.name)' missing argument #\(i + 1) '\(code.paramNames[i])'", file, loc)
                    }
                    frame.slots[i] = fn.defaults[i - code.firstDefault]
                }
            }
            return
        }
        var set = [Bool](repeating: false, count: code.paramCount)
        for i in 0..<given { set[i] = true }
        for (k, name) in kwNames.enumerated() {
            guard let i = code.paramNames.firstIndex(of: name) else {
                let hint = Declarations.nearest(name, in: code.paramNames).map { " (did you mean '\($0):'?)" } ?? ""
                throw err("'\(fn.name)' got an unexpected keyword argument '\(name)'\(hint); it takes: " + code.paramNames.map { $0 + ":" }.joined(separator: ", "), file, loc)
            }
            if set[i] { throw err("'\(fn.name)' got multiple values for argument '\(name)'", file, loc) }
            frame.slots[i] = kwValues[k]
            set[i] = true
        }
        for i in 0..<code.paramCount where !set[i] {
            if i < code.firstDefault {
                throw err("'\(fn.name)' missing argument #\(i + 1) '\(code.paramNames[i])'", file, loc)
            }
            frame.slots[i] = fn.defaults[i - code.firstDefault]
        }
    }

    @inline(__always)
    func invoke(_ fn: UserFunction, _ frame: inout Frame, _ file: SourceFile?, _ loc: SourceLocation?) throws -> Value {
        try enterCall(file, loc)
        defer { callDepth -= 1 }
        let code = fn.code
        if !code.releaseOnExit.isEmpty {
            defer { frame.release(code.releaseOnExit) }
            return try run(fn, frame, file, loc)
        }
        let v = try run(fn, frame, file, loc)
        if fastPaths { code.recycle(&frame) }
        return v
    }

    /// The checks at the start of every call (depth limit, Ctrl-C and step budget); on
    /// success the call counts in `callDepth`, which the caller decrements when it ends.
    @inline(__always)
    private func enterCall(_ file: SourceFile?, _ loc: SourceLocation?) throws {
        if callDepth >= maxCallDepth {
            throw err("stack overflow (more than \(maxCallDepth) nested calls)", file, loc)
        }
        if Interrupt.poll(stopFlag) { throw err(Interrupt.stopMessage, file, loc) }
        callDepth += 1
    }

    @inline(__always)
    private func run(_ fn: UserFunction, _ frame: Frame, _ file: SourceFile?, _ loc: SourceLocation?) throws -> Value {
        do {
            let code = fn.code
            if code.hasDirect { return try code.runDirect(frame) }
            _ = try code.runBody(frame)
        } catch {
            throw traced(error, fn, file, loc)
        }
        return frame.takeReturnValue()
    }

    /// An error leaving a call of `fn`, with the call's line added to its traceback.
    @inline(never)
    private func traced(_ error: Error, _ fn: UserFunction, _ file: SourceFile?, _ loc: SourceLocation?) -> Diagnostic {
        if var d = error as? Diagnostic {
            d.traceback.append(TraceEntry(function: fn.name, file: file, location: loc))
            return d
        }
        var d = Diagnostic(message: String(describing: error), file: fn.decl.location.line > 0 ? file : nil, location: loc)
        d.traceback.append(TraceEntry(function: fn.name, file: file, location: loc))
        return d
    }

    /// `invoke` for a function whose frames do not escape (`code.framesEscape` false), with
    /// the frame from `code.takeFrame` (parameters filled): the frame is borrowed without
    /// reference counting and goes back to the pool at return (freed on an error).
    @inline(__always)
    func invokeOwned(_ fn: UserFunction, _ code: CompiledFunction, _ u: Unmanaged<Frame>, _ file: SourceFile?, _ loc: SourceLocation?) throws -> Value {
        do {
            try enterCall(file, loc)
        } catch {
            u.release()
            throw error
        }
        let v: Value
        do {
            v = try code.runOwned(u)
        } catch {
            callDepth -= 1
            u.release()
            throw traced(error, fn, file, loc)
        }
        callDepth -= 1
        code.giveBack(u)
        return v
    }

    /// A call from compiled code: arguments are evaluated straight into the callee's frame.
    func callValue(_ callee: Value, _ f: Frame, _ positional: [Eval], _ kwNames: [String], _ kwEvals: [Eval], _ file: SourceFile, _ loc: SourceLocation) throws -> Value {
        switch callee {
        case .function(let fn):
            let code = fn.code
            let n = positional.count
            if n > code.paramCount { throw arityError(fn, n, file, loc) }
            var frame = code.makeFrame(parent: fn.captured)
            for i in 0..<n { frame.slots[i] = try positional[i](f) }
            if kwNames.isEmpty && n == code.paramCount {
                return try invoke(fn, &frame, file, loc)
            }
            var kwValues: [Value] = []
            for e in kwEvals { kwValues.append(try e(f)) }
            try fillParameters(fn, frame, n, kwNames, kwValues, file, loc)
            return try invoke(fn, &frame, file, loc)
        case .native(let nf):
            var args: [Value] = []
            args.reserveCapacity(positional.count)
            for e in positional { args.append(try e(f)) }
            var kws: [(String, Value)] = []
            for (i, e) in kwEvals.enumerated() { kws.append((kwNames[i], try e(f))) }
            if Interrupt.poll(stopFlag) { throw Diagnostic(message: Interrupt.stopMessage, file: file, location: loc) }
            do {
                return try nf.invoke(args, kws, self)
            } catch {
                throw locate(error, file, loc)
            }
        default:
            throw Diagnostic(message: "\(callee.typeName) is not callable", file: file, location: loc)
        }
    }

    /// `recv.method(...)`: builtin methods of lists, dicts and strings are dispatched
    /// directly; objects are asked for the property, then it is called.
    func callMethod(_ recv: Value, _ method: String, _ f: Frame, _ positional: [Eval], _ kwNames: [String], _ kwEvals: [Eval], _ file: SourceFile, _ loc: SourceLocation, _ mloc: SourceLocation) throws -> Value {
        switch recv {
        case .list, .dict, .string:
            var args: [Value] = []
            args.reserveCapacity(positional.count)
            for e in positional { args.append(try e(f)) }
            var kws: [(String, Value)] = []
            for (i, e) in kwEvals.enumerated() { kws.append((kwNames[i], try e(f))) }
            do {
                return try Methods.call(recv, method, args, kws, self)
            } catch {
                throw locate(error, file, loc)
            }
        default:
            let callee: Value
            do { callee = try Ops.getAttribute(recv, method, self) } catch { throw locate(error, file, mloc) }
            return try callValue(callee, f, positional, kwNames, kwEvals, file, loc)
        }
    }

    // MARK: - Modules

    /// `import name`: a Stdlib module from `stdlibProvider`, else `name.vls` next to the
    /// importing file; `import "path.vls"`: a path relative to the importing file.
    func importModule(_ name: String, isPath: Bool, from file: SourceFile, at loc: SourceLocation) throws -> Value {
        var source: String?
        var path = name
        if !isPath, let (s, p) = stdlibProvider(name) {
            source = s
            path = p
        } else {
            var rel = name
            if !isPath { rel += ".vls" }
            if !rel.hasPrefix("/") {
                let dir = file.path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
                if !dir.isEmpty && !file.path.hasPrefix("<") { rel = dir + "/" + rel }
            }
            path = rel
        }
        if let m = modules[path] { return m }
        if loading.contains(path) { throw Diagnostic(message: "circular import of '\(name)'", file: file, location: loc) }
        if source == nil {
            guard let text = readTextFile(path) else {
                throw Diagnostic(message: "cannot import '\(name)': no stdlib module of that name and no file '\(path)'", file: file, location: loc)
            }
            source = text
            importedFiles.append(path)
        }
        loading.insert(path)
        defer { loading.remove(path) }
        let mfile = SourceFile(path: path, text: source ?? "")
        let box = BuiltinLookup()
        box.interpreter = self
        let scope = ModuleScope(name: name, builtins: box.lookup)
        switch compile(mfile, module: scope) {
        case .failure(let errs):
            let first = errs.diagnostics.first.map { $0.rendered() } ?? ""
            throw Diagnostic(message: "syntax error in module '\(name)':\n" + first, file: file, location: loc)
        case .success(let (program, _)):
            let frame = Frame.make(count: 0, parent: nil)
            do { _ = try program(frame) } catch var d as Diagnostic {
                d.traceback.append(TraceEntry(function: "import \(name)", file: file, location: loc))
                throw d
            }
        }
        let m = Value.object(ModuleObject(name: name, scope: scope, interpreter: self))
        modules[path] = m
        return m
    }
}

/// Every syntax error of one compile.
struct SyntaxErrors: Error {
    var diagnostics: [Diagnostic]
    init(_ d: [Diagnostic]) { diagnostics = d }
}

/// Looks up builtins for new global cells without a strong cycle to the interpreter.
final class BuiltinLookup {
    weak var interpreter: Interpreter?
    func lookup(_ name: String) -> Value? {
        interpreter?.builtins[name].map { .native($0) }
    }
}

/// An imported module: its globals are its properties.
final class ModuleObject: VLSObject {
    let name: String
    let scope: ModuleScope
    unowned let interpreter: Interpreter
    init(name: String, scope: ModuleScope, interpreter: Interpreter) { self.name = name; self.scope = scope; self.interpreter = interpreter }
    var typeName: String { "module" }
    func describe() -> String { "<module \(name)>" }
    /// A builtin the module's code used is not a member of the module.
    private func isOwn(_ c: GlobalCell) -> Bool {
        guard c.defined else { return false }
        if case .native(let f) = c.value, interpreter.builtins[c.name] === f { return false }
        return true
    }
    func getProperty(_ name: String, interpreter: Interpreter) throws -> Value? {
        guard let c = scope.lookup(name), isOwn(c) else { return nil }
        return c.value
    }
    var memberNames: [String] { scope.cells.values.filter(isOwn).map(\.name).sorted() }
}

func readTextFile(_ path: String) -> String? {
    guard let fp = fopen(path, "rb") else { return nil }
    defer { fclose(fp) }
    var bytes: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buf, 1, buf.count, fp)
        if n > 0 { bytes.append(contentsOf: buf[0..<n]) }
        if n < buf.count { break }
    }
    if ferror(fp) != 0 { return nil }
    return String(decoding: bytes, as: UTF8.self)
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
