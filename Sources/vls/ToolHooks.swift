import VLSBuiltins

/// Extension points of the tool that the builtins layer (the lead) fills in.
enum ToolHooks {
    /// `vls merge PARTS... -o OUT`: combines partial results of sharded runs.
    nonisolated(unsafe) static var merge: ((_ parts: [String], _ output: String, _ partial: Bool) throws -> String)? = { parts, output, partial in
        try Builtins.mergeParts(parts, output: output, partial: partial)
    }
    /// `import name` of a Stdlib module embedded into the binary.
    nonisolated(unsafe) static var stdlib: ((String) -> (source: String, path: String)?)? = nil
}
