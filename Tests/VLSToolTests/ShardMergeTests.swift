import Foundation
import XCTest
@testable import VLSBuiltins
import VLSCore
import VLSLanguage
#if canImport(Glibc)
import Glibc
#endif

/// `--shard K/N` + `vls merge`: for every mergeable analysis the parts merge to exactly the
/// unsharded result (counts equal, sums within 1e-9 relative), with and without a selection;
/// hostile parts and non-partitions are refused with errors naming the part and the field.
final class ShardMergeTests: XCTestCase {
    static let root = BuiltinCaseTests.root
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "vls-shard-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    @discardableResult
    func runScript(_ source: String, shard: (Int, Int)?, seed: UInt64 = 0) throws -> String {
        let interp = Interpreter()
        var printed = ""
        interp.output = { printed += $0 }
        Builtins.install(into: interp, options: SessionOptions(threads: 1, seed: seed, shard: shard))
        let saved = FileManager.default.currentDirectoryPath
        _ = FileManager.default.changeCurrentDirectoryPath(Self.root)
        defer { _ = FileManager.default.changeCurrentDirectoryPath(saved) }
        if case .runtimeError(let d) = interp.run(source: source, path: "shard.vls") {
            throw CoreError(interp.render(d))
        }
        return printed
    }

    /// Statistics equal: counts exactly, float sums to 1e-9 relative; same items and identity.
    func assertSameResult(_ merged: Part, _ full: Part, _ what: String) {
        XCTAssertEqual(merged.items, full.items, what)
        XCTAssertEqual(merged.analysis, full.analysis, what)
        XCTAssertEqual(merged.arguments, full.arguments, what)
        XCTAssertEqual(merged.model, full.model, what)
        XCTAssertEqual(merged.dataset, full.dataset, what)
        XCTAssertTrue(merged.missingShards.isEmpty, what)
        XCTAssertEqual(Set(merged.statistics.keys), Set(full.statistics.keys), what)
        for (k, s) in full.statistics {
            guard let m = merged.statistics[k] else { continue }
            XCTAssertEqual(m.shape, s.shape, "\(what): \(k)")
            XCTAssertEqual(m.ints, s.ints, "\(what): \(k)")
            if let a = m.floats, let b = s.floats {
                XCTAssertEqual(a.count, b.count, "\(what): \(k)")
                for (x, y) in zip(a, b) where !(x.isNaN && y.isNaN) {
                    XCTAssertEqual(x, y, accuracy: 1e-9 * max(abs(y), 1e-300), "\(what): \(k)")
                }
            }
        }
    }

    /// Every mergeable analysis on the tiny `standard` fixture (3 blocks, 16 patches, 10 classes).
    static let analyses: [(name: String, call: String)] = [
        ("identifiability", "identifiability_metrics(m, data, batch: 2)"),
        ("identifiability paper", "identifiability_metrics(m, data, mode: \"paper\", batch: 3)"),
        ("compare_random", "compare_random(m, data, seed: 4, batch: 2)"),
        ("memories", "memories(m, data, k: 2, shuffles: 20, batch: 2)"),
        ("perturbation", "perturbation_test(m, data, method: \"attention\", batch: 2)"),
        ("perturbation random", "perturbation_test(m, data, method: \"random\", seeds: 2, batch: 3)"),
        ("class_context", "class_context(m, data, masks: masks, shuffles: 20, batch: 1)[\"removal\"]"),
        ("probes.evaluate", "probes(m, dataset(images: x, labels: y).take(4), alpha: 0.5).evaluate(data, batch: 2)"),
        ("probes (sufficient statistics)", "probes(m, data, alpha: 0.5, batch: 1)"),
    ]

    func script(_ call: String, take: Int?, out: String) -> String {
        let n = take ?? 7
        // class masks for the selection (1 = class patch), fixed and mixed
        let masks = (0..<n).map { i in "[" + (0..<16).map { j in ((i * 16 + j) * 7) % 3 == 0 ? "1" : "0" }.joined(separator: ", ") + "]" }
        return """
        m = load("Tests/Fixtures/models/standard")
        x = randn(7, 3, 32, 32, seed: 11)
        y = tensor([0, 1, 2, 3, 4, 5, 1])
        data = dataset(images: x, labels: y, sharded: true)\(take.map { ".take(\($0))" } ?? "")
        masks = tensor([\(masks.joined(separator: ", "))]).reshape(\(n), 4, 4)
        \(call).save("\(out)")
        """
    }

    func testEveryAnalysisMergesToTheUnshardedResult() throws {
        for (name, call) in Self.analyses {
            for take in [nil, 5] as [Int?] {
                let full = dir + "/full.json"
                try runScript(script(call, take: take, out: full), shard: nil)
                let fullPart = try PartFile.read(full)
                XCTAssertEqual(fullPart.items.count, take ?? 7, name)
                XCTAssertEqual(fullPart.dataset.selection, take.map { "take(\($0))" } ?? "", name)
                for n in 1...4 {
                    var parts: [String] = []
                    for k in 1...n {
                        let p = dir + "/part-\(k)-of-\(n).json"
                        try runScript(script(call, take: take, out: p), shard: (k, n))
                        parts.append(p)
                    }
                    let covered = try parts.map { try PartFile.read($0).items.count }.reduce(0, +)
                    XCTAssertEqual(covered, take ?? 7, "\(name) take \(String(describing: take)) N \(n)")
                    let merged = dir + "/merged-\(n).json"
                    try Builtins.mergeParts(parts.reversed(), output: merged)
                    let m = try PartFile.read(merged)
                    assertSameResult(m, fullPart, "\(name), take \(take.map(String.init) ?? "none"), N = \(n)")
                    XCTAssertEqual(m.shards, Array(1...n))
                    // the finished result of the merge is the unsharded one's
                    let a = try PartResults.finish(m, name: "merged"), b = try PartResults.finish(fullPart, name: "full")
                    XCTAssertEqual(rows(a).count, rows(b).count, name)
                    for (ra, rb) in zip(rows(a), rows(b)) { assertClose(ra, rb, name) }
                    for p in parts { try FileManager.default.removeItem(atPath: p) }
                }
            }
        }
    }

    func rows(_ v: Value) -> [[Value]] {
        switch v {
        case .object(let t as TableObject): return t.rows
        case .object(let m as MetricsObject): return m.table.rows
        case .object(let o as PerturbationObject): return o.table.rows
        case .dict(let d): return d.values.flatMap { rows($0) }
        default: return []
        }
    }

    func assertClose(_ a: [Value], _ b: [Value], _ what: String) {
        XCTAssertEqual(a.count, b.count, what)
        for (x, y) in zip(a, b) {
            switch (x, y) {
            case (.float(let u), .float(let v)):
                if u.isNaN || v.isNaN { XCTAssertTrue(u.isNaN && v.isNaN, what) }
                else { XCTAssertEqual(u, v, accuracy: 1e-9 * max(abs(v), 1), what) }
            default: XCTAssertEqual(x.description, y.description, what)
            }
        }
    }

    /// Probes trained on a sharded set: the merged sufficient statistics solve to the unsharded probes.
    func testShardedProbeTrainingSolvesToTheUnshardedProbes() throws {
        let setup = """
        m = load("Tests/Fixtures/models/standard")
        x = randn(9, 3, 32, 32, seed: 5)
        data = dataset(images: x, labels: tensor([0, 1, 2, 3, 4, 5, 6, 7, 8]), sharded: true).take(8)
        """
        for solver in ["cholesky", "lsqr"] {
            let train = "probes(m, data, alpha: 0.5, solver: \"\(solver)\", batch: 3)"
            for k in 1...3 { try runScript(setup + "\n\(train).save(\"\(dir)/probe-\(k).json\")", shard: (k, 3)) }
            // one shard's statistics are not probes
            XCTAssertThrowsError(try runScript(setup + "\n\(train).weights(0, 0)", shard: (1, 3))) { e in
                XCTAssertTrue("\(e)".contains("one shard's sufficient statistics"), "\(e)")
            }
            try Builtins.mergeParts((1...3).map { "\(dir)/probe-\($0).json" }, output: dir + "/probes.json")
            let out = try runScript(setup + """

            p = \(train)
            q = load_part("\(dir)/probes.json", model: m)
            worst = 0.0
            for b in range(3):
                for t in range(17):
                    a = p.weights(b, t)
                    c = q.weights(b, t)
                    worst = max(worst, ((a[0] - c[0]).abs().max() / (a[0].abs().max() + 1e-30)), ((a[1] - c[1]).abs().max() / (a[1].abs().max() + 1e-30)))
            print(worst)
            print(q)
            """, shard: nil)
            let lines = out.split(separator: "\n")
            let worst = try XCTUnwrap(Double(lines.first.map(String.init) ?? ""), out)
            XCTAssertLessThan(worst, 1e-5, "\(solver): merged probes differ from the unsharded ones by \(worst) (relative)")
            XCTAssertTrue(out.contains("trained on 8 images"), out)
        }
        // another model's statistics are refused
        XCTAssertThrowsError(try runScript("m = load(\"Tests/Fixtures/models/gap\")\nload_part(\"\(dir)/probes.json\", model: m)", shard: nil)) { e in
            XCTAssertTrue("\(e)".contains("trained on another model"), "\(e)")
        }
    }

    /// `take`, `slice` and `per_class` select from the whole dataset, then shard.
    func testSelectThenShardOnFashionMNIST() throws {
        guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist") else { throw XCTSkip("dataset-fashion-mnist not installed") }
        for selection in [".take(10)", ".slice(3, 13)", ".per_class(1)", ".take(30).per_class(1)"] {
            func src(_ out: String) -> String {
                """
                m = load("Examples/models/fashion-vit")
                data = dataset("fashion-mnist", sharded: true)\(selection)
                identifiability_metrics(m, data, batch: 8).save("\(out)")
                """
            }
            try runScript(src(dir + "/full.json"), shard: nil)
            let full = try PartFile.read(dir + "/full.json")
            XCTAssertEqual(full.items.count, 10, selection)
            let p1 = dir + "/p1.json", p2 = dir + "/p2.json"
            try runScript(src(p1), shard: (1, 2))
            try runScript(src(p2), shard: (2, 2))
            XCTAssertEqual(try PartFile.read(p1).items.count + PartFile.read(p2).items.count, 10, selection)
            try Builtins.mergeParts([p1, p2], output: dir + "/all.json")
            assertSameResult(try PartFile.read(dir + "/all.json"), full, selection)
        }
    }

    /// The hostile corpus (Tests/Fixtures/parts, written by Scripts/make-hostile-parts.py):
    /// each case refused with its expected error, naming the part; no Swift error text.
    func testHostilePartsAreRefused() throws {
        let fixtures = Self.root + "/Tests/Fixtures/parts"
        let work = dir + "/parts"
        try FileManager.default.copyItem(atPath: fixtures, toPath: work)
        struct Case: Decodable { var name: String; var inputs: [String]; var output: String; var partial: Bool; var expect: String }
        let cases = try JSONDecoder().decode([Case].self, from: Data(contentsOf: URL(fileURLWithPath: work + "/cases.json")))
        XCTAssertGreaterThan(cases.count, 30)
        for c in cases {
            let inputs = c.inputs.map { work + "/" + $0 }
            let output = c.output == "OUT.json" ? dir + "/out-\(c.name)" : work + "/" + c.output
            let before = FileManager.default.contents(atPath: output)
            do {
                try Builtins.mergeParts(inputs, output: output, partial: c.partial)
                XCTAssertEqual(c.expect, "", "\(c.name): merged, expected the error '\(c.expect)'")
                XCTAssertNoThrow(try PartFile.read(output), c.name)
            } catch {
                let msg = String(describing: error)
                XCTAssertFalse(c.expect.isEmpty, "\(c.name): valid parts refused: \(msg)")
                XCTAssertTrue(msg.contains(c.expect), "\(c.name): expected '\(c.expect)' in: \(msg)")
                for bad in ["EncodingError", "DecodingError", "Swift.", "codingPath"] { XCTAssertFalse(msg.contains(bad), "\(c.name): \(msg)") }
                XCTAssertTrue(c.inputs.contains { msg.contains($0) } || msg.contains("merged") || msg.contains("shards") || msg.contains("statistics.") || msg.hasPrefix("-o "),
                              "\(c.name): the error names no part: \(msg)")
                XCTAssertEqual(FileManager.default.contents(atPath: output), before, "\(c.name): a refused merge wrote its output")
            }
        }
    }

    /// `vls merge out/*.json -o out/all.json` run twice: the second run is refused, not 2x the images.
    func testMergingTwiceIntoTheInputFolderIsRefused() throws {
        let parts = Self.root + "/Tests/Fixtures/parts"
        let out = dir + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        for f in ["part-1-of-2.json", "part-2-of-2.json"] { try FileManager.default.copyItem(atPath: parts + "/" + f, toPath: out + "/" + f) }
        func glob() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasSuffix(".json") }.sorted().map { out + "/" + $0 } }
        try Builtins.mergeParts(try glob(), output: out + "/all.json")
        XCTAssertEqual(try PartFile.read(out + "/all.json").items.count, 5)
        XCTAssertThrowsError(try Builtins.mergeParts(try glob(), output: out + "/all.json")) { e in
            XCTAssertTrue("\(e)".contains("is also among the inputs"), "\(e)")
        }
        // a merged file is itself a part: merged again with one of its shards, the shard is a duplicate
        XCTAssertThrowsError(try Builtins.mergeParts([out + "/all.json", out + "/part-1-of-2.json"], output: dir + "/x.json")) { e in
            XCTAssertTrue("\(e)".contains("shard 1/2 is given twice"), "\(e)")
        }
        // --partial records what is missing
        let partial = dir + "/partial.json"
        try Builtins.mergeParts([out + "/part-2-of-2.json"], output: partial, partial: true)
        let p = try PartFile.read(partial)
        XCTAssertEqual(p.missingShards, [1])
        XCTAssertEqual(p.items, [1, 3])
    }

    /// metrics.merge in the language: shards of one selection merge as vls merge does (a shard
    /// twice is refused); different selections of one dataset add up but no longer save as a part.
    func testMetricsMergeInTheLanguage() throws {
        let setup = """
        m = load("Tests/Fixtures/models/standard")
        x = randn(6, 3, 32, 32, seed: 2)
        data = dataset(images: x, labels: tensor([0, 1, 2, 3, 4, 5]), sharded: true)
        a = identifiability_metrics(m, data, batch: 3)
        """
        XCTAssertThrowsError(try runScript(setup + "\na.merge(a)", shard: nil)) { e in
            XCTAssertTrue("\(e)".contains("shard 1/1 is given twice"), "\(e)")
        }
        let sum = setup + """

        b = identifiability_metrics(m, data.take(2), batch: 3)
        a.merge(b)
        print(a.images)
        a.save("\(dir)/sum.csv")
        """
        XCTAssertEqual(try runScript(sum, shard: nil), "8\n")
        XCTAssertThrowsError(try runScript(sum + "\na.save(\"\(dir)/sum.json\")", shard: nil)) { e in
            XCTAssertTrue("\(e)".contains("add up different selections"), "\(e)")
        }
    }

    // MARK: - Review findings (issue 16, second round)

    /// A big part is read in memory bounded by its size: the strict reader keeps arrays as
    /// text until their lengths are checked (JSONDecoder took 9 GB for a 400 MB part).
    func testBigPartsAreReadInBoundedMemory() throws {
        let vls = try vlsBinary()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/time") else { throw XCTSkip("/usr/bin/time not installed") }
        let base = Self.root + "/Tests/Fixtures/parts/part-1-of-2.json"
        // (a) 40M values where the shape declares 60: refused before any is decoded (~80 MB file)
        // (b) 10M item positions of a 20M-image selection: decoded (80 MB), then refused (~90 MB file)
        let gen = """
        import json, sys
        p = json.load(open(sys.argv[1]))
        p["statistics"]["hist_cls"]["ints"] = "@@"
        def zeros(f):
            f.write("[0"); chunk = ",0" * 1000000
            for _ in range(40): f.write(chunk)
            f.write("]")
        text = json.dumps(p, sort_keys=True).split('"@@"')
        with open(sys.argv[2], "w") as f:
            f.write(text[0]); zeros(f); f.write(text[1])
        q = json.load(open(sys.argv[1]))
        q["dataset"]["size"] = q["dataset"]["selected"] = 20000000
        q["items"] = "@@"
        text = json.dumps(q, sort_keys=True).split('"@@"')
        with open(sys.argv[3], "w") as f:
            f.write(text[0]); f.write("[0")
            for start in range(2, 20000000, 1000000):
                f.write("".join("," + str(i) for i in range(start, min(start + 1000000, 20000000), 2)))
            f.write("]"); f.write(text[1])
        """
        try gen.write(toFile: dir + "/gen.py", atomically: true, encoding: .utf8)
        try shell("python3 gen.py \(base) zeros.json items.json")
        for (file, expect) in [("zeros.json", "field statistics.hist_cls: holds 40000001 values, shape [3, 20] declares 60"),
                               ("items.json", "field statistics.images: is 3, but the part covers 10000000 images")] {
            let size = try FileManager.default.attributesOfItem(atPath: dir + "/" + file)[.size] as! Int
            XCTAssertGreaterThan(size, 75_000_000, file)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/time")
            p.arguments = ["-f", "maxrss %M", vls, "merge", "--partial", file, "-o", "out.json"]
            p.currentDirectoryURL = URL(fileURLWithPath: dir)
            let err = Pipe()
            p.standardError = err
            try p.run()
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 70, text)
            XCTAssertTrue(text.contains(expect), text)
            let kb = try XCTUnwrap(text.components(separatedBy: "maxrss ").last.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }, text)
            // the file (mapped) plus 8 bytes per decoded element plus the runtime: well under
            // 4x the file, where JSONDecoder needed over 20x
            XCTAssertLessThan(kb * 1024, 3 * size + 150_000_000, "\(file): \(size) bytes read with \(kb) kB resident")
        }
    }

    /// Image folders with the same name and size but other files are different datasets.
    func testFoldersWithTheSameNameAndSizeDoNotMerge() throws {
        let png = Self.root + "/Tests/Fixtures/images/base.png", gray = Self.root + "/Tests/Fixtures/images/gray.png"
        for (parent, files) in [("a", [("class_0", "x.png", png), ("class_1", "y.png", png)]), ("b", [("class_0", "x.png", png), ("class_1", "z.png", gray)])] {
            for (cls, name, src) in files {
                try FileManager.default.createDirectory(atPath: "\(dir)/\(parent)/set/\(cls)", withIntermediateDirectories: true)
                try FileManager.default.copyItem(atPath: src, toPath: "\(dir)/\(parent)/set/\(cls)/\(name)")
            }
        }
        func src(_ folder: String, _ out: String) -> String {
            """
            m = load("Tests/Fixtures/models/standard")
            identifiability_metrics(m, dataset("\(dir)/\(folder)/set", sharded: true), batch: 2).save("\(out)")
            """
        }
        try runScript(src("a", dir + "/a1.json"), shard: (1, 2))
        try runScript(src("a", dir + "/a2.json"), shard: (2, 2))
        try runScript(src("b", dir + "/b2.json"), shard: (2, 2))
        XCTAssertEqual(try PartFile.read(dir + "/a1.json").dataset.name, try PartFile.read(dir + "/b2.json").dataset.name)
        XCTAssertEqual(try PartFile.read(dir + "/a1.json").dataset.size, try PartFile.read(dir + "/b2.json").dataset.size)
        XCTAssertNoThrow(try Builtins.mergeParts([dir + "/a1.json", dir + "/a2.json"], output: dir + "/a.json"))
        XCTAssertThrowsError(try Builtins.mergeParts([dir + "/a1.json", dir + "/b2.json"], output: dir + "/ab.json")) { e in
            XCTAssertTrue("\(e)".contains("b2.json and \(self.dir)/a1.json are parts of different runs: dataset"), "\(e)")
        }
    }

    /// class_context writes a valid part for a shard with no images, and N parts merge to the unsharded result.
    func testClassContextEmptyShardMerges() throws {
        let src = """
        m = load("Tests/Fixtures/models/standard")
        data = dataset(images: randn(2, 3, 32, 32, seed: 11), labels: tensor([0, 1]), sharded: true)
        masks = tensor([[1, 0] * 8, [0, 1] * 8]).reshape(2, 4, 4)
        class_context(m, data, masks: masks, shuffles: 20, batch: 1)["removal"].save(args)
        """
        func run(_ out: String, _ shard: (Int, Int)?) throws { try runScript(src.replacingOccurrences(of: "args", with: "\"\(out)\""), shard: shard) }
        try run(dir + "/full.json", nil)
        for k in 1...3 { try run(dir + "/c\(k).json", (k, 3)) }
        XCTAssertEqual(try PartFile.read(dir + "/c3.json").items, [])
        try Builtins.mergeParts((1...3).map { dir + "/c\($0).json" }, output: dir + "/merged.json")
        assertSameResult(try PartFile.read(dir + "/merged.json"), try PartFile.read(dir + "/full.json"), "class_context, 2 images in 3 shards")
        // the empty shard alone finishes too (nil tests, not an error)
        let out = try runScript("print(load_part(\"\(dir)/c3.json\")[\"identifiability\"])", shard: nil)
        XCTAssertTrue(out.contains("PARTIAL: shards 3 of 3 (missing 1-2)"), out)
    }

    /// Probes are solved only from every shard's statistics.
    func testLoadPartRefusesProbesOfSomeShards() throws {
        let src = """
        m = load("Tests/Fixtures/models/standard")
        data = dataset(images: randn(4, 3, 32, 32, seed: 5), labels: tensor([0, 1, 2, 3]), sharded: true)
        probes(m, data, alpha: 0.5, batch: 2).save("OUT")
        """
        for k in 1...2 { try runScript(src.replacingOccurrences(of: "OUT", with: "\(dir)/p\(k).json"), shard: (k, 2)) }
        let load = "m = load(\"Tests/Fixtures/models/standard\")\nprint(load_part(\"PATH\", model: m))"
        XCTAssertThrowsError(try runScript(load.replacingOccurrences(of: "PATH", with: dir + "/p1.json"), shard: nil)) { e in
            XCTAssertTrue("\(e)".contains("p1.json: holds the probe statistics of shards 1 of 2 only (missing 2)"), "\(e)")
        }
        try Builtins.mergeParts([dir + "/p2.json"], output: dir + "/partial.json", partial: true)
        XCTAssertThrowsError(try runScript(load.replacingOccurrences(of: "PATH", with: dir + "/partial.json"), shard: nil)) { e in
            XCTAssertTrue("\(e)".contains("merge all 2 parts with vls merge"), "\(e)")
        }
        try Builtins.mergeParts([dir + "/p1.json", dir + "/p2.json"], output: dir + "/all.json")
        XCTAssertTrue(try runScript(load.replacingOccurrences(of: "PATH", with: dir + "/all.json"), shard: nil).contains("trained on 4 images"))
    }

    /// A partial merge says so in every output: the .csv rows, the printed titles.
    func testPartialMergeSaysSoEverywhere() throws {
        let parts = Self.root + "/Tests/Fixtures/parts"
        try Builtins.mergeParts([parts + "/part-2-of-2.json"], output: dir + "/partial.csv", partial: true)
        let csv = try String(contentsOfFile: dir + "/partial.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertTrue(csv[0].hasSuffix(",partial_shards,missing_shards"), String(csv[0]))
        XCTAssertEqual(csv.count, 4)   // header + 3 blocks
        for row in csv.dropFirst() { XCTAssertTrue(row.hasSuffix(",2 of 2,1"), String(row)) }
        // a complete merge has no such columns
        try Builtins.mergeParts([parts + "/part-1-of-2.json", parts + "/part-2-of-2.json"], output: dir + "/all.csv")
        XCTAssertFalse(try String(contentsOfFile: dir + "/all.csv", encoding: .utf8).contains("partial"))
        try Builtins.mergeParts([parts + "/part-2-of-2.json"], output: dir + "/partial.json", partial: true)
        let out = try runScript("print(load_part(\"\(dir)/partial.json\"))", shard: nil)
        XCTAssertTrue(out.contains("PARTIAL: shards 2 of 2 (missing 1)"), out)
        let summary = try Builtins.mergeParts([parts + "/part-2-of-2.json"], output: dir + "/p2.json", partial: true)
        XCTAssertTrue(summary.contains("missing shards 1"), summary)
    }

    /// --shard K/N over a dataset not marked sharded is an error before any work, not N copies.
    func testShardOfAnUnshardedDatasetIsAnError() throws {
        let src = """
        m = load("Tests/Fixtures/models/standard")
        data = dataset(images: randn(4, 3, 32, 32, seed: 5), labels: tensor([0, 1, 2, 3]))
        identifiability_metrics(m, data, batch: 2).save("\(dir)/x.json")
        """
        XCTAssertThrowsError(try runScript(src, shard: (2, 3))) { e in
            XCTAssertTrue("\(e)".contains("identifiability_metrics: vls run --shard 2/3 is given, but this dataset (tensors, 4 images) is not sharded"), "\(e)")
            XCTAssertTrue("\(e)".contains("sharded: true"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/x.json"))
        for call in ["compare_random(m, data, batch: 2)", "memories(m, data, k: 2, shuffles: 20)", "perturbation_test(m, data, method: \"random\", seeds: 1)",
                     "class_context(m, data, shuffles: 20)"] {
            let s = src.replacingOccurrences(of: "identifiability_metrics(m, data, batch: 2)", with: call)
            XCTAssertThrowsError(try runScript(s, shard: (1, 2)), call) { e in XCTAssertTrue("\(e)".contains("is not sharded"), "\(call): \(e)") }
        }
        // without --shard (or 1/1) the same script runs
        XCTAssertNoThrow(try runScript(src, shard: nil))
        // and a run-time shuffle count above the cap merge enforces is refused at once
        XCTAssertThrowsError(try runScript(src.replacingOccurrences(of: "identifiability_metrics(m, data, batch: 2)", with: "memories(m, data, shuffles: 200000)"), shard: nil)) { e in
            XCTAssertTrue("\(e)".contains("memories: shuffles must be in 1...100000, got 200000"), "\(e)")
        }
    }

    /// vls merge -o into a folder that does not exist: an error (as cp and mv), no folder made.
    func testMergeOutputFolderMustExist() throws {
        let parts = Self.root + "/Tests/Fixtures/parts"
        XCTAssertThrowsError(try Builtins.mergeParts([parts + "/part-1-of-2.json", parts + "/part-2-of-2.json"], output: dir + "/nope/all.json")) { e in
            XCTAssertTrue("\(e)".contains("the folder \(self.dir)/nope does not exist"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/nope"))
        // a plain file name writes into the current folder
        let saved = FileManager.default.currentDirectoryPath
        _ = FileManager.default.changeCurrentDirectoryPath(dir)
        defer { _ = FileManager.default.changeCurrentDirectoryPath(saved) }
        try Builtins.mergeParts([parts + "/part-1-of-2.json", parts + "/part-2-of-2.json"], output: "all.json")
        XCTAssertEqual(try PartFile.read(dir + "/all.json").items, [0, 1, 2, 3, 4])
    }

    /// Probe sufficient statistics: merged = unsharded to 1e-9 relative (each element) with
    /// batch: 1; with batches, within float32 rounding of the activations (README: the
    /// forward pass's sgemm rounds by batch size; the sums themselves are double).
    func testProbeStatisticsMergePrecision() throws {
        func src(_ out: String, _ batch: Int) -> String {
            """
            m = load("Tests/Fixtures/models/standard")
            data = dataset(images: randn(9, 3, 32, 32, seed: 5), labels: tensor([0, 1, 2, 3, 4, 5, 6, 7, 8]), sharded: true).take(8)
            probes(m, data, alpha: 0.5, batch: \(batch)).save("\(out)")
            """
        }
        // An image's activations are the same bits in any batch (per-image products), so
        // only the order of the double sums differs between the merged and unsharded runs.
        for batch in [1, 3, 8] {
            try runScript(src(dir + "/full.json", batch), shard: nil)
            for k in 1...3 { try runScript(src(dir + "/p\(k).json", batch), shard: (k, 3)) }
            try Builtins.mergeParts((1...3).map { dir + "/p\($0).json" }, output: dir + "/m.json")
            let full = try PartFile.read(dir + "/full.json"), merged = try PartFile.read(dir + "/m.json")
            XCTAssertEqual(merged.statistics["n"]?.ints, full.statistics["n"]?.ints)
            var worst = 0.0
            for key in ["sum_x", "sum_y", "sum_yy", "xtx", "xty"] {
                let a = try XCTUnwrap(merged.statistics[key]?.floats), b = try XCTUnwrap(full.statistics[key]?.floats)
                XCTAssertEqual(a.count, b.count, key)
                let largest = b.map(abs).max() ?? 1
                for (x, y) in zip(a, b) {
                    // 1e-9 relative; an element that cancels to near zero is held to 1e-15 of
                    // the largest element instead.
                    let scale = max(abs(y), 1e-6 * largest)
                    worst = max(worst, abs(x - y) / scale)
                    XCTAssertEqual(x, y, accuracy: 1e-9 * scale, "\(key), batch \(batch)")
                }
            }
            print("probe statistics, batch \(batch): worst relative difference merged vs unsharded \(worst)")
        }
    }

    /// SHA-256 against known vectors and the system's sha256sum.
    func testSHA256() throws {
        XCTAssertEqual(SHA256.hex(Array("".utf8)), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var h = SHA256()   // streamed in odd pieces: the same digest as at once
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var i = 0
        for n in [1, 63, 64, 65, 7, 200, 600] { h.update(Array(bytes[i..<min(i + n, bytes.count)])); i += n }
        XCTAssertEqual(h.hexDigest(), SHA256.hex(bytes))
        XCTAssertEqual(SHA256.hex(Array(repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// The model identity: cached per load, equal for the same weights, different for others.
    func testModelDigest() throws {
        let a = try ViT(path: Self.root + "/Tests/Fixtures/models/standard")
        let b = try ViT(path: Self.root + "/Tests/Fixtures/models/standard")
        let c = try ViT(path: Self.root + "/Tests/Fixtures/models/gap")
        XCTAssertEqual(a.weightDigest, b.weightDigest)
        XCTAssertEqual(a.weightDigest, a.weightDigest)
        XCTAssertNotEqual(a.weightDigest, c.weightDigest)
        XCTAssertNotEqual(a.weightDigest, a.randomized(seed: 0).weightDigest)
    }

    // MARK: - The README's examples, run as written

    /// The README's fenced blocks of the sharding section: analysis.vls, the Slurm script, the GNU parallel lines.
    func readmeBlocks() throws -> (analysis: String, slurm: String, parallel: String) {
        let readme = try String(contentsOfFile: Self.root + "/README.md", encoding: .utf8)
        guard let start = readme.range(of: "## Scaling out: sharded analyses") else { throw CoreError("README: no sharding section") }
        let section = readme[start.upperBound...].components(separatedBy: "\n## ")[0]
        var blocks: [String] = []
        var current: [String]?
        for line in section.components(separatedBy: "\n") {
            if line.hasPrefix("```") {
                if let c = current { blocks.append(c.joined(separator: "\n") + "\n"); current = nil } else { current = [] }
            } else if current != nil { current!.append(line) }
        }
        guard let a = blocks.first(where: { $0.contains("sharded: true") }), let s = blocks.first(where: { $0.contains("#SBATCH") }),
              let p = blocks.first(where: { $0.contains("parallel -j") }) else { throw CoreError("README: sharding blocks not found in \(blocks)") }
        return (a, s, p)
    }

    func vlsBinary() throws -> String {
        var candidates = Bundle.allBundles.map { $0.bundleURL.deletingLastPathComponent().appendingPathComponent("vls").path }
        candidates.append(Self.root + "/.build/debug/vls")
        for c in candidates where FileManager.default.isExecutableFile(atPath: c) { return c }
        throw XCTSkip("vls binary not built")
    }

    @discardableResult
    func shell(_ command: String, env: [String: String] = [:]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", command]
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        var e = ProcessInfo.processInfo.environment
        e["PATH"] = (try (vlsBinary() as NSString).deletingLastPathComponent) + ":" + (e["PATH"] ?? "/usr/bin:/bin")
        for (k, v) in env { e[k] = v }
        p.environment = e
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "\(command): \(text)")
        return text
    }

    /// The GNU parallel and Slurm array examples on the demo model: merged = unsharded.
    func testReadmeShardingExamplesRunAsWritten() throws {
        guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist") else { throw XCTSkip("dataset-fashion-mnist not installed") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/parallel") else {
            throw XCTSkip("GNU parallel not installed (Scripts/setup installs it)")
        }
        let (analysis, slurm, parallel) = try readmeBlocks()
        try FileManager.default.createSymbolicLink(atPath: dir + "/Examples", withDestinationPath: Self.root + "/Examples")
        try analysis.write(toFile: dir + "/analysis.vls", atomically: true, encoding: .utf8)
        try slurm.write(toFile: dir + "/shards.sh", atomically: true, encoding: .utf8)
        try shell("vls run --threads 1 analysis.vls full.json")
        let full = try PartFile.read(dir + "/full.json")
        XCTAssertEqual(full.items.count, full.dataset.selected)
        XCTAssertGreaterThan(full.items.count, 8)
        // GNU parallel, exactly the README's lines
        try shell(parallel)
        assertSameResult(try PartFile.read(dir + "/out/all.json"), full, "GNU parallel")
        XCTAssertEqual(try PartFile.read(dir + "/out/all.json").shards, [1, 2, 3, 4])
        // the lines again give the same result (the glob leaves the merged file out) ...
        try shell(parallel)
        assertSameResult(try PartFile.read(dir + "/out/all.json"), full, "GNU parallel, twice")
        // ... while a glob that takes it in is refused, not counted twice
        let again = Process()
        again.executableURL = URL(fileURLWithPath: try vlsBinary())
        again.arguments = ["merge"] + (try FileManager.default.contentsOfDirectory(atPath: dir + "/out").sorted().map { "out/" + $0 }) + ["-o", "out/all.json"]
        again.currentDirectoryURL = URL(fileURLWithPath: dir)
        let err = Pipe()
        again.standardError = err
        try again.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        again.waitUntilExit()
        XCTAssertEqual(again.terminationStatus, 70)
        XCTAssertTrue(text.contains("is also among the inputs"), text)
        // the Slurm array: the script once per task id, then the merge
        try FileManager.default.removeItem(atPath: dir + "/out")
        for id in 1...8 { try shell("bash shards.sh", env: ["SLURM_ARRAY_TASK_ID": "\(id)"]) }
        try shell("vls merge out/part-*.json -o out/all.json")
        let merged = try PartFile.read(dir + "/out/all.json")
        assertSameResult(merged, full, "Slurm array")
        XCTAssertEqual(merged.shardCount, 8)
    }
}
