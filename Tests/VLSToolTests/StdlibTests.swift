import Foundation
import XCTest
@testable import VLSBuiltins

/// The Stdlib embedded in the binary equals Stdlib/*.vls (run Scripts/embed-stdlib after an edit),
/// and every module parses and imports.
final class StdlibTests: XCTestCase {
    func testEmbeddedCopyIsCurrent() throws {
        let dir = BuiltinCaseTests.root + "/Stdlib"
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".vls") }.sorted()
        XCTAssertFalse(files.isEmpty)
        XCTAssertEqual(Set(EmbeddedStdlib.modules.keys), Set(files.map { String($0.dropLast(4)) }), "Stdlib modules differ: run Scripts/embed-stdlib")
        for f in files {
            let source = try String(contentsOfFile: dir + "/" + f, encoding: .utf8)
            let name = String(f.dropLast(4))
            XCTAssertEqual(EmbeddedStdlib.modules[name].map { $0 + "\n" }, source.hasSuffix("\n") ? source : source + "\n",
                           "Stdlib/\(f) changed since it was embedded: run Scripts/embed-stdlib")
            let (_, error, _) = BuiltinCaseTests.run("import \(name)\n", path: "import-\(name).vls")
            XCTAssertNil(error, "import \(name): \(error ?? "")")
        }
    }
}

/// The experiment drivers written in .vls (Stdlib/context.vls, probing.vls,
/// perturbation.vls) against the Python references (Scripts/fixtures_context.py,
/// fixtures_saliency.py) and against the native drivers they re-express. Each script prints
/// `check NAME VALUE` lines; the bounds are asserted here and the values printed.
final class StdlibDriverTests: XCTestCase {
    /// Runs a script and returns its `check NAME VALUE` figures (failing on a script error).
    func checks(_ source: String, _ name: String) -> [String: Double] {
        let (lines, error, _) = BuiltinCaseTests.run(source, path: "\(name).vls")
        XCTAssertNil(error, "\(name): \(error ?? "")")
        var out: [String: Double] = [:]
        for line in lines where line.hasPrefix("check ") {
            let parts = line.split(separator: " ")
            if parts.count == 3, let v = Double(parts[2]) { out[String(parts[1])] = v }
            print("\(name): \(line.dropFirst(6))")
        }
        return out
    }

    func bound(_ c: [String: Double], _ key: String, _ limit: Double, file: StaticString = #filePath, line: UInt = #line) {
        guard let v = c[key] else { return XCTFail("no figure '\(key)'", file: file, line: line) }
        XCTAssertLessThanOrEqual(v, limit, key, file: file, line: line)
    }

    static let prelude = """
        def err(got, want):
            "max |got - want| / max(1, max |want|), the parity tests' relative error."
            return (tensor(got) - want).abs().max() / max(1, want.abs().max())
        def cells(t, columns):
            return tensor([[row[c] for c in columns] for row in t])
        def cell_diff(a, b, columns):
            "Largest difference between two tables' numeric cells, in double precision."
            worst = 0.0
            for ra, rb in zip(a, b):
                for c in columns:
                    worst = max(worst, abs(ra[c] - rb[c]))
            assert(len(a) == len(b), "tables differ in length")
            return worst

        """

    /// class vs context against numpy/timm (fixed mask, numpy's permutation draws fed in),
    /// and against the native class_context with vls's own seeded draws.
    func testContextAgainstPythonReference() {
        let c = checks(Self.prelude + """
            import context
            m = load("Tests/Fixtures/models/standard")
            ref = read_safetensors("Tests/Fixtures/models/standard/context.safetensors")
            inp = read_safetensors("Tests/Fixtures/models/standard/metrics_input.safetensors")
            x = inp["images"]
            y = inp["labels"]
            data = dataset(images: x, labels: y)
            r = m.run(x, capture: ["resid_post"])
            print("check ranks", (ranks(project(m, r["resid_post"]), y.reshape(len(y), 1)) - ref["ranks"]).abs().max())
            out = context.class_context(m, data, masks: ref["mask"], permutations: ref["permutations"], batch: 4)
            ident = out["identifiability"]
            change = out["logit_change"]
            removal = out["removal"]
            print("check blocks", abs(len(ident) - 3) + abs(len(change) - 2))
            for col in ["s_class", "s_context", "difference"]:
                print("check identifiability.{col}", err(ident[col], ref["identifiability." + col]))
            print("check identifiability.p", err(ident["p"], ref["identifiability.p"]))
            for col in ["class", "context", "difference"]:
                print("check logit_change.{col}", err(change[col], ref["logit_change." + col]))
            print("check logit_change.p", err(change["p"], ref["logit_change.p"]))
            print("check removal.pct", err(removal["identifiable_pct"], ref["removal.pct"]))
            print("check removal.images", err(removal["images"], ref["removal.images"]))
            # vls's own generator (300 draws) against numpy's p from 5000 draws
            own = context.class_context(m, data, masks: ref["mask"], batch: 4)
            print("check p_own_rng", max(err(own["identifiability"]["p"], ref["identifiability.p_many"]),
                                         err(own["logit_change"]["p"], ref["logit_change.p_many"])))
            # the native driver: same seeds, same draws
            native = class_context(m, data, masks: ref["mask"], batch: 4)
            print("check native_identifiability", cell_diff(native["identifiability"], own["identifiability"], ["block", "s_class", "s_context", "difference", "p"]))
            print("check native_logit_change", cell_diff(native["logit_change"], own["logit_change"], ["block", "class", "context", "difference", "p"]))
            print("check native_removal", cell_diff(native["removal"], own["removal"], ["identifiable_pct", "images"]))
            """, "context")
        bound(c, "ranks", 0)
        bound(c, "blocks", 0)
        for k in ["identifiability.s_class", "identifiability.s_context", "identifiability.difference",
                  "logit_change.class", "logit_change.context", "logit_change.difference", "removal.pct"] { bound(c, k, 1e-5) }
        for k in ["identifiability.p", "logit_change.p", "removal.images"] { bound(c, k, 0) }
        bound(c, "p_own_rng", 0.1)
        bound(c, "native_identifiability", 1e-12)
        bound(c, "native_logit_change", 1e-6)
        bound(c, "native_removal", 1e-12)
    }

    /// probing.compare against the native probes.evaluate, for both solvers.
    func testProbingAgainstNative() {
        let c = checks(Self.prelude + """
            import probing
            m = load("Tests/Fixtures/models/standard")
            x = randn(30, 3, 32, 32, seed: 8)
            labels = m.forward(x).argmax(axis: -1)
            train = dataset(images: x[0:20], labels: labels[0:20])
            test = dataset(images: x[20:], labels: labels[20:])
            columns = ["block", "probe_acc", "probe_ci95", "lens_acc", "lens_ci95"]
            for solver in ["cholesky", "lsqr"]:
                p = probes(m, train, solver: solver)
                mine = probing.compare(m, p, test, batch: 4)
                print("check probing_{solver}", cell_diff(mine, p.evaluate(test), columns))
                print("check probing_{solver}_rows", abs(len(mine) - m.depth))
            a = probes(m, train)
            b = probes(m, train, solver: "lsqr")
            print("check lsqr_differs", 1 / max(1e-12, (a.weights(2, 3)[0] - b.weights(2, 3)[0]).abs().max()))
            """, "probing")
        for s in ["cholesky", "lsqr"] {
            bound(c, "probing_\(s)", 1e-9)
            bound(c, "probing_\(s)_rows", 0)
        }
        bound(c, "lsqr_differs", 1e7)   // the lsqr probes are not the closed form
    }

    /// perturbation.curves against timm token removal (Scripts/fixtures_saliency.py), and
    /// perturbation.compare against the native perturbation_test for every explainer.
    func testPerturbationAgainstTorchAndNative() {
        let c = checks(Self.prelude + """
            import perturbation
            m = load("Tests/Fixtures/models/standard")
            ref = read_safetensors("Tests/Fixtures/models/standard/saliency.safetensors")
            data = dataset(images: ref["input"], labels: ref["labels"])
            curves = perturbation.curves(m, data, perturbation.explainer("lens"), batch: 3)
            for order in ["negative", "positive"]:
                print("check torch_{order}_curve", err(curves[order]["accuracy"], ref["perturbation." + order]))
                print("check torch_{order}_auc", err([curves[order]["auc"]], ref["perturbation." + order + ".auc"]))
            x = randn(6, 3, 32, 32, seed: 4)
            d = dataset(images: x, labels: m.forward(x).argmax(axis: -1))
            p = probes(m, d)
            methods = ["lens", "chefer", "rollout", "attention", "grad_input", "random", "probe"]
            t = perturbation.compare(m, d, methods: methods, probes: p, seeds: 3, batch: 4)
            worst = 0.0
            for row in t:
                for order in ["negative", "positive"]:
                    native = perturbation_test(m, d, method: row["method"], order: order, seeds: 3, probes: p, batch: 4)
                    worst = max(worst, abs(row[order + "_auc"] - native.auc), abs(row[order + "_trapezoid"] - native.trapezoid_auc))
            print("check native_auc", worst)
            print("check methods", abs(len(t) - len(methods)))
            """, "perturbation")
        for k in ["torch_negative_curve", "torch_positive_curve", "torch_negative_auc", "torch_positive_auc"] { bound(c, k, 1e-6) }
        bound(c, "native_auc", 1e-12)
        bound(c, "methods", 0)
    }

    /// Bad input to the drivers and their primitives is a clear error, never a crash.
    func testClearErrors() {
        let setup = "m = load(\"Tests/Fixtures/models/standard\")\nx = randn(2, 3, 32, 32, seed: 2)\nt = tensor([[3, 1], [2, 0]])\n"
        let cases: [(String, String)] = [
            ("t[tensor([1, 0, 2])]", "index 2 out of range"), ("t[tensor([1.0, 0.0, 1.0]) > 0]", "a tensor index is a mask"),
            ("table([\"a\"], [[1, 2]])", "row 0 has 2 values for 1 columns"),
            ("table([\"a\"], [[m]])", "cells are numbers"),
            ("permutation_test([1], [2], permutations: tensor([[0, 0]]))", "each permutation must hold"),
            ("permutation_test([1], [2], permutations: tensor([0, 1]))", "[S, n] tensor"),
            ("permutation(-1)", "permutation: n must be"),
            ("m.run(x, edits: [drop_tokens(keep: [[0, 1], [5]])])", "same number of patches"),
            ("m.run(x, edits: [drop_tokens(keep: [[0, 1]])])", "1 keep lists for 2 images"),
            ("drop_tokens(keep: tensor([0.0, float(\"nan\")]))", "element 1 is nan, not an integer"),
            ("read_safetensors(\"Tests/Fixtures/images/empty.png\")", "not a valid safetensors file"),
            ("probes(m, dataset(images: x, labels: tensor([0, 1])), solver: \"sag\")", "solver must be"),
            ("probes(m, dataset(images: x, labels: tensor([0, 1]))).scores(x)", "activations must be"),
            ("import perturbation\nperturbation.explainer(\"probe\")", "needs probes"),
            ("import context\ncontext.class_context(load(\"Tests/Fixtures/models/gap\"), dataset(images: x, labels: tensor([0, 1])))", "no CLS token"),
        ]
        for (code, want) in cases {
            let (_, error, _) = BuiltinCaseTests.run(setup + code + "\n", path: "errors.vls")
            XCTAssertNotNil(error, code)
            if let error { XCTAssertTrue(error.contains(want), "\(code): \(error)") }
        }
    }
}
