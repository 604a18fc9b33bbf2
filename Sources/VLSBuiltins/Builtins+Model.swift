import Foundation
import VLSFiles
import VLSCore
import VLSImaging
import VLSLanguage

/// An image as a language value.
final class ImageObject: DeclaredObject {
    let image: Image
    let path: String?
    init(_ image: Image, path: String? = nil) { self.image = image; self.path = path }
    var typeName: String { "image" }
    func describe() -> String { "image \(image.width)x\(image.height) RGB" + (path.map { " (\($0))" } ?? "") }

    static let members: Members<ImageObject> = bridgedMembers("image")
        .property("width", "Width in pixels.") { o, _ in .int(o.image.width) }
        .property("height", "Height in pixels.") { o, _ in .int(o.image.height) }
        .property("path", "The file it was read from (nil when made in memory).") { o, _ in o.path.map { .string($0) } ?? .nil }
        .method("image.resize(width: int, height: int, filter: string = \"bilinear\")", "A resized copy (Pillow's antialiased resampling: nearest, box, bilinear, hamming, bicubic, lanczos).") { o, a in
            let f = try a.string(nil, "filter")
            guard let filter = ResampleFilter(name: f) else { throw RuntimeError("unknown filter '\(f)' (nearest, box, bilinear, hamming, bicubic or lanczos)") }
            return .object(ImageObject(try o.image.resized(width: try a.int(0, "width"), height: try a.int(1, "height"), filter: filter)))
        }
        .method("image.tensor()", "Pixels as a [3, H, W] tensor in [0, 1].") { o, _ in
            let w = o.image.width, h = o.image.height
            let t = try Tensor(zeros: [3, h, w], for: "image.tensor")
            let p = t.mutablePointer
            for y in 0..<h { for x in 0..<w { for c in 0..<3 {
                p[(c * h + y) * w + x] = Float(o.image.pixels[(y * w + x) * 3 + c]) / 255
            } } }
            return .tensor(t)
        }
}

/// Loading models and images.
func modelBuiltins(_ session: Session) -> [NativeFunction] {
    let area = "model"
    return [
        native("load", "load(path: string)", area: area,
               "A model from a `.safetensors` file or a checkpoint folder (config.json + model.safetensors, timm or Hugging Face layout; sharded HF checkpoints too). Pickle files (.pth/.bin) are refused: convert them with Scripts/convert-checkpoint.py. The architecture is read from config.json and the tensor shapes; `model.notes` says what was inferred.") { a in
            let path = try a.string(0, "path")
            let model = try ViT(path: path)
            // What was guessed (no config.json, heads from the width, ...) is said on stderr.
            for note in model.config.notes { writeStandardError("note: \(escapingControlCharacters(path)): \(note)\n") }
            return .object(ModelObject(model, session: session))
        },
        native("image", "image(path: string)", area: area,
               "Reads a PNG or JPEG image (gray and RGBA become RGB).") { a in
            let path = try a.string(0, "path")
            return .object(ImageObject(try Image(contentsOf: path), path: path))
        },
    ]
}
