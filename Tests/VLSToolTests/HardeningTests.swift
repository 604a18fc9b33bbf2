import Foundation
import XCTest
import VLSCore
import VLSFiles
import VLSImaging
#if canImport(Glibc)
import Glibc
#endif

/// Regression tests of the hardening issue (files, checkpoints, configs, NaN, limits). The
/// whole-binary cases are in HostileCorpusTests (Tests/Fixtures/hostile).
final class HardeningTests: TempFolderTestCase {
    override class var folderPrefix: String { "vls-harden" }


    func mode(_ path: String) -> mode_t {
        var st = stat()
        XCTAssertEqual(lstat(path, &st), 0, path)
        return st.st_mode & 0o7777
    }

    func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    func safetensors(_ header: String, _ data: [UInt8] = []) -> Data {
        var d = Data()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
        d.append(contentsOf: Array(header.utf8))
        d.append(contentsOf: data)
        return d
    }

    // MARK: - Atomic writes

    /// The old temporary name was `NAME.tmp-PID`, opened without O_EXCL: a symlink planted
    /// there overwrote its target. Now the temporary file comes from mkstemp.
    func testPlantedSymlinkAtTheOldTemporaryNameIsNotFollowed() throws {
        let target = tmp + "/out.npy", victim = tmp + "/victim"
        try "precious".write(toFile: victim, atomically: false, encoding: .utf8)
        XCTAssertEqual(symlink(victim, target + ".tmp-\(getpid())"), 0)
        try AtomicFile.write(Data("new".utf8), to: target)
        XCTAssertEqual(read(victim), "precious")
        XCTAssertEqual(read(target), "new")
        // No temporary file is left beside the target.
        let left = try FileManager.default.contentsOfDirectory(atPath: tmp).filter { $0.contains(".tmp-") && $0 != "out.npy.tmp-\(getpid())" }
        XCTAssertEqual(left, [])
    }

    /// Replacing a file used to reset it to 0644 (a 0444 file became writable, a chmod 600
    /// history readable by all).
    func testReplacingKeepsTheModeAndNewFilesFollowTheUmask() throws {
        let ro = tmp + "/ro.txt", priv = tmp + "/priv.txt", fresh = tmp + "/fresh.txt"
        try Files.writeAtomically(Array("a".utf8), to: ro)
        chmod(ro, 0o444)
        try Files.writeAtomically(Array("b".utf8), to: ro)
        XCTAssertEqual(mode(ro), 0o444)
        XCTAssertEqual(read(ro), "b")
        try Files.writeAtomically(Array("a".utf8), to: priv)
        chmod(priv, 0o600)
        try Files.writeAtomically(Array("b".utf8), to: priv)
        XCTAssertEqual(mode(priv), 0o600)
        let old = umask(0o027)
        defer { umask(old) }
        try Files.writeAtomically(Array("c".utf8), to: fresh)
        XCTAssertEqual(mode(fresh), 0o640)
    }

    /// The history is 0600 whatever it was, and its lock file is never a followed symlink.
    func testHistoryIsPrivateAndItsLockRefusesASymlink() throws {
        let history = tmp + "/history"
        try Files.writeAtomically(Array("#vls-history v1\n".utf8), to: history)
        chmod(history, 0o644)
        try Files.update(history, permissions: .privateFile) { old in (old ?? []) + Array("x\n".utf8) }
        XCTAssertEqual(mode(history), 0o600)
        XCTAssertEqual(read(history), "#vls-history v1\nx\n")
        let other = tmp + "/other", victim = tmp + "/victim"
        try "precious".write(toFile: victim, atomically: false, encoding: .utf8)
        XCTAssertEqual(symlink(victim, other + ".lock"), 0)
        XCTAssertThrowsError(try Files.update(other, permissions: .privateFile) { _ in Array("y".utf8) }) { e in
            XCTAssertTrue("\(e)".contains("other.lock: cannot open lock file"), "\(e)")
        }
        XCTAssertEqual(read(victim), "precious")
        XCTAssertNil(read(other))
    }

    /// An output that is one of the inputs (same device and inode, through a symlink or a
    /// hard link too) is refused and the input kept.
    func testOutputEqualToAnInputIsRefused() throws {
        let input = tmp + "/nb.vls", hard = tmp + "/hard.html", soft = tmp + "/soft.html"
        try "print(1)\n".write(toFile: input, atomically: false, encoding: .utf8)
        XCTAssertEqual(link(input, hard), 0)
        XCTAssertEqual(symlink(input, soft), 0)
        for out in [input, hard, soft] {
            XCTAssertThrowsError(try Files.writeAtomically(Array("<html>".utf8), to: out, inputs: [input])) { e in
                XCTAssertTrue("\(e)".contains("refusing to overwrite the input"), "\(e)")
            }
        }
        XCTAssertEqual(read(input), "print(1)\n")
        XCTAssertTrue(Files.sameFile(hard, input))
        XCTAssertFalse(Files.sameFile(tmp + "/missing", input))
    }

    /// `a/../b/../x.npy` used to leave folders a and b behind; a parent that is a file, or
    /// a folder that cannot be created, is reported with its own reason.
    func testParentFoldersAreCreatedOnlyWhereTheFileGoes() throws {
        let saved = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(tmp))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(saved) }
        XCTAssertThrowsError(try Files.writeAtomically(Array("x".utf8), to: "a/../b/../x.npy")) { e in
            XCTAssertEqual("\(e)", "a/../b/../x.npy: cannot write (folder 'a' does not exist, and the path leaves it again with '..')")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp), [])
        try Files.writeAtomically(Array("x".utf8), to: "new/sub/x.npy")
        XCTAssertEqual(read(tmp + "/new/sub/x.npy"), "x")
        try "f".write(toFile: tmp + "/file", atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try Files.writeAtomically(Array("x".utf8), to: "file/x.npy")) { e in
            XCTAssertEqual("\(e)", "file/x.npy: cannot write ('file' exists and is not a folder)")
        }
    }

    /// EACCES when creating a folder is reported as such (it read ENOENT). Root ignores
    /// permissions, so the check runs the binary as `nobody` where the machine allows.
    func testPermissionDeniedIsReportedAsSuch() throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
            throw XCTSkip("needs root and setpriv to run as nobody")
        }
        let vls = try HostileCorpusTests.binary()
        let locked = tmp + "/locked"
        try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: true)
        chmod(tmp, 0o755)
        chmod(locked, 0o555)
        let script = tmp + "/w.vls"
        try "write_npy(\"\(locked)/sub/x.npy\", tensor([1.0]))\n".write(toFile: script, atomically: false, encoding: .utf8)
        chmod(script, 0o644)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        p.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", vls, "run", script]
        p.currentDirectoryURL = URL(fileURLWithPath: "/")
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        if text.contains("Permission denied") && text.contains("w.vls") == false {
            throw XCTSkip("nobody cannot reach the binary or the script here: \(text.prefix(200))")
        }
        XCTAssertEqual(p.terminationStatus, 70, text)
        XCTAssertTrue(text.contains("cannot create folder '\(locked)/sub' (Permission denied)"), text)
    }

    // MARK: - safetensors headers

    func testSafetensorsHeaderIsStrict() throws {
        func open(_ header: String, _ data: [UInt8] = [0, 0, 0, 0]) throws -> SafetensorsFile {
            let path = tmp + "/x.safetensors"
            try safetensors(header, data).write(to: URL(fileURLWithPath: path))
            return try SafetensorsFile(path: path)
        }
        func refused(_ header: String, _ message: String, line: UInt = #line) {
            XCTAssertThrowsError(try open(header), line: line) { e in
                XCTAssertTrue("\(e)".contains(message), "\(e)", line: line)
            }
        }
        let entry = #"{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#
        refused(#"{"a":\#(entry),"a":\#(entry)}"#, "the header names 'a' twice")
        refused(#"{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, "tensor 'a' names 'dtype' twice")
        refused(#"{"__metadata__":{"k":"v","k":"w"},"a":\#(entry)}"#, "__metadata__ names 'k' twice")
        refused(#"{"a":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}"#, "tensor 'a' has an invalid shape")
        refused(#"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, "tensor 'a' has an invalid shape")
        refused(#"{"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}"#, "tensor 'a' has an invalid shape")
        refused(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,true]}}"#, "tensor 'a' has invalid data_offsets")
        refused(#"{"a":\#(entry)} x"#, "not valid JSON")
        refused(#"{"a":\#(entry),}"#, "not valid JSON")
        refused(#"{"a":\#(entry)"#, "not valid JSON")
        refused(#"{"a\#u{01}":\#(entry)}"#, "not valid JSON")
        // Deep but valid JSON (in a key the format does not use) is accepted, iteratively.
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let f = try open(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":\#(deep)}, "__metadata__": {"k\u00e9\ud83d\ude00": "v\n"}}"#)
        XCTAssertEqual(f.names, ["a"])
        XCTAssertEqual(f.metadata, ["k\u{e9}\u{1F600}": "v\n"])
        XCTAssertEqual(try open(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}   "#).entries["a"]?.shape, [1])
        XCTAssertEqual(try open(#"{"b":{"dtype":"F32","shape":[2.0e0, 0],"data_offsets":[0,0]}}"#).entries["b"]?.shape, [2, 0])
    }

    /// A FIFO named like a checkpoint blocked `load()` forever (opened before the check).
    func testNonRegularFilesAreRefusedBeforeOpen() throws {
        let fifo = tmp + "/model.safetensors"
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        XCTAssertThrowsError(try FileKind.of(fifo)) { e in XCTAssertEqual("\(e)", "\(fifo): not a regular file (a FIFO)") }
        XCTAssertThrowsError(try SafetensorsFile(path: fifo)) { e in XCTAssertEqual("\(e)", "\(fifo): not a regular file (a FIFO)") }
        XCTAssertThrowsError(try Checkpoint.load(tmp)) { e in XCTAssertEqual("\(e)", "\(fifo): not a regular file (a FIFO)") }
        XCTAssertThrowsError(try Checkpoint.load("/dev/null")) { e in XCTAssertEqual("\(e)", "/dev/null: not a regular file (a device)") }
    }

    /// A dangling or looping config.json was read as absent: the model loaded with guessed
    /// heads and a changed prediction.
    func testConfigAndWeightSymlinksAreResolvedOrRefused() throws {
        let folder = tmp + "/m"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        XCTAssertEqual(symlink(Self.standard + "/model.safetensors", folder + "/model.safetensors"), 0)
        XCTAssertEqual(symlink("missing.json", folder + "/config.json"), 0)
        XCTAssertThrowsError(try Checkpoint.load(folder)) { e in
            XCTAssertEqual("\(e)", "\(folder)/config.json: a dangling symlink to 'missing.json' (its target does not exist)")
        }
        unlink(folder + "/config.json")
        XCTAssertEqual(symlink("config.json", folder + "/config.json"), 0)
        XCTAssertThrowsError(try Checkpoint.load(folder)) { e in
            XCTAssertEqual("\(e)", "\(folder)/config.json: a symlink loop (too many levels of symbolic links)")
        }
        // A symlink that resolves is followed: the same model as the original folder.
        unlink(folder + "/config.json")
        XCTAssertEqual(symlink(Self.standard + "/config.json", folder + "/config.json"), 0)
        let (linked, _) = try Checkpoint.load(folder)
        let (original, _) = try Checkpoint.load(Self.standard)
        XCTAssertEqual(linked.heads, original.heads)
        XCTAssertEqual(linked.notes, original.notes)
    }

    /// img_size 1e9, "28", 28.5 were dropped silently; crop_pct 1e-300 loaded and failed later.
    func testConfigValuesAreCheckedNamingTheKey() throws {
        let folder = tmp + "/m"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        XCTAssertEqual(symlink(Self.standard + "/model.safetensors", folder + "/model.safetensors"), 0)
        let base = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.standard + "/config.json"))) as! [String: Any]
        func load(args: [String: Any] = [:], pretrained: [String: Any] = [:]) throws {
            var c = base
            var a = c["model_args"] as! [String: Any]
            for (k, v) in args { a[k] = v }
            c["model_args"] = a
            var p = c["pretrained_cfg"] as! [String: Any]
            for (k, v) in pretrained { p[k] = v }
            c["pretrained_cfg"] = p
            try JSONSerialization.data(withJSONObject: c).write(to: URL(fileURLWithPath: folder + "/config.json"))
            _ = try Checkpoint.load(folder)
        }
        XCTAssertNoThrow(try load())
        for (value, shown) in [(1e9, "1000000000"), ("28", "the string \"28\""), (28.5, "28.5"), (true, "true"), (-32, "-32")] as [(Any, String)] {
            XCTAssertThrowsError(try load(args: ["img_size": value])) { e in
                XCTAssertEqual("\(e)", "\(folder)/config.json: 'model_args.img_size' must be an integer in 0...16777216, got \(shown)")
            }
        }
        XCTAssertThrowsError(try load(args: ["depth": "3"])) { e in
            XCTAssertTrue("\(e)".hasSuffix("'model_args.depth' must be an integer in 0...16777216, got the string \"3\""), "\(e)")
        }
        for crop in [1e-300, 0, -0.5, 1.5] {
            XCTAssertThrowsError(try load(pretrained: ["crop_pct": crop])) { e in
                XCTAssertTrue("\(e)".hasPrefix("\(folder)/config.json: 'pretrained_cfg.crop_pct' must be a number in 0.01...1, got"), "\(e)")
            }
        }
    }

    /// A Hugging Face config of width 200000 beside a 100-byte file asked for 480 GB of
    /// fused qkv before any tensor was checked.
    func testHuggingFaceWidthNeverSizesAnAllocationBeforeTheFileIsChecked() throws {
        let folder = tmp + "/hf"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let config = #"{"model_type":"vit","hidden_size":200000,"num_hidden_layers":1,"num_attention_heads":1,"intermediate_size":4,"image_size":32,"patch_size":8}"#
        try config.write(toFile: folder + "/config.json", atomically: false, encoding: .utf8)
        try safetensors(#"{"vit.embeddings.cls_token":{"dtype":"F32","shape":[1,1,1],"data_offsets":[0,4]}}"#, [0, 0, 0, 0])
            .write(to: URL(fileURLWithPath: folder + "/model.safetensors"))
        XCTAssertThrowsError(try Checkpoint.load(folder)) { e in
            XCTAssertTrue("\(e)".contains("missing tensor 'vit.encoder.layer.0.attention.attention.query.weight' (expected shape [200000, 200000])"), "\(e)")
        }
    }

    /// Label names from a config reach tables and the terminal: control characters escaped.
    func testLabelNamesAreEscaped() throws {
        let folder = tmp + "/m"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        XCTAssertEqual(symlink(Self.standard + "/model.safetensors", folder + "/model.safetensors"), 0)
        var c = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.standard + "/config.json"))) as! [String: Any]
        c["label_names"] = ["\u{1B}]0;pwned\u{07}cat", "b\u{9B}2J"] + (2..<10).map { "c\($0)" }
        try JSONSerialization.data(withJSONObject: c).write(to: URL(fileURLWithPath: folder + "/config.json"))
        let (config, _) = try Checkpoint.load(folder)
        XCTAssertEqual(config.labels?.prefix(2), ["\\u{1B}]0;pwned\\u{7}cat", "b\\u{9B}2J"])
        XCTAssertEqual(escapingControlCharacters("plain é"), "plain é")
    }

    // MARK: - Limits

    /// `dataset(images:, labels:)` turned a label of -5, NaN, inf or 3e8 into a crash or a
    /// multi-gigabyte class list.
    func testClassLabelsAreWholeNumbersInRange() throws {
        XCTAssertEqual(try Limits.classLabels([0, 3, 2], for: "t"), [0, 3, 2])
        for bad: Float in [-5, .nan, .infinity, 3e8, 1.5] {
            XCTAssertThrowsError(try Limits.classLabels([0, bad], for: "t"), "\(bad)") { e in
                XCTAssertTrue("\(e)".hasPrefix("t: label 1 is "), "\(e)")
            }
        }
    }

    /// Converting a non-F32 safetensors tensor allocates F32: through the cap.
    func testDtypeConversionGoesThroughTheCap() throws {
        let path = tmp + "/u8.safetensors"
        try safetensors(#"{"a":{"dtype":"U8","shape":[64,64],"data_offsets":[0,4096]}}"#, [UInt8](repeating: 1, count: 4096))
            .write(to: URL(fileURLWithPath: path))
        let saved = Limits.maxTensorBytes
        defer { Limits.maxTensorBytes = saved }
        Limits.maxTensorBytes = 4096
        XCTAssertThrowsError(try SafetensorsFile(path: path).tensor("a")) { e in
            XCTAssertTrue("\(e)".contains("tensor 'a' (U8 to F32): a tensor of shape [64, 64] needs 16.0 KiB"), "\(e)")
        }
        Limits.maxTensorBytes = 1 << 20
        XCTAssertEqual(try SafetensorsFile(path: path).tensor("a").scalars.first, 1)
    }

    func testThreadsAreBoundedByTheCPUCount() {
        let saved = Threads.count
        defer { Threads.set(saved) }
        Threads.set(Int.max)
        XCTAssertEqual(Threads.count, Threads.maximum)
        Threads.set(-3)
        XCTAssertEqual(Threads.count, 1)
    }

    /// A hook that called the model it ran in waited on the model's lock forever.
    func testReentrantModelCallIsAnError() throws {
        let model = try ViT(path: Self.standard)
        let c = model.config
        let x = Tensor(zeros: [1, c.inChannels, c.imageSize, c.imageSize])
        final class CallsBack: HookHandler {
            let model: ViT, x: Tensor
            var error: String?
            init(_ model: ViT, _ x: Tensor) { self.model = model; self.x = x }
            func wants(_ p: HookPoint) -> Bool { p == HookPoint(.residPost, block: 0) }
            func visit(_ p: HookPoint, _ value: inout Tensor) throws {
                do { _ = try model.forward(x) } catch { self.error = "\(error)"; throw error }
            }
        }
        let hook = CallsBack(model, x)
        XCTAssertThrowsError(try model.forward(x, hooks: hook))
        XCTAssertTrue(hook.error?.hasPrefix("re-entrant model call") ?? false, hook.error ?? "no error")
        // The lock was released: the model still runs, from this thread and from another.
        XCTAssertEqual(try model.forward(x).shape, [1, c.numClasses])
        final class Box: @unchecked Sendable { var shape: [Int] = [] }   // written before `other` is signalled
        let box = Box()
        let other = DispatchSemaphore(value: 0)
        Thread { box.shape = (try? model.forward(x).shape) ?? []; other.signal() }.start()
        XCTAssertEqual(other.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(box.shape, [1, c.numClasses])
    }

    // MARK: - NaN never wins

    func testNaNNeverRanksFirst() throws {
        let nan = Float.nan
        // Row 0: the label's logit is NaN -> rank C-1. Row 1: another class is NaN -> it
        // does not count above the label. Row 2: all NaN.
        let logits = Tensor([nan, 1, 2, 3,
                             5, nan, 1, 2,
                             nan, nan, nan, nan], shape: [3, 4])
        XCTAssertEqual(try LensMath.ranks(logits, classes: Tensor([0, 0, 2], shape: [3])).scalars, [3, 0, 3])
        XCTAssertEqual(try LensMath.identifiability(logits, classes: Tensor([0, 0, 2], shape: [3])).scalars, [0.25, 1, 0.25])
        // A row holding NaN predicts nothing (HardeningReviewTests.testNaNRowsPredictNothing).
        XCTAssertEqual(LensMath.predictions(logits), [-1, -1, -1])
        let (idx, _) = try LensMath.topk(Tensor([nan, 1, nan, 3, 2], shape: [1, 5]), k: 3)
        XCTAssertEqual(idx.scalars, [3, 4, 1])
        let (all, _) = try LensMath.topk(Tensor((0..<20).map { $0 % 3 == 0 ? nan : Float($0) }, shape: [1, 20]), k: 20)
        XCTAssertEqual(Array(all.scalars.prefix(13)), [19, 17, 16, 14, 13, 11, 10, 8, 7, 5, 4, 2, 1])
        XCTAssertEqual(Array(all.scalars.suffix(7)), [0, 3, 6, 9, 12, 15, 18])
    }

    /// NaN activations: the lens warns once, naming the first block where they appear.
    func testNaNActivationsWarnOnceNamingTheBlock() throws {
        let model = try ViT(path: Self.standard)
        let c = model.config
        var x = [Float](repeating: 0.1, count: 2 * c.inChannels * c.imageSize * c.imageSize)
        x[5] = .nan
        let run = try model.run(Tensor(x, shape: [2, c.inChannels, c.imageSize, c.imageSize]),
                                capture: (0..<c.depth).map { HookPoint(.residPost, block: $0) })
        var said: [String] = []
        let saved = NaNWatch.sink
        NaNWatch.sink = { said.append($0) }
        defer { NaNWatch.sink = saved; NaNWatch.reset() }
        NaNWatch.reset()
        let ranks = try model.lensRanks(run, layers: [.residPost], classes: Tensor(zeros: [2, c.numTokens]))
        _ = try model.lensRanks(run, layers: [.residPost], classes: Tensor(zeros: [2, c.numTokens]))
        XCTAssertEqual(said, ["warning: lens: the activations hold NaN from blocks.0 (block 1 in tables) on; NaN logits rank last and a row holding NaN counts as no prediction (wrong)\n"])
        // Image 0 (a NaN pixel) ranks its NaN label last at every block and token; image 1
        // is untouched by it (batch rows are independent) and ranks as a model alone would.
        let r = ranks[.residPost]!, T = c.numTokens
        let alone = try model.lensRanks(try model.run(Tensor(Array(x[(x.count / 2)...]), shape: [1, c.inChannels, c.imageSize, c.imageSize]),
                                                      capture: (0..<c.depth).map { HookPoint(.residPost, block: $0) }),
                                        layers: [.residPost], classes: Tensor(zeros: [1, T]))[.residPost]!
        for l in 0..<c.depth {
            let row = Array(r.scalars[(l * 2 * T)..<(l * 2 * T + 2 * T)])
            XCTAssertEqual(Array(row.prefix(T)), [Float](repeating: Float(c.numClasses - 1), count: T), "block \(l)")
            XCTAssertEqual(Array(row.suffix(T)), Array(alone.scalars[(l * T)..<(l * T + T)]), "block \(l)")
        }
    }

    func testPermutationTestRefusesEmptyOrNonFiniteSamples() throws {
        XCTAssertThrowsError(try Stats.permutationTest([], [], seed: 0)) { e in
            XCTAssertEqual("\(e)", "permutation_test: both samples need at least one value (got 0 and 0)")
        }
        XCTAssertThrowsError(try Stats.permutationTest([1, 2], [], seed: 0))
        XCTAssertThrowsError(try Stats.permutationTest([1, .nan], [2], seed: 0)) { e in
            XCTAssertTrue("\(e)".contains("every value must be a finite number"), "\(e)")
        }
        XCTAssertGreaterThan(try Stats.permutationTest([1, 2, 3], [1, 2, 3], seed: 0).pValue, 0.3)
    }

    // MARK: - Images

    /// A valid 65535x1 PNG (Pillow opens it) was refused as "Invalid IHDR data".
    func testWidePNGOpens() throws {
        let pixels = (0..<65535 * 3).map { UInt8($0 % 251) }
        let bytes = try encodePNG(pixels: pixels, width: 65535, height: 1, channels: 3)
        let image = try Image(bytes: bytes)
        XCTAssertEqual(image.width, 65535)
        XCTAssertEqual(image.height, 1)
        XCTAssertEqual(image.pixels, pixels)
        XCTAssertThrowsError(try Image(width: Image.maxPixels + 1, height: 1, gray: []))
    }
}
