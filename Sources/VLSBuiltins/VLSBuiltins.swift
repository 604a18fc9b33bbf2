import Foundation
import VLSCore
import VLSImaging
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

    public init(threads: Int? = nil, seed: UInt64 = 0, scriptArgs: [String] = [],
                shard: (index: Int, count: Int)? = nil) {
        self.threads = threads
        self.seed = seed
        self.scriptArgs = scriptArgs
        self.shard = shard
    }
}

/// State shared by the builtins of one session.
final class Session {
    let options: SessionOptions
    /// Draws for `randn`, random orders, ...: derived from the session seed.
    var rng: SeededGenerator

    init(options: SessionOptions) {
        self.options = options
        rng = SeededGenerator(seed: options.seed)
    }
}

/// Binds the core (tensors, models, runs, the lens, datasets, figures) into the language.
public enum Builtins {
    /// Installs every builtin of the core into a fresh interpreter. The tool calls it once
    /// per session.
    public static func install(into interpreter: Interpreter, options: SessionOptions) {
        if let n = options.threads { Threads.set(n) } else { Threads.set(Threads.available) }   // the affinity mask's CPUs
        CoreInterrupt.flag = Interrupt.rawFlag
        registerParameterTypes()
        let session = Session(options: options)
        for table in [tensorBuiltins(session), modelBuiltins(session), lensBuiltins(session), editBuiltins(session),
                      dataBuiltins(session), figureBuiltins(session), metricBuiltins(session),
                      memoryBuiltins(session), saliencyBuiltins(session), probeBuiltins(session),
                      contextBuiltins(session), partBuiltins(session), tableBuiltins(session), systemBuiltins(session), outputBuiltins(session)] {
            for fn in table { interpreter.define(fn) }
        }
        interpreter.setGlobal("args", .list(options.scriptArgs.map { .string($0) }))
        interpreter.display = { [weak interpreter] figure in
            interpreter?.output(TerminalDisplay.render(figure) + "\n")
        }
        interpreter.stdlibNames = EmbeddedStdlib.modules.keys.sorted()
        interpreter.stdlibProvider = { name in
            EmbeddedStdlib.modules[name].map { (source: $0, path: "<stdlib>/\(name).vls") }
        }
        // the analyses whose one definition is a Stdlib driver, as global names
        interpreter.stdlibGlobals = ["identifiability_metrics": ("metrics", "metrics"), "compare_random": ("metrics", "metrics"),
                                     "memories": ("memory", "memories"), "probes": ("probing", "probes"), "class_context": ("context", "context"),
                                     "perturbation_test": ("perturbation", "saliency")]
    }
}

// MARK: - Helpers shared by the tables

/// Parameter types of this layer's declarations.
func registerParameterTypes() {
    // A tensor, a number or a (nested) list of numbers: what `tensorValue` converts.
    Declarations.registerType("tensorlike", description: "tensor or list of numbers") { v in
        switch v {
        case .object(let o): return o is TensorObject ? v : nil
        case .int, .float, .float32, .bool, .list, .range: return v
        default: return nil
        }
    }
    // A class index or classes: an int, a list of ints or a tensor of them.
    Declarations.registerType("classes", description: "int, list of ints or tensor") { v in
        switch v {
        case .object(let o): return o is TensorObject ? v : nil
        case .int, .bool, .list, .range: return v
        case .float(let d): return d.isFinite && d == d.rounded() && abs(d) < 1e15 ? .int(Int(d)) : nil
        case .float32(let f): return f.isFinite && f == f.rounded() && abs(f) < 1e15 ? .int(Int(f)) : nil
        default: return nil
        }
    }
    // A list of ints, a range or a 1-d tensor of integral values (`intList`).
    Declarations.registerType("ints", description: "int, list of ints, range or tensor") { v in
        switch v {
        case .object(let o): return o is TensorObject ? v : nil
        case .int, .list, .range, .nil: return v
        default: return nil
        }
    }
}

/// A native function entry: name, signature, area, docstring, body.
func native(_ name: String, _ signature: String, area: String, _ doc: String,
            _ body: @escaping (Arguments) throws -> Value) -> NativeFunction {
    NativeFunction(name: name, signature: signature, doc: doc, area: area) { args in
        try bridged { try body(args) }
    }
}

/// A members table whose bodies run `bridged`.
func bridgedMembers<T>(_ typeName: String) -> Members<T> {
    Members<T>(typeName, wrap: { body in try bridged(body) })
}

/// Runs core code, turning core and imaging errors into runtime errors of the language.
func bridged<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let e as CoreError {
        if e.isInterrupt { Interrupt.clear(); throw RuntimeError.interrupted }
        throw RuntimeError(e.message)
    } catch let e as ImagingError {
        throw RuntimeError(e.message)
    }
}

extension Value {
    static func tensor(_ t: Tensor) -> Value { .object(TensorObject(t)) }
    /// A 0/1 tensor that indexes as a mask (what comparisons make).
    static func mask(_ t: Tensor) -> Value { .object(TensorObject(t, isMask: true)) }
    /// An int64 tensor of indices or counts (checked below 2^24: see DType).
    static func indices(_ t: Tensor, _ what: String) throws -> Value { try TensorObject.int64(t, what) }
    static func strings(_ s: [String]) -> Value { .list(s.map { .string($0) }) }
    static func ints(_ s: [Int]) -> Value { .list(s.map { .int($0) }) }
    static func dict(_ pairs: [(String, Value)]) -> Value { .dict(DictRef(pairs)) }
}

extension Arguments {
    /// A tensor argument: a tensor, a number, or a (nested) list of numbers.
    func tensor(_ index: Int, _ name: String) throws -> Tensor {
        let v = try value(index, name)
        guard let t = try? tensorValue(v) else { throw badArgument(index, name, expected: "tensor", got: v) }
        return t
    }

    func optionalTensor(_ index: Int?, _ name: String) throws -> Tensor? {
        guard let v = optional(index, name) else { return nil }
        if case .nil = v { return nil }
        guard let t = try? tensorValue(v) else { throw badArgument(index, name, expected: "tensor", got: v) }
        return t
    }

    /// A list of ints (or a single int, or a range, or a 1-d tensor).
    func intList(_ index: Int?, _ name: String) throws -> [Int]? {
        guard let v = optional(index, name) else { return nil }
        switch v {
        case .nil: return nil
        case .int(let i): return [i]
        case .range(let r): return (0..<r.count).map { r[$0] }
        case .list(let l):
            return try l.items.map {
                if case .float(let d) = $0, d.isFinite, d == d.rounded(), abs(d) < 1e15 { return Int(d) }
                if case .float32(let f) = $0, f.isFinite, f == f.rounded(), abs(f) < 1e15 { return Int(f) }
                guard case .int(let i) = $0 else { throw badArgument(index, name, expected: "list of ints", got: $0) }
                return i
            }
        case .object(let o as TensorObject) where o.isMask:
            throw RuntimeError("bad argument '\(name)' to '\(functionName)' (positions expected, got a mask from a comparison; its positions are arange(n)[mask])")
        case .object(let o as TensorObject):
            guard o.tensor.rank <= 1 else { throw RuntimeError("bad argument '\(name)' to '\(functionName)' (a 1-d tensor of indices expected, got shape \(o.tensor.shape))") }
            // Tensor elements are floats: only integral, finite values are indices
            // (Int(nan) would trap, Int(2.5) would silently truncate).
            return try o.tensor.scalars.enumerated().map { i, x in
                guard x.isFinite, x == x.rounded(), abs(x) < 1e15 else {
                    throw RuntimeError("bad argument '\(name)' to '\(functionName)' (element \(i) is \(x), not an integer)")
                }
                return Int(x)
            }
        default: throw badArgument(index, name, expected: "list of ints", got: v)
        }
    }

    /// A list of int lists (nested lists, or the rows of a 2-d tensor).
    func intLists(_ index: Int?, _ name: String) throws -> [[Int]]? {
        guard let v = optional(index, name) else { return nil }
        switch v {
        case .list(let l) where l.items.contains(where: { if case .int = $0 { return false }; return true }):
            return try l.items.map { item in
                switch item {
                case .list(let inner):
                    return try inner.items.map {
                        guard case .int(let i) = $0 else { throw badArgument(index, name, expected: "list of int lists", got: $0) }
                        return i
                    }
                case .object(let o as TensorObject) where o.tensor.rank == 1:
                    return try o.tensor.scalars.map {
                        guard $0.isFinite, $0 == $0.rounded(), abs($0) < 1e15 else { throw badArgument(index, name, expected: "list of int lists", got: .float(Double($0))) }
                        return Int($0)
                    }
                default: throw badArgument(index, name, expected: "list of int lists", got: item)
                }
            }
        case .object(let o as TensorObject) where o.tensor.rank == 2:
            let t = o.tensor.contiguous(), n = t.shape[1]
            return try (0..<t.shape[0]).map { r in try (0..<n).map { j in
                let x = t.pointer[r * n + j]
                guard x.isFinite, x == x.rounded(), abs(x) < 1e15 else { throw badArgument(index, name, expected: "list of int lists", got: .float(Double(x))) }
                return Int(x)
            } }
        default: return nil
        }
    }

    /// An index: an int, or a float with an integral value (tensor elements are floats).
    func index(_ i: Int?, _ name: String) throws -> Int {
        let v = try i.map { try value($0, name) } ?? { guard let k = keyword(name) else { throw RuntimeError("'\(functionName)' missing argument '\(name)'") }; return k }()
        switch v {
        case .int(let n): return n
        case .float(let d) where d == d.rounded() && abs(d) < 1e15: return Int(d)
        case .float32(let f) where f == f.rounded() && abs(f) < 1e15: return Int(f)
        default: throw badArgument(i, name, expected: "int", got: v)
        }
    }

    /// A model argument.
    func model(_ index: Int, _ name: String = "model") throws -> ModelObject {
        try object(index, name, as: ModelObject.self, expected: "model")
    }
}

/// Target classes from a user value: an int for every image, or one per image (list or
/// tensor); each must be an integral class index in range (a float tensor's 3.0 is class
/// 3; 3.5, NaN and 10 of 10 classes are errors naming the function).
func classIndices(_ v: Value, images: Int, classes: Int, function: String) throws -> [Int] {
    func check(_ x: Double, _ i: Int?) throws -> Int {
        let at = i.map { " (item \($0))" } ?? ""
        guard x.isFinite, x == x.rounded(), abs(x) < 1e15 else {
            throw RuntimeError("\(function): target\(at) is \(x), not a class index")
        }
        let c = Int(x)
        guard c >= 0, c < classes else { throw RuntimeError("\(function): target class \(c)\(at) out of range (0...\(classes - 1))") }
        return c
    }
    if case .int(let c) = v { return [Int](repeating: try check(Double(c), nil), count: images) }
    if case .float(let d) = v { return [Int](repeating: try check(d, nil), count: images) }
    if case .float32(let f) = v { return [Int](repeating: try check(Double(f), nil), count: images) }
    let t = try tensorValue(v)
    guard t.count == images, t.rank <= 1 else {
        throw RuntimeError("\(function): \(t.count) targets (shape \(t.shape)) for \(images) images; give one class or one per image")
    }
    return try t.scalars.enumerated().map { try check(Double($0.element), $0.offset) }
}

/// Converts a language value to a tensor: tensors as they are, numbers as scalars, nested
/// lists of numbers as n-d tensors (rectangular).
func tensorValue(_ v: Value) throws -> Tensor {
    switch v {
    case .object(let o as TensorObject): return o.tensor
    case .int(let i): return Tensor(scalar: Float(i))
    case .float(let d): return Tensor(scalar: Float(d))
    case .float32(let f): return Tensor(scalar: f)
    case .bool(let b): return Tensor(scalar: b ? 1 : 0)
    case .range(let r): return Tensor((0..<r.count).map { Float(r[$0]) }, shape: [r.count])
    case .list(let l):
        return try tensorFromNestedList(l)
    default:
        throw RuntimeError("cannot make a tensor from a \(v.typeName)")
    }
}

/// The most axes a tensor built from nested lists may have (a cycle or a deeper nesting is
/// an error, never a stack overflow).
let maxNestedListRank = Limits.maxRank

/// A nested rectangular list of numbers (or tensors) as one tensor, in one linear pass: the
/// shape from the first items, then every item checked against it while filling.
func tensorFromNestedList(_ l: ListRef) throws -> Tensor {
    var shape: [Int] = []
    var v = Value.list(l)
    var leaf: [Int] = []
    while true {
        if case .list(let inner) = v {
            guard shape.count < maxNestedListRank else {
                throw RuntimeError("tensor(): lists nested deeper than \(maxNestedListRank) levels (or a list that contains itself)")
            }
            shape.append(inner.items.count)
            guard let first = inner.items.first else { break }
            v = first
        } else {
            if case .object(let o as TensorObject) = v { leaf = o.tensor.shape }
            break
        }
    }
    let full = shape + leaf
    let out = try Tensor(zeros: full, for: "tensor()")
    let p = out.mutablePointer
    var k = 0
    func fill(_ v: Value, _ dim: Int) throws {
        if dim == shape.count {
            switch v {
            case .int(let i): p[k] = Float(i); k += 1
            case .float(let d): p[k] = Float(d); k += 1
            case .float32(let f): p[k] = f; k += 1
            case .bool(let b): p[k] = b ? 1 : 0; k += 1
            case .object(let o as TensorObject):
                guard o.tensor.shape == leaf else {
                    throw RuntimeError("tensor(): nested lists must be rectangular (found tensors of shapes \(leaf) and \(o.tensor.shape))")
                }
                let t = o.tensor.contiguous()
                for i in 0..<t.count { p[k + i] = t.pointer[i] }
                k += t.count
            case .list:
                throw RuntimeError("tensor(): nested lists must be rectangular (a list where a number was expected at depth \(dim))")
            default:
                throw RuntimeError("cannot make a tensor from a \(v.typeName)")
            }
            return
        }
        guard case .list(let inner) = v else {
            throw RuntimeError("tensor(): nested lists must be rectangular (a \(v.typeName) where a list of \(shape[dim]) was expected at depth \(dim))")
        }
        guard inner.items.count == shape[dim] else {
            throw RuntimeError("tensor(): nested lists must be rectangular (found lengths \(shape[dim]) and \(inner.items.count) at depth \(dim))")
        }
        for x in inner.items { try fill(x, dim + 1) }
    }
    try fill(.list(l), 0)
    return out
}

/// Converts a tensor to nested lists of floats (ints when `ints`, bools when `bools`).
func nestedList(_ t: Tensor, ints: Bool = false, bools: Bool = false) -> Value {
    let values = t.scalars
    // ints: the caller checked each value (TensorObject.intElement); anything else stays a float rather than trap.
    func leaf(_ v: Float) -> Value { bools ? .bool(v != 0) : ints && v.isFinite && abs(v) < 1e15 ? .int(Int(v)) : .float(Double(v)) }
    func build(_ dim: Int, _ offset: Int) -> Value {
        if dim == t.rank {
            return leaf(values[offset])
        }
        let stride = t.shape[(dim + 1)...].reduce(1, *)
        return .list((0..<t.shape[dim]).map { build(dim + 1, offset + $0 * stride) })
    }
    if t.rank == 0 { return leaf(values[0]) }
    return build(0, 0)
}

/// Numbers of a value as a Swift array of doubles (list or tensor).
func doubles(_ v: Value) throws -> [Double] {
    try tensorValue(v).scalars.map(Double.init)
}
