import Foundation
import XCTest
import VLSBuiltins
import VLSCore
import VLSLanguage

/// `--shard K/N` + `vls merge` give exactly the unsharded result (N = 1, 2, 3).
final class ShardMergeTests: XCTestCase {
    func runScript(_ source: String, shard: (Int, Int)?) throws {
        let interp = Interpreter()
        interp.output = { _ in }
        Builtins.install(into: interp, options: SessionOptions(threads: 1, seed: 0, shard: shard))
        let saved = FileManager.default.currentDirectoryPath
        _ = FileManager.default.changeCurrentDirectoryPath(BuiltinCaseTests.root)
        defer { _ = FileManager.default.changeCurrentDirectoryPath(saved) }
        if case .runtimeError(let d) = interp.run(source: source, path: "shard.vls") { XCTFail(interp.render(d)) }
    }

    func partial(_ path: String) throws -> IdentifiabilityMetrics {
        struct P: Decodable { var identifiability: IdentifiabilityMetrics }
        return try JSONDecoder().decode(P.self, from: Data(contentsOf: URL(fileURLWithPath: path))).identifiability
    }

    func testShardsMergeToTheUnshardedResult() throws {
        let dir = NSTemporaryDirectory() + "vls-shard-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func script(_ out: String) -> String {
            """
            m = load("Tests/Fixtures/models/standard")
            x = randn(7, 3, 32, 32, seed: 11)
            data = dataset(images: x, labels: tensor([0, 1, 2, 3, 4, 5, 6]), sharded: true)
            identifiability_metrics(m, data, batch: 2).save("\(out)")
            """
        }
        try runScript(script(dir + "/full.json"), shard: nil)
        let full = try partial(dir + "/full.json")
        XCTAssertEqual(full.images, 7)
        for n in 1...3 {
            var parts: [String] = []
            for k in 1...n {
                let p = dir + "/part-\(k)-of-\(n).json"
                try runScript(script(p), shard: (k, n))
                parts.append(p)
            }
            XCTAssertEqual(try parts.map { try partial($0).images }.reduce(0, +), 7)
            let merged = dir + "/merged-\(n).json"
            try Builtins.mergePartials(parts, output: merged)
            let m = try partial(merged)
            XCTAssertEqual(m.images, full.images)
            XCTAssertEqual(m.correct, full.correct)
            XCTAssertEqual(m.identifiableTokens, full.identifiableTokens)
            XCTAssertEqual(m.imagesWithIdentifiable, full.imagesWithIdentifiable)
            XCTAssertEqual(m.histImage, full.histImage)
            XCTAssertEqual(m.blockIncrease, full.blockIncrease)
            XCTAssertEqual(m.m6Attn, full.m6Attn)
            XCTAssertEqual(m.m6None, full.m6None)
            for b in 0..<m.depth {
                XCTAssertEqual(m.sumSImage[b], full.sumSImage[b], accuracy: 1e-6 * abs(full.sumSImage[b]))
                XCTAssertEqual(m.sumSCls[b], full.sumSCls[b], accuracy: 1e-6 * abs(full.sumSCls[b]))
            }
        }
        XCTAssertThrowsError(try Builtins.mergePartials([dir + "/nope.json"], output: dir + "/x.json"))
    }
}
