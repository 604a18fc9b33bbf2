import XCTest
@testable import VLSCore

/// Each fast kernel against its naive reference (double precision), max difference printed.
final class KernelTests: XCTestCase {
    func random(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed &* 6364136223846793005 &+ 1442695040888963407
        return (0..<n).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: s >> 11) % 2_000_000) / 500_000.0 - 2
        }
    }

    func maxDiff(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }

    func testGemmAgainstNaive() {
        for (m, n, k, tb) in [(7, 5, 3, true), (33, 17, 65, false), (197, 64, 197, false), (16, 96, 32, true)] {
            let a = random(m * k, seed: 1), b = random(n * k, seed: 2)
            var c1 = [Float](repeating: 0, count: m * n), c2 = c1
            let ldb = tb ? k : n
            BLAS.gemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: ldb, transB: tb, c: &c1, ldc: n)
            BLAS.gemmNaive(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: ldb, transB: tb, c: &c2, ldc: n)
            let d = maxDiff(c1, c2)
            print("gemm \(m)x\(n)x\(k) transB=\(tb): max diff \(d)")
            XCTAssertLessThan(d, 1e-4)
        }
    }

    /// `linear` splits large products by output columns across the workers (one
    /// single-threaded sgemm, bias and epilogue each): every split, including widths that
    /// are not whole 16-column panels, must equal the naive product.
    func testSplitLinearAgainstNaive() {
        let saved = Threads.count
        defer { Threads.set(saved) }
        for (rows, inF, outF, withBias) in [(197, 192, 1000, true), (50, 256, 2304, false), (3, 64, 40, true), (120, 100, 777, true)] {
            let x = random(rows * inF, seed: 11), w = random(outF * inF, seed: 12), bias = random(outF, seed: 13)
            var reference = [Float](repeating: 0, count: rows * outF)
            BLAS.gemmNaive(m: rows, n: outF, k: inF, a: x, lda: inF, b: w, ldb: inF, transB: true, c: &reference, ldc: outF)
            for r in 0..<rows { for j in 0..<outF { reference[r * outF + j] += withBias ? bias[j] : 0 } }
            Kernels.geluNaive(&reference, count: reference.count)
            let scale = reference.map { abs($0) }.max() ?? 1
            for workers in [1, 2, 3] {
                Threads.set(workers)
                var y = [Float](repeating: .nan, count: rows * outF)
                x.withUnsafeBufferPointer { xp in w.withUnsafeBufferPointer { wp in bias.withUnsafeBufferPointer { bp in
                    BLAS.linear(x: xp.baseAddress!, rows: rows, inFeatures: inF, weight: wp.baseAddress!,
                                bias: withBias ? bp.baseAddress! : nil, outFeatures: outF, y: &y) { p, ld, r, n in
                        for row in 0..<r { Kernels.geluSerial(p + row * ld, count: n) }
                    }
                } } }
                XCTAssertFalse(y.contains { $0.isNaN }, "a column slice was never written")
                let d = maxDiff(y, reference) / scale
                print("linear+gelu \(rows)x\(outF)x\(inF) workers=\(workers): max relative diff \(d)")
                XCTAssertLessThan(d, 2e-6)
            }
        }
    }

    func testLayerNormAgainstNaive() {
        let rows = 70, d = 96
        let x = random(rows * d, seed: 3).map { $0 * 3 + 1 }, g = random(d, seed: 4), b = random(d, seed: 5)
        var o1 = [Float](repeating: 0, count: rows * d), o2 = o1
        Kernels.layerNorm(x, rows: rows, width: d, gamma: g, beta: b, eps: 1e-6, out: &o1)
        Kernels.layerNormNaive(x, rows: rows, width: d, gamma: g, beta: b, eps: 1e-6, out: &o2)
        print("layer norm: max diff \(maxDiff(o1, o2))")
        XCTAssertLessThan(maxDiff(o1, o2), 1e-5)
    }

    func testGeluAndSoftmaxAgainstNaive() {
        var g1 = random(50_000, seed: 6).map { $0 * 4 }, g2 = g1
        Kernels.gelu(&g1, count: g1.count)
        Kernels.geluNaive(&g2, count: g2.count)
        print("gelu: max diff \(maxDiff(g1, g2))")
        XCTAssertLessThan(maxDiff(g1, g2), 1e-6)
        var s1 = random(17 * 50, seed: 7).map { $0 * 10 }, s2 = s1
        Kernels.softmaxRows(&s1, rows: 17, n: 50)
        Kernels.softmaxRowsNaive(&s2, rows: 17, n: 50)
        print("softmax: max diff \(maxDiff(s1, s2))")
        XCTAssertLessThan(maxDiff(s1, s2), 1e-6)
        for r in 0..<17 { XCTAssertEqual(s1[(r * 50)..<(r * 50 + 50)].reduce(0, +), 1, accuracy: 1e-5) }
    }

    func testFastErfAgainstDoubleErf() {
        var worst: Double = 0
        var x: Float = -6
        while x <= 6 {
            worst = max(worst, abs(Double(Kernels.fastErf(x)) - erf(Double(x))))
            x += 0.001
        }
        print("fast erf: max abs error \(worst) on [-6, 6]")
        XCTAssertLessThan(worst, 5e-7)
    }

    func testFastExpAgainstExpf() {
        var worst: Float = 0
        var x: Float = -87
        while x <= 88 {
            let a = Kernels.fastExp(x), b = expf(x)
            worst = max(worst, abs(a - b) / b)
            x += 0.0137
        }
        print("fast exp: max relative error \(worst) on [-87, 88]")
        XCTAssertLessThan(worst, 3e-7)
    }

    func testStridedViews() throws {
        let t = Tensor((0..<24).map(Float.init), shape: [2, 3, 4])
        XCTAssertEqual(t.transposed(1, 2).contiguous().shape, [2, 4, 3])
        XCTAssertEqual(t.transposed(1, 2).item([0, 1, 2]), 9)
        XCTAssertEqual(t.select(1).narrowed(axis: 1, start: 1, count: 2, step: 2).scalars, [13, 15, 17, 19, 21, 23])
        XCTAssertEqual(try t.reshaped([4, -1]).shape, [4, 6])
        XCTAssertThrowsError(try t.reshaped([5, -1]))
    }
}
