import Foundation
import XCTest
import VLSCore
@testable import VLSBuiltins
import VLSLanguage

/// Tensor operations agree with numpy: every case of Tests/Fixtures/tensors/ops.json (made
/// by Scripts/fixtures_tensor_ops.py) runs its program through vls with the inputs bound
/// and compares `r` with numpy's result: exactly for integer, boolean and order results,
/// within 1e-6 relative for elementwise arithmetic, within the case's per-element bound
/// (4·n·2^-24·Σ|x_i|) for reductions and running sums; a case numpy refuses or warns on
/// must be an error in vls.
final class TensorOpsTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tensors/ops.json")

    static func number(_ v: Any) -> Double {
        if let s = v as? String { return s == "nan" ? .nan : s == "inf" ? .infinity : -.infinity }
        return (v as! NSNumber).doubleValue
    }

    /// The value as (shape, elements).
    static func flatten(_ v: Value) -> ([Int], [Double])? {
        switch v {
        case .int(let i): return ([], [Double(i)])
        case .float(let d): return ([], [d])
        case .float32(let f): return ([], [Double(f)])
        case .bool(let b): return ([], [b ? 1 : 0])
        case .object(let o as TensorObject): return (o.tensor.shape, o.tensor.scalars.map(Double.init))
        default: return nil
        }
    }

    /// Printing a tensor is linear in its rank: 64 axes of length 1 (numpy's most) print at
    /// once, and reshape refuses more, as numpy.
    func testHighRankPrintsAndMoreAxesAreRefused() throws {
        let t = try Tensor([1, 2], shape: [2]).reshaped(Array(repeating: 1, count: 63) + [2])
        let text = TensorFormat.grid(t)
        // np.array2string(np.array([1, 2], np.float32).reshape((1,) * 63 + (2,)), separator=', ')
        XCTAssertEqual(text, String(repeating: "[", count: 64) + "1.,\n" + String(repeating: " ", count: 64) + "2." + String(repeating: "]", count: 64))
        XCTAssertThrowsError(try Tensor([1], shape: [1]).reshaped(Array(repeating: 1, count: 65)))
    }

    func testOperationsMatchNumpy() throws {
        let data = try Data(contentsOf: Self.fixture)
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try XCTUnwrap(root["cases"] as? [[String: Any]])
        XCTAssertGreaterThan(cases.count, 1000)
        var failures = 0
        func fail(_ i: Int, _ program: String, _ why: String) {
            failures += 1
            if failures <= 15 { XCTFail("case \(i) `\(program)`: \(why)") }
        }
        for (i, c) in cases.enumerated() {
            let program = c["program"] as! String
            let interp = Interpreter()
            var out = ""
            interp.output = { out += $0 }
            Builtins.install(into: interp, options: SessionOptions(threads: 1, seed: 0, scriptArgs: []))
            for (name, spec) in c["inputs"] as! [String: [String: Any]] {
                let shape = (spec["shape"] as! [NSNumber]).map(\.intValue)
                let values = (spec["bits"] as! [NSNumber]).map { Float(bitPattern: $0.uint32Value) }
                let dtype = (spec["dtype"] as? String).flatMap(DType.init(rawValue:)) ?? .float32
                interp.setGlobal(name, .object(TensorObject(Tensor(values, shape: shape), dtype: dtype)))
            }
            let outcome = interp.run(source: program, path: "<case \(i)>")
            if c["error"] != nil {
                if case .ok = outcome { fail(i, program, "numpy refuses or warns; vls gave \(interp.global("r").map { "\($0)" } ?? "nothing")") }
                continue
            }
            guard case .ok = outcome else { fail(i, program, "vls failed: \(outcome)"); continue }
            guard let r = interp.global("r"), let (shape, got) = Self.flatten(r) else { fail(i, program, "no result"); continue }
            // The kind of value numpy gives (np.float32, a Python float, int, bool, or a
            // tensor of a dtype) and, where it is exact, its printed text.
            if let type = c["type"] as? String {
                let got: String
                if case .object(let o as TensorObject) = r { got = "tensor:\(o.dtype.rawValue)" } else { got = r.typeName }
                if got != type { fail(i, program, "type \(got), numpy \(type)"); continue }
            }
            if let text = c["text"] as? String {
                let got: String
                if case .object(let o as TensorObject) = r { got = TensorFormat.grid(o.tensor, options: .init(), dtype: o.dtype) } else { got = interp.str(r) }
                if got != text { fail(i, program, "prints \(got), numpy \(text)"); continue }
            }
            let expected = c["expected"] as! [String: Any]
            let eshape = (expected["shape"] as! [NSNumber]).map(\.intValue)
            let want = (expected["values"] as! [Any]).map(Self.number)
            guard shape == eshape, got.count == want.count else { fail(i, program, "shape \(shape), numpy \(eshape)"); continue }
            let kind = c["kind"] as! String
            let tol = (c["tol"] as? [NSNumber])?.map(\.doubleValue)
            for j in 0..<want.count {
                let (g, w) = (got[j], want[j])
                if g.isNaN || w.isNaN {
                    if !(g.isNaN && w.isNaN) { fail(i, program, "element \(j): \(g), numpy \(w)"); break }
                    continue
                }
                if g == w { continue }
                let ok: Bool
                switch kind {
                case "exact": ok = Float(g) == Float(w)  // float32 results; JSON parsing of the double may be off by an ulp of double
                case "rel": ok = abs(g - w) <= 1e-6 * abs(w)
                default: ok = abs(g - w) <= (tol.map { $0.count == 1 ? $0[0] : $0[j] } ?? 0)
                }
                if !ok { fail(i, program, "element \(j): \(g), numpy \(w) (\(kind))"); break }
            }
        }
        XCTAssertEqual(failures, 0, "\(failures) of \(cases.count) cases differ from numpy")
    }
}
