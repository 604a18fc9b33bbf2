import Foundation
import XCTest
import VLSCore

/// `hook(name, fn)` edits (a .vls function that reads or replaces an activation) against
/// the same functions as timm forward hooks (Scripts/fixtures_lens.py `hook_fixtures`):
/// Parity/hook_edits.vls runs them on the standard and GAP fixture models and writes the
/// logits and a captured activation of each case; every reference tensor is compared.
final class HookEditParityTests: XCTestCase {
    static let tolerance: Float = 1e-5

    /// max|a - b| / max(1, max|b|).
    func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
        var diff: Float = 0, scale: Float = 1
        for (u, v) in zip(a.scalars, b.scalars) {
            diff = max(diff, abs(u - v))
            scale = max(scale, abs(v))
        }
        return diff / scale
    }

    func testUserHooksMatchTimmForwardHooks() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Parity/hook_edits.vls").path
        let source = try String(contentsOfFile: script, encoding: .utf8)
        for name in ["standard", "gap"] {
            let folder = BuiltinCaseTests.root + "/Tests/Fixtures/models/" + name
            let out = NSTemporaryDirectory() + "vls-hooks-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: out) }
            let input = try SafetensorsFile(path: folder + "/reference.safetensors").tensor("input")
            try NPY.write(input, to: out + "/input.npy")
            let (lines, error, _) = BuiltinCaseTests.run(source, path: script, args: [folder, out + "/input.npy", out])
            XCTAssertNil(error, "\(name): \(error ?? "")")
            XCTAssertEqual(lines, ["done"])
            let ref = try SafetensorsFile(path: folder + "/hook_edits.safetensors")
            let keys = ref.names.filter { $0.hasPrefix("hook.") }.sorted()
            XCTAssertEqual(keys.count, 9, "\(name): every case has its reference")
            for key in keys {
                let want = try ref.tensor(key)
                let got = try NPY.read(out + "/" + key.dropFirst("hook.".count) + ".npy")
                XCTAssertEqual(got.shape, want.shape, "\(name) \(key)")
                let err = relativeError(got, want)
                print("hook parity \(name) \(key): max relative error \(err)")
                XCTAssertLessThan(err, Self.tolerance, "\(name) \(key)")
            }
            // The read-only hook changed nothing: its logits are the plain forward's.
            let plain = try SafetensorsFile(path: folder + "/reference.safetensors").tensor("logits")
            XCTAssertLessThan(relativeError(try NPY.read(out + "/read.logits.npy"), plain), Self.tolerance)
            // And the replacing hooks did change the output (the cases are not vacuous).
            XCTAssertGreaterThan(relativeError(try NPY.read(out + "/scale.logits.npy"), plain), 1e-3)
            XCTAssertGreaterThan(relativeError(try NPY.read(out + "/z_head.logits.npy"), plain), 1e-3)
        }
    }
}
