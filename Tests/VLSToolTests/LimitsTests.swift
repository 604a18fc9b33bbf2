import Foundation
import XCTest
import VLSCore

/// The memory cap (`Limits.maxTensorBytes`, `VLS_MAX_TENSOR_BYTES`): tensors whose shape
/// comes from a script are refused before allocating, with the operation and the shape
/// in the message; sizes that cannot be counted are errors, not traps.
final class LimitsTests: XCTestCase {
    var savedCap = 0

    override func setUp() {
        savedCap = Limits.maxTensorBytes
        Limits.maxTensorBytes = 1 << 20   // 1 MiB: 262144 floats
    }

    override func tearDown() {
        Limits.maxTensorBytes = savedCap
    }

    func error(_ source: String) -> String? {
        BuiltinCaseTests.run(source, path: "limits.vls").error
    }

    func expectError(_ source: String, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let e = error(source) else { return XCTFail("no error from: \(source)", file: file, line: line) }
        XCTAssertTrue(e.contains(fragment), "error was: \(e)", file: file, line: line)
    }

    func testConstructorsRefuseTensorsOverTheCap() {
        expectError("zeros(1024, 1024)", "zeros: a tensor of shape [1024, 1024] needs 4.0 MiB, more than the limit of 1.0 MiB (set VLS_MAX_TENSOR_BYTES")
        expectError("ones([512, 1024])", "ones: a tensor of shape [512, 1024] needs 2.0 MiB")
        expectError("randn(300000)", "randn: a tensor of shape [300000]")
        expectError("randn(300000, seed: 1)", "randn: a tensor of shape [300000]")
        expectError("arange(1000000)", "arange: a tensor of shape [1000000]")
        expectError("zeros(-1, 3)", "zeros: negative dimension in shape [-1, 3]")
        expectError("zeros(4611686018427387904, 4)", "zeros: a tensor of shape [4611686018427387904, 4] has more elements than can be counted")
        XCTAssertNil(error("x = zeros(256, 256)\ny = ones(256, 256)\nz = randn(65536)\nw = arange(65536)"))
    }

    func testArangeOfAnEnormousOrNonFiniteRange() {
        expectError("arange(1e300)", "arange: a tensor of shape")
        expectError("arange(0, 1e300, 1e-300)", "arange: 0.0 to 1e+300 by 1e-300 is not a finite range")
        expectError("arange(0, 1e300, 0.5)", "arange: a tensor of shape")
        expectError("arange(float(\"inf\"))", "arange: 0.0 to inf by 1.0 is not a finite range")
        expectError("arange(float(\"nan\"))", "not a finite range")
    }

    func testJoiningChecksTheResult() {
        expectError("t = zeros(256, 256)\nstack([t, t, t, t, t])", "stack: a tensor of shape [5, 256, 256]")
        expectError("t = zeros(256, 256)\nconcat([t, t, t, t, t])", "concatenate: a tensor of shape [1280, 256]")
        XCTAssertNil(error("t = zeros(128, 128)\nstack([t, t])\nconcat([t, t], axis: 1)"))
    }

    func testBroadcastingAndMatmulCheckTheirResult() {
        expectError("zeros(1024, 1) + zeros(1, 1024)", "[1024, 1] + [1, 1024]: a tensor of shape [1024, 1024] needs 4.0 MiB")
        expectError("zeros(1024, 1) @ zeros(1, 1024)", "matmul [1024, 1] @ [1, 1024]: a tensor of shape [1024, 1024]")
        XCTAssertNil(error("x = zeros(256, 1) * zeros(1, 256)\ny = zeros(256, 1) @ zeros(1, 256)"))
    }

    /// The last constructors sized by input without the cap: a list of images through a
    /// model's pipeline, the lens over a run.
    func testModelAllocationsSizedByInputAreCapped() {
        let m = "m = load(\"\(BuiltinCaseTests.root)/Tests/Fixtures/models/standard\")\n"
        let img = "img = image(\"\(BuiltinCaseTests.root)/Tests/Fixtures/images/base.png\")\n"
        // 100 images of [3, 32, 32] floats: 1.2 MiB.
        expectError(m + img + "m.preprocess([img] * 100)", "model.preprocess: a tensor of shape [100, 3, 32, 32] needs 1.2 MiB, more than the limit of 1.0 MiB")
        XCTAssertNil(error(m + img + "m.preprocess([img] * 20)"))
    }

    func testReshapeToUncountableShapesIsAnError() {
        expectError("zeros(4).reshape(4611686018427387904, 4611686018427387904)", "cannot reshape tensor of shape [4]")
        expectError("zeros(4).reshape(-1, 4611686018427387904, 4)", "cannot reshape tensor of shape [4]")
        expectError("zeros(0).reshape(-1, 0)", "cannot reshape tensor of shape [0]")
        XCTAssertNil(error("zeros(4).reshape(-1, 2)"))
    }

    func testCoreInitialisersAndParsing() throws {
        XCTAssertThrowsError(try Tensor(zeros: [1 << 20], for: "test")) { e in
            XCTAssertTrue("\(e)".hasPrefix("test: a tensor of shape [1048576] needs 4.0 MiB"), "\(e)")
        }
        XCTAssertEqual(try Tensor(uninitialized: [2, 3], for: "test").shape, [2, 3])
        XCTAssertEqual(Limits.parseBytes("123"), 123)
        XCTAssertEqual(Limits.parseBytes("64k"), 64 << 10)
        XCTAssertEqual(Limits.parseBytes("512M"), 512 << 20)
        XCTAssertEqual(Limits.parseBytes("8GB"), 8 << 30)
        XCTAssertNil(Limits.parseBytes("lots"))
        XCTAssertNil(Limits.parseBytes("99999999999T"))
        XCTAssertEqual(Limits.defaultMaxTensorBytes(environment: ["VLS_MAX_TENSOR_BYTES": "2G"]), 2 << 30)
        let half = Int(clamping: ProcessInfo.processInfo.physicalMemory / 2)
        XCTAssertEqual(Limits.defaultMaxTensorBytes(environment: [:]), half)
        XCTAssertEqual(Limits.defaultMaxTensorBytes(environment: ["VLS_MAX_TENSOR_BYTES": "junk"]), half)
    }

    /// `VLS_MAX_TENSOR_BYTES=1GiB` (or `1.5G`, `1e9`) used to fall back to the default
    /// silently; now they parse, and what does not parse is reported (the tool refuses to start).
    func testTensorCapVariableSpellings() {
        XCTAssertEqual(Limits.parseBytes("1GiB"), 1 << 30)
        XCTAssertEqual(Limits.parseBytes("1.5G"), 3 << 29)
        XCTAssertEqual(Limits.parseBytes("1e9"), 1_000_000_000)
        XCTAssertEqual(Limits.parseBytes("2.5e3K"), 2_560_000)
        XCTAssertEqual(Limits.parseBytes(" 64 kib "), 64 << 10)
        for bad in ["abc", "-1", "-1G", "1.5X", "GiB", "1iB", "nan", "inf", "1e30", ""] {
            XCTAssertNil(Limits.parseBytes(bad), bad)
        }
        XCTAssertEqual(Limits.defaultMaxTensorBytes(environment: ["VLS_MAX_TENSOR_BYTES": "1GiB"]), 1 << 30)
        XCTAssertNil(Limits.environmentProblem([:]))
        XCTAssertNil(Limits.environmentProblem(["VLS_MAX_TENSOR_BYTES": "1e9"]))
        XCTAssertEqual(Limits.environmentProblem(["VLS_MAX_TENSOR_BYTES": "abc"]),
                       "VLS_MAX_TENSOR_BYTES='abc' is not a size (examples: 1073741824, 1e9, 512M, 1.5G, 1GiB)")
    }

    func testModelInputIsCheckedBeforeTheForwardPass() throws {
        let path = BuiltinCaseTests.root + "/Tests/Fixtures/models/standard"
        let model = try ViT(path: path)
        let c = model.config
        Limits.maxTensorBytes = 64 << 20
        let batch = (64 << 20) / (4 * c.heads * c.numTokens * c.numTokens) + 1
        // A strided view of one image: the input costs nothing, the pass would.
        let one = Tensor(zeros: [1, c.inChannels, c.imageSize, c.imageSize])
        let many = Tensor(storage: one.storage, shape: [batch, c.inChannels, c.imageSize, c.imageSize],
                          strides: [0] + Array(one.strides.dropFirst()))
        XCTAssertThrowsError(try model.forward(many)) { e in
            XCTAssertTrue("\(e)".hasPrefix("forward (attention scores): a tensor of shape [\(batch), \(c.heads), \(c.numTokens), \(c.numTokens)]"), "\(e)")
        }
        XCTAssertEqual(try model.forward(one).shape, [1, c.numClasses])
    }
}
