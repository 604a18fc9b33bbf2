#!/usr/bin/env python3
"""Writes the hostile-part corpus (Tests/Fixtures/parts/hostile) from the two valid parts
part-1-of-2.json / part-2-of-2.json (written by `vls run --shard K/2` on the `standard`
fixture model), and cases.json: for each case the inputs given to `vls merge`, the output
path, and a piece of the expected error. Tests/VLSToolTests/ShardMergeTests.swift runs them.

    python3 Scripts/make-hostile-parts.py
"""
import copy, json, os

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "parts")
hostile = os.path.join(root, "hostile")
os.makedirs(hostile, exist_ok=True)
p1 = json.load(open(os.path.join(root, "part-1-of-2.json")))
p2 = json.load(open(os.path.join(root, "part-2-of-2.json")))
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
        "field statistics.hist_cls: shape")
variant("negative-dim.json", lambda p: S(p)["hist_cls"].update(shape=[-3, -20]),
        "field statistics.hist_cls: shape[0] is negative")
variant("config-depth.json", lambda p: p["model"]["config"].update(depth=2000000),
        "hostile/config-depth.json: field statistics.identifiable_tokens: expected sum of int with shape [2000000]")
variant("rows-mismatch.json", lambda p: S(p).update(extra={"combine": "rows", "type": "int", "shape": [7, 1], "ints": [0] * 7}),
        "field statistics.extra: a rows statistic needs shape[0] = 3")
# counts
variant("negative-count.json", lambda p: S(p)["images"].update(ints=[-1]), "field statistics.images: count [0] is negative")
variant("max-count.json", lambda p: S(p)["images"].update(ints=[2**63 - 1]), "overflows when added", merge_with="part-2-of-2.json")
assert '"images": {"combine": "sum", "ints": [3]' in json.dumps(p1, sort_keys=True)
assert '"sum_s_cls": {"combine": "sum", "floats": [' in json.dumps(p1, sort_keys=True)
f = write("count-2-63.json", None, raw=json.dumps(p1, sort_keys=True).replace('"images": {"combine": "sum", "ints": [3]', '"images": {"combine": "sum", "ints": [9223372036854775808]'))
case("count-2-63.json", [f], "hostile/count-2-63.json: not a valid vls part file")
variant("images-times-tokens.json", lambda p: S(p)["images"].update(ints=[2**63 - 1]), "hostile/images-times-tokens.json: field statistics.images (9223372036854775807) is too large")
variant("correct-above-images.json", lambda p: S(p)["correct"].update(ints=[4]), "field statistics.correct (4) exceeds statistics.images (3)")
# floats
variant("nan.json", lambda p: S(p)["sum_s_cls"]["floats"].__setitem__(0, float("nan")), "field statistics.sum_s_cls: value [0] is nan, not finite")
variant("inf.json", lambda p: S(p)["sum_s_image"]["floats"].__setitem__(1, float("inf")), "field statistics.sum_s_image: value [1] is inf, not finite")
f = write("huge-float.json", None, raw=json.dumps(p1, sort_keys=True).replace('"sum_s_cls": {"combine": "sum", "floats": [', '"sum_s_cls": {"combine": "sum", "floats": [1e999, '))
case("huge-float.json", [f], "hostile/huge-float.json: not a valid vls part file")
variant("max-float.json", lambda p: S(p)["sum_s_cls"]["floats"].__setitem__(0, 1.7e308), "statistics.sum_s_cls[0] overflows to inf when the parts are added (",
        merge_with="hostile/max-float-2.json")
q = copy.deepcopy(p2); S(q)["sum_s_cls"]["floats"][0] = 1.7e308; write("max-float-2.json", q)
# format
f = write("not-json.json", None, raw="{ this is not json")
case("not-json.json", [f], "not a valid vls part file: not JSON")
variant("version-2.json", lambda p: p.update(version=2), "field version: part format version 2 is not supported")
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
variant("other-analysis.json", lambda p: p.update(analysis="memories"), "different runs: analysis", base=p2)
cases[-1]["inputs"] = ["part-1-of-2.json", "hostile/other-analysis.json"]
variant("other-count.json", lambda p: (p.update(shard_count=3, shards=[2], missing_shards=[1, 3], items=[1, 4])), "different runs: shard count", base=p2)
cases[-1]["inputs"] = ["part-1-of-2.json", "hostile/other-count.json"]
case("missing-shard", ["part-1-of-2.json"], "shards 2 of 2 are missing (given: 1)")
cases[-1]["partial"] = False
case("output-among-inputs", ["part-1-of-2.json", "part-2-of-2.json"], "is also among the inputs", output="part-2-of-2.json")
case("same-file-twice", ["part-1-of-2.json", "part-1-of-2.json"], "are the same file, given twice")
case("valid", ["part-1-of-2.json", "part-2-of-2.json"], "")
case("valid-partial", ["part-2-of-2.json"], "", partial=True)
json.dump(cases, open(os.path.join(root, "cases.json"), "w"), indent=1)
print(f"{len(cases)} cases in {root}/cases.json")
