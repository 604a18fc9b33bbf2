struct FrameHeader {
    let count: Int
    var parent: Frame?
    var returnValue: Value = .nil
}

/// The slots of one function activation (or of a module's top level, which has none:
/// module variables live in `GlobalCell`s). Slots are tail-allocated: one allocation per call.
final class Frame: ManagedBuffer<FrameHeader, Value> {
    /// Parameter slots start as nil (the caller fills them); the other locals start unbound,
    /// so reading one before assigning it is an error rather than a silent nil.
    static func make(count: Int, parameters: Int = 0, parent: Frame?) -> Frame {
        let buffer = Frame.create(minimumCapacity: count) { _ in FrameHeader(count: count, parent: parent) }
        let frame = unsafeDowncast(buffer, to: Frame.self)
        frame.withUnsafeMutablePointerToElements { p in
            let n = min(parameters, count)
            p.initialize(repeating: .nil, count: n)
            if count > n { (p + n).initialize(repeating: Frame.unbound, count: count - n) }
        }
        return frame
    }

    /// The value of a local that has not been assigned yet (never visible to scripts).
    nonisolated(unsafe) static let unbound = Value.object(UnboundMarker.shared)

    deinit {
        withUnsafeMutablePointers { h, e in _ = e.deinitialize(count: h.pointee.count) }
    }

    @inline(__always) var slots: UnsafeMutablePointer<Value> {
        withUnsafeMutablePointerToElements { $0 }
    }

    @inline(__always) var parent: Frame? { header.parent }

    /// Moves the return value out (leaving nil), so the caller gets it without a copy.
    @inline(__always) func takeReturnValue() -> Value {
        withUnsafeMutablePointerToHeader { h in
            var v = Value.nil
            swap(&v, &h.pointee.returnValue)
            return v
        }
    }

    /// Makes a finished frame look fresh for its next call (see `CompiledFunction.recycle`):
    /// parameters nil, other locals unbound, no parent, so it keeps nothing alive.
    @inline(__always) func reset(parameters: Int) {
        withUnsafeMutablePointers { h, p in
            if h.pointee.parent != nil { h.pointee.parent = nil }
            // The return value was already taken (nil). Values without references need
            // no clearing: the next call overwrites its parameters anyway.
            let count = h.pointee.count
            let n = min(parameters, count)
            for i in 0..<n {
                switch p[i] {
                case .nil, .bool, .int, .float: break
                default: p[i] = .nil
                }
            }
            for i in n..<count { p[i] = Frame.unbound }
        }
    }

    /// Drops the values of `slots` (the frame may outlive its call; the return value was
    /// already moved out by `takeReturnValue`).
    func release(_ slots: [Int]) {
        let p = self.slots
        for i in slots { p[i] = Frame.unbound }
    }

    @inline(__always) var returnValue: Value {
        get { header.returnValue }
        set { header.returnValue = newValue }
    }

    @inline(__always) func ancestor(_ depth: Int) -> Frame {
        var f = self
        for _ in 0..<depth { f = f.parent.unsafelyUnwrapped }
        return f
    }
}

/// A module-level variable. Compiled code holds the cell itself, so a global access is one
/// pointer load (no dictionary lookup at run time).
final class GlobalCell {
    let name: String
    /// Written only through `set` / `update`, which keep pinned functions alive.
    private(set) var value: Value = .nil
    var defined = false
    /// Calls now running of this cell's function that do not retain it (`Compiler.call`:
    /// a counter instead of an atomic retain/release pair per call). While it is non-zero,
    /// a function value overwritten in the cell is kept in `retired`, so a running call
    /// never loses its function, even when it reassigns the global it was called by.
    var pins = 0
    private var retired: [Value] = []
    private var hasRetired = false
    init(name: String) { self.name = name }

    @inline(__always) func set(_ v: Value) {
        if pins != 0 { retire() }
        value = v
    }

    @inline(__always) func update<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        if pins != 0 { retire() }
        return try body(&value)
    }

    @inline(never) private func retire() {
        if case .function = value {
            retired.append(value)
            hasRetired = true
        }
    }

    /// The function the cell holds, without a retain: valid while the caller holds a pin.
    @inline(__always) var unretainedFunction: Unmanaged<UserFunction>? {
        if case .function(let f) = value { return Unmanaged.passUnretained(f) }
        return nil
    }

    @inline(__always) func unpin() {
        pins -= 1
        if hasRetired && pins == 0 { dropRetired() }
    }

    @inline(never) private func dropRetired() {
        hasRetired = false
        retired.removeAll()
    }
}

/// The globals of one module (the main program, the REPL session, or an imported file).
final class ModuleScope {
    let name: String
    private(set) var cells: [String: GlobalCell] = [:]
    private let builtins: (String) -> Value?

    init(name: String, builtins: @escaping (String) -> Value?) {
        self.name = name
        self.builtins = builtins
    }

    /// The cell of a name; a fresh cell starts as the builtin of that name, if any.
    func cell(_ name: String) -> GlobalCell {
        if let c = cells[name] { return c }
        let c = GlobalCell(name: name)
        if let b = builtins(name) { c.set(b); c.defined = true }
        cells[name] = c
        return c
    }

    func lookup(_ name: String) -> GlobalCell? { cells[name] }
}

/// Control flow out of a statement.
enum Flow { case normal, breakLoop, continueLoop, returned }

typealias Eval = (Frame) throws -> Value
typealias Exec = (Frame) throws -> Flow
typealias Store = (Frame, Value) throws -> Void

/// A function body compiled to closures, with its frame layout.
final class CompiledFunction {
    let body: Exec
    /// The body as one expression when its shape allows (see `Compiler.directBody`).
    /// Not an Optional: a closure inside an Optional is called through a reabstraction thunk.
    let direct: Eval
    let hasDirect: Bool
    let slotCount: Int
    let paramCount: Int
    let paramNames: [String]
    let firstDefault: Int
    /// Slots to clear when a call returns (only in functions that define nested functions:
    /// those no nested function reaches), so a closure that outlives the call keeps only
    /// what it uses and the frame-closure cycle is broken.
    let releaseOnExit: [Int]
    /// Whether a frame of this function may outlive its call: only a function that defines
    /// nested functions (def or fn) hands its frame to a closure. Calls of the others own
    /// their frame alone, so they borrow it from the pool as an `Unmanaged` reference
    /// (`takeFrame`/`giveBack`): no retain, release or uniqueness check per call.
    let framesEscape: Bool
    /// Finished frames of this function that nothing else references, ready for reuse:
    /// a call then costs no allocation. Frames captured by closures are never pooled.
    /// A fixed stack of +1 references (no array bookkeeping on the call path).
    private let pool = UnsafeMutablePointer<Unmanaged<Frame>>.allocate(capacity: CompiledFunction.poolCapacity)
    private var pooled = 0
    static let poolCapacity = 64

    /// Runs the body. As a method, `self` is borrowed for the call, so the closure contexts
    /// (immutable lets) are called without a retain/release pair around them.
    @inline(never) func runDirect(_ f: Frame) throws -> Value { try direct(f) }
    /// The call on a frame from `takeFrame` (borrowed, not retained): its result.
    @inline(never) func runOwned(_ u: Unmanaged<Frame>) throws -> Value {
        try u._withUnsafeGuaranteedRef { f in
            if hasDirect { return try direct(f) }
            _ = try body(f)
            return f.takeReturnValue()
        }
    }
    @inline(never) func runBody(_ f: Frame) throws -> Flow { try body(f) }

    init(body: @escaping Exec, direct: @escaping Eval, hasDirect: Bool, slotCount: Int, paramNames: [String], firstDefault: Int, releaseOnExit: [Int], framesEscape: Bool) {
        self.body = body
        self.direct = direct
        self.hasDirect = hasDirect
        self.slotCount = slotCount
        self.paramCount = paramNames.count
        self.paramNames = paramNames
        self.firstDefault = firstDefault
        self.releaseOnExit = releaseOnExit
        self.framesEscape = framesEscape
    }

    deinit {
        for i in 0..<pooled { pool[i].release() }
        pool.deallocate()
    }

    /// A frame for a call: a pooled one if any, else a new one. Its parameter slots hold
    /// values without references (nil after `Frame.make`, whatever `reset` left), so the
    /// caller may overwrite them with `initialize(to:)`, skipping the destroy of the old value.
    @inline(__always) func makeFrame(parent: Frame?) -> Frame {
        if pooled > 0 {
            pooled -= 1
            let u = pool[pooled]
            if let parent { u._withUnsafeGuaranteedRef { $0.header.parent = parent } }
            return u.takeRetainedValue()
        }
        return Frame.make(count: slotCount, parameters: paramCount, parent: parent)
    }

    /// `makeFrame` for a function whose frames do not escape (`!framesEscape`): the caller
    /// owns the +1 reference and ends with `giveBack` (or `release()` on an error path).
    @inline(__always) func takeFrame(parent: Frame?) -> Unmanaged<Frame> {
        if pooled > 0 {
            pooled -= 1
            let u = pool[pooled]
            if let parent { u._withUnsafeGuaranteedRef { $0.header.parent = parent } }
            return u
        }
        return Unmanaged.passRetained(Frame.make(count: slotCount, parameters: paramCount, parent: parent))
    }

    /// Ends a call of `takeFrame`: nothing else can hold the frame, so it is pooled
    /// without a uniqueness check (or freed when the pool is full).
    @inline(__always) func giveBack(_ u: Unmanaged<Frame>) {
        if pooled < CompiledFunction.poolCapacity {
            u._withUnsafeGuaranteedRef { $0.reset(parameters: paramCount) }
            pool[pooled] = u
            pooled += 1
        } else {
            u.release()
        }
    }

    /// Returns a finished call's frame to the pool when nothing else holds it.
    @inline(__always) func recycle(_ frame: inout Frame) {
        guard pooled < CompiledFunction.poolCapacity, isKnownUniquelyReferenced(&frame) else { return }
        frame.reset(parameters: paramCount)
        pool[pooled] = Unmanaged.passRetained(frame)
        pooled += 1
    }
}

/// Attaches a source location to an error thrown by a native or an operator.
func locate(_ error: Error, _ file: SourceFile, _ location: SourceLocation) -> Diagnostic {
    if let d = error as? Diagnostic { return d }
    return Diagnostic(error, file: file, location: location)
}

/// The message of an error that is not yet a diagnostic: the script's own (error(),
/// assert()) whole, any other with its over-long lines cut (`Format.bounded`).
func diagnosticMessage(_ error: Error) -> String {
    if let r = error as? RuntimeError { return r.verbatim ? r.message : Format.bounded(r.message) }
    return Format.bounded(String(describing: error))
}

/// Marks a local slot that has no value yet.
final class UnboundMarker: VLSObject, @unchecked Sendable {
    static let shared = UnboundMarker()
    var typeName: String { "unbound" }
}

extension Value {
    /// True for a local slot that has not been assigned yet.
    @inline(__always) var isUnbound: Bool {
        if case .object(let o) = self { return o === UnboundMarker.shared }
        return false
    }
}
