import Foundation
import XCTest
import VLSCore
import VLSFiles
import VLSImaging
#if canImport(Glibc)
import Glibc
#endif

/// Regression tests of the second adversarial review of the hardening work (issue 15):
/// image decoding memory, configs that contradict the weights, unreadable files and symlink
/// loops, writes through symlinks, NUL and invalid UTF-8 in scripts, long echoed values,
/// option and environment parsing, NaN warnings of every analysis, empty datasets.
/// Whole-binary cases with one expected error line are in Tests/Fixtures/hostile.
final class HardeningReview2Tests: TempFolderTestCase {
    override class var folderPrefix: String { "vls-review2" }


    /// Runs the built vls with `args` in `tmp` (environment changes applied; a nil value
    /// removes the variable); exit status, standard output, standard error and the peak
    /// resident memory of that process alone (wait4's rusage, in bytes).
    func run(_ args: [String], environment changes: [String: String?] = [:], in folder: String? = nil, unprivileged: Bool = false) throws -> (status: Int32, out: String, err: String, maxRSS: Int) {
        var vls = try builtVLS()
        var args = args
        // Permissions do not stop root: run as nobody (setpriv) to see them refused.
        if unprivileged && getuid() == 0 {
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else { throw XCTSkip("running as root without setpriv") }
            args = ["--reuid=65534", "--regid=65534", "--clear-groups", vls] + args
            vls = "/usr/bin/setpriv"
        }
        var env = ProcessInfo.processInfo.environment
        env[MemoryCap.variable] = nil
        env["SWIFT_BACKTRACE"] = "enable=no"
        for (k, v) in changes { env[k] = v }
        let outPath = tmp + "/.stdout-\(UUID().uuidString.prefix(6))", errPath = tmp + "/.stderr-\(UUID().uuidString.prefix(6))"
        defer { unlink(outPath); unlink(errPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let cwd = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(folder ?? tmp)
        defer { FileManager.default.changeCurrentDirectoryPath(cwd) }
        let argv: [UnsafeMutablePointer<CChar>?] = ([vls] + args).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, vls, &actions, nil, argv, envp)
        guard rc == 0 else { throw NSError(domain: "spawn", code: Int(rc)) }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        let exited = (status & 0x7f) == 0
        return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), out, err, usage.ru_maxrss * 1024)
    }

    func write(_ text: String, _ name: String) throws {
        try text.write(toFile: tmp + "/" + name, atomically: false, encoding: .utf8)
    }

    // MARK: - 1. Image decoding memory

    /// A 10000x10000 PNG decoded at about twice the cap: the decoder's buffer and a copy of
    /// it into the image were alive together. The probe now counts the true peak and the
    /// pixels are decoded into the image's own array: a decode's resident memory grows by
    /// about the RGB size, not twice it.
    func testImageDecodePeakIsAboutTheRGBSize() throws {
        let side = 4000, rgb = side * side * 3
        try Image(width: side, height: side, fill: (10, 20, 30)).writePNG(to: tmp + "/big.png")
        try Image(width: 8, height: 8, fill: (10, 20, 30)).writePNG(to: tmp + "/small.png")
        try write("x = image(args[0])\nprint(x.width)\n", "img.vls")
        let small = try run(["run", "img.vls", "small.png"])
        XCTAssertEqual(small.status, 0, small.err)
        let big = try run(["run", "img.vls", "big.png"])
        XCTAssertEqual(big.status, 0, big.err)
        let grown = big.maxRSS - small.maxRSS
        XCTAssertLessThan(Double(grown), 1.3 * Double(rgb), "decoding \(rgb) bytes of RGB grew the process by \(grown) bytes")
        // Under a cap between the RGB size and the peak: refused from the header, naming both.
        let capped = try run(["run", "img.vls", "big.png"], environment: [MemoryCap.variable: "\(rgb + 1000)"])
        XCTAssertEqual(capped.status, 70, capped.err)
        XCTAssertTrue(capped.err.contains("a 4000x4000 image needs ") && capped.err.contains("(\(rgb) of RGB output, the rest the file and the decoder's buffers), more than the limit of \(rgb + 1000) bytes"), capped.err)
    }

    /// libjpeg's own memory (a progressive file's coefficients, as large again as its RGB)
    /// is counted in the probe and bounded by what the cap leaves beside the output.
    func testProgressiveJPEGPeakIsCounted() throws {
        let source = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/images/progressive.jpg")))
        let decoded = try Image(bytes: source)
        XCTAssertGreaterThan(decoded.width, 0)
        // The same file with a 2000x2000 header: RGB 12 MB fits a 16 MB cap, the peak does not.
        var patched = source
        let sof = try XCTUnwrap((0..<(patched.count - 1)).first { patched[$0] == 0xFF && patched[$0 + 1] == 0xC2 })
        patched[sof + 5] = 0x07; patched[sof + 6] = 0xD0; patched[sof + 7] = 0x07; patched[sof + 8] = 0xD0
        try Data(patched).write(to: URL(fileURLWithPath: tmp + "/p.jpg"))
        try write("image(\"p.jpg\")\n", "p.vls")
        let r = try run(["run", "p.vls"], environment: [MemoryCap.variable: "16M"])
        XCTAssertEqual(r.status, 70, r.err)
        XCTAssertTrue(r.err.contains("a 2000x2000 image needs 2") && r.err.contains("(12000000 of RGB output"), r.err)
    }

    // MARK: - 4, 5. Unreadable files say why

    /// An unreadable config.json said "cannot read" with no reason (and images, .npy files,
    /// parts, datasets likewise): every reader now names the file and strerror's reason.
    func testUnreadableFilesSayPermissionDenied() throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: tmp + "/m", withIntermediateDirectories: true)
        try fm.copyItem(atPath: Self.standard + "/model.safetensors", toPath: tmp + "/m/model.safetensors")
        try fm.copyItem(atPath: Self.standard + "/config.json", toPath: tmp + "/m/config.json")
        try fm.copyItem(atPath: Self.fixtures + "/images/small.png", toPath: tmp + "/s.png")
        try fm.copyItem(atPath: Self.standard + "/model.safetensors", toPath: tmp + "/x.safetensors")
        try fm.createDirectory(atPath: tmp + "/d/a", withIntermediateDirectories: true)
        try fm.copyItem(atPath: Self.fixtures + "/images/small.png", toPath: tmp + "/d/a/x.png")
        try fm.createDirectory(atPath: tmp + "/closed/a", withIntermediateDirectories: true)
        try "path,label\n".write(toFile: tmp + "/d/labels.csv", atomically: false, encoding: .utf8)
        try "x = 1\n".write(toFile: tmp + "/mod.vls", atomically: false, encoding: .utf8)
        try "print(1)\n".write(toFile: tmp + "/script.vls", atomically: false, encoding: .utf8)
        for f in ["m/config.json", "s.png", "x.safetensors", "d/labels.csv", "mod.vls", "script.vls"] { chmod(tmp + "/" + f, 0) }
        chmod(tmp + "/closed", 0)
        defer { chmod(tmp + "/closed", 0o755) }
        let cases: [(String, String)] = [
            ("load(\"m\")", "m/config.json: cannot read (Permission denied)"),
            ("image(\"s.png\")", "cannot read image 's.png': Permission denied"),
            ("read_npy(\"s.png\")", "s.png: cannot read (Permission denied)"),
            ("load_part(\"s.png\")", "s.png: cannot read (Permission denied)"),
            ("read_safetensors(\"x.safetensors\")", "x.safetensors: cannot open (Permission denied)"),
            ("dataset(\"d\")", "cannot read labels file 'd/labels.csv': Permission denied"),
            ("dataset(\"closed\")", "cannot read labels file 'closed/labels.csv': Permission denied"),
            ("import \"mod.vls\" as mod", "mod.vls: cannot read (Permission denied)"),
        ]
        for (i, (line, message)) in cases.enumerated() {
            try write(line + "\n", "t\(i).vls")
            let r = try run(["run", "t\(i).vls"], unprivileged: true)
            XCTAssertEqual(r.status, 70, "\(line): \(r.err)")
            XCTAssertTrue(r.err.split(separator: "\n").first?.contains(message) == true, "\(line): '\(r.err)' does not contain '\(message)'")
        }
        let r = try run(["run", "script.vls"], unprivileged: true)
        XCTAssertEqual(r.status, 74, r.err)
        XCTAssertEqual(r.err, "vls: script.vls: cannot read (Permission denied)\n")
    }

    // MARK: - 6. Writing through a symlink

    /// Writing onto a symlinked out.npy replaced the link with a file. A write now follows
    /// the link, as cp does: the target is replaced atomically in its own folder (its mode
    /// kept) and the link stays; a dangling link or one to a folder is refused.
    func testWritesFollowSymlinksAsCpDoes() throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: tmp + "/store", withIntermediateDirectories: true)
        try "old".write(toFile: tmp + "/store/real.npy", atomically: false, encoding: .utf8)
        chmod(tmp + "/store/real.npy", 0o640)
        XCTAssertEqual(symlink("store/real.npy", tmp + "/out.npy"), 0)
        try write("write_npy(\"out.npy\", tensor([1.0, 2.0]))\nprint(read_npy(\"out.npy\"))\n", "w.vls")
        let r = try run(["run", "w.vls"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out, "tensor([1., 2.], shape [2])\n")
        XCTAssertEqual(try fm.destinationOfSymbolicLink(atPath: tmp + "/out.npy"), "store/real.npy", "the link stays a link")
        var st = stat()
        XCTAssertEqual(lstat(tmp + "/store/real.npy", &st), 0)
        XCTAssertEqual(st.st_mode & 0o7777, 0o640, "the target keeps its mode")
        XCTAssertEqual(try NPY.read(tmp + "/store/real.npy").shape, [2])
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: tmp + "/store"), ["real.npy"], "no temporary file left")
        // Every writer goes through Files.writeAtomically: a chain of links, a table, bytes.
        XCTAssertEqual(symlink("out.npy", tmp + "/chain.npy"), 0)
        try Files.writeAtomically([7, 7], to: tmp + "/chain.npy")
        XCTAssertEqual(try Files.readFile(tmp + "/store/real.npy"), [7, 7])
        XCTAssertEqual(try fm.destinationOfSymbolicLink(atPath: tmp + "/chain.npy"), "out.npy")
        // A dangling link and a link to a folder are refused, naming the path; nothing is created.
        XCTAssertEqual(symlink("nowhere/x.npy", tmp + "/dangling.npy"), 0)
        XCTAssertThrowsError(try Files.writeAtomically([1], to: tmp + "/dangling.npy")) { e in
            XCTAssertEqual("\(e)", "\(tmp)/dangling.npy: cannot write (a dangling symlink to 'nowhere/x.npy'; vls writes through a symlink only to an existing file, as cp does)")
        }
        XCTAssertFalse(fm.fileExists(atPath: tmp + "/nowhere"))
        XCTAssertEqual(symlink("store", tmp + "/folder.npy"), 0)
        XCTAssertThrowsError(try Files.writeAtomically([1], to: tmp + "/folder.npy")) { e in
            XCTAssertEqual("\(e)", "\(tmp)/folder.npy: cannot write (it is a folder)")
        }
        // A link loop says so.
        XCTAssertEqual(symlink("loop2", tmp + "/loop1"), 0)
        XCTAssertEqual(symlink("loop1", tmp + "/loop2"), 0)
        XCTAssertThrowsError(try Files.writeAtomically([1], to: tmp + "/loop1")) { e in
            XCTAssertEqual("\(e)", "\(tmp)/loop1: cannot write through a symlink loop (too many levels of symbolic links)")
        }
    }

    // MARK: - 3. Numbers out of range in configs

    /// `rescale_factor: 1e999` said "not a valid JSON object": the error now names the file,
    /// the key and the number, and says it is out of range.
    func testOutOfRangeConfigNumbersNameTheKey() throws {
        func folder(_ name: String, source: String) throws -> String {
            let f = tmp + "/" + name
            try FileManager.default.createDirectory(atPath: f, withIntermediateDirectories: true)
            for file in ["model.safetensors", "config.json", "preprocessor_config.json"] where FileManager.default.fileExists(atPath: source + "/" + file) {
                XCTAssertEqual(symlink(source + "/" + file, f + "/" + file), 0)
            }
            return f
        }
        let hf = try folder("hf", source: Self.fixtures + "/models/hf")
        unlink(hf + "/preprocessor_config.json")
        let cases: [(String, String, String)] = [
            ("preprocessor_config.json", #"{"do_resize": true, "rescale_factor": 1e999}"#, "'rescale_factor' is 1e999, a number out of range (beyond the ±1.8e308 of a double)"),
            ("preprocessor_config.json", #"{"image_mean": [0.5, -2E+400, 0.5]}"#, "'image_mean[1]' is -2E+400, a number out of range"),
        ]
        for (file, text, message) in cases {
            try text.write(toFile: hf + "/" + file, atomically: false, encoding: .utf8)
            XCTAssertThrowsError(try Checkpoint.load(hf), text) { e in
                XCTAssertEqual("\(e)", "\(hf)/\(file): \(message)" + (message.hasSuffix(")") ? "" : " (beyond the ±1.8e308 of a double)"))
            }
        }
        let timm = try folder("timm", source: Self.standard)
        unlink(timm + "/config.json")
        var config = try String(contentsOfFile: Self.standard + "/config.json", encoding: .utf8)
        config = config.replacingOccurrences(of: "\"crop_pct\": 0.9", with: "\"crop_pct\": 9e9999")
        try config.write(toFile: timm + "/config.json", atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try Checkpoint.load(timm)) { e in
            XCTAssertEqual("\(e)", "\(timm)/config.json: 'pretrained_cfg.crop_pct' is 9e9999, a number out of range (beyond the ±1.8e308 of a double)")
        }
    }

    // MARK: - 2. Config values the weights contradict

    /// A folder of `model` with config.json (and preprocessor_config.json) changed by `edit`.
    func changedModel(_ model: String, _ edit: (inout [String: Any], inout [String: Any]) -> Void) throws -> String {
        let source = Self.fixtures + "/models/" + model
        let f = tmp + "/m-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: f, withIntermediateDirectories: true)
        XCTAssertEqual(symlink(source + "/model.safetensors", f + "/model.safetensors"), 0)
        func json(_ file: String) throws -> [String: Any] {
            guard FileManager.default.fileExists(atPath: source + "/" + file) else { return [:] }
            return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source + "/" + file))) as? [String: Any])
        }
        var config = try json("config.json"), pre = try json("preprocessor_config.json")
        edit(&config, &pre)
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: f + "/config.json"))
        if !pre.isEmpty { try JSONSerialization.data(withJSONObject: pre).write(to: URL(fileURLWithPath: f + "/preprocessor_config.json")) }
        return f
    }

    /// Values the weights decide (num_classes, in_chans, mlp_ratio, input_size, HF
    /// num_labels and size) were ignored without a word when they disagreed with the
    /// weights; each disagreement is now a note (printed on load) naming the key, the
    /// config's value and what the weights say, and what vls uses.
    func testContradictedConfigValuesAreNoted() throws {
        func args(_ c: inout [String: Any], _ k: String, _ v: Any) { var a = c["model_args"] as! [String: Any]; a[k] = v; c["model_args"] = a }
        func cfg(_ c: inout [String: Any], _ k: String, _ v: Any) { var a = c["pretrained_cfg"] as! [String: Any]; a[k] = v; c["pretrained_cfg"] = a }
        let cases: [(String, (inout [String: Any], inout [String: Any]) -> Void, String)] = [
            ("standard", { c, _ in c["num_classes"] = 5 }, "config.json: 'num_classes' is 5 but 'head.weight' has 10 rows: 10 classes used"),
            ("standard", { c, _ in args(&c, "num_classes", 7) }, "config.json: 'model_args.num_classes' is 7 but 'head.weight' has 10 rows: 10 classes used"),
            ("standard", { c, _ in cfg(&c, "num_classes", 1000) }, "config.json: 'pretrained_cfg.num_classes' is 1000 but 'head.weight' has 10 rows: 10 classes used"),
            ("standard", { c, _ in args(&c, "in_chans", 1) }, "config.json: 'model_args.in_chans' is 1 but 'patch_embed.proj.weight' has 3 input channels: 3 used"),
            ("standard", { c, _ in args(&c, "mlp_ratio", 2) }, "config.json: 'model_args.mlp_ratio' is 2 (an MLP width of 64) but 'blocks.0.mlp.fc1.weight' has 128 rows: 128 used"),
            ("standard", { c, _ in cfg(&c, "input_size", [3, 224, 224]) }, "config.json: 'pretrained_cfg.input_size' is [3, 224, 224] but the model's image size is 32 (the grid of 'pos_embed'): images are preprocessed to 32x32"),
            ("standard", { c, _ in cfg(&c, "input_size", [1, 32, 32]) }, "config.json: 'pretrained_cfg.input_size' says 1 channel but 'patch_embed.proj.weight' has 3 input channels: 3 used"),
            ("hf", { c, _ in c["num_labels"] = 5 }, "config.json: 'num_labels' is 5 but 'classifier.weight' has 10 rows: 10 classes used"),
            ("hf", { _, p in p["size"] = ["height": 224, "width": 224] }, "preprocessor_config.json: 'size' is 224x224 but the model's image size is 32 (the grid of 'vit.embeddings.position_embeddings'): images are preprocessed to 32x32"),
            ("hf", { _, p in p["size"] = 224 }, "preprocessor_config.json: 'size' is 224x224 but the model's image size is 32"),
        ]
        for (model, edit, note) in cases {
            let f = try changedModel(model, edit)
            let (c, _) = try Checkpoint.load(f)
            XCTAssertTrue(c.notes.contains { $0.hasPrefix(note) }, "\(note)\nnot among the notes \(c.notes)")
            XCTAssertEqual(c.numClasses, 10)
        }
        // Agreeing values give no note; the note reaches stderr on load.
        let same = try changedModel("standard") { c, _ in c["num_classes"] = 10 }
        XCTAssertFalse(try Checkpoint.load(same).0.notes.contains { $0.contains("num_classes") })
        let f = try changedModel("standard") { c, _ in c["num_classes"] = 5 }
        try write("m = load(\"\(f)\")\n", "n.vls")
        let r = try run(["run", "n.vls"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("note: \(f): config.json: 'num_classes' is 5 but 'head.weight' has 10 rows: 10 classes used"), r.err)
    }

    // MARK: - 8. Long values echoed in errors

    /// `int("9"*100000)` printed a 100 KB error: echoed values are excerpts (python3 says
    /// "Exceeds the limit (4300 digits) for integer string conversion"), and no line of an
    /// error from a native is longer than a few KB, whatever it echoes (a path, a name).
    func testLongValuesInErrorsAreExcerpts() throws {
        let cases: [(String, String)] = [
            (#"int("9" * 100000)"#, #"int(): "9999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"... (100000 characters) has more digits than a 64-bit integer holds"#),
            (#"int("x" * 100000)"#, #"invalid literal for int() with base 10: "xxxxxxxxxx"#),
            (#"int("f" * 100000, base: 16)"#, "has more digits than a 64-bit integer holds"),
            (#"float("x" * 100000)"#, "could not convert string to float: \"xxxxx"),
            (#"{"a": 1}["k" * 100000]"#, "not found in dict"),
            (#"[1].index("z" * 100000)"#, "is not in list"),
            (#"[].remove("z" * 100000)"#, "list.remove(x): \"zzz"),
            (#"format(1, "x" * 100000)"#, "invalid format spec"),
            (#"load("a" * 100000)"#, "aaaa"),
            (#"image("a" * 100000)"#, "cannot read image 'aaaa"),
            (#"read_npy("a" * 100000)"#, "aaaa"),
        ]
        for (i, (line, fragment)) in cases.enumerated() {
            try write(line + "\n", "long\(i).vls")
            let r = try run(["run", "long\(i).vls"])
            XCTAssertEqual(r.status, 70, line)
            XCTAssertLessThan(r.err.utf8.count, 6000, "\(line): \(r.err.utf8.count) bytes of error")
            XCTAssertTrue(r.err.contains(fragment), "\(line): \(r.err.prefix(400))")
        }
        // error() and assert() print the script's own message whole.
        try write("error(\"e\" * 10000)\n", "own.vls")
        let own = try run(["run", "own.vls"])
        XCTAssertTrue(own.err.contains(String(repeating: "e", count: 10000)), "error() message cut")
    }

    // MARK: - 9, 10. Options and environment

    /// `VLS_MAX_TENSOR_BYTES=` (set, empty) stopped vls at start-up: empty is unset, the
    /// default cap; blanks likewise. `--threads -1` said "Missing value": it says the value
    /// must be a positive integer (Tests/Fixtures/hostile/threads-*).
    func testEmptyCapVariableIsUnset() throws {
        let v = MemoryCap.variable
        XCTAssertNil(MemoryCap.problem([v: ""], physical: 1 << 30))
        XCTAssertNil(MemoryCap.problem([v: "  "], physical: 1 << 30))
        XCTAssertEqual(MemoryCap.defaultBytes(environment: [v: ""]), MemoryCap.defaultBytes(environment: [:]))
        XCTAssertNotNil(MemoryCap.problem([v: "x"], physical: 1 << 30))
        try write("print(1)\n", "e.vls")
        let r = try run(["run", "e.vls"], environment: [v: "", "VLS_THREADS": ""])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out, "1\n")
        for bad in ["-1", "0", "x"] {
            let t = try run(["run", "--threads", bad, "e.vls"])
            XCTAssertEqual(t.status, 64, bad)
            XCTAssertTrue(t.err.hasPrefix("Error: --threads must be a positive integer, at most this machine's CPU count (\(Threads.maximum)); got '\(bad)'"), t.err)
        }
        // Script arguments that look like options are the script's.
        try write("print(args)\n", "a.vls")
        let a = try run(["run", "--threads", "1", "a.vls", "--threads", "-1"])
        XCTAssertEqual(a.status, 0, a.err)
        XCTAssertEqual(a.out, "[\"--threads\", \"-1\"]\n")
    }

    // MARK: - 11. NaN warnings of every analysis

    /// A copy of the standard model (config included) with every float of `tensor` NaN.
    func nanModelFolder(_ tensor: String) throws -> String {
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
        return folder
    }

    /// Saliency, probes (training statistics, evaluation, scores) and compare_random ran
    /// over NaN activations without a word: each warns once on stderr naming the first
    /// block where NaN appears (a NaN fc2 weight in blocks.1: its MLP output, so the
    /// residual stream from blocks.1 on).
    func testEveryAnalysisWarnsOnNaN() throws {
        let m = try nanModelFolder("blocks.1.mlp.fc2.weight")
        let prelude = """
            m = load("\(m)")
            x = rand(2, 3, 32, 32)
            data = dataset(images: x, labels: tensor([0, 1]))
            r = m.run(x)

            """
        let cases: [(String, String)] = [
            ("saliency(r, method: \"lens\")", "warning: saliency: "),
            ("saliency(r, method: \"chefer\")", "warning: saliency: "),
            ("saliency(r, method: \"rollout\")", "warning: saliency: "),
            ("saliency(r, method: \"attention\")", "warning: saliency: "),
            ("saliency(r, method: \"grad_input\")", "warning: saliency: "),
            ("p = probes(m, data)", "warning: probes: "),
            ("p = probes(m, data)\np.evaluate(data)", "warning: probes.evaluate: "),
            ("p = probes(m, data)\np.scores(m.run(x, capture: [\"resid_post\"])[\"resid_post\"])", "warning: probes.scores: "),
            ("identifiability_metrics(m, data)\ncompare_random(m, data)", "warning: compare_random: "),
        ]
        for (i, (code, warning)) in cases.enumerated() {
            try write(prelude + code + "\n", "nan\(i).vls")
            let r = try run(["run", "nan\(i).vls"])
            XCTAssertEqual(r.status, 0, "\(code): \(r.err)")
            let lines = r.err.split(separator: "\n").filter { $0.hasPrefix(warning) }
            XCTAssertEqual(lines.count, 1, "\(code): one warning expected in \(r.err)")
            XCTAssertTrue(lines.first?.contains("blocks.1 (block 2 in tables)") == true, "\(code): \(r.err)")
        }
        // compare_random warns under its own name after identifiability_metrics warned.
        let both = try run(["run", "nan\(cases.count - 1).vls"])
        XCTAssertTrue(both.err.contains("warning: identifiability_metrics: "), both.err)
    }

    /// Memories on NaN blocks printed agreement numbers under the warning. A token whose
    /// keys hold NaN has no top-k memories and one whose sublayer output holds NaN has no
    /// top-1 class: neither is counted, so a block where every token is NaN shows nan
    /// (agreement) and - (compositionality), never numbers that look valid.
    func testMemoriesOnNaNBlocksShowNaN() throws {
        let m = try ViT(path: try nanModelFolder("blocks.1.mlp.fc2.weight"))
        let said = NaNWatch.sink
        NaNWatch.sink = { _ in }
        defer { NaNWatch.sink = said; NaNWatch.reset() }
        let c = m.config
        let x = Tensor((0..<(2 * 3 * c.imageSize * c.imageSize)).map { Float($0 % 17) / 17 }, shape: [2, 3, c.imageSize, c.imageSize])
        let memories = try MemoryCollector(model: m, seed: 0)
        try memories.add(images: x, labels: [0, 1])
        let s = memories.stats
        // blocks.0: finite everywhere; blocks.1: MLP keys finite, MLP output NaN; blocks.2: all NaN.
        XCTAssertGreaterThan(s.tokens[0][0].reduce(0, +), 0)
        XCTAssertGreaterThan(s.tokens[0][1].reduce(0, +), 0, "blocks.1's MLP keys are finite")
        XCTAssertNil(s.compositionality(.mlp, block: 1), "blocks.1's MLP output is NaN")
        for kd in 0..<2 { XCTAssertEqual(s.tokens[kd][2].reduce(0, +), 0, "blocks.2's keys are NaN") }
        XCTAssertNil(s.compositionality(.mlp, block: 2))
        XCTAssertNil(s.compositionality(.attn, block: 2))
        XCTAssertNotNil(s.compositionality(.attn, block: 0))
        // The printed table: nan agreement, no composition, from block 3 (blocks.2) on.
        try write("m = load(\"\(tmp)/nan-blocks.1.mlp.fc2.weight\")\nprint(memories(m, dataset(images: rand(2, 3, 32, 32), labels: tensor([0, 1])), k: 2, shuffles: 10))\n", "mem.vls")
        let r = try run(["run", "mem.vls"])
        XCTAssertEqual(r.status, 0, r.err)
        let row3 = try XCTUnwrap(r.out.split(separator: "\n").first { $0.hasPrefix("    3 ") })
        let cells = row3.split(separator: " ")
        XCTAssertEqual(cells[1], "nan", String(row3))
        XCTAssertEqual(cells[2], "nan", String(row3))
        XCTAssertTrue(r.err.contains("warning: memories: "), r.err)
    }

    // MARK: - 12. Analyses over no images

    /// identifiability_metrics over a 0-image selection printed a table of 0.0000 while
    /// compare_random printed nan: every dataset analysis refuses an empty selection with
    /// one error ("no images"); a shard that happens to hold no image of a non-empty
    /// selection still runs (its part merges), and its metrics read nan (undefined), not 0.
    func testAnalysesRefuseNoImages() throws {
        let prelude = "m = load(\"\(Self.standard)\")\ndata = dataset(images: rand(4, 3, 32, 32), labels: tensor([0, 1, 2, 3])).take(0)\n"
        let calls = ["identifiability_metrics(m, data)", "compare_random(m, data)", "memories(m, data)", "perturbation_test(m, data)",
                     "probes(m, data)", "probes(m, dataset(images: rand(2, 3, 32, 32), labels: tensor([0, 1]))).evaluate(data)"]
        for (i, call) in calls.enumerated() {
            try write(prelude + call + "\n", "empty\(i).vls")
            let r = try run(["run", "empty\(i).vls"])
            XCTAssertEqual(r.status, 70, "\(call): \(r.err)")
            // the error names the driver (a Stdlib function) and the traceback the script's call
            // (p.evaluate is a member that calls the Stdlib: its traceback ends at 'evaluate')
            if !call.contains(".evaluate(") { XCTAssertTrue(r.err.contains("empty\(i).vls:3:"), "\(call): \(r.err)") }
            XCTAssertTrue(r.err.split(separator: "\n").first?.contains("no images: the selection take(0) of dataset tensors (4 images) is empty; an analysis over no images has no rates") == true, "\(call): \(r.err)")
            let driver = call.hasPrefix("probes(m, dataset") ? "probes.evaluate" : String(call.prefix { $0 != "(" })
            XCTAssertTrue(r.err.contains("error: \(driver): no images"), "\(call): \(r.err)")
        }
        // A shard with no image of a 1-image selection (shard 2/2) runs; its rates are nan.
        try write("m = load(\"\(Self.standard)\")\ndata = dataset(images: rand(1, 3, 32, 32), labels: tensor([0]), sharded: true)\nr = identifiability_metrics(m, data)\nprint(r.images)\nprint(r.m1)\nprint(r.accuracy)\nr.save(\"part.json\")\n", "shard.vls")
        let shard = try run(["run", "--shard", "2/2", "shard.vls"])
        XCTAssertEqual(shard.status, 0, shard.err)
        XCTAssertEqual(shard.out, "0\nnan\nnan\n")
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp + "/part.json"))
    }
}
