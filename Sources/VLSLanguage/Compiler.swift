#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The switch for the compiler's fast paths: specialised closures that re-state what the
/// plain path (Ops.binary, Interpreter.callValue, Ops.iterator, ...) already means, only
/// quicker. Off (`VLS_NO_FAST_PATHS=1` or `vls run --no-fast-paths`), code compiled from then
/// on takes the plain path everywhere, so tests can hold the two to the same output.
public enum FastPaths {
    nonisolated(unsafe) public static var enabled: Bool = {
        guard let v = getenv("VLS_NO_FAST_PATHS") else { return true }
        let s = String(cString: v)
        return s.isEmpty || s == "0"
    }()
}

/// Compiles the resolved syntax tree into a tree of Swift closures. Variables are slots
/// (locals) or cells (globals) fixed at compile time, so running does no name lookups.
final class Compiler {
    let interp: Interpreter
    /// `FastPaths.enabled` when this compiler was made.
    let fast = FastPaths.enabled
    let file: SourceFile
    let module: ModuleScope
    private var functionNesting = 0
    /// Parameters of the function being compiled: their slots are filled before the body
    /// runs and never unbound during it, so reading them needs no "unbound" check.
    private var boundSlots = 0
    /// The Ctrl-C flag, captured by loops (see `Interrupt.poll(_:)`).
    private let stopFlag = Interrupt.rawFlag

    init(interpreter: Interpreter, file: SourceFile, module: ModuleScope) {
        self.interp = interpreter
        self.file = file
        self.module = module
    }

    // MARK: - Statements

    /// A right-nested chain of closures. Closures are never stored in arrays on hot paths:
    /// a closure taken out of a generic container is called through a reabstraction thunk.
    func block(_ stmts: [Stmt]) -> Exec {
        chain(stmts[...])
    }

    private func chain(_ stmts: ArraySlice<Stmt>) -> Exec {
        guard let first = stmts.first else { return { _ in .normal } }
        let head = statement(first)
        if stmts.count == 1 { return head }
        let second = statement(stmts[stmts.startIndex + 1])
        if stmts.count == 2 {
            return { f in
                let r = try head(f)
                if r != .normal { return r }
                return try second(f)
            }
        }
        let third = statement(stmts[stmts.startIndex + 2])
        if stmts.count == 3 {
            return { f in
                var r = try head(f)
                if r != .normal { return r }
                r = try second(f)
                if r != .normal { return r }
                return try third(f)
            }
        }
        let rest = chain(stmts.dropFirst(3))
        return { f in
            var r = try head(f)
            if r != .normal { return r }
            r = try second(f)
            if r != .normal { return r }
            r = try third(f)
            if r != .normal { return r }
            return try rest(f)
        }
    }

    private func ifChain(_ branches: ArraySlice<(Expr, [Stmt])>, _ otherwise: [Stmt]?) -> Exec {
        guard let (c, b) = branches.first else {
            if let otherwise { return block(otherwise) }
            return { _ in .normal }
        }
        let cond = condition(c)
        let body = block(b)
        if branches.count == 1 && otherwise == nil {
            return { f in try cond(f) ? try body(f) : .normal }
        }
        let other = ifChain(branches.dropFirst(), otherwise)
        return { f in try cond(f) ? try body(f) : try other(f) }
    }

    func statement(_ s: Stmt) -> Exec {
        let file = self.file
        let stopFlag = self.stopFlag
        let loc = s.location
        switch s.kind {
        case .expression(let e):
            let ev = expr(e)
            return { f in _ = try ev(f); return .normal }
        case .pass:
            return { _ in .normal }
        case .assign(let t, let e):
            if fast, case .name(let n) = t, case .binary(.add, let l, let r) = e.kind, case .name(let ln) = l.kind, ln.name == n.name {
                return appendInPlace(n, expr(r), loc, read: ln)
            }
            let st = store(t)
            let ev = expr(e)
            return { f in try st(f, try ev(f)); return .normal }
        case .augmentedAssign(let t, let op, let e):
            return augmented(t, op, expr(e), loc)
        case .ifChain(let branches, let otherwise):
            return ifChain(branches[...], otherwise)
        case .whileLoop(let c, let b):
            let cond = condition(c)
            let body = block(b)
            return { f in
                while try cond(f) {
                    let r = try body(f)
                    if r != .normal {
                        if r == .breakLoop { break }
                        if r == .returned { return r }
                    }
                    if Interrupt.poll(stopFlag) { throw Diagnostic.stopped(file, loc) }
                }
                return .normal
            }
        case .forLoop(let t, let it, let b):
            return forLoop(t, store(t), expr(it), block(b), loc, it.location)
        case .function(let decl):
            let make = function(decl)
            guard let binding = decl.binding else { return { _ in .normal } }
            let st = store(.name(binding))
            return { f in try st(f, try make(f)); return .normal }
        case .returnValue(let e):
            if let e {
                let ev = expr(e)
                return { f in f.returnValue = try ev(f); return .returned }
            }
            return { f in f.returnValue = .nil; return .returned }
        case .breakLoop:
            return { _ in .breakLoop }
        case .continueLoop:
            return { _ in .continueLoop }
        case .global:
            return { _ in .normal }
        case .importModule(let name, let isPath, let binding):
            let st = store(.name(binding))
            let interp = self.interp
            return { f in
                let m = try interp.importModule(name, isPath: isPath, from: file, at: loc)
                try st(f, m)
                return .normal
            }
        }
    }

    /// `x = x + e` and `x += e` on a variable. As in Python, the left operand is read before
    /// `e` runs (`n = n + g()` adds g() to the n read first, even when g() rebinds n), and
    /// `+=` extends a list in place (every alias sees it) while `x = x + e` makes a new one.
    /// A string the variable holds the only reference to is appended to in place.
    private func appendInPlace(_ n: NameRef, _ rhs: @escaping Eval, _ loc: SourceLocation, read: NameRef? = nil, augmented: Bool = false) -> Exec {
        let file = self.file
        let interp = self.interp
        let readRef = read ?? n
        /// `old + r` into `variable` (which held `old` when it was read; `e` may have rebound it).
        @inline(__always) func combine(_ old: inout Value, _ r: Value, _ variable: inout Value) throws {
            if case .int(let a) = old, case .int(let b) = r {
                let (x, o) = a.addingReportingOverflow(b)
                if !o { variable = .int(x); return }
            }
            if case .string(var s) = old, case .string(let t) = r {
                if s.utf8.count + t.utf8.count > Interrupt.maxCollectionBytes {
                    throw Diagnostic(message: "string concatenation too large (over \(Interrupt.maxCollectionBytes) bytes)", file: file, location: loc)
                }
                old = .nil
                var current = Value.nil
                swap(&current, &variable)
                // Still the string that was read (the usual case): drop that reference too,
                // so `s` is unique and `+=` appends without copying.
                if case .string(let c) = current, c == s { current = .nil }
                s += t
                variable = .string(s)
                return
            }
            do {
                variable = augmented ? try Ops.augmented(.add, old, r, interp) : try Ops.binary(.add, old, r)
            } catch { throw locate(error, file, loc) }
        }
        switch n.resolution {
        case .local(let slot):
            return { f in
                var old = f.slots[slot]
                if old.isUnbound { throw Compiler.unboundError(readRef, file) }
                let r = try rhs(f)
                try combine(&old, r, &f.slots[slot])
                return .normal
            }
        case .enclosing(let depth, let slot):
            return { f in
                let frame = f.ancestor(depth)
                var old = frame.slots[slot]
                if old.isUnbound { throw Compiler.unboundError(readRef, file) }
                let r = try rhs(f)
                try combine(&old, r, &frame.slots[slot])
                return .normal
            }
        case .global:
            let cell = module.cell(n.name)
            let name = n.name
            return { f in
                if !cell.defined { throw Diagnostic(message: "undefined variable '\(name)'", file: file, location: readRef.location) }
                var old = cell.value
                let r = try rhs(f)
                try cell.update { try combine(&old, r, &$0) }
                return .normal
            }
        }
    }

    private func augmented(_ t: Target, _ op: BinaryOperator, _ rhs: @escaping Eval, _ loc: SourceLocation) -> Exec {
        let file = self.file
        switch t {
        case .name(let n):
            if fast && op == .add { return appendInPlace(n, rhs, loc, augmented: true) }
            let load = name(n)
            let st = store(t)
            let interp = self.interp
            return { f in
                let l = try load(f)
                let r = try rhs(f)
                do { try st(f, try Ops.augmented(op, l, r, interp)) } catch { throw locate(error, file, loc) }
                return .normal
            }
        case .subscripted(let base, let items, let sloc):
            let b = expr(base)
            let idx = subscriptItems(items)
            let interp = self.interp
            return { f in
                let container = try b(f)
                let index = try idx(f)
                do {
                    let old = try Ops.getItem(container, index, interp)
                    let r = try rhs(f)
                    // `xs[i] += [..]` on a list element extends it in place, like Python.
                    let new = try Ops.augmented(op, old, r, interp)
                    try Ops.setItem(container, index, new, interp)
                } catch { throw locate(error, file, sloc) }
                return .normal
            }
        case .attribute(let base, let name, let aloc):
            let b = expr(base)
            let interp = self.interp
            return { f in
                let obj = try b(f)
                do {
                    let old = try Ops.getAttribute(obj, name, interp)
                    let new = try Ops.augmented(op, old, try rhs(f), interp)
                    try Ops.setAttribute(obj, name, new, interp)
                } catch { throw locate(error, file, aloc) }
                return .normal
            }
        case .tuple:
            return { _ in throw Diagnostic(message: "cannot use an augmented assignment with several targets", file: file, location: loc) }
        }
    }

    private func forLoop(_ target: Target, _ st: @escaping Store, _ iter: @escaping Eval, _ body: @escaping Exec, _ loc: SourceLocation, _ iterLoc: SourceLocation) -> Exec {
        let file = self.file
        let stopFlag = self.stopFlag
        let interp = self.interp
        // `for i in range(...)` into a plain variable: the counter is stored directly.
        var cell: GlobalCell?
        var slot = -1
        if case .name(let n) = target {
            switch n.resolution {
            case .local(let s): slot = s
            case .global: cell = module.cell(n.name)
            case .enclosing: break
            }
        }
        let fast = self.fast
        return { f in
            let seq = try iter(f)
            switch fast ? seq : .nil {
            case .range(let r):
                var i = r.start
                let stop = r.stop, step = r.step
                while step > 0 ? i < stop : i > stop {
                    if slot >= 0 {
                        f.slots[slot] = .int(i)
                    } else if let cell {
                        cell.set(.int(i))
                        cell.defined = true
                    } else {
                        try st(f, .int(i))
                    }
                    let fl = try body(f)
                    if fl != .normal {
                        if fl == .breakLoop { break }
                        if fl == .returned { return fl }
                    }
                    if Interrupt.poll(stopFlag) { throw Diagnostic.stopped(file, loc) }
                    let (n, o) = i.addingReportingOverflow(step)
                    if o { break }
                    i = n
                }
            case .list(let l):
                var i = 0
                while i < l.items.count {
                    try st(f, l.items[i])
                    let fl = try body(f)
                    if fl != .normal {
                        if fl == .breakLoop { break }
                        if fl == .returned { return fl }
                    }
                    if Interrupt.poll(stopFlag) { throw Diagnostic.stopped(file, loc) }
                    i += 1
                }
            default:
                let items = try LocatedIterator(seq, interp, file, iterLoc)
                while let v = try items.next() {
                    try st(f, v)
                    let fl = try body(f)
                    if fl != .normal {
                        if fl == .breakLoop { break }
                        if fl == .returned { return fl }
                    }
                    if Interrupt.poll(stopFlag) { throw Diagnostic.stopped(file, loc) }
                }
            }
            return .normal
        }
    }

    /// Returns a closure that creates the function value (evaluating defaults) at `def` time.
    private func function(_ decl: FunctionDecl) -> Eval {
        let firstDefault = decl.params.firstIndex { $0.defaultValue != nil } ?? decl.params.count
        // A function defined at module level has no enclosing function frame to keep.
        let nested = functionNesting > 0
        functionNesting += 1
        let outerBound = boundSlots
        boundSlots = decl.params.count
        // (No Optional closures here: one taken out of an Optional is called through a
        // reabstraction thunk.)
        let hasDirect = fast && Compiler.isDirect(decl.body)
        let body: Exec
        let direct: Eval
        if hasDirect {
            let d = directBody(decl.body)
            direct = d
            body = { f in f.returnValue = try d(f); return .returned }
        } else {
            direct = { _ in .nil }
            body = block(decl.body)
        }
        boundSlots = outerBound
        functionNesting -= 1
        let code = CompiledFunction(body: body, direct: direct, hasDirect: hasDirect, slotCount: decl.slotCount, paramNames: decl.params.map(\.name), firstDefault: firstDefault, releaseOnExit: decl.releaseOnExit, framesEscape: decl.framesEscape)
        let defaults = decl.params.compactMap { $0.defaultValue.map(expr) }
        if defaults.isEmpty {
            return { f in .function(UserFunction(decl: decl, code: code, captured: nested ? f : nil, defaults: [])) }
        }
        return { f in
            var dv: [Value] = []
            dv.reserveCapacity(defaults.count)
            for d in defaults { dv.append(try d(f)) }
            return .function(UserFunction(decl: decl, code: code, captured: nested ? f : nil, defaults: dv))
        }
    }

    /// A function body that returns only through `if c: return x` guards and a final
    /// `return e` (other statements hold no return) compiles to one expression: a call then
    /// needs no control-flow result, return slot or statement chain. `fib`, `add`, lambdas.
    private static func isDirect(_ stmts: [Stmt]) -> Bool {
        guard let last = stmts.last, case .returnValue = last.kind else { return false }
        for s in stmts.dropLast() where guardReturn(s) == nil {
            if containsReturn(s) { return false }
        }
        return true
    }

    private func returned(_ e: Expr?) -> Eval {
        if let e { return expr(e) }
        return { _ in .nil }
    }

    /// The body as one closure; only for bodies that pass `isDirect`.
    private func directBody(_ stmts: [Stmt]) -> Eval {
        guard let last = stmts.last, case .returnValue(let e) = last.kind else { return { _ in .nil } }
        var tail = returned(e)
        for s in stmts.dropLast().reversed() {
            let next = tail
            if let (c, r) = Compiler.guardReturn(s) {
                let test = condition(c)
                if let fused = fusedGuard(c, r, test, next) {
                    tail = fused
                } else {
                    let value = returned(r)
                    tail = { f in try test(f) ? try value(f) : try next(f) }
                }
            } else {
                let run = statement(s)
                tail = { f in _ = try run(f); return try next(f) }
            }
        }
        return tail
    }

    /// `x op y` for a comparison operator (the callers have checked that `op` is one).
    @inline(__always) static func compareInts(_ op: BinaryOperator, _ x: Int, _ y: Int) -> Bool {
        switch op {
        case .less: return x < y
        case .lessEqual: return x <= y
        case .greater: return x > y
        case .greaterEqual: return x >= y
        case .equal: return x == y
        default: return x != y
        }
    }

    /// `if n < 2: return n` (a parameter compared with an int constant; a parameter, an int
    /// constant or nothing returned) as one closure instead of three (test, value, rest).
    private func fusedGuard(_ c: Expr, _ r: Expr?, _ test: @escaping Test, _ next: @escaping Eval) -> Eval? {
        if !fast { return nil }
        guard case .binary(let op, let a, let b) = c.kind, case .int(let k) = b.kind,
              case .name(let n) = a.kind, case .local(let slot) = n.resolution, slot < boundSlots else { return nil }
        switch op {
        case .less, .lessEqual, .greater, .greaterEqual, .equal, .notEqual: break
        default: return nil
        }
        @inline(__always) func compare(_ x: Int) -> Bool { Compiler.compareInts(op, x, k) }
        var constant = Value.nil
        if let r {
            switch r.kind {
            case .int(let i): constant = .int(i)
            case .nilLiteral: break
            case .name(let rn):
                guard case .local(let rs) = rn.resolution, rs < boundSlots else { return nil }
                return { f in
                    let p = f.slots
                    if case .int(let i) = p[slot] { return compare(i) ? p[rs] : try next(f) }
                    return try test(f) ? p[rs] : try next(f)
                }
            default: return nil
            }
        }
        let cv = constant
        return { f in
            if case .int(let i) = f.slots[slot] { return compare(i) ? cv : try next(f) }
            return try test(f) ? cv : try next(f)
        }
    }

    /// A call argument that is a parameter, or a parameter plus or minus an int constant:
    /// its slot and the constant to add (slot -1 for any other expression).
    private func slotArgument(_ e: Expr) -> (Int, Int) {
        switch e.kind {
        case .name(let n):
            if case .local(let s) = n.resolution, s < boundSlots { return (s, 0) }
        case .binary(let op, let a, let b):
            guard case .int(let k) = b.kind, case .name(let n) = a.kind, case .local(let s) = n.resolution, s < boundSlots else { break }
            if op == .add { return (s, k) }
            if op == .subtract && k != Int.min { return (s, -k) }
        default: break
        }
        return (-1, 0)
    }

    /// `if c: return x` (one branch, no else, only the return).
    private static func guardReturn(_ s: Stmt) -> (Expr, Expr?)? {
        guard case .ifChain(let branches, let otherwise) = s.kind, otherwise == nil, branches.count == 1,
              branches[0].1.count == 1, case .returnValue(let r) = branches[0].1[0].kind else { return nil }
        return (branches[0].0, r)
    }

    /// Whether a statement may return from the function it is in (nested defs excluded).
    private static func containsReturn(_ s: Stmt) -> Bool {
        switch s.kind {
        case .returnValue: return true
        case .ifChain(let branches, let otherwise):
            return branches.contains { $0.1.contains(where: containsReturn) } || (otherwise?.contains(where: containsReturn) ?? false)
        case .whileLoop(_, let b), .forLoop(_, _, let b): return b.contains(where: containsReturn)
        case .expression, .assign, .augmentedAssign, .function, .breakLoop, .continueLoop, .pass, .importModule, .global:
            return false
        }
    }

    // MARK: - Assignment targets

    func store(_ t: Target) -> Store {
        let file = self.file
        switch t {
        case .name(let n):
            switch n.resolution {
            case .local(let slot): return { f, v in f.slots[slot] = v }
            case .enclosing(let depth, let slot): return { f, v in f.ancestor(depth).slots[slot] = v }
            case .global:
                let cell = module.cell(n.name)
                return { _, v in cell.set(v); cell.defined = true }
            }
        case .subscripted(let base, let items, let loc):
            let b = expr(base)
            let idx = subscriptItems(items)
            let interp = self.interp
            return { f, v in
                let container = try b(f)
                let index = try idx(f)
                do { try Ops.setItem(container, index, v, interp) } catch { throw locate(error, file, loc) }
            }
        case .attribute(let base, let name, let loc):
            let b = expr(base)
            let interp = self.interp
            return { f, v in
                let obj = try b(f)
                do { try Ops.setAttribute(obj, name, v, interp) } catch { throw locate(error, file, loc) }
            }
        case .tuple(let targets, let loc):
            let stores = targets.map(store)
            let interp = self.interp
            return { f, v in
                let items: [Value]
                do { items = try Ops.toArray(v, interp) } catch { throw locate(error, file, loc) }
                guard items.count == stores.count else {
                    throw Diagnostic(message: "cannot unpack \(items.count) value\(items.count == 1 ? "" : "s") into \(stores.count) targets", file: file, location: loc)
                }
                for i in 0..<stores.count { try stores[i](f, items[i]) }
            }
        }
    }

    // MARK: - Expressions

    static func unboundError(_ n: NameRef, _ file: SourceFile) -> Diagnostic {
        Diagnostic(message: "local variable '\(n.name)' used before it was assigned", file: file, location: n.location)
    }

    func name(_ n: NameRef) -> Eval {
        let file = self.file
        switch n.resolution {
        case .local(let slot):
            if slot < boundSlots && fast { return { f in f.slots[slot] } }
            return { f in
                let v = f.slots[slot]
                if v.isUnbound { throw Compiler.unboundError(n, file) }
                return v
            }
        case .enclosing(let depth, let slot):
            return { f in
                let v = f.ancestor(depth).slots[slot]
                if v.isUnbound { throw Compiler.unboundError(n, file) }
                return v
            }
        case .global:
            let cell = module.cell(n.name)
            return { _ in
                if cell.defined { return cell.value }
                throw Diagnostic(message: "undefined variable '\(n.name)'", file: file, location: n.location)
            }
        }
    }

    func expr(_ e: Expr) -> Eval {
        let file = self.file
        let stopFlag = self.stopFlag
        let loc = e.location
        let interp = self.interp
        switch e.kind {
        case .int(let i): let v = Value.int(i); return { _ in v }
        case .float(let d): let v = Value.float(d); return { _ in v }
        case .string(let s): let v = Value.string(s); return { _ in v }
        case .bool(let b): let v = Value.bool(b); return { _ in v }
        case .nilLiteral: return { _ in .nil }
        case .name(let n): return name(n)
        case .interpolated(let parts):
            let pieces: [(String?, Eval?, String?)] = parts.map {
                switch $0 {
                case .text(let s): return (s, nil, nil)
                case .expr(let x, let spec): return (nil, expr(x), spec)
                }
            }
            return { f in
                var out = ""
                for (text, ev, spec) in pieces {
                    if let text { out += text; continue }
                    if let ev {
                        let v = try ev(f)
                        if let spec {
                            do { out += try Format.apply(spec: spec, to: v, interp) } catch { throw locate(error, file, loc) }
                        } else {
                            out += interp.str(v)
                        }
                        if out.utf8.count > Interrupt.maxCollectionBytes {
                            throw Diagnostic(message: "string interpolation too large (over \(Interrupt.maxCollectionBytes) bytes)", file: file, location: loc)
                        }
                    }
                }
                return .string(out)
            }
        case .list(let items):
            let evs = items.map(expr)
            return { f in
                var out: [Value] = []
                out.reserveCapacity(evs.count)
                for ev in evs { out.append(try ev(f)) }
                return .list(ListRef(out))
            }
        case .dict(let pairs):
            let evs = pairs.map { (expr($0.0), expr($0.1), $0.0.location) }
            return { f in
                let d = DictRef()
                for (k, v, kloc) in evs {
                    let key = try k(f)
                    do { try Ops.checkHashable(key) } catch { throw locate(error, file, kloc) }
                    d[key] = try v(f)
                }
                return .dict(d)
            }
        case .unary(let op, let a):
            let ev = expr(a)
            if op == .not {
                return { f in
                    let v = try ev(f)
                    if case .object(let o) = v, let r = try o.unary(.not) { return r }
                    do { return .bool(!(try v.isTruthy)) } catch { throw locate(error, file, loc) }
                }
            }
            let fast = self.fast
            return { f in
                let v = try ev(f)
                if fast, op == .negate, case .int(let i) = v, i != Int.min { return .int(-i) }
                do { return try Ops.unary(op, v) } catch { throw locate(error, file, loc) }
            }
        case .binary(let op, let a, let b):
            if let fast = constantOperand(op, a, b, loc) { return fast }
            return binary(op, expr(a), expr(b), loc)
        case .comparisonChain(let operands, let ops):
            let evs = operands.map(expr)
            let locs = operands.map(\.location)
            return { f in
                var left = try evs[0](f)
                for i in 0..<ops.count {
                    let right = try evs[i + 1](f)
                    let r: Value
                    do { r = try Ops.binary(ops[i], left, right) } catch { throw locate(error, file, locs[i + 1]) }
                    if !(try r.isTruthy) { return r }
                    if i == ops.count - 1 { return r }
                    left = right
                }
                return .bool(true)
            }
        case .and(let a, let b):
            let l = expr(a), r = expr(b), aloc = a.location
            return { f in
                let v = try l(f)
                let t: Bool
                do { t = try v.isTruthy } catch { throw locate(error, file, aloc) }
                return t ? try r(f) : v
            }
        case .or(let a, let b):
            let l = expr(a), r = expr(b), aloc = a.location
            return { f in
                let v = try l(f)
                let t: Bool
                do { t = try v.isTruthy } catch { throw locate(error, file, aloc) }
                return t ? v : try r(f)
            }
        case .contains(let item, let container, let negated):
            let i = expr(item), c = expr(container)
            return { f in
                let x = try i(f)
                let xs = try c(f)
                do { return .bool(try Ops.contains(xs, x, interp) != negated) } catch { throw locate(error, file, loc) }
            }
        case .conditional(let c, let t, let o):
            let ce = condition(c), te = expr(t), oe = expr(o)
            return { f in try ce(f) ? try te(f) : try oe(f) }
        case .call(let callee, let args):
            return call(callee, args, loc)
        case .subscripted(let base, let items):
            let b = expr(base)
            if fast, items.count == 1, case .index(let ie) = items[0] {
                let i = expr(ie)
                return { f in
                    let container = try b(f)
                    let index = try i(f)
                    if case .list(let l) = container, case .int(let k) = index {
                        if k >= 0 && k < l.items.count { return l.items[k] }
                        if k < 0 && k + l.items.count >= 0 { return l.items[k + l.items.count] }
                    }
                    do { return try Ops.getItem(container, [.value(index)], interp) } catch { throw locate(error, file, loc) }
                }
            }
            let idx = subscriptItems(items)
            return { f in
                let container = try b(f)
                let index = try idx(f)
                do { return try Ops.getItem(container, index, interp) } catch { throw locate(error, file, loc) }
            }
        case .attribute(let base, let name):
            let b = expr(base)
            return { f in
                let v = try b(f)
                do { return try Ops.getAttribute(v, name, interp) } catch { throw locate(error, file, loc) }
            }
        case .lambda(let decl):
            return function(decl)
        case .dictComprehension(let key, let value, let target, let iterable, let condition):
            let iter = expr(iterable)
            let (ke, ve, st, cond) = inComprehension { (expr(key), expr(value), store(target), condition.map(expr)) }
            let slots = e.scopeSlots
            return { outer in
                let seq = try iter(outer)
                let f = Frame.make(count: slots, parent: outer)
                let out = DictRef()
                let items = try LocatedIterator(seq, interp, file, iterable.location)
                while let v = try items.next() {
                    try st(f, v)
                    if let cond, !(try cond(f).isTruthy) { continue }
                    let k = try ke(f)
                    do { try Ops.checkHashable(k) } catch { throw locate(error, file, key.location) }
                    out[k] = try ve(f)
                    if Interrupt.poll(stopFlag) { throw Diagnostic.stopped(file, loc) }
                }
                return .dict(out)
            }
        case .comprehension(let element, let target, let iterable, let condition):
            let iter = expr(iterable)
            let (el, st, cond) = inComprehension { (expr(element), store(target), condition.map(expr)) }
            let slots = e.scopeSlots
            return { outer in
                let seq = try iter(outer)
                let f = Frame.make(count: slots, parent: outer)
                var out: [Value] = []
                let items = try LocatedIterator(seq, interp, file, iterable.location)
                while let v = try items.next() {
                    try st(f, v)
                    if let cond, !(try cond(f).isTruthy) { continue }
                    out.append(try el(f))
                    if Interrupt.poll(stopFlag) { throw Diagnostic.stopped(file, loc) }
                }
                return .list(ListRef(out))
            }
        }
    }

    /// Compiles the parts of a comprehension that run in its own frame (a child of the
    /// enclosing one, so closures made there capture it, even at module level).
    private func inComprehension<T>(_ body: () -> T) -> T {
        let savedBound = boundSlots
        boundSlots = 0
        functionNesting += 1
        defer { functionNesting -= 1; boundSlots = savedBound }
        return body()
    }

    private func subscriptItems(_ items: [SubscriptItem]) -> (Frame) throws -> [IndexItem] {
        let file = self.file
        let parts: [(Eval?, Eval?, Eval?, Bool, SourceLocation)] = items.map {
            switch $0 {
            case .index(let e): return (expr(e), nil, nil, false, e.location)
            case .slice(let a, let b, let c):
                return (a.map(expr), b.map(expr), c.map(expr), true, (a ?? b ?? c)?.location ?? SourceLocation(line: 0, column: 0))
            }
        }
        return { f in
            var out: [IndexItem] = []
            out.reserveCapacity(parts.count)
            for (a, b, c, isSlice, loc) in parts {
                if !isSlice {
                    out.append(.value(try a.unsafelyUnwrapped(f)))
                    continue
                }
                func bound(_ e: Eval?) throws -> Int? {
                    guard let e else { return nil }
                    switch try e(f) {
                    case .nil: return nil
                    case .int(let i): return i
                    case let v: throw Diagnostic(message: "slice indices must be integers or nil, not \(v.typeName)", file: file, location: loc)
                    }
                }
                out.append(.slice(start: try bound(a), stop: try bound(b), step: try bound(c)))
            }
            return out
        }
    }

    private func binary(_ op: BinaryOperator, _ l: @escaping Eval, _ r: @escaping Eval, _ loc: SourceLocation) -> Eval {
        let file = self.file
        @inline(__always) func slow(_ x: Value, _ y: Value) throws -> Value {
            do { return try Ops.binary(op, x, y) } catch { throw locate(error, file, loc) }
        }
        if !fast { return { f in try slow(try l(f), try r(f)) } }
        switch op {
        case .add:
            return { f in
                let x = try l(f), y = try r(f)
                if case .int(let a) = x, case .int(let b) = y {
                    let (s, o) = a.addingReportingOverflow(b)
                    if !o { return .int(s) }
                } else if case .float(let a) = x, case .float(let b) = y { return .float(a + b) }
                return try slow(x, y)
            }
        case .subtract:
            return { f in
                let x = try l(f), y = try r(f)
                if case .int(let a) = x, case .int(let b) = y {
                    let (s, o) = a.subtractingReportingOverflow(b)
                    if !o { return .int(s) }
                } else if case .float(let a) = x, case .float(let b) = y { return .float(a - b) }
                return try slow(x, y)
            }
        case .multiply:
            return { f in
                let x = try l(f), y = try r(f)
                if case .int(let a) = x, case .int(let b) = y {
                    let (s, o) = a.multipliedReportingOverflow(by: b)
                    if !o { return .int(s) }
                } else if case .float(let a) = x, case .float(let b) = y { return .float(a * b) }
                return try slow(x, y)
            }
        case .less, .lessEqual, .greater, .greaterEqual:
            return { f in
                let x = try l(f), y = try r(f)
                if case .int(let a) = x, case .int(let b) = y {
                    switch op {
                    case .less: return .bool(a < b)
                    case .lessEqual: return .bool(a <= b)
                    case .greater: return .bool(a > b)
                    default: return .bool(a >= b)
                    }
                }
                return try slow(x, y)
            }
        case .equal, .notEqual:
            return { f in
                let x = try l(f), y = try r(f)
                if case .int(let a) = x, case .int(let b) = y { return .bool((a == b) == (op == .equal)) }
                return try slow(x, y)
            }
        default:
            return { f in try slow(try l(f), try r(f)) }
        }
    }

    /// `n - 1`, `i < 10`, `k * 2`: an int constant on the right is folded into the closure,
    /// and a local on the left is read straight from its slot (no closure calls).
    private func constantOperand(_ op: BinaryOperator, _ a: Expr, _ b: Expr, _ loc: SourceLocation) -> Eval? {
        guard fast, case .int(let k) = b.kind else { return nil }
        switch op {
        case .add, .subtract, .multiply, .less, .lessEqual, .greater, .greaterEqual, .equal, .notEqual: break
        default: return nil
        }
        let file = self.file
        let kv = Value.int(k)
        @inline(__always) func apply(_ x: Value) throws -> Value {
            if case .int(let i) = x {
                switch op {
                case .add:
                    let (r, o) = i.addingReportingOverflow(k)
                    if !o { return .int(r) }
                case .subtract:
                    let (r, o) = i.subtractingReportingOverflow(k)
                    if !o { return .int(r) }
                case .multiply:
                    let (r, o) = i.multipliedReportingOverflow(by: k)
                    if !o { return .int(r) }
                case .less: return .bool(i < k)
                case .lessEqual: return .bool(i <= k)
                case .greater: return .bool(i > k)
                case .greaterEqual: return .bool(i >= k)
                case .equal: return .bool(i == k)
                case .notEqual: return .bool(i != k)
                default: break
                }
            }
            do { return try Ops.binary(op, x, kv) } catch { throw locate(error, file, loc) }
        }
        if case .name(let n) = a.kind, case .local(let slot) = n.resolution {
            if slot < boundSlots { return { f in try apply(f.slots[slot]) } }
            return { f in
                let v = f.slots[slot]
                if v.isUnbound { throw Compiler.unboundError(n, file) }
                return try apply(v)
            }
        }
        let l = expr(a)
        return { f in try apply(try l(f)) }
    }

    typealias Test = (Frame) throws -> Bool

    /// An expression used only for its truth (if, while, `x if c else y`): comparisons of
    /// ints answer a Bool directly, without making a Value and asking its truthiness.
    func condition(_ e: Expr) -> Test {
        let file = self.file
        let loc = e.location
        if !fast { return truth(expr(e), e.location) }
        switch e.kind {
        case .and(let a, let b):
            let l = condition(a), r = condition(b)
            return { f in try l(f) ? try r(f) : false }
        case .or(let a, let b):
            let l = condition(a), r = condition(b)
            return { f in try l(f) ? true : try r(f) }
        case .binary(let op, let a, let b):
            switch op {
            case .less, .lessEqual, .greater, .greaterEqual, .equal, .notEqual: break
            default: return truth(expr(e), e.location)
            }
            @inline(__always) func compare(_ x: Int, _ y: Int) -> Bool { Compiler.compareInts(op, x, y) }
            @inline(__always) func slow(_ x: Value, _ y: Value) throws -> Bool {
                do { return try Ops.binary(op, x, y).isTruthy } catch { throw locate(error, file, loc) }
            }
            if case .int(let k) = b.kind {
                let kv = Value.int(k)
                if case .name(let n) = a.kind, case .local(let slot) = n.resolution {
                    let checked = slot >= boundSlots
                    return { f in
                        if case .int(let i) = f.slots[slot] { return compare(i, k) }
                        let v = f.slots[slot]
                        if checked && v.isUnbound { throw Compiler.unboundError(n, file) }
                        return try slow(v, kv)
                    }
                }
                let l = expr(a)
                return { f in
                    let v = try l(f)
                    if case .int(let i) = v { return compare(i, k) }
                    return try slow(v, kv)
                }
            }
            let l = expr(a), r = expr(b)
            return { f in
                let x = try l(f), y = try r(f)
                if case .int(let i) = x, case .int(let j) = y { return compare(i, j) }
                return try slow(x, y)
            }
        default:
            return truth(expr(e), e.location)
        }
    }

    private func truth(_ ev: @escaping Eval, _ loc: SourceLocation) -> Test {
        { f in
            let v = try ev(f)
            if case .bool(let b) = v { return b }
            do { return try v.isTruthy } catch { throw locate(error, self.file, loc) }
        }
    }

    // MARK: - Calls

    private func call(_ calleeExpr: Expr, _ args: [Argument], _ loc: SourceLocation) -> Eval {
        let file = self.file
        let interp = self.interp
        let positional = args.filter { $0.label == nil }.map { expr($0.value) }
        let kwNames = args.compactMap(\.label)
        let kwEvals = args.filter { $0.label != nil }.map { expr($0.value) }

        if case .attribute(let recvExpr, let method) = calleeExpr.kind {
            let recv = expr(recvExpr)
            let mloc = calleeExpr.location
            if fast && method == "append" && positional.count == 1 && kwNames.isEmpty {
                let a0 = expr(args[0].value)
                if case .name(let rn) = recvExpr.kind, case .global = rn.resolution {
                    // `xs.append(v)` on a module variable: the list is read from its cell.
                    let cell = module.cell(rn.name)
                    return { f in
                        if cell.defined, case .list(let l) = cell.value {
                            l.items.append(try a0(f))
                            return .nil
                        }
                        return try interp.callMethod(try recv(f), method, f, positional, kwNames, kwEvals, file, loc, mloc)
                    }
                }
                return { f in
                    let r = try recv(f)
                    if case .list(let l) = r {
                        l.items.append(try a0(f))
                        return .nil
                    }
                    return try interp.callMethod(r, method, f, positional, kwNames, kwEvals, file, loc, mloc)
                }
            }
            return { f in
                try interp.callMethod(try recv(f), method, f, positional, kwNames, kwEvals, file, loc, mloc)
            }
        }
        let callee = expr(calleeExpr)
        if fast && kwNames.isEmpty && positional.count <= 3 {
            // Fast paths: a user function called with exactly its parameters.
            let n = positional.count
            let argExprs = args.map(\.value)
            let a0: Eval = n > 0 ? expr(argExprs[0]) : { _ in .nil }
            let a1: Eval = n > 1 ? expr(argExprs[1]) : { _ in .nil }
            let a2: Eval = n > 2 ? expr(argExprs[2]) : { _ in .nil }
            // `n - 1`, `n`: a parameter (plus an int constant) is read inline, not through a0.
            let (s0, k0) = n > 0 ? slotArgument(argExprs[0]) : (-1, 0)
            @inline(__always) func arg0(_ f: Frame) throws -> Value {
                if s0 >= 0, case .int(let i) = f.slots[s0] {
                    let (r, o) = i.addingReportingOverflow(k0)
                    if !o { return .int(r) }
                }
                return try a0(f)
            }
            // A function whose frames cannot escape runs on a borrowed pooled frame (freed if
            // an argument throws); any other on a retained one.
            @inline(__always) func callBorrowed(_ fn: UserFunction, _ code: CompiledFunction, _ f: Frame) throws -> Value {
                let u = code.takeFrame(parent: fn.captured)
                let slots = u._withUnsafeGuaranteedRef { $0.slots }
                do {
                    if n > 0 { slots.initialize(to: try arg0(f)) }
                    if n > 1 { (slots + 1).initialize(to: try a1(f)) }
                    if n > 2 { (slots + 2).initialize(to: try a2(f)) }
                } catch {
                    u.release()
                    throw error
                }
                return try interp.invokeOwned(fn, code, u, file, loc)
            }
            @inline(__always) func callRetained(_ fn: UserFunction, _ f: Frame) throws -> Value {
                var frame = fn.code.makeFrame(parent: fn.captured)
                let slots = frame.slots
                if n > 0 { slots.initialize(to: try arg0(f)) }
                if n > 1 { (slots + 1).initialize(to: try a1(f)) }
                if n > 2 { (slots + 2).initialize(to: try a2(f)) }
                return try interp.invoke(fn, &frame, file, loc)
            }
            if case .name(let nref) = calleeExpr.kind, case .global = nref.resolution {
                // A module-level function called by name: read its cell directly.
                let cell = module.cell(nref.name)
                return { f in
                    // The function is pinned in its cell instead of retained (see GlobalCell.pins).
                    if cell.defined, let fu = cell.unretainedFunction {
                        let result: Value? = try fu._withUnsafeGuaranteedRef { fn in
                            let code = fn.code
                            guard code.paramCount == n && !code.framesEscape else { return nil }
                            cell.pins += 1
                            defer { cell.unpin() }
                            return try callBorrowed(fn, code, f)
                        }
                        if let result { return result }
                    }
                    if cell.defined, case .function(let fn) = cell.value, fn.code.paramCount == n {
                        return fn.code.framesEscape ? try callRetained(fn, f) : try callBorrowed(fn, fn.code, f)
                    }
                    return try interp.callValue(try callee(f), f, positional, kwNames, kwEvals, file, loc)
                }
            }
            return { f in
                let c = try callee(f)
                if case .function(let fn) = c, fn.code.paramCount == n {
                    return fn.code.framesEscape ? try callRetained(fn, f) : try callBorrowed(fn, fn.code, f)
                }
                return try interp.callValue(c, f, positional, kwNames, kwEvals, file, loc)
            }
        }
        return { f in
            try interp.callValue(try callee(f), f, positional, kwNames, kwEvals, file, loc)
        }
    }
}

/// The items of any iterable (`Ops.iterator`) for a loop or a comprehension; an error in
/// making the iterator or in any step is located at the iterable.
private struct LocatedIterator {
    let step: () throws -> Value?
    let file: SourceFile
    let location: SourceLocation

    @inline(__always)
    init(_ seq: Value, _ interp: Interpreter, _ file: SourceFile, _ location: SourceLocation) throws {
        do { step = try Ops.iterator(seq, interp) } catch { throw locate(error, file, location) }
        self.file = file
        self.location = location
    }

    /// The next item, nil after the last.
    @inline(__always)
    func next() throws -> Value? {
        do { return try step() } catch { throw locate(error, file, location) }
    }
}
