import Foundation
import VLSCore
import VLSImaging
import VLSLanguage

/// An image as a language value.
final class ImageObject: VLSObject {
    let image: Image
    let path: String?
    init(_ image: Image, path: String? = nil) { self.image = image; self.path = path }
    var typeName: String { "image" }
    var memberNames: [String] { ["width", "height", "path", "resize", "tensor"] }
    func describe() -> String { "image \(image.width)x\(image.height) RGB" + (path.map { " (\($0))" } ?? "") }

    func getProperty(_ name: String, interpreter: Interpreter) throws -> Value? {
        switch name {
        case "width": return .int(image.width)
        case "height": return .int(image.height)
        case "path": return path.map { .string($0) } ?? .nil
        case "resize":
            return .native(NativeFunction(name: "image.resize", signature: "image.resize(width, height, filter: \"bilinear\")",
                                          doc: "A resized copy (Pillow's antialiased resampling: nearest, box, bilinear, hamming, bicubic, lanczos).", area: "image") { a in
                let f = try a.string(nil, "filter", default: "bilinear")
                guard let filter = ResampleFilter(name: f) else { throw RuntimeError("unknown filter '\(f)'") }
                return .object(ImageObject(try bridged { try self.image.resized(width: try a.int(0, "width"), height: try a.int(1, "height"), filter: filter) }))
            })
        case "tensor":
            return .native(NativeFunction(name: "image.tensor", signature: "image.tensor()", doc: "Pixels as a [3, H, W] tensor in [0, 1].", area: "image") { _ in
                let w = self.image.width, h = self.image.height
                let t = try bridged { try Tensor(uninitialized: [3, h, w], for: "image.tensor()") }   // through the cap
                let p = t.mutablePointer
                for y in 0..<h { for x in 0..<w { for c in 0..<3 {
                    p[(c * h + y) * w + x] = Float(self.image.pixels[(y * w + x) * 3 + c]) / 255
                } } }
                return .tensor(t)
            })
        default: return nil
        }
    }
}

/// Loading models and images.
func modelBuiltins(_ session: Session) -> [NativeFunction] {
    let area = "model"
    return [
        native("load", "load(path)", area: area,
               "A model from a `.safetensors` file or a checkpoint folder (config.json + model.safetensors, timm or Hugging Face layout; sharded HF checkpoints too). Pickle files (.pth/.bin) are refused: convert them with Scripts/convert-checkpoint.py. The architecture is read from config.json and the tensor shapes; `model.notes` says what was inferred.") { a in
            let path = try a.string(0, "path")
            let model = try ViT(path: path)
            // What was guessed (no config.json, heads from the width, ...) is said on stderr.
            for note in model.config.notes { writeStandardError("note: \(escapingControlCharacters(path)): \(note)\n") }
            return .object(ModelObject(model, session: session))
        },
        native("image", "image(path)", area: area,
               "Reads a PNG or JPEG image (gray and RGBA become RGB).") { a in
            let path = try a.string(0, "path")
            return .object(ImageObject(try Image(contentsOf: path), path: path))
        },
    ]
}
