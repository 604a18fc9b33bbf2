import Foundation
import XCTest
import VLSCore
@testable import VLSBuiltins
import VLSLanguage

/// Issue 17 (the adversarial review of the numpy-like tensors): each defect found, checked
/// against numpy 2.x's behaviour (the expected values below are what numpy 2.4 prints for
/// the same program, noted beside each).
extension TensorOpsTests {
    /// Runs a program with the builtins; (printed text, error text or nil).
    func runVLS(_ source: String) -> (String, String?) {
        let interp = Interpreter()
        var out = ""
        interp.output = { out += $0 }
        Builtins.install(into: interp, options: SessionOptions(threads: 1, seed: 0, scriptArgs: []))
        switch interp.run(source: source, path: "<review>") {
        case .ok: return (out, nil)
        case .syntaxErrors(let d): return (out, d.map(\.message).joined(separator: "; "))
        case .runtimeError(let d): return (out, d.message)
        }
    }

    func assertError(_ source: String, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        let (_, err) = runVLS(source)
        guard let err else { return XCTFail("`\(source)` ran; an error naming '\(fragment)' was expected", file: file, line: line) }
        XCTAssertTrue(err.contains(fragment), "`\(source)`: error \(err) does not name '\(fragment)'", file: file, line: line)
    }

    func assertPrints(_ source: String, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        let (out, err) = runVLS(source)
        XCTAssertNil(err, "`\(source)` failed", file: file, line: line)
        XCTAssertEqual(out.trimmingCharacters(in: .whitespacesAndNewlines), expected, "`\(source)`", file: file, line: line)
    }

    /// Finding 1: NaN, inf, fractions and values beyond float32's exact integers written into
    /// an int64 tensor are errors at the write (numpy: "cannot convert float NaN to
    /// integer"), so no later read traps; into a bool tensor numpy casts (non-zero is True).
    func testReviewWritesIntoIntegerAndBoolTensorsCast() {
        let i = "i = tensor([2.0, 1.0]).argsort()\n"
        assertError(i + "i[0] = float(\"nan\")", "cannot convert float NaN to integer")
        assertError(i + "i[:] = tensor([float(\"inf\"), 1.0])", "cannot convert float inf to integer")
        assertError(i + "i[0] = 123456789", "123456789")
        assertError(i + "i[0] = 3e38", "2^24")
        assertError(i + "i[0] = 2.5", "2.5 is not an integer")
        // np.argsort([2., 1.]) then i[0] = 7: [7, 0]
        assertPrints(i + "i[0] = 7\nprint(i.tolist(), i[0], i.dtype)", "[7, 0] 7 int64")
        // m = np.array([1., 0., 2.]) > .5; m[1] = 2.5; m[0] = 0; m[2] = np.nan -> [False, True, True]
        assertPrints("m = tensor([1.0, 0.0, 2.0]) > 0.5\nm[1] = 2.5\nm[0] = 0\nm[2] = float(\"nan\")\nprint(m.tolist(), m.sum())", "[false, true, true] 2")
    }

    /// Finding 2: a slice step whose product with a stride overflows selects what numpy
    /// does (one element per axis when the step passes the length), never a trap.
    func testReviewHugeSliceStepsSelectOneElement() {
        let t = "t = arange(6).reshape(2, 3)\n"
        // np.arange(6).reshape(2, 3)[::2**62], [::-2**62], [0:1:2**62], [:, ::2**62], [:, ::-2**62]
        assertPrints(t + "print(t[::2**62].tolist(), t[::-2**62].tolist(), t[0:1:2**62].tolist())", "[[0.0, 1.0, 2.0]] [[3.0, 4.0, 5.0]] [[0.0, 1.0, 2.0]]")
        assertPrints(t + "print(t[:, ::2**62].tolist(), t[:, ::-2**62].tolist(), t[[1], ::2**62].tolist())", "[[0.0], [3.0]] [[2.0], [5.0]] [[3.0]]")
        // numpy: t[::2**62] = 7 writes the first row only.
        assertPrints(t + "t[::2**62] = 7\nprint(t.tolist())", "[[7.0, 7.0, 7.0], [3.0, 4.0, 5.0]]")
        assertPrints("print(arange(0)[::2**62].shape, arange(5)[::9223372036854775807].tolist(), arange(5)[::-9223372036854775807].tolist())", "[0] [0.0] [4.0]")
    }

    /// Finding 3: range slicing with huge steps: Python's elements, never a trap.
    func testReviewRangeSlicingDoesNotOverflow() {
        // python3: list(range(0, 9, 3)[::2**62]) == [0]; list(range(0, 10, 2**62)[::2]) == [0]
        assertPrints("print(list(range(0, 9, 3)[::2**62]), list(range(0, 10, 2**62)[::2]), list(range(10)[::-2**62]))", "[0] [0] [9]")
        // python3: list(range(-2**62, 2**62, 2**62)[::-1]) == [0, -4611686018427387904]
        assertPrints("print(list(range(-2**62, 2**62, 2**62)[::-1]), len(range(-2**62, 2**62, 2**62)))", "[0, -4611686018427387904] 2")
        assertPrints("print([1, 2, 3][1::2**62], [1, 2, 3][::-9223372036854775807])", "[2] [3]")
    }

    /// Finding 4: in-place operators follow numpy's same_kind casting: an int64 tensor
    /// refuses /= and float operands, a bool tensor refuses arithmetic with numbers.
    func testReviewInPlaceCastingIsSameKind() {
        let i = "i = tensor([3.0, 1.0, 2.0]).argsort()\n"
        assertError(i + "i /= 2", "cannot cast ufunc 'divide' output from float64 to int64")
        assertError(i + "i += 0.5", "cannot cast ufunc 'add' output from float64 to int64")
        assertError(i + "i *= 1.5", "with a float64 operand")
        assertError(i + "i *= tensor([1.0, 1.0, 1.0])", "float32 operand")
        let m = "m = tensor([1.0, 0.0]) > 0.5\n"
        assertError(m + "m += 1", "cannot cast ufunc 'add' output from int64 to bool")
        assertError(m + "m *= 2", "cannot cast ufunc 'multiply' output from int64 to bool")
        // numpy: i = np.argsort([3., 1., 2.]); i += 1; i *= 2 -> [4, 6, 2]
        assertPrints(i + "i += 1\ni *= 2\ni -= tensor([1.0]) > 0\nprint(i.tolist(), i.dtype)", "[3, 5, 1] int64")
        // numpy: m = np.array([1., 0.]) > .5; m += np.array([False, True]) -> [True, True]; m *= False -> [False, False]
        assertPrints(m + "m += tensor([0.0, 1.0]) > 0.5\nprint(m.tolist())\nm *= false\nprint(m.tolist(), m.dtype)", "[true, true]\n[false, false] bool")
        // a float32 tensor takes anything in place.
        assertPrints("f = tensor([1.0, 2.0])\nf /= 2\nf += tensor([1.0, 0.0]) > 0.5\nprint(f.tolist())", "[1.5, 1.0]")
    }

    /// Finding 5: float floor division is numpy's npy_floor_divide in float32, bit for bit
    /// on 5011 pairs numpy 2.4 divided (Tests/Fixtures/tensors/floordiv.json from
    /// Scripts/fixtures_floordiv.py), elementwise and through the `//` operator.
    func testReviewFloatFloorDivisionMatchesNumpy() throws {
        let url = Self.fixture.deletingLastPathComponent().appendingPathComponent("floordiv.json")
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let f: (String) throws -> [Float] = { k in try XCTUnwrap(root[k] as? [NSNumber]).map { Float(bitPattern: $0.uint32Value) } }
        let a = try f("a"), b = try f("b"), want = try f("floordiv")
        XCTAssertEqual(a.count, 5011)
        var bad = 0
        for k in 0..<a.count {
            let got = Tensor.floorDivide(a[k], b[k])
            if got.bitPattern != want[k].bitPattern && !(got.isNaN && want[k].isNaN) {
                bad += 1
                if bad <= 10 { XCTFail("\(a[k]) // \(b[k]): \(got), numpy \(want[k])") }
            }
        }
        XCTAssertEqual(bad, 0)
        // Through the operator on tensors (tensor // tensor): the same bits.
        let interp = Interpreter()
        Builtins.install(into: interp, options: SessionOptions(threads: 1, seed: 0, scriptArgs: []))
        interp.setGlobal("a", .object(TensorObject(Tensor(a, shape: [a.count]))))
        interp.setGlobal("b", .object(TensorObject(Tensor(b, shape: [b.count]))))
        guard case .ok = interp.run(source: "r = a // b", path: "<floordiv>"),
              case .object(let r as TensorObject)? = interp.global("r") else { return XCTFail("a // b failed") }
        XCTAssertEqual(r.tensor.scalars.map(\.bitPattern), want.map(\.bitPattern))
        // numpy: np.array([1., 5., .7], np.float32) // .1 -> [9., 49., 6.]; np.float32(1.) // .1 -> 9.0
        assertPrints("a = tensor([1.0, 5.0, 0.7])\nprint((a // 0.1).tolist(), a[0] // 0.1, (1.0 // tensor([0.1])).tolist())", "[9.0, 49.0, 6.0] 9.0 [9.0]")
    }

    /// Finding 6: tensor() of Python bools is a bool tensor (numpy's dtype), a mask; masks
    /// inside an index tuple select by condition along their axes (numpy's nonzero()), and a
    /// mask of the wrong length is an error.
    func testReviewBoolListsAreMasksAlsoInTuples() {
        assertPrints("print(tensor([true, false]).dtype, tensor([[true], [false]]).dtype, tensor([1, 0]).dtype, tensor(true).dtype)", "bool bool float32 bool")
        // numpy: np.arange(20).reshape(4, 5)[:, np.array([True, False, True, True, False])]
        assertPrints("t = arange(20).reshape(4, 5)\nprint(t[:, tensor([true, false, true, true, false])].tolist())",
                     "[[0.0, 2.0, 3.0], [5.0, 7.0, 8.0], [10.0, 12.0, 13.0], [15.0, 17.0, 18.0]]")
        // numpy: t = np.arange(24).reshape(2, 3, 4); t[np.array([True, False]), 1:, np.array([True, False, False, True])]
        assertPrints("t = arange(24).reshape(2, 3, 4)\nprint(t[tensor([true, false]), 1:, tensor([true, false, false, true])].tolist())", "[[4.0, 8.0], [7.0, 11.0]]")
        // numpy: a 2-d mask over the last two axes: t[:, m2]
        assertPrints("t = arange(24).reshape(2, 3, 4)\nm = tensor([[true, false, true, true], [false, false, true, false], [true, true, false, false]])\nprint(t[:, m].tolist())",
                     "[[0.0, 2.0, 3.0, 6.0, 8.0, 9.0], [12.0, 14.0, 15.0, 18.0, 20.0, 21.0]]")
        // numpy: assignment through a mask in a tuple
        assertPrints("t = arange(6).reshape(2, 3)\nt[1, tensor([true, false, true])] = 0\nprint(t.tolist())", "[[0.0, 1.0, 2.0], [0.0, 4.0, 0.0]]")
        assertError("arange(5)[tensor([true, false])]", "mask")
        assertError("arange(20).reshape(4, 5)[:, tensor([true, false])]", "boolean index did not match")
    }

    /// Finding 7: bool with a Python bool is numpy's bool arithmetic: + is or, * is and.
    func testReviewBoolWithPythonBool() {
        // numpy: m = np.array([1., 0., 2.]) > .5; m + True, m * True, True * m, m * False
        assertPrints("m = tensor([1.0, 0.0, 2.0]) > 0.5\nprint((m + true).tolist(), (m * true).tolist(), (true * m).tolist(), (m * false).dtype, (m + true).sum())",
                     "[true, true, true] [true, false, true] [true, false, true] bool 3")
        assertError("m = tensor([1.0]) > 0.5\nprint(m - true)", "boolean subtract")
    }
}
