import Foundation
import XCTest
import VLSCore
@testable import VLSBuiltins
import VLSLanguage

/// Tensors print as numpy prints them: every case of Tests/Fixtures/tensors/print.json
/// (made by Scripts/fixtures_tensor_print.py with numpy's `array2string(a, precision=P,
/// separator=', ', threshold=T, edgeitems=E, max_line_width=W)`) gives the same grid.
final class TensorPrintTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tensors/print.json")

    func testGridMatchesNumpy() throws {
        let data = try Data(contentsOf: Self.fixture)
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try XCTUnwrap(root["cases"] as? [[String: Any]])
        XCTAssertGreaterThan(cases.count, 100)
        var failures = 0
        for (i, c) in cases.enumerated() {
            let shape = (c["shape"] as! [NSNumber]).map(\.intValue)
            let values = (c["bits"] as! [NSNumber]).map { Float(bitPattern: $0.uint32Value) }
            let options = TensorFormat.Options(threshold: (c["threshold"] as! NSNumber).intValue,
                                               edgeitems: (c["edgeitems"] as! NSNumber).intValue,
                                               precision: (c["precision"] as! NSNumber).intValue,
                                               linewidth: (c["linewidth"] as! NSNumber).intValue)
            let expected = c["expected"] as! String
            let got = TensorFormat.grid(Tensor(values, shape: shape), options: options)
            if got != expected {
                failures += 1
                if failures <= 10 { XCTFail("case \(i) shape \(shape) \(options):\nnumpy:\n\(expected)\nvls:\n\(got)") }
            }
        }
        XCTAssertEqual(failures, 0, "\(failures) of \(cases.count) grids differ from numpy's")
    }

    /// The repr wraps the grid as numpy's array repr does, under `print_options`.
    func testReprAndPrintOptions() throws {
        let saved = TensorFormat.options
        defer { TensorFormat.options = saved }
        let interp = Interpreter()
        var out = ""
        interp.output = { out += $0 }
        Builtins.install(into: interp, options: SessionOptions(threads: 1, seed: 0, scriptArgs: []))
        let src = """
        print(tensor([[1, 2.5], [3, 4]]))
        print(arange(20))
        print_options(threshold: 5, edgeitems: 1, precision: 2)
        print(tensor([1.23456, 2, 3, 4, 5, 6]))
        """
        guard case .ok = interp.run(source: src, path: "<test>") else { return XCTFail("run failed: \(out)") }
        XCTAssertEqual(out, """
        tensor([[1. , 2.5],
                [3. , 4. ]], shape [2, 2])
        tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12.,
                13., 14., 15., 16., 17., 18., 19.], shape [20])
        tensor([1.23, ..., 6.  ], shape [6])

        """)
    }
}
