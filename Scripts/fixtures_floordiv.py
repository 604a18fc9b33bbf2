#!/usr/bin/env python3
"""Generates Tests/Fixtures/tensors/floordiv.json: numpy 2.x's float32 floor division
(np.floor_divide, np.float32 in and out) of random pairs, negatives, tiny and huge
magnitudes, exact multiples and the 0.1 family, as bit patterns. TensorOpsTests checks
vls's Tensor.floorDivide and `a // b` on tensors against every pair, bit for bit.
Run: python3 Scripts/fixtures_floordiv.py"""
import json, os, warnings
import numpy as np

rng = np.random.default_rng(2417)
a = np.concatenate([
    rng.uniform(-10, 10, 3000), rng.uniform(-1e6, 1e6, 1000),
    rng.integers(-50, 50, 1000) * 0.1, [1.0, 5.0, 0.7, -1.0, -0.7, 0.0, -0.0, 7.0, -7.0, 1e30, -1e-30],
]).astype(np.float32)
b = np.concatenate([
    rng.uniform(-3, 3, 3000), rng.choice([0.1, -0.1, 0.3, 0.7, 1e-3, 2.5], 1000), rng.uniform(-100, 100, 1000),
    [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, -0.1, 2.0, 3e-38, 7e20],
]).astype(np.float32)
b[b == 0] = np.float32(0.5)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    q = np.floor_divide(a, b)
assert q.dtype == np.float32
bits = lambda x: [int(v) for v in x.view(np.uint32)]
out = {"numpy": np.__version__, "a": bits(a), "b": bits(b), "floordiv": bits(q)}
path = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "tensors", "floordiv.json")
with open(path, "w") as f:
    json.dump(out, f)
print(len(a), "pairs ->", os.path.normpath(path))
