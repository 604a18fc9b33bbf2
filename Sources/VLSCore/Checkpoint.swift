import Foundation
import VLSFiles

/// Reads a model from a `.safetensors` file or a checkpoint folder (`config.json` +
/// `model.safetensors`, or a sharded `model.safetensors.index.json`), in timm or Hugging
/// Face key layout. Loading is strict: a missing, unused or mis-shaped tensor is an error
/// that names the file and key.
public enum Checkpoint {
    /// Loads weights and architecture. Nothing is printed here; `config.notes` says what
    /// was inferred (the `load` builtin prints them). Every path is examined with
    /// `FileKind` first: a dangling or looping symlink is an error, never "absent".
    public static func load(_ path: String) throws -> (ViTConfig, ViTWeights) {
        let kind = try FileKind.of(path)
        guard kind != .missing else {
            throw CoreError("\(path): no such file or folder")
        }
        let isDir = ObjCBool(kind == .directory)
        func exists(_ p: String) throws -> Bool { try FileKind.of(p) != .missing }
        var files: [SafetensorsFile] = []
        var configJSON: [String: Any]?
        var preprocessorJSON: [String: Any]?
        let folder = isDir.boolValue ? path : Paths.folder(of: path)
        if isDir.boolValue {
            let single = Paths.join(path, "model.safetensors")
            let index = Paths.join(path, "model.safetensors.index.json")
            if try exists(single) {
                files = [try SafetensorsFile(path: single)]
            } else if try exists(index) {
                files = try shards(index: index, folder: path)
            } else {
                let pickles = ["pytorch_model.bin", "model.pth", "pytorch_model.pth", "model.bin"].filter {
                    (try? FileKind.of(Paths.join(path, $0))) != .missing
                }
                if let p = pickles.first {
                    throw CoreError("\(path): holds only the pickle checkpoint '\(p)', which is never loaded (it can run code); convert it with Scripts/convert-checkpoint.py")
                }
                throw CoreError("\(path): no model.safetensors (or model.safetensors.index.json) in this folder")
            }
            configJSON = try readJSON(Paths.join(path, "config.json"), required: false)
            preprocessorJSON = try readJSON(Paths.join(path, "preprocessor_config.json"), required: false)
        } else {
            files = [try SafetensorsFile(path: path)]
            let beside = Paths.join(folder, "config.json")
            if Paths.name(of: path) == "model.safetensors" {
                configJSON = try readJSON(beside, required: false)
            }
        }
        var tensors: [String: (SafetensorsFile, SafetensorsFile.Entry)] = [:]
        tensors.reserveCapacity(files.reduce(0) { $0 + $1.entries.count })   // no doubling peak for huge headers
        for f in files {
            for (name, e) in f.entries {
                if tensors[name] != nil { throw CoreError("\(f.path): tensor '\(name)' appears in two shards") }
                tensors[name] = (f, e)
            }
        }
        let scheme: ViTConfig.KeyScheme = tensors.keys.contains { $0.hasPrefix("vit.") || $0.hasPrefix("encoder.layer.") } ? .huggingFace : .timm
        var reader = TensorReader(tensors: tensors, describe: files.count == 1 ? files[0].path : folder)
        var config: ViTConfig
        do {
            switch scheme {
            case .timm: config = try timmConfig(configJSON, reader: reader, path: path)
            case .huggingFace: config = try hfConfig(configJSON, preprocessor: preprocessorJSON, reader: reader, path: path)
            }
        } catch let e as CoreError where e.message.hasPrefix("config.json: ") || e.message.hasPrefix("preprocessor_config.json: ") {
            throw CoreError(folder.isEmpty ? e.message : (folder.hasSuffix("/") ? folder : folder + "/") + e.message)   // names the file in its folder
        }
        config.keyScheme = scheme
        let weights = scheme == .timm ? try timmWeights(&reader, config: config) : try hfWeights(&reader, config: config)
        try reader.checkAllUsed()
        return (config, weights)
    }

    static func readJSON(_ path: String, required: Bool) throws -> [String: Any]? {
        guard try FileKind.of(path) != .missing else {
            if required { throw CoreError("\(path): missing") }
            return nil
        }
        try FileKind.requireRegular(path)
        let data = Data(try readWholeFile(path))
        try checkStrictJSON(data, path: path)
        guard let obj = try? JSONSerialization.jsonObject(with: data), let dict = obj as? [String: Any] else {
            // The strict check passed, so the text is JSON: what JSONSerialization refuses
            // is a number a double cannot hold (1e999), named with its key.
            if let (key, text) = outOfRangeNumber([UInt8](data)) {
                throw CoreError("\(path): '\(key)' is \(text), a number out of range (beyond the ±1.8e308 of a double)")
            }
            throw CoreError("\(path): not a valid JSON object")
        }
        return dict
    }

    /// The first number of a JSON text that a double cannot hold (`1e999`, 400 digits), with
    /// its key path (`pretrained_cfg.mean[1]`, at most 80 characters of each); nil when none.
    /// The text must already be valid JSON (`checkStrictJSON`): this only walks it.
    static func outOfRangeNumber(_ b: [UInt8]) -> (key: String, text: String)? {
        enum Container { case object(key: String), array(index: Int) }
        var stack: [Container] = []
        var i = 0
        func path() -> String {
            var out = ""
            for c in stack {
                switch c {
                case .object(let key): out += (out.isEmpty ? "" : ".") + key
                case .array(let index): out += "[\(index)]"
                }
            }
            return out
        }
        func string() -> String {
            var out: [UInt8] = []
            i += 1
            while i < b.count, b[i] != UInt8(ascii: "\"") {
                if b[i] == UInt8(ascii: "\\") { out.append(b[i]); i += 1 }
                if i < b.count { out.append(b[i]); i += 1 }
            }
            i += 1
            return escapingControlCharacters(String(decoding: out.prefix(80), as: UTF8.self))
        }
        var expectKey = false
        while i < b.count {
            let c = b[i]
            switch c {
            case UInt8(ascii: "{"): stack.append(.object(key: "")); expectKey = true; i += 1
            case UInt8(ascii: "["): stack.append(.array(index: 0)); expectKey = false; i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"): if !stack.isEmpty { stack.removeLast() }; i += 1
            case UInt8(ascii: ","):
                if case .array(let n)? = stack.last { stack[stack.count - 1] = .array(index: n + 1) } else { expectKey = true }
                i += 1
            case UInt8(ascii: "\""):
                let s = string()
                if expectKey, case .object? = stack.last { stack[stack.count - 1] = .object(key: s); expectKey = false }
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                let start = i
                while i < b.count, b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: ".")
                        || b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") || (b[i] >= UInt8(ascii: "0") && b[i] <= UInt8(ascii: "9")) { i += 1 }
                let text = String(decoding: b[start..<i], as: UTF8.self)
                if let d = Double(text), !d.isFinite {
                    return (path(), text.count > 40 ? String(text.prefix(20)) + "..." + String(text.suffix(8)) + " (\(text.count) characters)" : text)
                }
            default: i += 1
            }
        }
        return nil
    }

    /// Refuses what JSONSerialization would take leniently: a trailing comma, a key named
    /// twice in one object, anything after the value; the error names the file and byte.
    static func checkStrictJSON(_ data: Data, path: String) throws {
        try data.withUnsafeBytes { raw in
            var p = SafetensorsHeaderParser(raw, fail: { CoreError("\(path): \($0)") })
            p.subject = "the file"
            p.base = 0
            try p.checkDocument()
        }
    }

    /// Shards named by a Hugging Face index; every file must stay inside the folder.
    static func shards(index: String, folder: String) throws -> [SafetensorsFile] {
        guard let json = try readJSON(index, required: true), let map = json["weight_map"] as? [String: String] else {
            throw CoreError("\(index): no weight_map")
        }
        var out: [SafetensorsFile] = []
        for name in Set(map.values).sorted() {
            guard !name.contains("/"), !name.hasPrefix("."), name.hasSuffix(".safetensors") else {
                throw CoreError("\(index): shard name '\(name)' must be a .safetensors file inside the checkpoint folder")
            }
            out.append(try SafetensorsFile(path: Paths.join(folder, name)))
        }
        return out
    }
}

/// Hands out tensors by key, checking shapes, and remembers which were used.
struct TensorReader {
    let tensors: [String: (SafetensorsFile, SafetensorsFile.Entry)]
    let describe: String
    var used: Set<String> = []

    init(tensors: [String: (SafetensorsFile, SafetensorsFile.Entry)], describe: String) {
        self.tensors = tensors
        self.describe = describe
    }

    func has(_ key: String) -> Bool { tensors[key] != nil }
    func shape(_ key: String) -> [Int]? { tensors[key]?.1.shape }

    mutating func take(_ key: String, _ shape: [Int]) throws -> Tensor {
        guard let (file, entry) = tensors[key] else {
            throw CoreError("\(describe): missing tensor '\(key)' (expected shape \(shape))")
        }
        guard entry.shape == shape else {
            throw CoreError("\(file.path): tensor '\(key)' has shape \(entry.shape), expected \(shape)")
        }
        used.insert(key)
        return try file.tensor(entry)
    }

    mutating func takeOptional(_ key: String, _ shape: [Int]) throws -> Tensor? {
        has(key) ? try take(key, shape) : nil
    }

    func checkAllUsed() throws {
        let unused = tensors.keys.filter { !used.contains($0) }.sorted()
        if !unused.isEmpty {
            let list = unused.prefix(5).map { "'\($0)'" }.joined(separator: ", ")
            throw CoreError("\(describe): unused tensor\(unused.count > 1 ? "s" : "") \(list)\(unused.count > 5 ? " and \(unused.count - 5) more" : "") (the architecture read from the config does not use \(unused.count > 1 ? "them" : "it"); check config.json)")
        }
    }
}
