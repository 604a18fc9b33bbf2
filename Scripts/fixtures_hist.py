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


def case(name, data, bins, rng_=None):
    data = np.asarray(data, dtype=np.float64)
    counts, edges = np.histogram(data, bins=bins, range=rng_)
    cases.append({
        "name": name,
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

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "figures", "hist.json")
with open(out, "w") as f:
    json.dump({"numpy": np.__version__, "cases": cases}, f, indent=1)
    f.write("\n")
print("wrote", out, len(cases), "cases")
