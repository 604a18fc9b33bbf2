// libFuzzer entry point for every reader of untrusted input; built and run by Scripts/fuzz
// (never part of the SwiftPM package). One binary, the target chosen by VLS_FUZZ_TARGET:
//
//   language     Completeness.check + Interpreter().run (core builtins only), each run under
//                a budget of 200,000 steps (Interrupt.setStepLimit), strings and lists
//                built by one operation capped at 16 MB (Interrupt.maxCollectionBytes), and
//                stopped by a watchdog through the Ctrl-C flag after 250 ms
//   safetensors  SafetensorsFile(path:) on the input, then every tensor materialised
//   config       Checkpoint.load on a folder holding the input as config.json (and, after
//                a NUL byte, preprocessor_config.json) beside a fixture model.safetensors;
//                the first byte picks the timm (even) or Hugging Face (odd) fixture
//   png, jpeg    Image(bytes:)
//   idx          IDXFile(bytes:name:), then its first image or its labels
//   npy          NPY.read(data:path:)
//   part         up to three part files (split at NUL bytes) through PartFile.decode, then
//                PartMerge.merge (partial), the core's readers of the merged statistics
//                (IdentifiabilityMetrics, MemoryStats, RidgeStats, Part.ints/floats) and PartFile.encode
//
// A thrown error is the expected outcome for bad input; only a crash, a sanitizer report,
// a hang or a runaway allocation is a finding.
import Foundation
import VLSCore
import VLSImaging
import VLSLanguage

#if canImport(Glibc)
import Glibc
#endif

/// Where the fixtures live (this file is Fuzz/FuzzTargets.swift).
let fixtures: String = {
    let here = URL(fileURLWithPath: #filePath)
    return here.deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Tests/Fixtures").path
}()

/// A private scratch folder for this process.
let scratch: String = {
    let dir = NSTemporaryDirectory() + "vls-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}()

enum Target: String {
    case language, safetensors, config, png, jpeg, idx, npy, part
}

let target: Target = {
    let name = ProcessInfo.processInfo.environment["VLS_FUZZ_TARGET"] ?? ""
    guard let t = Target(rawValue: name) else {
        fputs("VLS_FUZZ_TARGET must be one of language, safetensors, config, png, jpeg, idx, npy, part (got '\(name)')\n", stderr)
        exit(2)
    }
    return t
}()

// MARK: - Language watchdog

/// Start of the current run in monotonic nanoseconds, 0 when idle.
nonisolated(unsafe) var runStarted: UInt64 = 0
let runBudgetNanos: UInt64 = 250_000_000

func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

let watchdog: Thread = {
    let t = Thread {
        while true {
            usleep(20_000)
            let s = runStarted
            if s != 0, monotonicNanos() &- s > runBudgetNanos { Interrupt.request() }
        }
    }
    t.start()
    return t
}()

func fuzzLanguage(_ data: Data) {
    let source = String(decoding: data, as: UTF8.self)
    _ = Completeness.check(source)
    _ = watchdog
    let interpreter = Interpreter()
    interpreter.output = { _ in }
    Interrupt.clear()
    Interrupt.setStepLimit(200_000)
    Interrupt.maxCollectionBytes = 16 << 20
    runStarted = monotonicNanos()
    _ = interpreter.run(source: source, path: "fuzz.vls")
    runStarted = 0
    Interrupt.clear()
}

// MARK: - Readers

func writeScratch(_ name: String, _ data: Data) -> String {
    let path = (scratch as NSString).appendingPathComponent(name)
    _ = FileManager.default.createFile(atPath: path, contents: data)
    return path
}

func fuzzSafetensors(_ data: Data) {
    let path = writeScratch("input.safetensors", data)
    guard let file = try? SafetensorsFile(path: path) else { return }
    var sum: Float = 0
    for name in file.names {
        if let t = try? file.tensor(name), t.count > 0 { sum += t.scalars.reduce(0, +) }
    }
    _ = sum
}

/// Two checkpoint folders whose model.safetensors link to the fixtures.
let configFolders: [String] = {
    ["standard", "hf"].map { model in
        let dir = (scratch as NSString).appendingPathComponent("ckpt-\(model)")
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let link = (dir as NSString).appendingPathComponent("model.safetensors")
        try? FileManager.default.removeItem(atPath: link)
        try? FileManager.default.createSymbolicLink(
            atPath: link, withDestinationPath: "\(fixtures)/models/\(model)/model.safetensors")
        return dir
    }
}()

func fuzzConfig(_ data: Data) {
    guard let first = data.first else { return }
    let dir = configFolders[Int(first & 1)]
    let rest = data.dropFirst()
    let config: Data
    let preprocessor: Data?
    if let nul = rest.firstIndex(of: 0) {
        config = Data(rest[rest.startIndex..<nul])
        preprocessor = Data(rest[(nul + 1)...])
    } else {
        config = Data(rest)
        preprocessor = nil
    }
    _ = FileManager.default.createFile(atPath: dir + "/config.json", contents: config)
    let pre = dir + "/preprocessor_config.json"
    if let preprocessor {
        _ = FileManager.default.createFile(atPath: pre, contents: preprocessor)
    } else {
        try? FileManager.default.removeItem(atPath: pre)
    }
    guard let (cfg, _) = try? Checkpoint.load(dir) else { return }
    _ = cfg.numPatches
    _ = cfg.labels?.count
}

func fuzzImage(_ data: Data) {
    guard let image = try? Image(bytes: [UInt8](data)) else { return }
    _ = image.width * image.height
}

func fuzzIDX(_ data: Data) {
    guard let idx = try? IDXFile(bytes: [UInt8](data), name: "fuzz.idx") else { return }
    if idx.shape.count == 3 { _ = try? idx.image(0) }
    if idx.shape.count == 1 { _ = try? idx.labels() }
    _ = idx.item(idx.count - 1)
}

func fuzzNPY(_ data: Data) {
    guard let t = try? NPY.read(data: data, path: "fuzz.npy") else { return }
    _ = t.count > 0 ? t.scalars.reduce(0, +) : 0
}

func fuzzPart(_ data: Data) {
    let pieces = data.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false).map { Data($0) }
    var parts: [(name: String, part: Part)] = []
    for (i, d) in pieces.enumerated() {
        guard let p = try? PartFile.decode(d, name: "part\(i)") else { return }
        parts.append(("part\(i)", p))
    }
    for (name, p) in parts {
        _ = try? IdentifiabilityMetrics(part: p, name: name)
        _ = try? MemoryStats(part: p, name: name, hasCls: true)
        _ = try? RidgeStats.fromPart(p, name: name)
    }
    guard let merged = try? PartMerge.merge(parts, partial: true) else { return }
    _ = try? IdentifiabilityMetrics(part: merged, name: "merged")
    _ = try? MemoryStats(part: merged, name: "merged", hasCls: (merged.model.config["class_token"] ?? 0) != 0)
    for (k, s) in merged.statistics.sorted(by: { $0.key < $1.key }) where s.shape.count >= 1 {
        _ = try? merged.ints(k, shape: Array(s.shape.dropFirst()), rows: true, name: "merged")
        _ = try? merged.floats(k, shape: s.shape, name: "merged")
    }
    // what was merged must encode (validated, never a raw encoding error) and read back
    guard let out = try? PartFile.encode(merged, name: "merged") else { fatalError("a merged part failed its own validation") }
    guard (try? PartFile.decode(out, name: "merged")) != nil else { fatalError("a merged part did not read back") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ bytes: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let data = bytes.map { Data(bytes: $0, count: size) } ?? Data()
    switch target {
    case .language: fuzzLanguage(data)
    case .safetensors: fuzzSafetensors(data)
    case .config: fuzzConfig(data)
    case .png, .jpeg: fuzzImage(data)
    case .idx: fuzzIDX(data)
    case .npy: fuzzNPY(data)
    case .part: fuzzPart(data)
    }
    return 0
}
