import Foundation
import VLSCore
import VLSImaging
import VLSLanguage

/// Class vs context tokens (Docs/method.md#attention-and-context-interventions): the masks.
/// The experiment itself is Stdlib/context.vls (`class_context`).
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
    ]
}
