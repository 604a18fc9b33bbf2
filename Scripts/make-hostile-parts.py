#!/usr/bin/env python3
"""Writes the hostile-part corpus (Tests/Fixtures/parts/hostile) from the valid parts
part-1-of-2.json / part-2-of-2.json, memories-1.json, context-1/2.json, probes-1.json and
perturbation-probe-1/2.json (written by Tests/Fixtures/parts/make-parts.vls under
`vls run --shard K/2` on the `standard` fixture model), and cases.json: for each case the inputs given to `vls merge`, the output
path, and a piece of the expected error. Tests/VLSToolTests/ShardMergeTests.swift runs them.

    python3 Scripts/make-hostile-parts.py
"""
import copy, json, os

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "parts")
hostile = os.path.join(root, "hostile")
os.makedirs(hostile, exist_ok=True)
p1 = json.load(open(os.path.join(root, "part-1-of-2.json")))
p2 = json.load(open(os.path.join(root, "part-2-of-2.json")))
mem = json.load(open(os.path.join(root, "memories-1.json")))
ctx = json.load(open(os.path.join(root, "context-1.json")))
prb = json.load(open(os.path.join(root, "probes-1.json")))
cases = []

def write(name, obj, raw=None):
    path = os.path.join(hostile, name)
    with open(path, "w") as f:
        text = raw if raw is not None else json.dumps(obj, sort_keys=True)
        # non-finite floats as vls writes them
        text = text.replace("-Infinity", '"-inf"').replace("Infinity", '"inf"').replace("NaN", '"nan"')
        f.write(text)
    return "hostile/" + name

def case(name, inputs, expect, output="OUT.json", partial=False):
    # a single part is merged with --partial so that its statistics reach the analysis
    partial = partial or len(inputs) == 1
    cases.append({"name": name, "inputs": inputs, "output": output, "partial": partial, "expect": expect})

def variant(name, edit, expect, base=p1, merge_with=None):
    p = copy.deepcopy(base)
    edit(p)
    f = write(name, p)
    case(name, [f] + ([merge_with] if merge_with else []), expect)
    return f

S = lambda p: p["statistics"]
# shapes and arrays
variant("short-array.json", lambda p: S(p)["hist_cls"].update(ints=S(p)["hist_cls"]["ints"][:5]),
        "field statistics.hist_cls: holds 5 values, shape [3, 20] declares 60")
variant("huge-depth.json", lambda p: S(p)["sum_s_cls"].update(shape=[2000000]),
        "field statistics.sum_s_cls: holds 3 values, shape [2000000] declares 2000000")
variant("huge-shape.json", lambda p: S(p)["hist_cls"].update(shape=[2**40, 2**40]),
        "field statistics.hist_cls: the statistics declare more than 67108864 elements together")
variant("negative-dim.json", lambda p: S(p)["hist_cls"].update(shape=[-3, -20]),
        "field statistics.hist_cls: shape[0] is negative")
variant("config-depth.json", lambda p: p["model"]["config"].update(depth=2000000),
        "hostile/config-depth.json: field model.config.depth: must be at most 1024, got 2000000")
variant("rows-mismatch.json", lambda p: S(p).update(extra={"combine": "rows", "type": "int", "shape": [7, 1], "ints": [0] * 7}),
        "field statistics: unknown statistic 'extra' for identifiability")
variant("rows-short.json", lambda p: S(p)["correct"].update(shape=[2, 1], ints=[1, 0]),
        "field statistics.correct: a rows statistic needs shape[0] = 3", base=mem)
# more elements than a part may hold, declared: refused before any array is read
variant("total-elements.json", lambda p: (S(p)["hist_cls"].update(shape=[2**25]), S(p)["hist_image"].update(shape=[2**25, 2])),
        "the statistics declare more than 67108864 elements together")
# counts
variant("negative-count.json", lambda p: S(p)["images"].update(ints=[-1]), "field statistics.images: count [0] is negative")
# (each part's own counts are checked as it is read, before the parts are added)
variant("max-count.json", lambda p: S(p)["images"].update(ints=[2**63 - 1]), "hostile/max-count.json: field statistics.images (9223372036854775807) is too large for 17 tokens", merge_with="part-2-of-2.json")
assert '"images": {"combine": "sum", "ints": [3]' in json.dumps(p1, sort_keys=True)
assert '"sum_s_cls": {"combine": "sum", "floats": [' in json.dumps(p1, sort_keys=True)
f = write("count-2-63.json", None, raw=json.dumps(p1, sort_keys=True).replace('"images": {"combine": "sum", "ints": [3]', '"images": {"combine": "sum", "ints": [9223372036854775808]'))
case("count-2-63.json", [f], "hostile/count-2-63.json: field statistics.images[0]: number 9223372036854775808 is out of range")
variant("images-times-tokens.json", lambda p: S(p)["images"].update(ints=[2**63 - 1]), "hostile/images-times-tokens.json: field statistics.images (9223372036854775807) is too large")
variant("correct-above-images.json", lambda p: S(p)["correct"].update(ints=[4]), "field statistics.correct (4) exceeds statistics.images (3)")
# counts that contradict each other, per analysis
variant("images-not-items.json", lambda p: S(p)["images"].update(ints=[2]), "hostile/images-not-items.json: field statistics.images: is 2, but the part covers 3 images")
variant("hist-not-images.json", lambda p: S(p)["hist_cls"]["ints"].__setitem__(0, S(p)["hist_cls"]["ints"][0] + 1), "field statistics.hist_cls[0]: counts 4 CLS tokens, the 3 images have 3")
variant("sum-s-above-images.json", lambda p: S(p)["sum_s_cls"]["floats"].__setitem__(0, 5.0), "field statistics.sum_s_cls[0]: is 5.0, not in 0...3")
variant("cls-identifiable-above.json", lambda p: S(p)["cls_identifiable"]["ints"].__setitem__(1, 4), "field statistics.cls_identifiable[1]: is 4, more than the 3 CLS tokens")
def composed(p):
    c = S(p)["composed"]; t = S(p)["composed_total"]
    c["ints"][0] = t["ints"][0] + 1
variant("composed-above-total.json", composed, "hostile/composed-above-total.json: field statistics.composed[0, 0, 0] is", base=mem)
variant("context-s-above-1.json", lambda p: S(p)["s"]["floats"].__setitem__(5, 2.0), "hostile/context-s-above-1.json: field statistics.s[0, 0, 5] is 2.0, not in 0...1", base=ctx)
variant("probe-sum-y.json", lambda p: S(p)["sum_y"]["floats"].__setitem__(0, S(p)["sum_y"]["floats"][0] + 2), "hostile/probe-sum-y.json: field statistics.sum_y[0, 0]: the class counts it implies add to 4.0, not n = 3", base=prb)
variant("probe-sum-y-odd.json", lambda p: S(p)["sum_y"]["floats"].__setitem__(0, 0.5), "hostile/probe-sum-y-odd.json: field statistics.sum_y[0, 0, 0] is 0.5", base=prb)
variant("probe-sum-yy.json", lambda p: S(p)["sum_yy"]["floats"].__setitem__(3, 2.0), "hostile/probe-sum-yy.json: field statistics.sum_yy[0, 0, 3] is 2.0, not n = 3", base=prb)
variant("perturbation-images.json", lambda p: S(p)["images"].update(ints=[1]), "field statistics.images is 1, but the part covers 3 images", base=json.load(open(os.path.join(root, "perturbation-probe-1.json"))))
# a part does not decide its own validation: NaN where the analysis allows none, "finite" or not
def finite_false(p):
    S(p)["sum_s_cls"]["floats"][0] = float("nan"); S(p)["sum_s_cls"]["finite"] = False
variant("finite-false.json", finite_false, "hostile/finite-false.json: field statistics.sum_s_cls: unknown field 'finite'")
variant("context-removal-nan.json", lambda p: S(p)["removal"]["floats"].__setitem__(0, float("nan")), "field statistics.removal[0]: holds NaN beside rates", base=ctx)
f = write("escaped-nan.json", None, raw=json.dumps(p1, sort_keys=True).replace('"sum_s_cls": {"combine": "sum", "floats": [', '"sum_s_cls": {"combine": "sum", "floats": ["\\u006ean", ', 1))
case("escaped-nan.json", [f], "field statistics.sum_s_cls.floats[0]: expected a number, got the string \"nan\"")
variant("context-s-nan.json", lambda p: S(p)["s"]["floats"].__setitem__(0, float("nan")), "field statistics.s: value [0] is nan, not finite", base=ctx)
# merge runs the permutation tests: a part cannot ask for hours of them
variant("shuffles-huge.json", lambda p: p["arguments"].update(shuffles="16777216"), "hostile/shuffles-huge.json: field arguments.shuffles: must be an integer in 1...100000", base=mem)
variant("shuffles-zero.json", lambda p: p["arguments"].update(shuffles="0"), "field arguments.shuffles: must be an integer in 1...100000", base=ctx)
variant("unknown-argument.json", lambda p: p["arguments"].update(extra="1"), "field arguments: unknown argument 'extra' for identifiability")
variant("missing-argument.json", lambda p: p["arguments"].pop("mode"), "field arguments.mode: is missing (identifiability parts hold it)")
variant("missing-statistic.json", lambda p: S(p).pop("m6_none"), "field statistics.m6_none: is missing (identifiability parts hold it)")
# floats
variant("nan.json", lambda p: S(p)["sum_s_cls"]["floats"].__setitem__(0, float("nan")), "field statistics.sum_s_cls: value [0] is nan, not finite")
variant("inf.json", lambda p: S(p)["sum_s_image"]["floats"].__setitem__(1, float("inf")), "field statistics.sum_s_image: value [1] is inf, not finite")
q = copy.deepcopy(p1); S(q)["sum_s_cls"]["floats"][0] = 12345.678
f = write("huge-float.json", None, raw=json.dumps(q, sort_keys=True).replace("12345.678", "1e999"))
case("huge-float.json", [f], "hostile/huge-float.json: field statistics.sum_s_cls[0]: number 1e999 is out of range")
variant("max-float.json", lambda p: S(p)["sum_s_cls"]["floats"].__setitem__(0, 1.7e308), "hostile/max-float.json: field statistics.sum_s_cls[0]: is 1.7e+308, not in 0...3",
        merge_with="hostile/max-float-2.json")
q = copy.deepcopy(p2); S(q)["sum_s_cls"]["floats"][0] = 1.7e308; write("max-float-2.json", q)
# format
f = write("not-json.json", None, raw="{ this is not json")
case("not-json.json", [f], "not a valid vls part file: not JSON")
variant("version-3.json", lambda p: p.update(version=3), "field version: part format version 3 is not supported")
variant("version-1.json", lambda p: p.update(version=1), "field version: part format version 1 is not supported (this vls reads version 2")
# strict JSON: duplicate keys, unknown fields, numbers out of range, each named
f = write("duplicate-key.json", None, raw=json.dumps(p1, sort_keys=True).replace('"version": 2', '"version": 2, "version": 2'))
case("duplicate-key.json", [f], "hostile/duplicate-key.json: not a valid vls part file: field version is given twice (duplicate key)")
f = write("duplicate-stat-key.json", None, raw=json.dumps(p1, sort_keys=True).replace('"images": {"combine": "sum", "ints": [3]', '"images": {"combine": "sum", "ints": [3], "ints": [2]'))
case("duplicate-stat-key.json", [f], "field statistics.images.ints is given twice (duplicate key)")
variant("unknown-field.json", lambda p: p.update(comment="hi"), "hostile/unknown-field.json: field the top level: unknown field 'comment'")
variant("unknown-dataset-field.json", lambda p: p["dataset"].update(folder="x"), "field dataset: unknown field 'folder'")
f = write("seed-out-of-range.json", None, raw=json.dumps(p1, sort_keys=True).replace('"seed": 0', '"seed": 18446744073709551616'))
case("seed-out-of-range.json", [f], "field model.seed: number 18446744073709551616 is out of range")
f = write("version-out-of-range.json", None, raw=json.dumps(p1, sort_keys=True).replace('"version": 2', '"version": 1e400'))
case("version-out-of-range.json", [f], "field version: expected an integer, got 1e400")
variant("string-in-array.json", lambda p: S(p)["sum_s_cls"]["floats"].__setitem__(0, "1.5"), "field statistics.sum_s_cls.floats[0]: expected a number, got the string \"1.5\"")
many = copy.deepcopy(p1); many["arguments"].update({"a%d" % i: "" for i in range(1001)})
f = write("many-fields.json", many)
case("many-fields.json", [f], "hostile/many-fields.json: not a valid vls part file: field arguments has more than 1000 fields")
many = copy.deepcopy(p1); many["statistics"].update({"x%d" % i: {"a%d" % j: 0 for j in range(900)} for i in range(12)})
f = write("many-fields-in-all.json", many)
case("many-fields-in-all.json", [f], "hostile/many-fields-in-all.json: not a valid vls part file: more than 10000 fields in all")
f = write("deep.json", None, raw="[" * 10000 + "]" * 10000)
case("deep.json", [f], "hostile/deep.json: not a valid vls part file: field [0]: expected a number")
f = write("deep-object.json", None, raw='{"a":' * 10000 + "1" + "}" * 10000)
case("deep-object.json", [f], "hostile/deep-object.json: not a valid vls part file: not JSON at line 1, column 86: nested deeper than 16 levels")
variant("missing-field.json", lambda p: p.pop("model"), "field model is missing")
variant("wrong-type.json", lambda p: p.update(shards="1"), "field shards has the wrong type")
variant("shard-out-of-range.json", lambda p: p.update(shards=[3]), "field shards[0]: shard 3 is not in 1...2")
variant("items-wrong.json", lambda p: p.update(items=[0, 1, 2]), "field items[1]: position 1 belongs to shard 2")
variant("items-short.json", lambda p: p.update(items=[0]), "field items: holds 1 positions")
variant("bad-digest.json", lambda p: p["model"].update(sha256="xyz"), "field model.sha256: must be 64 lowercase hex digits")
variant("unknown-analysis.json", lambda p: p.update(analysis="telepathy"), "field analysis: unknown analysis 'telepathy'")
# not a partition
case("duplicate.json", ["part-1-of-2.json", "hostile/duplicate-copy.json", "part-2-of-2.json"], "shard 1/2 is given twice")
write("duplicate-copy.json", p1)
variant("foreign-model.json", lambda p: p["model"].update(sha256="0" * 64), "different runs: model (weights sha256)", base=p2,
        merge_with=None)
cases[-1]["inputs"] = ["part-1-of-2.json", "hostile/foreign-model.json"]
variant("other-seed.json", lambda p: p["model"].update(seed=7), "different runs: seed", base=p2)
cases[-1]["inputs"] = ["part-1-of-2.json", "hostile/other-seed.json"]
variant("other-dataset.json", lambda p: p["dataset"].update(digest="1" * 64), "different runs: dataset", base=p2)
cases[-1]["inputs"] = ["part-1-of-2.json", "hostile/other-dataset.json"]
variant("other-selection.json", lambda p: p["dataset"].update(selection="take(5)"), "different runs: selection", base=p2)
cases[-1]["inputs"] = ["part-1-of-2.json", "hostile/other-selection.json"]
variant("other-arguments.json", lambda p: p["arguments"].update(mode="paper"), "different runs: arguments", base=p2)
cases[-1]["inputs"] = ["part-1-of-2.json", "hostile/other-arguments.json"]
variant("other-analysis.json", lambda p: p.update(analysis="memories"), "hostile/other-analysis.json: field arguments.k: is missing (memories parts hold it)", base=p2)
case("other-analysis", ["part-1-of-2.json", "perturbation-probe-1.json"], "perturbation-probe-1.json and ")
cases[-1]["expect"] = "are parts of different runs: analysis perturbation vs identifiability"
variant("other-count.json", lambda p: (p.update(shard_count=3, shards=[2], missing_shards=[1, 3], items=[1, 4])), "different runs: shard count", base=p2)
cases[-1]["inputs"] = ["part-1-of-2.json", "hostile/other-count.json"]
# review: a histogram count whose row sum overflows; tokens beyond the images; a negative sum of squares
variant("hist-sum-overflow.json", lambda p: S(p)["hist_cls"]["ints"].__setitem__(0, 2**63 - 1),
        "field statistics.hist_cls[0]: its counts overflow a 64-bit sum")
variant("memories-tokens-huge.json", lambda p: S(p)["tokens"]["ints"].__setitem__(0, 2**62),
        "field statistics.tokens[0, 0] counts more tokens than the part's", base=mem)
variant("probes-negative-diagonal.json", lambda p: S(p)["xtx"]["floats"].__setitem__(0, -5.0),
        "field statistics.xtx[0, 0, 0, 0] is -5.0: a sum of squares cannot be negative", base=prb)
# parts that must not merge: other probes, other masks (the analysis's own identity)
case("other-probes", ["perturbation-probe-1.json", "perturbation-probe-2.json"], "are parts of different runs: arguments (method: probe, order: negative, probes: probes of resid_post: 3 blocks x 17 positions, ridge alpha 2.0, trained on 5 images, sha256 ")
case("other-masks", ["context-1.json", "context-2.json"], "are parts of different runs: arguments (masks: given, sha256 ")
case("missing-output-folder", ["part-1-of-2.json", "part-2-of-2.json"], "the folder", output="no-such-folder/all.json")
case("missing-shard", ["part-1-of-2.json"], "shards 2 of 2 are missing (given: 1)")
cases[-1]["partial"] = False
case("output-among-inputs", ["part-1-of-2.json", "part-2-of-2.json"], "is also among the inputs", output="part-2-of-2.json")
case("same-file-twice", ["part-1-of-2.json", "part-1-of-2.json"], "are the same file, given twice")
case("valid", ["part-1-of-2.json", "part-2-of-2.json"], "")
case("valid-partial", ["part-2-of-2.json"], "", partial=True)
json.dump(cases, open(os.path.join(root, "cases.json"), "w"), indent=1)
print(f"{len(cases)} cases in {root}/cases.json")
