import VLSCore
import VLSLanguage

/// Options of one session (REPL, `vls run`, `vls notebook`), set by the tool.
public struct SessionOptions: Sendable {
    /// Worker threads for BLAS and elementwise kernels; nil = all cores.
    public var threads: Int?
    /// Every random draw of the session derives from this seed.
    public var seed: UInt64
    /// The strings after the script path (`args` in the language).
    public var scriptArgs: [String]
    /// `--shard K/N`: process the K-th (1-based) of N slices of each sharded dataset.
    public var shard: (index: Int, count: Int)?
    /// Where partial results of a sharded run are written.
    public var shardOutput: String?

    public init(threads: Int? = nil, seed: UInt64 = 0, scriptArgs: [String] = [],
                shard: (index: Int, count: Int)? = nil, shardOutput: String? = nil) {
        self.threads = threads
        self.seed = seed
        self.scriptArgs = scriptArgs
        self.shard = shard
        self.shardOutput = shardOutput
    }
}

/// Binds the core (tensors, models, runs, the lens, datasets, figures) into the language.
public enum Builtins {
    /// Installs every builtin of the core into a fresh interpreter. Owned by the builtins
    /// layer; the tool calls it once per session.
    public static func install(into interpreter: Interpreter, options: SessionOptions) {
        _ = interpreter
        _ = options
    }
}
