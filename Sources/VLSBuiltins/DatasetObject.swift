import Foundation
import VLSFiles
import VLSCore
import VLSImaging
import VLSLanguage

/// A labelled image set, read lazily: Fashion-MNIST (IDX), an image folder, or tensors.
final class DatasetObject: DeclaredObject {
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
    /// Select, then shard: on a sharded set, the source indices of the whole selection
    /// (before sharding), the shard K/N this view holds of it, and the selection applied.
    let selected: [Int]
    let shardSpec: (index: Int, count: Int)?
    let selection: [String]
    /// `dataset(path, model: m)`: the source's own label j is the model's class
    /// `remap[j]` (folder names mapped to the model's classes by name). Then every label
    /// (`d[i]`, `d.label(i)`, `d.labels`, batches) is the model's class id and `classes`
    /// the model's names. Without it a folder's labels are its own indices (sorted
    /// folder names) and analyses refuse to guess a mapping.
    let remap: [Int]?

    init(source: Source, name: String, indices: [Int], classNames: [String], sharded: Bool = false, remap: [Int]? = nil) {
        self.source = source; self.name = name; self.indices = indices; self.classNames = classNames; self.sharded = sharded
        self.selected = indices; self.shardSpec = nil; self.selection = []; self.remap = remap
    }

    /// A view of `selected` (source indices), sharded K/N (1/1 without `--shard`) when `shard` is given.
    init(source: Source, name: String, selected: [Int], classNames: [String], shard: (index: Int, count: Int)?, selection: [String], remap: [Int]? = nil) {
        self.source = source; self.name = name; self.classNames = classNames; self.sharded = shard != nil
        self.selected = selected; self.shardSpec = shard; self.selection = selection; self.remap = remap
        if let shard {
            self.indices = Array(stride(from: shard.index - 1, to: selected.count, by: shard.count)).map { selected[$0] }
        } else {
            self.indices = selected
        }
    }

    /// Positions `pos` of the whole selection (before sharding, when sharded), re-sharded.
    func select(_ pos: [Int], _ what: String) -> DatasetObject {
        DatasetObject(source: source, name: name, selected: pos.map { selected[$0] }, classNames: classNames,
                      shard: shardSpec, selection: selection + [what], remap: remap)
    }

    /// The label of source index j.
    func sourceLabel(_ j: Int) -> Int {
        switch source {
        case .idx(let d): return remap.map { $0[d.labels[j]] } ?? d.labels[j]
        case .folder(let f): return remap.map { $0[f.entries[j].label] } ?? f.entries[j].label
        case .tensors(_, let labels): return labels[j]
        }
    }

    /// Images in the source (before any selection).
    var sourceSize: Int {
        switch source {
        case .idx(let d): return d.count
        case .folder(let f): return f.count
        case .tensors(_, let labels): return labels.count
        }
    }

    var typeName: String { "dataset" }
    func length() throws -> Int? { indices.count }

    func describe() -> String {
        "dataset \(name): \(indices.count) images, \(classNames.count) classes" + (sharded ? " (sharded)" : "")
    }

    func label(_ i: Int) -> Int {
        let j = indices[i]
        switch source {
        case .idx(let d): return remap.map { $0[d.labels[j]] } ?? d.labels[j]
        case .folder(let f): return remap.map { $0[f.entries[j].label] } ?? f.entries[j].label
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


    /// The map from this set's own labels to `m`'s class indices by name (or wnid, or a
    /// numeric folder name for a model without names); nil when they already agree. An
    /// error names the classes that are not the model's.
    func nameMap(for m: ModelObject) throws -> [Int]? {
        if case .tensors = source { return nil }
        let modelNames = (0..<m.c.numClasses).map(m.label)
        if classNames == Array(modelNames.prefix(classNames.count)) && classNames.count <= m.c.numClasses { return nil }
        // A name two classes share (ImageNet's "crane" is 134 and 517) maps to neither: the
        // folder must be named by wnid. Names compare without case, so "Shirt" and "shirt"
        // are one name.
        var lookup: [String: Int] = [:]
        var shared: [String: [Int]] = [:]
        for (i, n) in modelNames.enumerated() {
            let key = n.lowercased()
            if let j = lookup[key] { shared[key, default: [j]].append(i) } else { lookup[key] = i }
        }
        for key in shared.keys { lookup[key] = nil }
        if m.c.numClasses == 1000 { for (i, w) in ImageNetLabels.wnids.enumerated() { lookup[w.lowercased()] = i } }
        var map: [Int] = []
        var missing: [String] = []
        for n in classNames {
            if let classes = shared[n.lowercased()], lookup[n.lowercased()] == nil {
                throw RuntimeError("dataset \(name): class folder '\(n)' names \(classes.count) classes of the model (\(classes.map(String.init).joined(separator: ", "))); rename the folder (by wnid for an ImageNet model)")
            }
            if let i = lookup[n.lowercased()] { map.append(i) }
            else if let i = Int(n), i >= 0, i < m.c.numClasses, m.c.labels == nil { map.append(i) }
            else { missing.append(n) }
        }
        guard missing.isEmpty else {
            throw RuntimeError("dataset \(name): classes \(missing.prefix(5).map { "'\($0)'" }.joined(separator: ", "))\(missing.count > 5 ? " and \(missing.count - 5) more" : "") are not classes of the model (it has \(m.c.numClasses): \(modelNames.prefix(4).joined(separator: ", "))...); folder names must be the model's label names or wnids")
        }
        return map
    }

    /// For everything that compares labels with `m`'s classes (batches for a model,
    /// accuracy, metrics, memories, context): the labels must already be `m`'s class ids.
    /// A set whose own labels differ from the model's is an error pointing to
    /// `dataset(..., model: m)`: the mapping is never made behind the user's back (it made
    /// `d[i]` and `d.batches(model: m)` disagree on an image's label). Returns nil (no
    /// map to apply); kept as an optional for the callers' shape.
    func labelMap(for m: ModelObject) throws -> [Int]? {
        guard try nameMap(for: m) != nil else { return nil }
        throw RuntimeError("dataset \(name): its labels are its own class indices (\(classNames.prefix(3).map { "\($0) = \(classNames.firstIndex(of: $0) ?? 0)" }.joined(separator: ", "))\(classNames.count > 3 ? ", ..." : "")), not the model's; make it with dataset(..., model: m) to map its class names to the model's classes")
    }

    /// This set with its labels mapped to `m`'s classes by name (`dataset(path, model: m)`).
    func mapped(to m: ModelObject) throws -> DatasetObject {
        let names = (0..<m.c.numClasses).map(m.label)
        guard let map = try nameMap(for: m) else {
            return DatasetObject(source: source, name: name, selected: selected, classNames: names, shard: shardSpec, selection: selection, remap: remap)
        }
        let composed = remap.map { r in r.map { map[$0] } } ?? map
        return DatasetObject(source: source, name: name, selected: selected, classNames: names, shard: shardSpec, selection: selection, remap: composed)
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

    /// Over an empty selection an analysis's rates are undefined (0/0): refused, never a
    /// table of 0.0000 or of nan. A shard holding no image of a non-empty selection passes.
    func requireImages(_ function: String? = nil) throws {
        guard selected.isEmpty else { return }
        let how = selection.isEmpty ? "" : " " + selection.joined(separator: ".")
        throw RuntimeError("\(function.map { $0 + ": " } ?? "")no images: the selection\(how) of dataset \(name) (\(sourceSize) images) is empty; an analysis over no images has no rates")
    }

    /// Streams the images through `body` in batches preprocessed for `m` (labels mapped to the
    /// model's classes), with a progress bar on stderr and Ctrl-C checked between batches.
    func forEachBatch(_ size: Int, model m: ModelObject, label: String, _ body: (Tensor, [Int]) throws -> Void) throws {
        guard size > 0 else { throw RuntimeError("batch size must be positive, got \(size)") }
        // Every dataset analysis streams through here: over an empty selection its rates
        // are undefined (0/0), so it is refused, never a table of 0.0000 or of nan. A shard
        // that holds no image of a non-empty selection still runs: its part merges.
        try requireImages()
        let map = try labelMap(for: m)
        let total = indices.count
        let bar = ProgressBar(total: total, label: label, enabled: total > 4 * size)
        defer { bar.finish() }
        var start = 0
        while start < total {
            if Interrupt.isRequested { Interrupt.clear(); throw RuntimeError.interrupted }
            let end = start + min(size, total - start)
            let (x, y) = try batch(start..<end, model: m, pipeline: nil, map: map)
            try bridged { try body(x, y.scalars.map { Int($0) }) }
            start = end
            bar.update(end)
        }
    }

    static let members: Members<DatasetObject> = bridgedMembers("dataset")
        .property("size", "The number of images.") { d, _ in .int(d.indices.count) }
        .property("positions", "Where this view's images sit in the whole selection before sharding, as a list of ints: 0, 1, ..., size-1 unsharded; K-1, K-1+N, ... under vls run --shard K/N (rows of per-selection inputs such as masks).") { d, _ in
            guard let sh = d.shardSpec else { return .ints(Array(0..<d.indices.count)) }
            return .ints(Array(stride(from: sh.index - 1, to: d.selected.count, by: sh.count)))
        }
        .property("source", "Where the images come from: \"tensors\" (dataset(images: t, ...), preprocessed already), \"idx\" (Fashion-MNIST) or \"folder\".") { d, _ in
            switch d.source {
            case .tensors: return .string("tensors")
            case .idx: return .string("idx")
            case .folder: return .string("folder")
            }
        }
        .property("selection_size", "The number of images of the whole selection before sharding (size, unsharded).") { d, _ in .int(d.selected.count) }
        .property("classes", "The class names (index = label): a folder's sorted sub-folder names, or the model's names for dataset(..., model: m).") { d, _ in .strings(d.classNames) }
        .property("labels", "The label of every image, as a list of ints.") { d, _ in .ints((0..<d.indices.count).map(d.label)) }
        .method("data.batches(n: int, model: model = nil, pipeline: string = nil, progress: bool = true)",
                "Iterates (images, labels) batches of n, images preprocessed for the model (its own pipeline unless `pipeline:` names \"timm\" or \"squash\"). The labels must be the model's classes: make a folder dataset with dataset(path, model: m). Shows progress on stderr for long sets.") { d, a in
            let n = try a.int(0, "n")
            guard n > 0 else { throw RuntimeError("batches: size must be positive, got \(n)") }
            let m = try a.optional(1, "model").map { _ in try a.object(1, "model", as: ModelObject.self, expected: "model") }
            let pipeline = try a.optional(2, "pipeline").map { _ in try a.string(2, "pipeline") }
            let map = try m.flatMap { try d.labelMap(for: $0) }
            let progress = try a.bool(3, "progress")
            return .object(BatchIterator(dataset: d, size: n, model: m, pipeline: pipeline, map: map, progress: progress))
        }
        .method("data.batch(indices: ints, model: model = nil, pipeline: string = nil)",
                "One batch [images, labels] of the given image numbers (negative count from the end), preprocessed for the model, as a batch of `batches` is.") { d, a in
            let idx = try a.intList(0, "indices") ?? []
            let n = d.indices.count
            let rows = try idx.map { i0 -> Int in
                let i = i0 < 0 ? i0 + n : i0
                guard i >= 0, i < n else { throw RuntimeError("batch: image \(i0) out of range (dataset has \(n))") }
                return i
            }
            let m = try a.optional(1, "model").map { _ in try a.object(1, "model", as: ModelObject.self, expected: "model") }
            let pipeline = try a.optional(2, "pipeline").map { _ in try a.string(2, "pipeline") }
            let map = try m.flatMap { try d.labelMap(for: $0) }
            guard !rows.isEmpty else { throw RuntimeError("batch: give at least one image number") }
            let parts = try rows.map { try d.batch($0..<($0 + 1), model: m, pipeline: pipeline, map: map) }
            return .list([.tensor(try Tensor.concatenate(parts.map(\.0), axis: 0)), .tensor(try Tensor.concatenate(parts.map(\.1), axis: 0))])
        }
        .method("data.take(n: int)", "The first n images (of the whole set, before sharding).") { d, a in
            let n = try a.int(0, "n")
            guard n >= 0 else { throw RuntimeError("data.take: n must be at least 0, got \(n)") }
            return .object(d.select(Array(0..<min(max(0, n), d.selected.count)), "take(\(n))"))
        }
        .method("data.slice(start: int, stop: int)", "Images start..<stop (of the whole set, before sharding); negative positions count from the end, as in Python's data[start:stop].") { d, a in
            let s0 = try a.int(0, "start"), e0 = try a.int(1, "stop")
            let n = d.selected.count
            func clamp(_ i: Int) -> Int { i < 0 ? max(i + n, 0) : min(i, n) }
            let s = clamp(s0), e = clamp(e0)
            return .object(d.select(s < e ? Array(s..<e) : [], "slice(\(s0), \(e0))"))
        }
        .method("data.per_class(n: int)", "The first n images of every class (directory order, of the whole set, before sharding).") { d, a in
            let n = try a.int(0, "n")
            guard n >= 0 else { throw RuntimeError("data.per_class: n must be at least 0, got \(n)") }
            var counts: [Int: Int] = [:]
            var keep: [Int] = []
            for i in 0..<d.selected.count {
                let l = d.sourceLabel(d.selected[i])
                if counts[l, default: 0] < n { keep.append(i); counts[l, default: 0] += 1 }
            }
            return .object(d.select(keep, "per_class(\(n))"))
        }
        .method("data.image(i: int)", "Image i (before preprocessing).") { d, a in
            let i = try a.int(0, "i")
            guard i >= 0, i < d.indices.count else { throw RuntimeError("image \(i) out of range (0...\(d.indices.count - 1))") }
            return .object(ImageObject(try d.image(i)))
        }
        .method("data.label(i: int)", "The label of image i: the dataset's own class index (a folder's position among the sorted sub-folder names), or the model's class id for dataset(..., model: m).") { d, a in
            let i = try a.int(0, "i")
            guard i >= 0, i < d.indices.count else { throw RuntimeError("image \(i) out of range") }
            return .int(d.label(i))
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
    /// Batches in the set, without overflow for any size.
    var batchCount: Int { dataset.indices.count / size + (dataset.indices.count % size == 0 ? 0 : 1) }
    func length() throws -> Int? { batchCount }

    /// Batch k as [images, labels] (`batches[0]`), or a list of them for a slice (`batches[:3]`).
    func subscriptGet(_ items: [IndexItem], interpreter: Interpreter) throws -> Value {
        let count = batchCount
        func one(_ k: Int) throws -> Value {
            let start = k * size   // k < count, so k * size < indices.count + size: no overflow
            let end = start + min(size, dataset.indices.count - start)
            let (x, y) = try dataset.batch(start..<end, model: model, pipeline: pipeline, map: map)
            return .list([.tensor(x), .tensor(y)])
        }
        guard items.count == 1 else { throw RuntimeError("batches take one index or slice") }
        switch items[0] {
        case .value(.int(let k0)):
            let k = k0 < 0 ? k0 + count : k0
            guard k >= 0, k < count else { throw RuntimeError("batch \(k0) out of range (\(count) batches of \(size))") }
            return try one(k)
        case .slice(let start, let stop, let step):
            guard step != 0 else { throw RuntimeError("slice step cannot be zero") }
            let st = TensorIndexing.clampedStep(step ?? 1, n: count)
            let (lo, n) = TensorIndexing.sliceBounds(n: count, start: start, stop: stop, step: st)
            return .list(try (0..<n).map { try one(lo + $0 * st) })
        case .value(let v):
            throw RuntimeError("batches are indexed by an int or a slice, got \(v.typeName)")
        }
    }

    func makeIterator(interpreter: Interpreter) throws -> (() throws -> Value?)? {
        var start = 0
        let total = dataset.indices.count
        let bar = ProgressBar(total: total, label: dataset.name, enabled: progress && total > 4 * size)
        return { [self] in
            guard start < total else { bar.finish(); return nil }
            if Interrupt.isRequested { bar.finish(); Interrupt.clear(); throw RuntimeError.interrupted }
            let end = start + min(size, total - start)
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
        native("dataset", "dataset(name: string = nil, split: string = \"test\", sharded: bool = false, *, images: tensorlike = nil, labels: tensorlike = nil, model: model = nil)", area: "data",
               "A labelled image set, read lazily: \"fashion-mnist\" (Debian's dataset-fashion-mnist, split \"train\" or \"test\"), a folder in ImageNet layout (one sub-folder per class) or with a labels.csv, or preprocessed tensors (images [N, 3, H, W], labels [N]). A folder's labels are its own class indices (sorted sub-folder names) unless `model:` is given: then its folder names are mapped to that model's classes by name (or wnid), an unknown name is an error, and every label (d[i], d.labels, batches) is the model's class id. Analyses need the model's classes and refuse a set whose labels differ from them. `sharded: true` marks an analysis set that `vls run --shard K/N` slices (never a probe training set).") { a in
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
                guard a.optional(0, "name") != nil else { throw RuntimeError("'dataset' needs a name or folder (dataset(\"fashion-mnist\")), or images: and labels:") }
                let name = try a.string(0, "name")
                if name.lowercased() == "fashion-mnist" || name.lowercased() == "fashion_mnist" {
                    let split = try a.string(nil, "split", default: "test")
                    let ds = try IDXDataset.fashionMNIST(split: split)
                    d = DatasetObject(source: .idx(ds), name: "fashion-mnist/\(split)", indices: Array(0..<ds.count), classNames: ds.classNames)
                } else {
                    let f = try ImageFolder(path: name)
                    d = DatasetObject(source: .folder(f), name: Paths.name(of: name), indices: Array(0..<f.count), classNames: f.classes)
                }
            }
            if let mv = a.optional(nil, "model") {
                guard case .object(let m as ModelObject) = mv else {
                    throw RuntimeError("bad argument 'model' to 'dataset' (model expected, got \(ParamType.describe(mv)))")
                }
                if case .tensors = d.source {
                    throw RuntimeError("dataset(images:, labels:, model:): labels given as numbers are class ids already; model: maps a folder's or Fashion-MNIST's class names")
                }
                d = try d.mapped(to: m)
            }
            if sharded {   // select, then shard: take/slice/per_class select from the whole set
                d = DatasetObject(source: d.source, name: d.name, selected: d.indices, classNames: d.classNames,
                                  shard: session.options.shard ?? (1, 1), selection: [], remap: d.remap)
            }
            return .object(d)
        },
    ]
}
