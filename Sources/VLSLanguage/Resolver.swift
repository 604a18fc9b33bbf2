/// Binds every variable to a slot before running: function locals are numbered slots in
/// their frame, variables of enclosing functions are (depth, slot) pairs, and everything
/// else is a module global (a cell looked up once, at compile time).
///
/// Scoping follows Python: a name assigned anywhere in a function is local to it unless
/// declared `global`; a comprehension's variables are its own (a scope of one frame,
/// as in Python 3): they neither leak into nor overwrite the enclosing scope's.
final class Resolver {
    private struct Scope {
        var slots: [String: Int] = [:]
        var globals: Set<String> = []
        /// Slots read or written by a nested function (at any depth).
        var captured: Set<Int> = []
        /// Whether a nested function (def or fn) is defined in this scope.
        var definesFunctions = false
    }
    private var scopes: [Scope] = []
    private var loopDepth = 0
    private var functionDepth = 0
    /// An error found before running (`break` or `continue` outside a loop, `return`
    /// outside a function, a parameter declared `global`): reported with the syntax errors.
    struct ResolveError: Error { var message: String; var location: SourceLocation }
    private(set) var errors: [ResolveError] = []

    func resolve(_ program: [Stmt]) {
        for s in program { statement(s) }
    }

    // MARK: - Declarations

    /// The names a function body binds (in order of first binding) and those it declares
    /// `global`. Only statements bind names, so expressions are not walked: a lambda's and
    /// a comprehension's variables are their own.
    private func collectAssigned(_ body: [Stmt], into names: inout [String], globals: inout Set<String>) {
        func add(_ n: String) { if !names.contains(n) { names.append(n) } }
        func stmts(_ ss: [Stmt]) {
            for s in ss {
                switch s.kind {
                case .assign(let t, _), .augmentedAssign(let t, _, _): Resolver.addNames(boundBy: t, to: &names)
                case .ifChain(let branches, let other):
                    for (_, b) in branches { stmts(b) }
                    if let other { stmts(other) }
                case .whileLoop(_, let b): stmts(b)
                case .forLoop(let t, _, let b): Resolver.addNames(boundBy: t, to: &names); stmts(b)
                case .function(let d): if let b = d.binding { add(b.name) }
                case .importModule(_, _, let b): add(b.name)
                case .global(let ns): ns.forEach { globals.insert($0) }
                case .expression, .returnValue, .breakLoop, .continueLoop, .pass: break
                }
            }
        }
        stmts(body)
    }

    /// Adds the names a target binds to `names`, each once (`a[i] = ...` and `a.x = ...`
    /// store into a value and bind no name).
    private static func addNames(boundBy t: Target, to names: inout [String]) {
        switch t {
        case .name(let n): if !names.contains(n.name) { names.append(n.name) }
        case .tuple(let items, _): for item in items { addNames(boundBy: item, to: &names) }
        case .subscripted, .attribute: break
        }
    }

    private func function(_ decl: FunctionDecl) {
        if !scopes.isEmpty { scopes[scopes.count - 1].definesFunctions = true }
        // Defaults are evaluated in the enclosing scope, at definition time.
        for p in decl.params { if let d = p.defaultValue { expr(d) } }
        var names = decl.params.map(\.name)
        var globals: Set<String> = []
        collectAssigned(decl.body, into: &names, globals: &globals)
        // Callers fill the first slots with the arguments, so every parameter needs a slot
        // (a parameter declared global used to write past the end of the frame).
        for p in decl.params where globals.contains(p.name) {
            error("'\(p.name)' is a parameter and cannot be declared global", decl.location)
            globals.remove(p.name)
        }
        var scope = Scope()
        scope.globals = globals
        for n in names where !globals.contains(n) { scope.slots[n] = scope.slots.count }
        decl.slotCount = scope.slots.count
        decl.globalNames = globals
        scopes.append(scope)
        let savedLoop = loopDepth
        loopDepth = 0
        functionDepth += 1
        for s in decl.body { statement(s) }
        functionDepth -= 1
        loopDepth = savedLoop
        let done = scopes.removeLast()
        // A nested function keeps this frame alive after the call (it is the closure's
        // parent), and the frame usually holds that closure in a slot: a reference cycle
        // that would keep every local, tensors included, forever. Clearing at return the
        // slots no nested function can reach breaks it; what the closures do reach stays.
        decl.framesEscape = done.definesFunctions
        if done.definesFunctions {
            decl.releaseOnExit = (0..<decl.slotCount).filter { !done.captured.contains($0) }
        }
    }

    private func bind(_ ref: NameRef) {
        var depth = 0
        for scope in scopes.reversed() {
            if scope.globals.contains(ref.name) { ref.resolution = .global; return }
            if let slot = scope.slots[ref.name] {
                ref.resolution = depth == 0 ? .local(slot) : .enclosing(depth: depth, slot: slot)
                if depth > 0 { scopes[scopes.count - 1 - depth].captured.insert(slot) }
                return
            }
            depth += 1
        }
        ref.resolution = .global
    }

    private func error(_ message: String, _ loc: SourceLocation) {
        errors.append(ResolveError(message: message, location: loc))
    }

    // MARK: - Walk

    private func statement(_ s: Stmt) {
        switch s.kind {
        case .expression(let e): expr(e)
        case .assign(let t, let e): expr(e); target(t)
        case .augmentedAssign(let t, _, let e): expr(e); target(t)
        case .ifChain(let branches, let other):
            for (c, b) in branches { expr(c); b.forEach(statement) }
            other?.forEach(statement)
        case .whileLoop(let c, let b):
            expr(c)
            loopDepth += 1
            b.forEach(statement)
            loopDepth -= 1
        case .forLoop(let t, let it, let b):
            expr(it)
            target(t)
            loopDepth += 1
            b.forEach(statement)
            loopDepth -= 1
        case .function(let d):
            if let b = d.binding { bind(b) }
            function(d)
        case .returnValue(let e):
            if functionDepth == 0 { error("'return' outside a function", s.location) }
            if let e { expr(e) }
        case .breakLoop:
            if loopDepth == 0 { error("'break' outside a loop", s.location) }
        case .continueLoop:
            if loopDepth == 0 { error("'continue' outside a loop", s.location) }
        case .importModule(_, _, let b): bind(b)
        case .global, .pass: break
        }
    }

    private func target(_ t: Target) {
        switch t {
        case .name(let n): bind(n)
        case .tuple(let items, _): items.forEach(target)
        case .subscripted(let b, let items, _): expr(b); subscripts(items)
        case .attribute(let b, _, _): expr(b)
        }
    }

    private func subscripts(_ items: [SubscriptItem]) {
        for i in items {
            switch i {
            case .index(let e): expr(e)
            case .slice(let a, let b, let c): [a, b, c].compactMap { $0 }.forEach(expr)
            }
        }
    }

    private func expr(_ e: Expr) {
        switch e.kind {
        case .int, .float, .string, .bool, .nilLiteral: break
        case .interpolated(let parts):
            for p in parts { if case .expr(let x, _) = p { expr(x) } }
        case .name(let n): bind(n)
        case .list(let xs): xs.forEach(expr)
        case .dict(let ps): ps.forEach { expr($0.0); expr($0.1) }
        case .unary(_, let a): expr(a)
        case .binary(_, let a, let b), .and(let a, let b), .or(let a, let b): expr(a); expr(b)
        case .comparisonChain(let xs, _): xs.forEach(expr)
        case .contains(let a, let b, _): expr(a); expr(b)
        case .conditional(let a, let b, let c): expr(a); expr(b); expr(c)
        case .call(let f, let args): expr(f); args.forEach { expr($0.value) }
        case .subscripted(let b, let items): expr(b); subscripts(items)
        case .attribute(let b, _): expr(b)
        case .lambda(let d): function(d)
        case .comprehension(let el, let t, let it, let c):
            comprehension(e, t, it, [el] + (c.map { [$0] } ?? []))
        case .dictComprehension(let k, let v, let t, let it, let c):
            comprehension(e, t, it, [k, v] + (c.map { [$0] } ?? []))
        }
    }

    /// `[el for t in it if c]`: `it` is evaluated in the enclosing scope; `t` (every name in
    /// it) gets a slot of the comprehension's own frame, whose parent is the enclosing frame.
    private func comprehension(_ e: Expr, _ t: Target, _ it: Expr, _ body: [Expr]) {
        expr(it)
        var names: [String] = []
        Resolver.addNames(boundBy: t, to: &names)
        var scope = Scope()
        for n in names { scope.slots[n] = scope.slots.count }
        e.scopeSlots = scope.slots.count
        scopes.append(scope)
        target(t)
        body.forEach(expr)
        let done = scopes.removeLast()
        // A closure made inside keeps the comprehension's frame and, through it, the
        // enclosing one: that frame may then outlive its call.
        if done.definesFunctions && !scopes.isEmpty { scopes[scopes.count - 1].definesFunctions = true }
    }
}
