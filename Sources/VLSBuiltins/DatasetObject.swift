import Foundation
import VLSCore
import VLSImaging
import VLSLanguage

/// A labelled image set, read lazily: Fashion-MNIST (IDX), an image folder, or tensors.
final class DatasetObject: VLSObject {
    enum Source {
        case idx(IDXDataset)
        case folder(ImageFolder)
        /// Preprocessed images [N, 3, H, W] and labels [N].
        case tensors(Tensor, [Int])
    }

    let source: Source
    let name: String
    /// Indices of the underlying set this view covers (subsets, shards).
    let indices: [Int]
    let classNames: [String]
    /// True when `vls run --shard K/N` slices this dataset.
    let sharded: Bool

    init(source: Source, name: String, indices: [Int], classNames: [String], sharded: Bool = false) {
        self.source = source; self.name = name; self.indices = indices; self.classNames = classNames; self.sharded = sharded
    }

    var typeName: String { "dataset" }
    var memberNames: [String] { ["batches", "take", "slice", "labels", "classes", "image", "label", "shard", "size"] }
    func length() throws -> Int? { indices.count }

    func describe() -> String {
        "dataset \(name): \(indices.count) images, \(classNames.count) classes" + (sharded ? " (sharded)" : "")
    }

    func label(_ i: Int) -> Int {
        let j = indices[i]
        switch source {
        case .idx(let d): return d.labels[j]
        case .folder(let f): return f.entries[j].label
        case .tensors(_, let labels): return labels[j]
        }
    }

    func image(_ i: Int) throws -> Image {
        let j = indices[i]
        switch source {
        case .idx(let d): return try bridged { try d.image(j) }
        case .folder(let f): return try bridged { try f.image(at: j) }
        case .tensors: throw RuntimeError("dataset \(name) holds preprocessed tensors, not images")
        }
    }

    func subset(_ idx: [Int], sharded: Bool? = nil) -> DatasetObject {
        DatasetObject(source: source, name: name, indices: idx.map { indices[$0] }, classNames: classNames, sharded: sharded ?? self.sharded)
    }

    /// Maps this set's labels to the model's class indices by name; errors on a mismatch.
    func labelMap(for m: ModelObject) throws -> [Int]? {
        if case .tensors = source { return nil }
        let modelNames = (0..<m.c.numClasses).map(m.label)
        if classNames == Array(modelNames.prefix(classNames.count)) && classNames.count <= m.c.numClasses { return nil }
        var lookup: [String: Int] = [:]
        for (i, n) in modelNames.enumerated() { lookup[n.lowercased()] = i }
        if m.c.numClasses == 1000 { for (i, w) in ImageNetLabels.wnids.enumerated() { lookup[w.lowercased()] = i } }
        var map: [Int] = []
        var missing: [String] = []
        for n in classNames {
            if let i = lookup[n.lowercased()] { map.append(i) }
            else if let i = Int(n), i >= 0, i < m.c.numClasses, m.c.labels == nil { map.append(i) }
            else { missing.append(n) }
        }
        guard missing.isEmpty else {
            throw RuntimeError("dataset \(name): classes \(missing.prefix(5).map { "'\($0)'" }.joined(separator: ", "))\(missing.count > 5 ? " and \(missing.count - 5) more" : "") are not classes of the model (it has \(m.c.numClasses): \(modelNames.prefix(4).joined(separator: ", "))...); folder names must be the model's label names or wnids")
        }
        return map
    }

    /// Batch `k` of size `n` for model `m`: images [B, 3, H, W] and labels [B] (model indices).
    func batch(_ range: Range<Int>, model m: ModelObject?, pipeline: String?, map: [Int]?) throws -> (Tensor, Tensor) {
        let labels = Tensor(range.map { i in Float(map.map { $0[label(i)] } ?? label(i)) }, shape: [range.count])
        if case .tensors(let x, _) = source {
            let rows = range.map { x.select(indices[$0]) }
            return (try Tensor.stack(rows), labels)
        }
        guard let m else { throw RuntimeError("batches of image data need model: m (to preprocess the images for it)") }
        let images = try range.map { try image($0) }
        return (try bridged { try m.preprocessBatch(images, pipeline: pipeline) }, labels)
    }

    /// Streams the images through `body` in batches preprocessed for `m` (labels mapped to the
    /// model's classes), with a progress bar on stderr and Ctrl-C checked between batches.
    func forEachBatch(_ size: Int, model m: ModelObject, label: String, _ body: (Tensor, [Int]) throws -> Void) throws {
        guard size > 0 else { throw RuntimeError("batch size must be positive, got \(size)") }
        let map = try labelMap(for: m)
        let total = indices.count
        let bar = ProgressBar(total: total, label: label, enabled: total > 4 * size)
        defer { bar.finish() }
        var start = 0
        while start < total {
            if Interrupt.isRequested { Interrupt.clear(); throw RuntimeError.interrupted }
            let end = min(total, start + size)
            let (x, y) = try batch(start..<end, model: m, pipeline: nil, map: map)
            try bridged { try body(x, y.scalars.map { Int($0) }) }
            start = end
            bar.update(end)
        }
    }

    func getProperty(_ name: String, interpreter: Interpreter) throws -> Value? {
        func method(_ n: String, _ sig: String, _ doc: String, _ body: @escaping (Arguments) throws -> Value) -> Value {
            .native(NativeFunction(name: "dataset.\(n)", signature: sig, doc: doc, area: "data") { a in try bridged { try body(a) } })
        }
        switch name {
        case "size": return .int(indices.count)
        case "classes": return .strings(classNames)
        case "labels": return .ints((0..<indices.count).map(label))
        case "batches":
            return method("batches", "data.batches(n, model: m, pipeline: nil, progress: true)",
                          "Iterates (images, labels) batches of n, images preprocessed for the model (its own pipeline unless `pipeline:` names \"timm\" or \"squash\") and labels mapped to the model's classes by name. Shows progress on stderr for long sets.") { a in
                try a.expectKeywords(["model", "pipeline", "progress"])
                let n = try a.int(0, "n")
                guard n > 0 else { throw RuntimeError("batches: size must be positive, got \(n)") }
                var m: ModelObject?
                if let mv = a.optional(nil, "model") {
                    guard case .object(let o as ModelObject) = mv else { throw a.badArgument(nil, "model", expected: "model", got: mv) }
                    m = o
                }
                let pipeline = try a.optional(nil, "pipeline").map { _ in try a.string(nil, "pipeline") }
                let map = try m.flatMap { try self.labelMap(for: $0) }
                let progress = try a.bool(nil, "progress", default: true)
                return .object(BatchIterator(dataset: self, size: n, model: m, pipeline: pipeline, map: map, progress: progress))
            }
        case "take":
            return method("take", "data.take(n)", "The first n images.") { a in
                .object(self.subset(Array(0..<min(max(0, try a.int(0, "n")), self.indices.count))))
            }
        case "slice":
            return method("slice", "data.slice(start, stop)", "Images start..<stop.") { a in
                let s = max(0, try a.int(0, "start")), e = min(self.indices.count, try a.int(1, "stop"))
                return .object(self.subset(s < e ? Array(s..<e) : []))
            }
        case "per_class":
            return method("per_class", "data.per_class(n)", "The first n images of every class (directory order).") { a in
                let n = try a.int(0, "n")
                var counts: [Int: Int] = [:]
                var keep: [Int] = []
                for i in 0..<self.indices.count {
                    let l = self.label(i)
                    if counts[l, default: 0] < n { keep.append(i); counts[l, default: 0] += 1 }
                }
                return .object(self.subset(keep))
            }
        case "image":
            return method("image", "data.image(i)", "Image i (before preprocessing).") { a in
                let i = try a.int(0, "i")
                guard i >= 0, i < self.indices.count else { throw RuntimeError("image \(i) out of range (0...\(self.indices.count - 1))") }
                return .object(ImageObject(try self.image(i)))
            }
        case "label":
            return method("label", "data.label(i)", "The label (class index of this dataset) of image i.") { a in
                let i = try a.int(0, "i")
                guard i >= 0, i < self.indices.count else { throw RuntimeError("image \(i) out of range") }
                return .int(self.label(i))
            }
        default: return nil
        }
    }

    func subscriptGet(_ items: [IndexItem], interpreter: Interpreter) throws -> Value {
        guard items.count == 1, case .value(.int(let i0)) = items[0] else { throw RuntimeError("a dataset is indexed by an image number") }
        let i = i0 < 0 ? i0 + indices.count : i0
        guard i >= 0, i < indices.count else { throw RuntimeError("image \(i0) out of range (dataset has \(indices.count))") }
        return .list([.object(ImageObject(try image(i))), .int(label(i))])
    }
}

/// Iterates a dataset's batches lazily; one batch in memory at a time.
final class BatchIterator: VLSObject {
    let dataset: DatasetObject
    let size: Int
    let model: ModelObject?
    let pipeline: String?
    let map: [Int]?
    let progress: Bool

    init(dataset: DatasetObject, size: Int, model: ModelObject?, pipeline: String?, map: [Int]?, progress: Bool) {
        self.dataset = dataset; self.size = size; self.model = model; self.pipeline = pipeline; self.map = map; self.progress = progress
    }

    var typeName: String { "batches" }
    func describe() -> String { "batches of \(size) over \(dataset.describe())" }
    func length() throws -> Int? { (dataset.indices.count + size - 1) / size }

    func makeIterator(interpreter: Interpreter) throws -> (() throws -> Value?)? {
        var start = 0
        let total = dataset.indices.count
        let bar = ProgressBar(total: total, label: dataset.name, enabled: progress && total > 4 * size)
        return { [self] in
            guard start < total else { bar.finish(); return nil }
            if Interrupt.isRequested { bar.finish(); Interrupt.clear(); throw RuntimeError.interrupted }
            let end = min(total, start + size)
            let (x, y) = try dataset.batch(start..<end, model: model, pipeline: pipeline, map: map)
            start = end
            bar.update(end)
            return .list([.tensor(x), .tensor(y)])
        }
    }
}

/// A progress bar on stderr (only when stderr is a terminal or VLS_PROGRESS=1).
final class ProgressBar {
    let total: Int
    let label: String
    let enabled: Bool
    let start = Date()
    var last = Date.distantPast

    init(total: Int, label: String, enabled: Bool) {
        self.total = total
        self.label = label
        let env = ProcessInfo.processInfo.environment["VLS_PROGRESS"]
        self.enabled = enabled && env != "0" && (isatty(2) != 0 || env == "1")
    }

    func update(_ done: Int) {
        guard enabled, Date().timeIntervalSince(last) > 0.2 || done == total else { return }
        last = Date()
        let frac = Double(done) / Double(max(total, 1))
        let width = 30
        let filled = Int(frac * Double(width))
        let elapsed = Date().timeIntervalSince(start)
        let eta = frac > 0 ? elapsed * (1 - frac) / frac : 0
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        FileHandle.standardError.write(Data(String(format: "\r%@ %@ %d/%d  %.0fs elapsed, %.0fs left ", label, bar, done, total, elapsed, eta).utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}

/// Datasets.
func dataBuiltins(_ session: Session) -> [NativeFunction] {
    [
        native("dataset", "dataset(name_or_folder, split: \"test\", sharded: false) / dataset(images: t, labels: t)", area: "data",
               "A labelled image set, read lazily: \"fashion-mnist\" (Debian's dataset-fashion-mnist, split \"train\" or \"test\"), a folder in ImageNet layout (one sub-folder per class) or with a labels.csv, or preprocessed tensors (images [N, 3, H, W], labels [N]). `sharded: true` marks an analysis set that `vls run --shard K/N` slices (never a probe training set).") { a in
            try a.expectKeywords(["split", "images", "labels", "sharded"])
            let sharded = try a.bool(nil, "sharded", default: false)
            var d: DatasetObject
            if let imgs = try a.optionalTensor(nil, "images") {
                guard let lt = try a.optionalTensor(nil, "labels") else { throw RuntimeError("dataset(images:) needs labels: too") }
                guard imgs.rank == 4, lt.rank == 1, lt.shape[0] == imgs.shape[0] else {
                    throw RuntimeError("dataset(images:, labels:): images must be [N, 3, H, W] and labels [N], got \(imgs.shape) and \(lt.shape)")
                }
                let labels = try bridged { try Limits.classLabels(lt.scalars, for: "dataset(images:, labels:)") }
                let classes = (0...(labels.max() ?? 0)).map { "class \($0)" }
                d = DatasetObject(source: .tensors(imgs.contiguous(), labels), name: "tensors", indices: Array(0..<labels.count), classNames: classes)
            } else {
                let name = try a.string(0, "name")
                if name.lowercased() == "fashion-mnist" || name.lowercased() == "fashion_mnist" {
                    let split = try a.string(nil, "split", default: "test")
                    let ds = try IDXDataset.fashionMNIST(split: split)
                    d = DatasetObject(source: .idx(ds), name: "fashion-mnist/\(split)", indices: Array(0..<ds.count), classNames: ds.classNames)
                } else {
                    let f = try ImageFolder(path: name)
                    d = DatasetObject(source: .folder(f), name: (name as NSString).lastPathComponent, indices: Array(0..<f.count), classNames: f.classes)
                }
            }
            if sharded, let (k, n) = session.options.shard {
                let keep = Array(stride(from: k - 1, to: d.indices.count, by: n))
                d = d.subset(keep, sharded: true)
            } else if sharded {
                d = d.subset(Array(0..<d.indices.count), sharded: true)
            }
            return .object(d)
        },
    ]
}
