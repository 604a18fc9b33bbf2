#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import VLSFiles

/// Runs vls programs. One interpreter is one session: globals persist between `run` calls
/// (the REPL), natives are installed with `define`, output goes through `output`.
///
/// The class holds the session's state; its stages live in files of their own:
/// Driver.swift (source to result: parse, resolve, compile, execute), Calls.swift (calling
/// values, frames, methods), ModuleLoader.swift (`import`), Interpreter+Embedding.swift
/// (the API a host uses).
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
    /// The names `stdlibProvider` answers (for completion after `import`).
    public var stdlibNames: [String] = []
    /// Global names defined by a Stdlib module (`class_context` by `context`), with the
    /// `:help` area they are listed under: the first mention of such a name imports the
    /// module, and the global is the module's function itself (one definition, two ways
    /// to reach it: `class_context` and `context.class_context`).
    public var stdlibGlobals: [String: (module: String, area: String)] = [:]
    /// Deepest nesting of user function calls before "stack overflow".
    public var maxCallDepth = 1000

    /// Natives by name, and their definition order (for `help`), set by `define`.
    var builtins: [String: NativeFunction] = [:]
    var builtinOrder: [String] = []
    let main: ModuleScope
    /// Loaded modules by path, and the paths being loaded (circular imports).
    var modules: [String: Value] = [:]
    var loading: Set<String> = []
    /// The files imported so far (`import name` found beside the importer, `import
    /// "path.vls"`), in order: inputs of the run that an output must not replace.
    public internal(set) var importedFiles: [String] = []
    /// Nesting of user function calls (bounded by `maxCallDepth`).
    var callDepth = 0
    /// The Ctrl-C flag (see `Interrupt.poll(_:)`).
    let stopFlag = Interrupt.rawFlag
    /// Nesting of `run` (a native may run source again, e.g. `:load`).
    var runDepth = 0

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
}

/// Looks up builtins for new global cells without a strong cycle to the interpreter.
final class BuiltinLookup {
    weak var interpreter: Interpreter?
    func lookup(_ name: String) -> Value? {
        guard let interpreter else { return nil }
        if let f = interpreter.builtins[name] { return .native(f) }
        return interpreter.stdlibGlobal(name)
    }
}
