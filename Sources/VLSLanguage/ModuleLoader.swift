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
