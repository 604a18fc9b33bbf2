import Foundation
import XCTest
@testable import VLSCore

/// Inputs that once crashed a reader under Scripts/fuzz (Tests/Fixtures/fuzz/TARGET/*):
/// each must now be an error (or a value), never a trap.
final class FuzzRegressionTests: XCTestCase {
    static func inputs(_ target: String) throws -> [(String, Data)] {
        let dir = Fixtures.root + "/fuzz/" + target
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        return try names.sorted().map { ($0, try Data(contentsOf: URL(fileURLWithPath: dir + "/" + $0))) }
    }

    func testNPY() throws {
        let cases = try Self.inputs("npy")
        XCTAssertFalse(cases.isEmpty)
        for (name, data) in cases {
            XCTAssertThrowsError(try NPY.read(data: data, path: name), name)
        }
    }

    func testSafetensors() throws {
        let dir = Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cases = try Self.inputs("safetensors")
        XCTAssertFalse(cases.isEmpty)
        for (name, data) in cases {
            let path = dir + "/" + name
            FileManager.default.createFile(atPath: path, contents: data)
            XCTAssertThrowsError(try SafetensorsFile(path: path), name)
        }
    }

    /// config.json inputs: first byte even for the timm fixture, odd for Hugging Face;
    /// after a NUL byte, preprocessor_config.json (as Fuzz/FuzzTargets.swift builds them).
    func testConfig() throws {
        let cases = try Self.inputs("config")
        let dir = Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (name, data) in cases {
            guard let first = data.first else { continue }
            let model = first & 1 == 0 ? "standard" : "hf"
            let folder = dir + "/" + name
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: folder + "/model.safetensors",
                                                       withDestinationPath: Fixtures.model(model) + "/model.safetensors")
            let rest = data.dropFirst()
            if let nul = rest.firstIndex(of: 0) {
                FileManager.default.createFile(atPath: folder + "/config.json", contents: Data(rest[..<nul]))
                FileManager.default.createFile(atPath: folder + "/preprocessor_config.json", contents: Data(rest[(nul + 1)...]))
            } else {
                FileManager.default.createFile(atPath: folder + "/config.json", contents: Data(rest))
            }
            _ = try? Checkpoint.load(folder)
        }
    }

    /// What the config crashes now say instead.
    func testConfigErrorsNameTheField() throws {
        let dir = Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func load(_ model: String, _ config: String, preprocessor: String? = nil) -> String {
            let folder = dir + "/\(UUID().uuidString)"
            try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try? FileManager.default.createSymbolicLink(atPath: folder + "/model.safetensors",
                                                        withDestinationPath: Fixtures.model(model) + "/model.safetensors")
            FileManager.default.createFile(atPath: folder + "/config.json", contents: Data(config.utf8))
            if let preprocessor { FileManager.default.createFile(atPath: folder + "/preprocessor_config.json", contents: Data(preprocessor.utf8)) }
            do { _ = try Checkpoint.load(folder); return "loaded" } catch { return "\(error)" }
        }
        let cases: [(String, String, String?, String)] = [
            ("standard", #"{"model_args": {"num_heads": 0}}"#, nil, "invalid architecture: num_heads 0"),
            ("standard", #"{"model_args": {"num_heads": 4, "mlp_ratio": 1e300}}"#, nil, "config.json: 'model_args.mlp_ratio' must be a finite number within float32's range, got 1e+300"),
            ("standard", #"{"pretrained_cfg": {"input_size": [3, 4, 4]}}"#, nil, "invalid architecture: image size 4 with patch size 8"),
            ("hf", #"{"model_type": "vit", "hidden_size": 32, "num_attention_heads": 4, "patch_size": 0}"#, nil,
             "invalid architecture: patch size 0 is out of range"),
            ("hf", #"{"model_type": "vit", "hidden_size": 32, "num_attention_heads": 4, "num_hidden_layers": -3}"#, nil,
             "config.json: 'num_hidden_layers' must be an integer in 0...16777216, got -3"),
            ("hf", #"{"model_type": "vit", "hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 128, "image_size": 32, "patch_size": 8}"#,
             #"{"image_mean": [0.5, 0.5, 0.5], "image_std": [0, 0.5, 0.5]}"#, "preprocessor_config.json: 'image_std' must be a list of 3 finite positive numbers (one per channel), got 0 at index 0"),
        ]
        for (model, config, preprocessor, expected) in cases {
            let message = load(model, config, preprocessor: preprocessor)
            XCTAssertTrue(message.contains(expected), "\(config): \(message)")
        }
        // An integer field that is there but unusable is an error naming it (it was ignored,
        // and img_size 1e9 / "28" / 28.5 silently fell back to the name's default).
        XCTAssertTrue(load("standard", #"{"model_args": {"embed_dim": 4611686018427387904, "num_heads": 4}}"#)
            .hasSuffix("config.json: 'model_args.embed_dim' must be an integer in 0...16777216, got 4611686018427387904"))
    }
}
