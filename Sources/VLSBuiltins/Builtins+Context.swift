import Foundation
import VLSCore
import VLSImaging
import VLSLanguage

/// Class vs context tokens (Docs/method.md#attention-and-context-interventions).
func contextBuiltins(_ session: Session) -> [NativeFunction] {
    /// Per-patch masks (1 = class, 0 = context) of dataset images for a model's grid.
    func objectMasks(_ data: DatasetObject, range: Range<Int>, grid: Int, threshold: Double) throws -> [[Bool]] {
        try range.map { i in
            let img = try data.image(i)
            var out: [Bool] = []
            for gy in 0..<grid {
                for gx in 0..<grid {
                    let x0 = gx * img.width / grid, x1 = max(x0 + 1, (gx + 1) * img.width / grid)
                    let y0 = gy * img.height / grid, y1 = max(y0 + 1, (gy + 1) * img.height / grid)
                    var s = 0.0, n = 0.0
                    for y in y0..<y1 { for x in x0..<x1 { let p = img.pixel(x: x, y: y); s += (Double(p.r) + Double(p.g) + Double(p.b)) / 3; n += 1 } }
                    out.append(s / n / 255 > threshold)
                }
            }
            return out
        }
    }

    return [
        native("object_masks", "object_masks(data: dataset, model: model, threshold: number = 0.2)", area: "context",
               "Per-patch class/context masks [N, rows, cols] (1 = class) for images whose object stands on a dark background (Fashion-MNIST): a patch is a class patch when its mean intensity exceeds `threshold` (0-1).") { a in
            let data = try a.object(0, "data", as: DatasetObject.self, expected: "dataset")
            let m = try a.model(1)
            let g = m.c.gridSize
            let masks = try objectMasks(data, range: 0..<data.indices.count, grid: g, threshold: try a.double(nil, "threshold", default: 0.2))
            return .tensor(Tensor(masks.flatMap { $0.map { $0 ? 1 : 0 } }, shape: [masks.count, g, g]))
        },
        native("segmentation_mask", "segmentation_mask(path: string, model: model, class_id: int = nil)", area: "context",
               "An ImageNet-S style segmentation PNG (class id = G*256 + R) downsampled nearest-neighbour to the model's patch grid: [rows, cols] of class ids, or of 1/0 (class/context) when `class_id` is given.") { a in
            let mask = try SegmentationMask(contentsOf: try a.string(0, "path"))
            let m = try a.model(1)
            let g = m.c.gridSize
            let ids = try mask.patchGrid(rows: g, cols: g)
            if let cid = a.keyword("class_id"), case .int(let c) = cid {
                return .tensor(Tensor(ids.map { Int($0) == c ? 1 : 0 }, shape: [g, g]))
            }
            return .tensor(Tensor(ids.map { Float($0) }, shape: [g, g]))
        },
        native("class_context", "class_context(model: model, data: dataset, masks: tensorlike = nil, threshold: number = 0.2, batch: int = 32, shuffles: int = 300, seed: int = 0)", area: "context",
               "Class vs context tokens: per block the mean identifiability of class and context image tokens with a one-sided permutation test (class > context), the logit-change test (p_c(attn_out[b]) - p_c(resid_post[b-1]), class vs context), and the token-removal experiment (remove context tokens: CLS and class tokens' identifiability; remove class tokens: context tokens'), all against the unperturbed run (rates: % of tokens with the true class top-1, per-image means). Masks: a [N, rows, cols] tensor (1 = class) or, by default, object_masks(data, model, threshold). Returns a dict of tables: identifiability, logit_change, removal.") { a in
            let m = try a.model(0)
            let data = try a.object(1, "data", as: DatasetObject.self, expected: "dataset")
            guard m.c.classToken else { throw RuntimeError("class_context compares against CLS: this model has no CLS token") }
            let batch = try a.int(nil, "batch", default: 32)
            let shuffles = try a.int(nil, "shuffles", default: 300)
            guard shuffles >= 1, shuffles <= Part.maxShuffles else { throw RuntimeError("class_context: shuffles must be in 1...\(Part.maxShuffles), got \(shuffles)") }
            try requireSharded(data, session: session, "class_context")
            let seed = UInt64(bitPattern: Int64(try a.int(nil, "seed", default: 0)))
            let N = m.c.numPatches, L = m.c.depth, P = m.c.numPrefixTokens, C = Double(m.c.numClasses)
            var given: Tensor?
            var givenDigest = ""
            // masks of the whole selection (rows picked by shard position), or, unsharded, of the images
            var maskRow: (Int) -> Int = { $0 }
            if let mv = try a.optionalTensor(nil, "masks") {
                // the part records the masks' digest: shards that used other masks are not merged
                var h = SHA256()
                h.update("\(mv.shape);")
                let c = mv.contiguous()
                h.update(UnsafeRawBufferPointer(start: UnsafeRawPointer(c.pointer), count: c.count * MemoryLayout<Float>.size))
                givenDigest = h.hexDigest()
                if let sh = data.shardSpec, sh.count > 1 {
                    guard mv.count == data.selected.count * N else {
                        throw RuntimeError("class_context: in a sharded run (--shard \(sh.index)/\(sh.count)) masks must cover the whole selection, [\(data.selected.count), \(m.c.gridSize), \(m.c.gridSize)] (each shard takes its rows, and the parts check they used the same masks), got \(mv.shape)")
                    }
                    given = try mv.reshaped([data.selected.count, N])
                    maskRow = { sh.index - 1 + $0 * sh.count }
                } else {
                    guard mv.count == data.indices.count * N else {
                        throw RuntimeError("class_context: masks must be [\(data.indices.count), \(m.c.gridSize), \(m.c.gridSize)], got \(mv.shape)")
                    }
                    given = try mv.reshaped([data.indices.count, N])
                }
            }
            let threshold = try a.double(nil, "threshold", default: 0.2)
            let map = try data.labelMap(for: m)
            // per image (rows in dataset order): s of every block and patch, the logit change
            // (blocks >= 1), the mask, and the six removal rates (nan when the image is skipped)
            let total = data.indices.count
            var sRows = [Double](repeating: 0, count: total * L * N), dRows = sRows
            var maskRows = [Int](repeating: 0, count: total * N)
            var removalRows = [Double](repeating: .nan, count: total * 6)
            let resid = (0..<L).map { HookPoint(.residPost, block: $0) }, attn = (0..<L).map { HookPoint(.attnOut, block: $0) }
            var start = 0
            let bar = ProgressBar(total: total, label: "class vs context", enabled: true)
            while start < total {
                if Interrupt.isRequested { bar.finish(); Interrupt.clear(); throw RuntimeError.interrupted }
                let end = min(total, start + batch)
                let (x, y) = try data.batch(start..<end, model: m, pipeline: nil, map: map)
                let labels = y.scalars.map { Int($0) }
                let masks: [[Bool]] = try given.map { g in (start..<end).map { i in (0..<N).map { g.item([maskRow(i), $0]) > 0.5 } } }
                    ?? objectMasks(data, range: start..<end, grid: m.c.gridSize, threshold: threshold)
                for (i, mk) in masks.enumerated() { for j in 0..<N { maskRows[(start + i) * N + j] = mk[j] ? 1 : 0 } }
                let run = try bridged { try m.model.run(x, capture: resid + attn) }
                var prevLogits: Tensor?
                for b in 0..<L {
                    let lr = try bridged { try m.model.project(run.captured[resid[b]]!) }
                    let la = try bridged { try m.model.project(run.captured[attn[b]]!) }
                    let ranks = try bridged { try LensMath.ranks(lr, classes: Tensor(labels.map(Float.init), shape: [labels.count, 1])) }
                    for (i, c) in labels.enumerated() {
                        let row = ((start + i) * L + b) * N
                        for j in 0..<N {
                            sRows[row + j] = 1 - Double(ranks.item([i, P + j])) / C
                            if let prev = prevLogits {
                                dRows[row + j] = Double(la.item([i, P + j, c]) - prev.item([i, P + j, c]))
                            }
                        }
                    }
                    prevLogits = lr
                }
                // token removal, one image at a time (each keeps its own tokens)
                let last = try bridged { try m.model.project(run.captured[resid[L - 1]]!) }
                for (i, c) in labels.enumerated() {
                    // The label is the token's top-1; a row holding NaN has no top-1 (counted wrong).
                    func top1(_ logits: Tensor, _ img: Int, _ t: Int) -> Bool {
                        let v = logits.item([img, t, c])
                        if v.isNaN { return false }
                        for k in 0..<m.c.numClasses {
                            let o = logits.item([img, t, k])
                            if o > v || o.isNaN { return false }
                        }
                        return true
                    }
                    let cls = (0..<N).filter { masks[i][$0] }, ctx = (0..<N).filter { !masks[i][$0] }
                    guard !cls.isEmpty, !ctx.isEmpty else { continue }
                    func pct(_ hits: [Bool]) -> Double { 100 * Double(hits.filter { $0 }.count) / Double(max(hits.count, 1)) }
                    let r0 = (start + i) * 6
                    removalRows[r0] = top1(last, i, 0) ? 100 : 0
                    removalRows[r0 + 1] = pct(cls.map { top1(last, i, P + $0) })
                    removalRows[r0 + 2] = pct(ctx.map { top1(last, i, P + $0) })
                    let xi = try bridged { try x.narrowed(axis: 0, start: i, count: 1).contiguous() }
                    for (keep, slots) in [(cls, [3, 4]), (ctx, [5])] {
                        let r = try bridged { try m.model.run(xi, capture: [resid[L - 1]], edits: [DropTokens(keep: keep, prefixTokens: P)]) }
                        let l = try bridged { try m.model.project(r.captured[resid[L - 1]]!) }
                        if slots.count == 2 {
                            removalRows[r0 + 3] = top1(l, 0, 0) ? 100 : 0
                            removalRows[r0 + 4] = pct((0..<keep.count).map { top1(l, 0, P + $0) })
                        } else {
                            removalRows[r0 + 5] = pct((0..<keep.count).map { top1(l, 0, P + $0) })
                        }
                    }
                }
                start = end
                bar.update(end)
            }
            bar.finish()
            var args = ["shuffles": "\(shuffles)", "seed": "\(seed)"]
            args["masks"] = given == nil ? "object_masks(threshold: \(threshold))" : "given, sha256 \(givenDigest)"
            let part = try makePart("class_context", args, model: m, data: data, session: session,
                                statistics: ["s": .sums(sRows, shape: [total, L, N], rows: true),
                                             "logit_change": .sums(dRows, shape: [total, L, N], rows: true),
                                             "mask": .counts(maskRows, shape: [total, N], rows: true),
                                             "removal": .sums(removalRows, shape: [total, 6], rows: true)])
            return try bridged { try PartResults.finish(part, name: "class_context") }
        },
    ]
}
