#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import VLSFiles

/// Call machinery: calling any callable value with positional and keyword arguments,
/// user functions' frames, method calls.
extension Interpreter {
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
        var d = Diagnostic(message: diagnosticMessage(error), file: fn.decl.location.line > 0 ? file : nil, location: loc)
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
}
