import Foundation
import XCTest
import VLSCore
import VLSFiles
import VLSImaging
#if canImport(Glibc)
import Glibc
#endif

/// Regression tests of the adversarial review of the hardening work (issue 15): rank caps,
/// the .npy header, NaN predictions, the memory cap's variable, preprocessing configs,
/// strict JSON, temporary file names. Whole-binary cases are in Tests/Fixtures/hostile.
final class HardeningReviewTests: TempFolderTestCase {
    override class var folderPrefix: String { "vls-review" }


    func assertThrows<T>(_ body: @autoclosure () throws -> T, _ fragment: String, line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { e in
            XCTAssertTrue("\(e)".contains(fragment), "'\(e)' does not contain '\(fragment)'", line: line)
        }
    }

    // MARK: - Rank

    /// A rank-30000 tensor trapped in the .npy writer (`UInt16(header length)`); every
    /// shape made from input is now capped at 64 axes, with an error naming the rank.
    func testRankIsCappedAt64() throws {
        assertThrows(try Tensor(zeros: [Int](repeating: 1, count: 65), for: "zeros"), "zeros: a tensor of rank 65 has more than the 64 axes")
        assertThrows(try Tensor(scalar: 1).reshaped([Int](repeating: 1, count: 30_000)), "reshape: a tensor of rank 30000")
        assertThrows(try Limits.checkTensor([Int](repeating: 1, count: 100_000), for: "ones"), "rank 100000")
        // 64 axes save and read back (numpy's own limit).
        let t = try Tensor(zeros: [Int](repeating: 1, count: 64), for: "zeros")
        try NPY.write(t, to: tmp + "/t.npy")
        XCTAssertEqual(try NPY.read(tmp + "/t.npy").shape, t.shape)
        // A safetensors header declaring a 100,000-axis shape.
        let header = #"{"a":{"dtype":"F32","shape":[\#(Array(repeating: "1", count: 100_000).joined(separator: ","))],"data_offsets":[0,4]}}"#
        var d = Data()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
        d.append(contentsOf: Array(header.utf8) + [0, 0, 0, 0])
        try d.write(to: URL(fileURLWithPath: tmp + "/x.safetensors"))
        assertThrows(try SafetensorsFile(path: tmp + "/x.safetensors"), "tensor 'a' has rank 100000, more than the 64 axes a tensor may have")
    }

    // MARK: - Memory cap

    /// `VLS_MAX_TENSOR_BYTES=0` or `1e-3` was accepted (every tensor then refused, or a
    /// cap of 0 misread), and a cap above the physical memory let allocations through
    /// that abort the process. Each is an error naming the variable; the decoders read
    /// the same cap (one value in VLSFiles).
    /// Runs a program; its exit status and standard error.
    private func standardError(of program: String, _ args: [String], environment: [String: String]? = nil) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program)
        p.arguments = args
        if let environment { p.environment = environment }
        let err = Pipe()
        p.standardError = err
        p.standardOutput = Pipe()
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text)
    }

    /// Under `ulimit -v` the default cap follows the address-space limit: a tensor past it
    /// is an error, not an abort in the allocator (signal 6).
    func testDefaultCapFollowsTheAddressSpaceLimit() throws {
        let vls = try builtVLS()
        let dir = NSTemporaryDirectory() + "vls-ulimit-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "x = zeros(300000000)\n".write(toFile: dir + "/u.vls", atomically: true, encoding: .utf8)
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: MemoryCap.variable)
        let (status, text) = try standardError(of: "/bin/bash", ["-c", "ulimit -v 2000000; exec \"$0\" run \"$1\"", vls, dir + "/u.vls"], environment: env)
        XCTAssertEqual(status, 70, text)
        XCTAssertTrue(text.contains("more than the limit"), text)
    }

    /// `vls notebook -o` never replaces a module the script names in an import, even one that
    /// did not run (inside a branch not taken, or after a failing cell).
    func testNotebookOutputNeverReplacesANamedModule() throws {
        let dir = NSTemporaryDirectory() + "vls-nbimport-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "x = 1\n".write(toFile: dir + "/helper.vls", atomically: true, encoding: .utf8)
        try "# %%\nprint(1/0)\n# %%\nif 1 == 2:\n    import \"helper.vls\"\n".write(toFile: dir + "/nb.vls", atomically: true, encoding: .utf8)
        for extra in [[], ["--ipynb"]] {
            let (status, _) = try runVLSPiped(["notebook", dir + "/nb.vls"] + extra + ["-o", dir + "/helper.vls"])
            XCTAssertEqual(status, 74, "\(extra)")
            XCTAssertEqual(try String(contentsOfFile: dir + "/helper.vls", encoding: .utf8), "x = 1\n", "\(extra)")
        }
    }

    /// A class name two classes of the model share (ImageNet's "crane") maps a folder to
    /// neither: an error asking for another folder name, never the last of the two.
    func testSharedClassNamesAreAmbiguous() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let dir = NSTemporaryDirectory() + "vls-dupnames-\(UUID().uuidString)"
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/model", withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: dir) }
        try fm.copyItem(atPath: root + "/Examples/models/fashion-vit/model.safetensors", toPath: dir + "/model/model.safetensors")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/Examples/models/fashion-vit/config.json"))) as! [String: Any]
        var names = config["label_names"] as! [String]
        names[1] = "shirt"   // class 6 is "Shirt": one name, without case, for two classes
        config["label_names"] = names
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: dir + "/model/config.json"))
        for folder in ["Shirt", "Bag"] {
            try fm.createDirectory(atPath: dir + "/data/" + folder, withIntermediateDirectories: true)
            try fm.copyItem(atPath: root + "/Tests/Fixtures/images/base.png", toPath: dir + "/data/\(folder)/a.png")
        }
        try "m = load(\"\(dir)/model\")\nd = dataset(\"\(dir)/data\", model: m)\nprint(d.labels)\n".write(toFile: dir + "/s.vls", atomically: true, encoding: .utf8)
        let (status, text) = try standardError(of: try builtVLS(), ["run", dir + "/s.vls"])
        XCTAssertEqual(status, 70, text)
        XCTAssertTrue(text.contains("class folder 'Shirt' names 2 classes of the model (1, 6)"), text)
    }

    func testMemoryCapVariableIsValidated() throws {
        let v = MemoryCap.variable
        XCTAssertEqual(MemoryCap.problem([v: "0"], physical: 1 << 30), "VLS_MAX_TENSOR_BYTES='0' is less than one byte (examples: 1073741824, 1e9, 512M, 1.5G, 1GiB)")
        XCTAssertEqual(MemoryCap.problem([v: "1e-3"], physical: 1 << 30), "VLS_MAX_TENSOR_BYTES='1e-3' is less than one byte (examples: 1073741824, 1e9, 512M, 1.5G, 1GiB)")
        XCTAssertEqual(MemoryCap.problem([v: "2G"], physical: 1 << 30), "VLS_MAX_TENSOR_BYTES='2G' is more than this machine's physical memory (1073741824 bytes); allocations that large would abort instead of failing with an error")
        XCTAssertEqual(MemoryCap.problem([v: "x1"], physical: 1 << 30), "VLS_MAX_TENSOR_BYTES='x1' is not a size (examples: 1073741824, 1e9, 512M, 1.5G, 1GiB)")
        XCTAssertNil(MemoryCap.problem([v: "1G"], physical: 1 << 30))
        XCTAssertNil(MemoryCap.problem([:], physical: 1 << 30))
        XCTAssertEqual(MemoryCap.defaultBytes(environment: [v: "0"]), MemoryCap.physicalMemory / 2)
        // One value: the tensor cap and the image decoders' cap.
        let saved = Limits.maxTensorBytes
        defer { Limits.maxTensorBytes = saved }
        let png = try Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/images/base.png"))
        let size = try Image(data: png)
        Limits.maxTensorBytes = 12345
        XCTAssertEqual(MemoryCap.bytes, 12345)
        // The cap counts the decode's peak (review 2): the RGB size alone is not enough.
        let rgb = size.width * size.height * 3
        Limits.maxTensorBytes = rgb
        var need = 0
        XCTAssertThrowsError(try Image(data: png)) { e in
            XCTAssertTrue("\(e)".contains("(\(rgb) of RGB output, the rest the file and the decoder's buffers), more than the limit of \(rgb) bytes"), "\(e)")
            need = Int("\(e)".split(separator: " ").drop { $0 != "needs" }.dropFirst().first ?? "") ?? 0
        }
        XCTAssertGreaterThan(need, rgb)
        Limits.maxTensorBytes = need - 1
        XCTAssertThrowsError(try Image(data: png))
        Limits.maxTensorBytes = need
        XCTAssertEqual(try Image(data: png).width, size.width)
    }

    // MARK: - .npy

    /// Every file of Tests/Fixtures/npy (Scripts/fixtures_npy.py) reads as numpy reads it
    /// (`astype(float32)`: a bool byte 2 or 255 is True, 1.0), or is refused where numpy
    /// refuses it; a header naming a key twice is refused (numpy keeps the last silently).
    func testNPYFilesReadAsNumpyDoes() throws {
        let folder = Self.fixtures + "/npy"
        let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/expected.json"))
        let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: [String: Any]])
        XCTAssertGreaterThan(expected.count, 10)
        for (name, entry) in expected.sorted(by: { $0.key < $1.key }) {
            let path = folder + "/" + name
            if entry["numpy_error"] != nil || entry["vls_refuses"] != nil {
                XCTAssertThrowsError(try NPY.read(path), name) { e in
                    XCTAssertTrue("\(e)".hasPrefix("\(path): not a valid .npy file: "), "\(name): \(e)")
                }
                continue
            }
            let t = try NPY.read(path)
            XCTAssertEqual(t.shape, entry["shape"] as? [Int], name)
            let want: [Float] = try XCTUnwrap(entry["values"] as? [Any], name).map { v in
                if let s = v as? String { return Float(s) ?? .nan }
                return Float((v as? NSNumber)?.doubleValue ?? .nan)
            }
            let got = t.contiguous().scalars
            XCTAssertEqual(got.count, want.count, name)
            for (g, w) in zip(got, want) {
                XCTAssertEqual(g.bitPattern, w.bitPattern, "\(name): \(got) vs numpy \(want)")
            }
        }
    }

    /// The messages name what is wrong in the header.
    func testNPYHeaderErrorsNameTheProblem() throws {
        let folder = Self.fixtures + "/npy"
        assertThrows(try NPY.read(folder + "/duplicate-shape.npy"), "header names 'shape' twice")
        assertThrows(try NPY.read(folder + "/fortran-order-int.npy"), "fortran_order is not a bool (True or False), got '0'")
        assertThrows(try NPY.read(folder + "/fortran-order-string.npy"), "fortran_order is not a bool")
        assertThrows(try NPY.read(folder + "/extra-key.npy"), "unexpected key 'x'")
        assertThrows(try NPY.read(folder + "/missing-shape.npy"), "no shape")
        assertThrows(try NPY.read(folder + "/rank-65.npy"), "shape has rank 65, more than the 64 axes")
    }

    // MARK: - NaN

    /// A row of logits holding NaN has no prediction (it counted as class 0 when all NaN,
    /// so a NaN model scored composed 100% and M6 100%); user-facing predictions refuse it.
    func testNaNRowsPredictNothing() throws {
        let nan = Float.nan
        let logits = Tensor([nan, 1, 2, 3,
                             5, nan, 1, 2,
                             nan, nan, nan, nan,
                             1, 4, 4, 0], shape: [4, 4])
        XCTAssertEqual(LensMath.predictions(logits), [LensMath.noPrediction, LensMath.noPrediction, LensMath.noPrediction, 1])
        assertThrows(try LensMath.requirePredictions(logits, for: "run.predictions"), "run.predictions: the logits of image 0 hold NaN")
        XCTAssertEqual(try LensMath.requirePredictions(Tensor([1, 4, 4, 0], shape: [1, 4]), for: "x"), [1])
    }

    /// wilcoxon over NaN gave a p-value; scipy propagates NaN. Refused naming the sample.
    func testWilcoxonRefusesNaN() throws {
        assertThrows(try Stats.wilcoxon([1, 2, .nan], [0, 0, 0]), "wilcoxon: a[2] is nan; every value must be a finite number")
        assertThrows(try Stats.wilcoxon([1, 2, 3], [0, .infinity, 0]), "wilcoxon: b[1] is inf")
        XCTAssertEqual(try Stats.wilcoxon([1, 2, 3], [0, 0, 0]).n, 3)
    }

    /// A copy of the standard model with every float of `tensor` set to NaN.
    func nanModel(_ tensor: String) throws -> ViT {
        let folder = tmp + "/nan-" + tensor
        try FileManager.default.copyItem(atPath: Self.standard, toPath: folder)
        let path = folder + "/model.safetensors"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let n = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.1) << (8 * $1.0) }
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as? [String: Any])
        let offsets = try XCTUnwrap((header[tensor] as? [String: Any])?["data_offsets"] as? [Int])
        let nanBits = Float.nan.bitPattern
        for o in stride(from: 8 + n + offsets[0], to: 8 + n + offsets[1], by: 4) {
            for k in 0..<4 { bytes[o + k] = UInt8((nanBits >> (8 * UInt32(k))) & 0xff) }
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return try ViT(path: folder)
    }

    /// NaN in the final norm: every logit is NaN. Memories reported composed 100% and
    /// metrics M6 100% (every top-1 was class 0, as was every memory's class), silently.
    /// Now no row predicts anything, so nothing is correct, composed or matched, and one
    /// warning per analysis names the logits (the final norm or head).
    func testNaNWeightsScoreNothingAndWarn() throws {
        var said: [String] = []
        let saved = NaNWatch.sink
        NaNWatch.sink = { said.append($0) }
        defer { NaNWatch.sink = saved; NaNWatch.reset() }
        NaNWatch.reset()
        for tensor in ["norm.weight", "head.weight"] {
            NaNWatch.reset()
            said = []
            let m = try nanModel(tensor)
            let c = m.config
            let x = Tensor((0..<(2 * 3 * c.imageSize * c.imageSize)).map { Float($0 % 17) / 17 }, shape: [2, 3, c.imageSize, c.imageSize])
            let memories = try MemoryCollector(model: m, seed: 0)
            try memories.add(images: x, labels: [0, 1])
            XCTAssertEqual(memories.stats.correct.reduce(0) { $0 + Int($1) }, 0, tensor)
            XCTAssertEqual(memories.stats.composed.flatMap { $0 }.flatMap { $0 }.reduce(0, +), 0, tensor)
            // Every output's projection is NaN: no token has a top-1 class, none is counted
            // (review 2: a NaN row is undefined, not a token that failed to compose).
            XCTAssertEqual(memories.stats.composedTotal.flatMap { $0 }.flatMap { $0 }.reduce(0, +), 0, tensor)
            let metrics = MetricsCollector(model: m, mode: .correct)
            try metrics.add(images: x, labels: [0, 1])
            let r = metrics.metrics
            XCTAssertEqual(r.correct, 0, tensor)
            for b in 0..<c.depth {
                XCTAssertEqual(r.m6Attn[b], [0, 0], "\(tensor) block \(b)")
                XCTAssertEqual(r.m6Mlp[b], [0, 0], "\(tensor) block \(b)")
                XCTAssertEqual(r.m6Prev[b], [0, 0], "\(tensor) block \(b)")
            }
            XCTAssertEqual(said, ["warning: memories: NaN appears in the logits (final norm or head); NaN logits rank last and a row holding NaN counts as no prediction (wrong)\n",
                                  "warning: identifiability_metrics: NaN appears in the logits (final norm or head); NaN logits rank last and a row holding NaN counts as no prediction (wrong)\n"], tensor)
        }
    }

    // MARK: - Configs

    /// Writes a fixture folder's JSON with `changes` applied (a value of NSNull removes the
    /// key; a dict for model_args or pretrained_cfg merges into it, any other value
    /// replaces) and loads the folder.
    func loadChanged(_ model: String, config: [String: Any] = [:], preprocessor: [String: Any]? = nil) throws {
        let folder = tmp + "/m-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let source = Self.fixtures + "/models/" + model
        XCTAssertEqual(symlink(source + "/model.safetensors", folder + "/model.safetensors"), 0)
        func merged(_ file: String, _ changes: [String: Any]) throws -> Data {
            var c = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source + "/" + file))) as? [String: Any])
            for (k, v) in changes {
                if ["model_args", "pretrained_cfg"].contains(k), let inner = v as? [String: Any], var old = c[k] as? [String: Any] {
                    for (ik, iv) in inner { old[ik] = iv is NSNull ? nil : iv }
                    c[k] = old
                } else {
                    c[k] = v is NSNull ? nil : v
                }
            }
            return try JSONSerialization.data(withJSONObject: c)
        }
        try merged("config.json", config).write(to: URL(fileURLWithPath: folder + "/config.json"))
        if let preprocessor {
            try merged("preprocessor_config.json", preprocessor).write(to: URL(fileURLWithPath: folder + "/preprocessor_config.json"))
        }
        _ = try Checkpoint.load(folder)
    }

    /// Preprocessing values were defaulted silently when unusable (a crop mode vls does not
    /// implement, an unknown interpolation, a two-entry mean, a string eps, a malformed
    /// id2label); a config contradicting the weights was overwritten by their shapes.
    func testTimmConfigValuesAreCheckedNamingFileAndKey() throws {
        XCTAssertNoThrow(try loadChanged("standard"))
        let cases: [([String: Any], String)] = [
            (["pretrained_cfg": ["crop_mode": "squash"]], "config.json: 'pretrained_cfg.crop_mode' is 'squash'; vls implements timm's 'center' only"),
            (["pretrained_cfg": ["crop_mode": 1]], "config.json: 'pretrained_cfg.crop_mode' must be a string, got 1"),
            (["pretrained_cfg": ["interpolation": "bicubik"]], "config.json: 'pretrained_cfg.interpolation' is 'bicubik', not a known filter"),
            (["pretrained_cfg": ["interpolation": 3]], "config.json: 'pretrained_cfg.interpolation' must be a string, got 3"),
            (["pretrained_cfg": ["mean": [0.5, 0.5]]], "config.json: 'pretrained_cfg.mean' must be a list of 3 finite numbers (one per channel), got a list of 2"),
            (["pretrained_cfg": ["mean": ["0.5", 0.5, 0.5]]], "'pretrained_cfg.mean' must be a list of 3 finite numbers (one per channel), got the string \"0.5\" at index 0"),
            (["pretrained_cfg": ["mean": [1e39, 0.5, 0.5]]], "'pretrained_cfg.mean' must be a list of 3 finite numbers (one per channel), got 1e+39 at index 0"),
            (["pretrained_cfg": ["std": [0.5, 1e39, 0.5]]], "'pretrained_cfg.std' must be a list of 3 finite positive numbers (one per channel), got 1e+39 at index 1"),
            (["pretrained_cfg": ["std": [0.5, 0.5, -1]]], "'pretrained_cfg.std' must be a list of 3 finite positive numbers (one per channel), got -1 at index 2"),
            (["pretrained_cfg": ["input_size": "224"]], "config.json: 'pretrained_cfg.input_size' must be a list [channels, height, width], got the string \"224\""),
            (["pretrained_cfg": "none"], "config.json: 'pretrained_cfg' must be an object, got the string \"none\""),
            (["model_args": ["qkv_bias": "true"]], "config.json: 'model_args.qkv_bias' must be true or false, got the string \"true\""),
            (["model_args": ["norm_eps": "1e-6"]], "config.json: 'model_args.norm_eps' must be a positive number below 1 (float32), got the string \"1e-6\""),
            (["model_args": ["norm_eps": 1e-300]], "config.json: 'model_args.norm_eps' must be a positive number below 1 (float32), got 1e-300"),
            (["model_args": ["embed_dim": 64]], "config.json: 'model_args.embed_dim' is 64 but 'patch_embed.proj.weight' in "),
            (["model_args": ["depth": 5]], "config.json: 'model_args.depth' is 5 but "),
            (["global_pool": 1], "config.json: 'global_pool' must be a string, got 1"),
            (["label_names": ["a", 1]], "config.json: 'label_names' must be a list of strings, got 1 at index 1"),
            (["label_names": NSNull(), "id2label": ["a": "x"]], "config.json: 'id2label' key 'a' is not a class index in 0...0"),
            (["label_names": NSNull(), "id2label": ["0": 1]], "config.json: 'id2label.0' must be a string, got 1"),
            (["label_names": NSNull(), "id2label": ["00": "x"]], "config.json: 'id2label' key '00' is not a class index"),
        ]
        for (change, message) in cases {
            XCTAssertThrowsError(try loadChanged("standard", config: change), "\(change)") { e in
                XCTAssertTrue("\(e)".contains(message), "\(change): '\(e)' does not contain '\(message)'")
                XCTAssertTrue("\(e)".hasPrefix(self.tmp), "\(change): the error names the file in its folder: \(e)")
            }
        }
        // The embed_dim error names both sides.
        XCTAssertThrowsError(try loadChanged("standard", config: ["model_args": ["embed_dim": 64]])) { e in
            XCTAssertTrue("\(e)".hasSuffix("model.safetensors has width 32 (shape [32, 3, 8, 8])"), "\(e)")
        }
    }

    func testHuggingFaceConfigValuesAreCheckedNamingFileAndKey() throws {
        XCTAssertNoThrow(try loadChanged("hf", preprocessor: [:]))
        let configCases: [([String: Any], String)] = [
            (["layer_norm_eps": "1e-12"], "config.json: 'layer_norm_eps' must be a positive number below 1 (float32), got the string \"1e-12\""),
            (["layer_norm_eps": 0], "config.json: 'layer_norm_eps' must be a positive number below 1 (float32), got 0"),
            (["qkv_bias": 1], "config.json: 'qkv_bias' must be true or false, got 1"),
            (["hidden_act": ["gelu"]], "config.json: 'hidden_act' must be a string, got a list"),
            (["id2label": ["0": "a", "2": "b"]], "config.json: 'id2label' key '2' is not a class index in 0...1"),
        ]
        for (change, message) in configCases {
            XCTAssertThrowsError(try loadChanged("hf", config: change, preprocessor: [:]), "\(change)") { e in
                XCTAssertTrue("\(e)".contains(message), "\(change): '\(e)' does not contain '\(message)'")
            }
        }
        let preprocessorCases: [([String: Any], String)] = [
            (["do_normalize": "yes"], "preprocessor_config.json: 'do_normalize' must be true or false, got the string \"yes\""),
            (["do_resize": false], "preprocessor_config.json: 'do_resize' is false; vls does not implement preprocessing without resizing"),
            (["do_rescale": false], "preprocessor_config.json: 'do_rescale' is false"),
            (["rescale_factor": 1], "preprocessor_config.json: 'rescale_factor' is 1.0; vls scales pixels by 1/255 only"),
            (["do_center_crop": true], "preprocessor_config.json: 'do_center_crop' is true"),
            (["resample": 9], "preprocessor_config.json: 'resample' 9 is not a PIL filter"),
            (["resample": "bilinear"], "preprocessor_config.json: 'resample' must be an integer in 0...16777216, got the string \"bilinear\""),
            (["image_mean": [0.5, 0.5, 0.5, 0.5]], "preprocessor_config.json: 'image_mean' must be a list of 3 finite numbers (one per channel), got a list of 4"),
            (["size": ["shortest_edge": 32]], "preprocessor_config.json: 'size' must give height and width"),
            (["size": ["height": 32, "width": 16]], "preprocessor_config.json: 'size' 32x16 is not a square size"),
        ]
        for (change, message) in preprocessorCases {
            XCTAssertThrowsError(try loadChanged("hf", preprocessor: change), "\(change)") { e in
                XCTAssertTrue("\(e)".contains(message), "\(change): '\(e)' does not contain '\(message)'")
            }
        }
        // do_normalize false: no normalisation, as the processor does.
        let folder = tmp + "/nonorm"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for f in ["model.safetensors", "config.json"] {
            XCTAssertEqual(symlink(Self.fixtures + "/models/hf/" + f, folder + "/" + f), 0)
        }
        try #"{"do_normalize": false, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}"#.write(toFile: folder + "/preprocessor_config.json", atomically: true, encoding: .utf8)
        let (c, _) = try Checkpoint.load(folder)
        XCTAssertEqual(c.preprocessing.mean, [0, 0, 0])
        XCTAssertEqual(c.preprocessing.std, [1, 1, 1])
    }

    /// JSONSerialization took `{"a": 1,}` and kept the last of two equal keys: a config
    /// could mean two models. Both are errors naming the file and byte.
    func testConfigJSONIsStrict() throws {
        let folder = tmp + "/strict"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        XCTAssertEqual(symlink(Self.standard + "/model.safetensors", folder + "/model.safetensors"), 0)
        let good = try String(contentsOfFile: Self.standard + "/config.json", encoding: .utf8)
        func load(_ text: String) throws { try text.write(toFile: folder + "/config.json", atomically: true, encoding: .utf8); _ = try Checkpoint.load(folder) }
        XCTAssertNoThrow(try load(good))
        let cases: [(String, String)] = [
            (#"{"num_classes": 10,}"#, "\(folder)/config.json: the file is not valid JSON (a trailing comma at byte 19)"),
            (#"{"label_names": ["a", "b",]}"#, "\(folder)/config.json: the file is not valid JSON (a trailing comma at byte 26)"),
            (#"{"num_classes": 10, "num_classes": 10}"#, "\(folder)/config.json: the key 'num_classes' appears twice in one object"),
            (#"{"model_args": {"depth": 3, "depth": 2}}"#, "\(folder)/config.json: the key 'depth' appears twice in one object"),
            (#"{"a": NaN}"#, "\(folder)/config.json: the file is not valid JSON (invalid value"),
            (#"{"a": 1} {"#, "\(folder)/config.json: the file is not valid JSON (unexpected text after the value"),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try load(text), text) { e in
                XCTAssertTrue("\(e)".hasPrefix(message), "\(text): '\(e)' does not start with '\(message)'")
            }
        }
        // The same key in two different objects is fine.
        XCTAssertNoThrow(try load(#"{"model_args": {"num_classes": 10}, "num_classes": 10, "pretrained_cfg": {"num_classes": 10}}"#))
    }

    // MARK: - Temporary files

    /// A 254-byte output name failed: the temporary name (`.NAME.tmp-XXXXXX`) passed
    /// NAME_MAX. The temporary name is now 32 bytes whatever the target's.
    func testLongOutputNamesFit() throws {
        let name = String(repeating: "n", count: 250) + ".npy"
        XCTAssertEqual(name.utf8.count, 254)
        try Files.writeAtomically([1, 2, 3], to: tmp + "/" + name)
        XCTAssertEqual(try Files.readFile(tmp + "/" + name), [1, 2, 3])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp), [name])
        XCTAssertEqual(Files.temporaryPrefix(for: name).utf8.count + 6, 32)
    }

    /// A write killed by SIGKILL leaves its temporary file; a later write to the same
    /// target removes it once it is stale (untouched for 15 minutes), and leaves a fresh
    /// one (a write in progress) and other targets' alone.
    func testStaleTemporaryFilesAreRemovedByTheNextWrite() throws {
        let dir = tmp + "/out"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let prefix = Files.temporaryPrefix(for: "a.npy"), other = Files.temporaryPrefix(for: "b.npy")
        XCTAssertNotEqual(prefix, other)
        let stale = prefix + "AbC123", fresh = prefix + "zzz999", othersStale = other + "QQQ111", legacy = ".a.npy.tmp-x1y2z3"
        for n in [stale, fresh, othersStale, legacy] {
            try Data([9]).write(to: URL(fileURLWithPath: dir + "/" + n))
        }
        // An hour old (what a killed write leaves), except `fresh`.
        for n in [stale, othersStale, legacy] {
            var times = [timespec(tv_sec: time(nil) - 3600, tv_nsec: 0), timespec(tv_sec: time(nil) - 3600, tv_nsec: 0)]
            XCTAssertEqual(utimensat(AT_FDCWD, dir + "/" + n, &times, 0), 0)
        }
        try Files.writeAtomically([1], to: dir + "/a.npy")
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir)), ["a.npy", fresh, othersStale])
        try Files.writeAtomically([2], to: dir + "/b.npy")
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir)), ["a.npy", "b.npy", fresh])
    }

    /// The whole path: vls killed with SIGKILL while writing a large .npy leaves a
    /// `.vls-tmp-` file (and the old target whole); once stale, the next write removes it.
    func testKilledWriteLeavesARecognisableTemporaryThatIsCleaned() throws {
        let vls = try HostileCorpusTests.binary()
        let dir = tmp + "/kill"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "write_npy(\"x.npy\", tensor([1.0]))\nwhile true:\n    write_npy(\"x.npy\", zeros(64, 1024, 1024))\n".write(toFile: dir + "/w.vls", atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: vls)
        p.arguments = ["run", "w.vls"]
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Wait until the first write landed and a later write's temporary file exists, then
        // kill -9 mid-write (killing the first write would leave no x.npy to check).
        let deadline = Date().addingTimeInterval(60)
        var temps: [String] = []
        while Date() < deadline {
            temps = (try? FileManager.default.contentsOfDirectory(atPath: dir))?.filter { $0.hasPrefix(Files.temporaryMarker) } ?? []
            if !temps.isEmpty && FileManager.default.fileExists(atPath: dir + "/x.npy") { break }
            usleep(5_000)
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        temps = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(Files.temporaryMarker) }
        guard temps.count == 1, let left = temps.first else { return XCTFail("expected one temporary file left by the killed write, found \(temps)") }
        XCTAssertTrue(left.hasPrefix(Files.temporaryPrefix(for: "x.npy")), left)
        let shape = try NPY.read(dir + "/x.npy").shape
        XCTAssertTrue(shape == [1] || shape == [64, 1024, 1024], "the target is whole: \(shape)")
        // Not yet stale: a new write keeps it (it could be a write in progress).
        try "write_npy(\"x.npy\", tensor([2.0]))\n".write(toFile: dir + "/w2.vls", atomically: true, encoding: .utf8)
        func run() throws {
            let q = Process()
            q.executableURL = URL(fileURLWithPath: vls)
            q.arguments = ["run", "w2.vls"]
            q.currentDirectoryURL = URL(fileURLWithPath: dir)
            try q.run()
            q.waitUntilExit()
            XCTAssertEqual(q.terminationStatus, 0)
        }
        try run()
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/" + left))
        var times = [timespec(tv_sec: time(nil) - 16 * 60, tv_nsec: 0), timespec(tv_sec: time(nil) - 16 * 60, tv_nsec: 0)]
        XCTAssertEqual(utimensat(AT_FDCWD, dir + "/" + left, &times, 0), 0)
        try run()
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/" + left), "the stale temporary file is removed")
        XCTAssertEqual(try NPY.read(dir + "/x.npy").scalars, [2])
    }

    // MARK: - Threads

    /// The default worker count is the affinity mask's CPU count (python's
    /// len(os.sched_getaffinity(0)) as the reference), not the machine's.
    func testDefaultThreadsFollowTheAffinityMask() throws {
        func python(_ prefix: [String]) throws -> Int? {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = prefix + ["python3", "-c", "import os; print(len(os.sched_getaffinity(0)))"]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            return Int(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        guard let reference = try python([]) else { throw XCTSkip("python3 not available") }
        XCTAssertEqual(Threads.available, reference)
        XCTAssertLessThanOrEqual(Threads.available, Threads.maximum)
        // Under `taskset -c 0` (one CPU): the default is quiet, --threads 2 runs with a note.
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/taskset"), Threads.maximum >= 2 else { throw XCTSkip("needs taskset and 2 CPUs") }
        XCTAssertEqual(try python(["taskset", "-c", "0"]), 1)
        let vls = try HostileCorpusTests.binary()
        try "print(1)\n".write(toFile: tmp + "/t.vls", atomically: true, encoding: .utf8)
        func run(_ args: [String]) throws -> (Int32, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
            p.arguments = ["-c", "0", vls] + args + [tmp + "/t.vls"]
            var env = ProcessInfo.processInfo.environment
            env["VLS_THREADS"] = nil
            p.environment = env
            let err = Pipe()
            p.standardOutput = FileHandle.nullDevice
            p.standardError = err
            try p.run()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        }
        XCTAssertEqual(try run(["run"]).1, "")
        let (status, note) = try run(["run", "--threads", "2"])
        XCTAssertEqual(status, 0)
        XCTAssertEqual(note, "vls: note: 2 threads on the 1 CPU this process may run on (its affinity mask, e.g. from taskset); the workers will share it\n")
    }

    // MARK: - Image-folder labels

    /// `d[i]` gave an image folder's own index while `d.batches(model: m)` gave the model's
    /// class id for the same image. One convention now: without `model:` the folder's own
    /// index everywhere, and analyses refuse it when it is not the model's; with
    /// `dataset(path, model: m)` the model's class id everywhere.
    func testImageFolderLabelsAreTheSameEverywhere() throws {
        let dir = tmp + "/folder"
        for (sub, file) in [("class_7", "img0.png"), ("class_3", "img1.jpg"), ("class_7", "img1.jpg")] {
            try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: Self.fixtures + "/folder/class_0/" + file, toPath: dir + "/" + sub + "/" + file)
        }
        let m = "m = load(\"\(Self.standard)\")\n"
        // Without model: the folder's own indices (class_3 = 0, class_7 = 1), and no guess.
        let own = BuiltinCaseTests.run(m + """
            d = dataset("\(dir)")
            print(d.classes, d.labels, d[0][1], d.label(2))
            for x, y in d.batches(3, model: m):
                print(y)
            """, path: "own.vls")
        XCTAssertEqual(own.lines, [#"["class_3", "class_7"] [0, 1, 1] 0 1"#])
        XCTAssertTrue(own.error?.contains("dataset folder: its labels are its own class indices (class_3 = 0, class_7 = 1), not the model's; make it with dataset(..., model: m)") ?? false, own.error ?? "no error")
        // With model: the model's class ids through every path.
        let mapped = BuiltinCaseTests.run(m + """
            d = dataset("\(dir)", model: m)
            print(d.labels, d[0][1], d.label(2), len(d.classes), d.classes[3])
            for x, y in d.batches(2, model: m):
                print(y.tolist())
            print(d.batch([2, 0], model: m)[1].tolist())
            print(d.take(2).labels, d.per_class(1).labels)
            """, path: "mapped.vls")
        XCTAssertNil(mapped.error)
        XCTAssertEqual(mapped.lines, ["[3, 7, 7] 3 7 10 class_3", "[3.0, 7.0]", "[7.0]", "[7.0, 3.0]", "[3, 7] [3, 7]"])
        // An unknown folder name is an error naming it.
        try FileManager.default.createDirectory(atPath: dir + "/zebra", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.fixtures + "/folder/class_0/img0.png", toPath: dir + "/zebra/a.png")
        let unknown = BuiltinCaseTests.run(m + "d = dataset(\"\(dir)\", model: m)", path: "unknown.vls")
        XCTAssertTrue(unknown.error?.contains("classes 'zebra' are not classes of the model") ?? false, unknown.error ?? "no error")
    }
}
