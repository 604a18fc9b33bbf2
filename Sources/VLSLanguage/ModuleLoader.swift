#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import VLSFiles

/// The module loader: `import name` from the Stdlib provider or a `.vls` file beside the
/// importing file, each module loaded once.
extension Interpreter {
    // MARK: - Modules

    /// `import name`: a Stdlib module from `stdlibProvider`, else `name.vls` next to the
    /// importing file; `import "path.vls"`: a path relative to the importing file.
    func importModule(_ name: String, isPath: Bool, from file: SourceFile, at loc: SourceLocation) throws -> Value {
        var source: String?
        var path = name
        // A Stdlib module and a file of the same name beside the importing file: either
        // choice would silently run code the user did not mean, so it is an error that
        // names both (the Stdlib's own imports stay in the Stdlib).
        if !isPath, !file.path.hasPrefix("<stdlib>"), stdlibProvider(name) != nil, let local = moduleFile(name, from: file) {
            throw Diagnostic(message: "import \(name): both the Stdlib module '\(name)' and the file \(local) exist; write import \"\(name).vls\" for the file, or rename it (the Stdlib's names: \(stdlibNames.joined(separator: ", ")))", file: file, location: loc)
        }
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
            let text: String?
            do { text = try readTextFile(path) } catch let e as FileError {
                throw Diagnostic(message: "cannot import '\(name)': \(e.message)", file: file, location: loc)
            } catch let d as Diagnostic {
                throw Diagnostic(message: "syntax error in module '\(name)':\n" + d.rendered(), file: file, location: loc)
            }
            guard let text else {
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

    /// `name.vls` beside the importing file (in the current folder for the REPL), if it exists.
    private func moduleFile(_ name: String, from file: SourceFile) -> String? {
        var rel = name + ".vls"
        let dir = file.path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        if !dir.isEmpty && !file.path.hasPrefix("<") { rel = dir + "/" + rel }
        var st = stat()
        return stat(rel, &st) == 0 ? rel : nil
    }

    /// The value of a Stdlib global (`stdlibGlobals`): its module's definition, the module
    /// imported on first use. Nil when the name is not one, or the module does not define
    /// it (a test holds every declared name to a definition).
    func stdlibGlobal(_ name: String) -> Value? {
        guard let module = stdlibGlobals[name]?.module else { return nil }
        return try? stdlibFunction(module, name)
    }

    /// A function of a Stdlib module (`probing.evaluate`), for a host's member that is
    /// defined in the Stdlib; the module is imported on first use.
    public func stdlibFunction(_ module: String, _ name: String) throws -> Value {
        let file = SourceFile(path: "<stdlib>", text: "")
        guard case .object(let m as ModuleObject) = try importModule(module, isPath: false, from: file, at: SourceLocation(line: 1, column: 1)),
              let c = m.scope.lookup(name), c.defined else { throw RuntimeError("the Stdlib module '\(module)' defines no '\(name)'") }
        return c.value
    }

    /// Whether a global cell holds what the host or the Stdlib provides under that name
    /// (a builtin, or a Stdlib global outside its own module), not a user's definition.
    func isProvided(_ c: GlobalCell, in scope: ModuleScope) -> Bool {
        switch c.value {
        case .native(let f): return builtins[c.name] === f
        case .function:
            guard let home = stdlibGlobals[c.name]?.module, home != scope.name else { return false }
            if let v = stdlibGlobal(c.name), case .function(let a) = v, case .function(let b) = c.value { return a === b }
            return false
        default: return false
        }
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
        c.defined && !interpreter.isProvided(c, in: scope)
    }
    func getProperty(_ name: String, interpreter: Interpreter) throws -> Value? {
        guard let c = scope.lookup(name), isOwn(c) else { return nil }
        return c.value
    }
    var memberNames: [String] { scope.cells.values.filter(isOwn).map(\.name).sorted() }
}

/// A source file's text, or nil when it does not exist (`Files.readFile`: unreadable
/// files, folders and FIFOs throw a `FileError` naming the file; a byte that is not UTF-8
/// throws the `Diagnostic` of its line and column, `SourceText`).
func readTextFile(_ path: String) throws -> String? {
    guard let bytes = try Files.readFile(path) else { return nil }
    switch SourceText.decode(bytes, path: path) {
    case .success(let text): return text
    case .failure(let d): throw d
    }
}
