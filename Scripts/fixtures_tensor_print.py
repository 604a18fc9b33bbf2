#!/usr/bin/env python3
"""Generates Tests/Fixtures/tensors/print.json: float32 arrays and what numpy prints for
them with np.array2string(a, precision=P, separator=', ', threshold=T, edgeitems=E,
max_line_width=W). TensorPrintTests replays them through vls's formatter (numpy is needed
only here, never by the tests). Values are stored as float32 bit patterns so NaN, inf and
-0 survive JSON.  Run: python3 Scripts/fixtures_tensor_print.py"""
import json, os
import numpy as np

rng = np.random.default_rng(17)
cases = []

def add(a, precision=4, threshold=1000, edgeitems=3, linewidth=75):
    a = np.asarray(a, dtype=np.float32)
    text = np.array2string(a, precision=precision, separator=', ', threshold=threshold,
                           edgeitems=edgeitems, max_line_width=linewidth)
    cases.append({"shape": list(a.shape), "bits": [int(b) for b in a.reshape(-1).view(np.uint32)],
                  "precision": precision, "threshold": threshold, "edgeitems": edgeitems,
                  "linewidth": linewidth, "expected": text})

def shape():
    rank = int(rng.integers(0, 4))
    return tuple(int(rng.choice([1, 2, 3, 4, 5, 7])) for _ in range(rank))

def values(s):
    kind = int(rng.integers(0, 9))
    n = int(np.prod(s)) if s else 1
    if kind == 0: x = rng.standard_normal(n)
    elif kind == 1: x = rng.integers(-20, 20, n).astype(np.float64)
    elif kind == 2: x = rng.standard_normal(n) * 10.0 ** rng.integers(-7, 9)
    elif kind == 3: x = rng.random(n) * 10.0 ** rng.integers(-3, 4, n)       # mixed scales
    elif kind == 4: x = np.round(rng.standard_normal(n), int(rng.integers(0, 4)))
    elif kind == 5:
        x = rng.standard_normal(n)
        x[rng.random(n) < 0.3] = rng.choice([np.nan, np.inf, -np.inf, 0.0, -0.0])
    elif kind == 6: x = rng.uniform(0, 1, n) ** 8                              # tiny values
    elif kind == 7: x = rng.choice([0.0, 0.5, 0.25, 1.0, 100.0], n)
    else: x = rng.standard_normal(n) * 1e5
    return x.reshape(s)

for _ in range(140):
    s = shape()
    add(values(s))
# special rows
add([])
add(np.zeros((0, 3)))
add([np.nan, np.inf])
add([np.nan, -np.inf, 1.5])
add([1e-5, 1.5])
add([6.3223e-05, 0.0005, 0.25])
add([0.8949999809265137])
add([1e8, 1.0])
add(np.arange(49, dtype=np.float32))                 # a 49-token rank vector prints whole
add(rng.standard_normal(20))
add(rng.standard_normal(1001))                       # summarised 1-d
add(rng.standard_normal((40, 30)))                   # summarised 2-d
add(rng.standard_normal((2, 11, 50)) * 1e-3)        # summarised 3-d, scientific
add(np.arange(2000, dtype=np.float32).reshape(2, 10, 100))
# other options
for _ in range(25):
    s = shape()
    add(values(s), precision=int(rng.integers(0, 8)), threshold=int(rng.choice([5, 10, 1000])),
        edgeitems=int(rng.integers(1, 4)), linewidth=int(rng.choice([20, 40, 75, 120])))

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "tensors", "print.json")
with open(out, "w") as f:
    json.dump({"numpy": np.__version__, "cases": cases}, f, separators=(",", ":"))
print(f"{len(cases)} cases -> {out}")
