import Foundation
import XCTest
@testable import VLSCore

/// A checkpoint folder from the internet never makes the loader read outside it.
final class CheckpointFolderTests: XCTestCase {
    func testShardIndexCannotNameFilesOutsideTheFolder() throws {
        let root = Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        // A real safetensors file beside the folder and in a subfolder: the bait.
        let model = Fixtures.model("standard") + "/model.safetensors"
        try FileManager.default.copyItem(atPath: model, toPath: root + "/outside.safetensors")
        let folder = root + "/ckpt"
        try FileManager.default.createDirectory(atPath: folder + "/sub", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: model, toPath: folder + "/sub/inner.safetensors")
        try FileManager.default.copyItem(atPath: model, toPath: folder + "/.hidden.safetensors")
        for name in ["../outside.safetensors", root + "/outside.safetensors", "sub/inner.safetensors",
                     ".hidden.safetensors", "..", "model.pth", "/etc/passwd"] {
            let index = #"{"weight_map": {"patch_embed.proj.weight": "\#(name)"}}"#
            FileManager.default.createFile(atPath: folder + "/model.safetensors.index.json", contents: Data(index.utf8))
            XCTAssertThrowsError(try Checkpoint.load(folder), name) { e in
                XCTAssertTrue("\(e)".contains("must be a .safetensors file inside the checkpoint folder"), "\(name): \(e)")
            }
        }
    }

    func testConfigNamesNoFiles() throws {
        // config.json fields that look like paths are never opened: the folder loads from
        // its own model.safetensors whatever the config says.
        let folder = Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: Fixtures.model("standard") + "/model.safetensors", toPath: folder + "/model.safetensors")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.model("standard") + "/config.json"))) as! [String: Any]
        config["pretrained_cfg"] = ["file": "/etc/passwd", "hf_hub_id": "../../x", "input_size": [3, 32, 32]]
        config["checkpoint_path"] = "/etc/shadow"
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder + "/config.json"))
        let (c, _) = try Checkpoint.load(folder)
        XCTAssertEqual(c.imageSize, 32)
    }
}
