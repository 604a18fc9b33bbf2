#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import VLSFiles

/// The embedding API: what a host (the tool, the kernel, tests) calls to install natives,
/// read and set globals, and render values and help.
extension Interpreter {
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

    /// Names defined in the main module (user variables, builtins and Stdlib globals), sorted.
    public func globalNames() -> [String] {
        Set(main.cells.values.filter(\.defined).map(\.name)).union(stdlibGlobals.keys).sorted()
    }

    /// User variables of the main module (not builtins or Stdlib globals), sorted, with their values.
    public func userVariables() -> [(String, Value)] {
        main.cells.values.filter { $0.defined && !isProvided($0, in: main) }
            .map { ($0.name, $0.value) }.sorted { $0.0 < $1.0 }
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

    /// The global names `:help` lists by area: builtins in definition order, then the
    /// Stdlib globals of that area (a new area after the builtins' ones).
    public func namesByArea() -> [(String, [String])] {
        var out = builtinsByArea().map { ($0.0, $0.1.map(\.name)) }
        for (name, g) in stdlibGlobals.sorted(by: { $0.key < $1.key }) {
            if let i = out.firstIndex(where: { $0.0 == g.area }) { out[i].1.append(name) } else { out.append((g.area, [name])) }
        }
        return out
    }

    /// The help of a builtin, user function, or value named `name`; a dotted name
    /// (`m.run`, `xs.append`, `module.fn`) is the help of that member, from its declaration.
    public func helpText(for name: String) -> String? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if parts.count > 1 {
            guard var v = global(parts[0]) ?? stdlibGlobal(parts[0]) else { return nil }
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
        if let v = stdlibGlobal(name) { return helpText(of: v) }
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
}
