import Foundation
import XCTest
@testable import VLSBuiltins
import VLSLanguage

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

/// The experiment drivers, written once in .vls (Stdlib/context.vls, probing.vls,
/// perturbation.vls), against the Python references (Scripts/fixtures_context.py,
/// fixtures_saliency.py, fixtures_probes.py). Each script prints `check NAME VALUE` lines;
/// the bounds are asserted here and the values printed.
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
            m = load("Tests/Fixtures/models/standard")
            ref = read_safetensors("Tests/Fixtures/models/standard/context.safetensors")
            inp = read_safetensors("Tests/Fixtures/models/standard/metrics_input.safetensors")
            x = inp["images"]
            y = inp["labels"]
            data = dataset(images: x, labels: y)
            r = m.run(x, capture: ["resid_post"])
            print("check ranks", (ranks(project(m, r["resid_post"]), y.reshape(len(y), 1)) - ref["ranks"]).abs().max())
            out = class_context(m, data, masks: ref["mask"], permutations: ref["permutations"], batch: 4)
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
            own = class_context(m, data, masks: ref["mask"], batch: 4)
            print("check p_own_rng", max(err(own["identifiability"]["p"], ref["identifiability.p_many"]),
                                         err(own["logit_change"]["p"], ref["logit_change.p_many"])))
            # the same statistics by one batch and by many: the part's rows do not depend on it
            one = class_context(m, data, masks: ref["mask"], batch: 100)
            print("check batch_identifiability", cell_diff(one["identifiability"], own["identifiability"], ["block", "s_class", "s_context", "difference", "p"]))
            print("check batch_logit_change", cell_diff(one["logit_change"], own["logit_change"], ["block", "class", "context", "difference", "p"]))
            print("check batch_removal", cell_diff(one["removal"], own["removal"], ["identifiable_pct", "images"]))
            """, "context")
        bound(c, "ranks", 0)
        bound(c, "blocks", 0)
        for k in ["identifiability.s_class", "identifiability.s_context", "identifiability.difference",
                  "logit_change.class", "logit_change.context", "logit_change.difference", "removal.pct"] { bound(c, k, 1e-5) }
        for k in ["identifiability.p", "logit_change.p", "removal.images"] { bound(c, k, 0) }
        bound(c, "p_own_rng", 0.1)
        bound(c, "batch_identifiability", 1e-12)
        bound(c, "batch_logit_change", 1e-6)
        bound(c, "batch_removal", 1e-12)
    }

    /// probes.evaluate (Stdlib/probing.vls) against the same table computed another way: each
    /// probe applied through its weights (x W + b, argmax), the lens through softmax-free
    /// argmax of project(), means and 95% CIs (1.96 sd / sqrt(n), sd with n - 1) by hand.
    func testProbeEvaluationAgainstHandComputation() {
        let c = checks(Self.prelude + """
            m = load("Tests/Fixtures/models/standard")
            x = randn(30, 3, 32, 32, seed: 8)
            labels = m.forward(x).argmax(axis: -1)
            train = dataset(images: x[0:20], labels: labels[0:20])
            test = dataset(images: x[20:], labels: labels[20:])
            y = labels[20:]
            acts = m.run(x[20:], capture: ["resid_post"])["resid_post"]      # [L, B, T, D]
            def stats(acc):
                n = len(acc)
                mean = sum(acc) / n
                sd = (sum([(a - mean) ** 2 for a in acc]) / (n - 1)) ** 0.5
                return [mean, 1.96 * sd / n ** 0.5]
            for solver in ["cholesky", "lsqr"]:
                p = probes(m, train, solver: solver)
                t = p.evaluate(test, batch: 4)
                worst = 0.0
                for b in range(m.depth):
                    probe_acc = []
                    lens_acc = []
                    for pos in range(m.prefix_tokens, m.tokens):
                        w = p.weights(b, pos)
                        h = acts[b, :, pos]
                        probe_acc.append(100 * float(((h @ w[0] + w[1]).argmax(axis: -1) == y).sum()) / len(y))
                        lens_acc.append(100 * float((project(m, h).argmax(axis: -1) == y).sum()) / len(y))
                    want = stats(probe_acc) + stats(lens_acc)
                    got = [t[b]["probe_acc"], t[b]["probe_ci95"], t[b]["lens_acc"], t[b]["lens_ci95"]]
                    worst = max(worst, max([abs(g - w) for g, w in zip(got, want)]))
                print("check probing_{solver}", worst)
                print("check probing_{solver}_rows", abs(len(t) - m.depth))
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

    /// perturbation_test and perturbation.curves against timm token removal
    /// (Scripts/fixtures_saliency.py), and every explainer through perturbation.compare:
    /// batches of 4 against batches of 1 (the counts must not depend on the batch).
    func testPerturbationAgainstTorch() {
        let c = checks(Self.prelude + """
            import perturbation
            m = load("Tests/Fixtures/models/standard")
            ref = read_safetensors("Tests/Fixtures/models/standard/saliency.safetensors")
            data = dataset(images: ref["input"], labels: ref["labels"])
            curves = perturbation.curves(m, data, perturbation.explainer("lens"), batch: 3)
            for order in ["negative", "positive"]:
                test = perturbation_test(m, data, method: "lens", order: order, batch: 2)
                print("check torch_{order}_curve", max(err(curves[order].table["accuracy"], ref["perturbation." + order]),
                                                       err(test.table["accuracy"], ref["perturbation." + order])))
                print("check torch_{order}_auc", max(err([curves[order].auc], ref["perturbation." + order + ".auc"]),
                                                     err([test.auc], ref["perturbation." + order + ".auc"])))
            x = randn(6, 3, 32, 32, seed: 4)
            d = dataset(images: x, labels: m.forward(x).argmax(axis: -1))
            p = probes(m, d)
            methods = ["lens", "chefer", "rollout", "attention", "grad_input", "random", "probe"]
            t = perturbation.compare(m, d, methods: methods, probes: p, seeds: 3, batch: 4)
            u = perturbation.compare(m, d, methods: methods, probes: p, seeds: 3, batch: 1)
            print("check batch_auc", cell_diff(t, u, ["negative_auc", "positive_auc", "negative_trapezoid", "positive_trapezoid"]))
            print("check methods", abs(len(t) - len(methods)))
            """, "perturbation")
        for k in ["torch_negative_curve", "torch_positive_curve", "torch_negative_auc", "torch_positive_auc"] { bound(c, k, 1e-6) }
        bound(c, "batch_auc", 1e-12)
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
            ("class_context(m, dataset(images: x, labels: tensor([0, 1])), batch: 0)", "class_context: batch must be at least 1, got 0"),
            ("class_context(m, dataset(images: x, labels: tensor([0, 1])), shuffles: 2.5)", "class_context: shuffles must be an int, got float 2.5"),
            ("class_context(m, [1, 2])", "class_context: data must be a dataset, got list"),
            ("class_context(m, dataset(images: x, labels: tensor([0, 1])), seed: -1)", "class_context: seed must be at least 0"),
            ("class_context(m, dataset(images: x, labels: tensor([0, 1])), masks: ones(2, 4, 4), permutations: tensor([[0, 1]]))", "permutations must be [S, 32]"),
            ("class_context(m, dataset(images: x, labels: tensor([0, 1])), colour: 1)", "unexpected keyword argument 'colour'"),
            ("perturbation_test(m, dataset(images: x, labels: tensor([0, 1])), order: \"sideways\")", "perturbation_test: order must be one of"),
            ("perturbation_test(m, dataset(images: x, labels: tensor([0, 1])), method: \"probe\")", "needs probes"),
            ("perturbation_test(m, dataset(images: x, labels: tensor([0, 1])), probes: 3)", "perturbation_test: probes must be a nil or probes, got int 3"),
            ("removal_curve(m, x, tensor([0, 1]), zeros(2, 5))", "importance must be [2, 16]"),
            ("finish_analysis(\"class_context\", m, dataset(images: x, labels: tensor([0, 1])), {}, {\"s\": zeros(2, 3, 16)})", "statistic 'logit_change' of class_context is missing"),
            ("finish_analysis(\"perturbation\", m, dataset(images: x, labels: tensor([0, 1])), {}, {\"images\": 2.5, \"correct\": zeros(1, 15)})", "whole numbers"),
            // the second adversarial review's findings (issue 20)
            ("perturbation_test(m, dataset(images: x, labels: tensor([0, 1])), method: \"probe\", probes: probes(m.randomized(1), dataset(images: x, labels: tensor([0, 1]))))", "the probes were trained on another model"),
            ("memories(m, dataset(images: x, labels: tensor([0, 1])), k: 1000)", "memories: k must be in 1...32"),
            ("class_context(m, dataset(images: x, labels: tensor([0, 1])), masks: ones(16, 2))", "masks must be [2, 4, 4] or [2, 16]"),
            ("class_context(m, dataset(images: x, labels: tensor([0, 1])), masks: ones(2, 4, 4) * 7)", "masks must hold 0 (context) or 1 (class) only"),
            ("class_context(m, dataset(images: x, labels: tensor([0, 1])))", "holds preprocessed tensors, whose object masks cannot be read"),
            ("c = probe_pass(m, layer: \"attn_out\")\nd = dataset(images: x, labels: tensor([0, 1]))\nc.add(x, tensor([0, 1]))\nfinish_analysis(\"probes\", m, d, {\"layer\": \"resid_post\", \"alpha\": 1.0, \"solver\": \"cholesky\", \"tol\": 0.0001}, c)", "arguments say layer = resid_post, but the pass ran with attn_out"),
            ("finish_analysis(\"perturbation\", m, dataset(images: x, labels: tensor([0, 1])), {\"method\": \"lens\", \"order\": \"sideways\", \"seeds\": 1}, {\"images\": 2, \"correct\": zeros(1, 15)})", "arguments.order must be negative or positive"),
            ("finish_analysis(\"perturbation\", m, dataset(images: x, labels: tensor([0, 1])), {\"method\": \"lens\", \"order\": \"negative\", \"seeds\": 1, \"bogus\": 1}, {\"images\": 2, \"correct\": zeros(1, 15)})", "unknown argument 'bogus'"),
            ("removal_curve(m, x, tensor([0, 1]), zeros(2, 16) * float(\"nan\"))", "importance holds NaN"),
            ("compare_random(m, dataset(images: x, labels: tensor([0, 1])), seed: -5)", "compare_random: seed must be at least 0"),
            ("probes(m, dataset(images: x, labels: tensor([0, 1]))).evaluate(3)", "'probes.evaluate' (dataset expected, got int 3)"),
        ]
        for (code, want) in cases {
            let (_, error, _) = BuiltinCaseTests.run(setup + code + "\n", path: "errors.vls")
            XCTAssertNotNil(error, code)
            if let error { XCTAssertTrue(error.contains(want), "\(code): \(error)") }
        }
    }
}

/// The Stdlib drivers as global names: the global is the module's function itself, a user's
/// definition wins, and the names are listed where builtins are (help, completion) but not
/// as user variables.
final class StdlibGlobalsTests: XCTestCase {
    func session() -> Interpreter {
        let interp = Interpreter()
        interp.output = { _ in }
        Builtins.install(into: interp, options: SessionOptions(threads: 1, seed: 0))
        return interp
    }

    func testEveryStdlibGlobalIsItsModulesFunction() throws {
        let interp = session()
        XCTAssertFalse(interp.stdlibGlobals.isEmpty)
        for (name, g) in interp.stdlibGlobals {
            guard case .ok = interp.run(source: "import \(g.module)\nsame = \(name) == \(g.module).\(name)\n", path: "g.vls") else {
                return XCTFail("\(name): the module \(g.module) does not define it")
            }
            XCTAssertEqual(interp.global("same").map { interp.repr($0) }, "true", name)
            XCTAssertNotNil(interp.helpText(for: name), name)
            XCTAssertTrue(interp.globalNames().contains(name), name)
            XCTAssertTrue(interp.namesByArea().contains { $0.0 == g.area && $0.1.contains(name) }, name)
        }
        // user variables are the user's own: neither the drivers nor the imported modules' helpers
        XCTAssertEqual(interp.userVariables().map(\.0).filter { interp.stdlibGlobals[$0] != nil }, [])
    }

    func testUserDefinitionsWin() {
        let interp = session()
        guard case .ok = interp.run(source: "def class_context(a):\n    return a + 1\nx = class_context(1)\nmemories = 3\n", path: "u.vls") else { return XCTFail("run failed") }
        XCTAssertEqual(interp.global("x").map { interp.repr($0) }, "2")
        XCTAssertEqual(interp.global("memories").map { interp.repr($0) }, "3")
        XCTAssertTrue(interp.userVariables().map(\.0).contains("class_context"))
        // another module's use of the name still reaches the Stdlib's function
        guard case .ok = interp.run(source: "import context\ny = context.class_context == class_context\n", path: "u2.vls") else { return XCTFail("run failed") }
        XCTAssertEqual(interp.global("y").map { interp.repr($0) }, "false")
    }

    func testAFileNamedLikeAStdlibModuleIsAnAmbiguousImport() throws {
        let dir = NSTemporaryDirectory() + "vls-ambiguous-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "x = 1\n".write(toFile: dir + "/metrics.vls", atomically: true, encoding: .utf8)
        let (_, error, _) = BuiltinCaseTests.run("import metrics\n", path: dir + "/main.vls")
        XCTAssertTrue(error?.contains("both the Stdlib module 'metrics' and the file") ?? false, error ?? "no error")
        let (lines, error2, _) = BuiltinCaseTests.run("import \"metrics.vls\"\nprint(metrics.x)\n", path: dir + "/main.vls")
        XCTAssertNil(error2)
        XCTAssertEqual(lines, ["1"])
        // the drivers' own imports stay in the Stdlib: identifiability_metrics still works here
        let (_, error3, _) = BuiltinCaseTests.run("print(type(identifiability_metrics))\n", path: dir + "/main.vls")
        XCTAssertNil(error3)
    }

    func testModuleMembersAreTheirOwn() {
        let interp = session()
        guard case .ok = interp.run(source: "import paper\nnames = dir(paper)\n", path: "m.vls") else { return XCTFail("run failed") }
        let names = interp.global("names").map { interp.repr($0) } ?? ""
        XCTAssertTrue(names.contains("\"identifiable\""), names)
        XCTAssertFalse(names.contains("perturbation_test"), "paper uses perturbation_test but does not define it: \(names)")
    }
}
