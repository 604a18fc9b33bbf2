#!/usr/bin/env python3
"""Histogram fixture: numpy.histogram counts and edges for `hist` (Tests/Fixtures/figures/hist.json).

Each case holds the data (float64 as repr strings: a JSON number parser need not round-trip
the last bit, Double(String) does), the bins,
the range (or null for the data's range) and numpy's counts and edges. The cases cover
values exactly on edges, values outside the range, a constant array (range widened by
0.5), decimal steps whose edges round (0.1 multiples) and a right edge that is included.
Run: python3 Scripts/fixtures_hist.py
"""
import json
import os
import numpy as np

rng = np.random.RandomState(18)
cases = []


def case(name, data, bins, rng_=None, dtype=np.float64):
    data = np.asarray(data, dtype=dtype)
    counts, edges = np.histogram(data, bins=bins, range=rng_)
    cases.append({
        "name": name,
        "dtype": np.dtype(dtype).name,
        "data": [repr(float(v)) for v in data],
        "bins": bins,
        "range": None if rng_ is None else [repr(float(rng_[0])), repr(float(rng_[1]))],
        "counts": [int(c) for c in counts],
        "edges": [repr(float(e)) for e in edges],
    })


case("normal, 10 bins", rng.normal(0.3, 1.7, size=500), 10)
case("normal, 37 bins, range", rng.normal(0, 1, size=400), 37, (-2.5, 1.75))
case("integers on edges", np.arange(0, 21) % 7, 7)
case("integers on edges, range", np.arange(-3, 25), 6, (0, 12))
case("tenths", np.round(np.arange(0, 1.0001, 0.1), 10), 10)
case("tenths, 3 bins", np.arange(0, 31) / 10.0, 3, (0.0, 3.0))
case("constant", [2.5] * 7, 4)
case("uniform, 1 bin", rng.uniform(-1, 1, size=50), 1)
case("exponential, 25 bins", rng.exponential(0.01, size=300), 25)
case("awkward range", rng.uniform(0, 1, size=300), 13, (0.1, 0.7))
# float32 arrays: numpy bins them with float32 edges and (without a range) float32 arithmetic,
# which differs from float64 near edges (arange(0, 127) / 7 in float32: the last bin gets 10).
case("float32 sevenths, 14 bins", np.arange(0, 127, dtype=np.float32) / np.float32(7), 14, dtype=np.float32)
case("float32 sevenths, 9 bins", np.arange(0, 127, dtype=np.float32) / np.float32(7), 9, dtype=np.float32)
case("float32 tenths", np.arange(0, 31, dtype=np.float32) / np.float32(10), 3, dtype=np.float32)
case("float32 tenths, 7 bins", np.arange(0, 101, dtype=np.float32) / np.float32(10), 7, dtype=np.float32)
case("float32 tenths, range", np.arange(0, 31, dtype=np.float32) / np.float32(10), 3, (0.0, 3.0), dtype=np.float32)
case("float32 normal, 23 bins", rng.normal(0.3, 1.7, size=2000).astype(np.float32), 23, dtype=np.float32)
case("float32 uniform, awkward range", rng.uniform(0, 1, size=2000).astype(np.float32), 13, (0.1, 0.7), dtype=np.float32)
case("float32 constant", np.full(5, 0.1, dtype=np.float32), 3, dtype=np.float32)

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "figures", "hist.json")
with open(out, "w") as f:
    json.dump({"numpy": np.__version__, "cases": cases}, f, indent=1)
    f.write("\n")
print("wrote", out, len(cases), "cases")
