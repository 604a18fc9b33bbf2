#!/usr/bin/env python3
"""Writes Tests/Fixtures/npy: .npy files and what numpy makes of them (expected.json),
replayed by NPYTests. For each file, numpy's np.load(...).astype(float32) values and
shape, or the fact that numpy refuses it. Where vls is stricter than numpy on purpose (a
header naming a key twice: numpy keeps the last silently), `vls_refuses` says so.

    python3 Scripts/fixtures_npy.py
"""
import io
import json
import os
import struct

import numpy as np

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "npy")


def raw(header, data, version=1):
    prefix = 10 if version == 1 else 12
    pad = (64 - (prefix + len(header) + 1) % 64) % 64
    h = (header + " " * pad + "\n").encode()
    length = struct.pack("<H", len(h)) if version == 1 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes([version, 0]) + length + h + data


def saved(a, fortran=False):
    f = io.BytesIO()
    np.save(f, np.asfortranarray(a) if fortran else a)
    return f.getvalue()


def main():
    os.makedirs(HERE, exist_ok=True)
    files = {
        # numpy's bool is any nonzero byte: astype(float32) gives 1.0 for 1, 2 and 255.
        "bool-bytes.npy": raw("{'descr': '|b1', 'fortran_order': False, 'shape': (2, 3), }", bytes([0, 1, 2, 255, 0, 128])),
        "bool-saved.npy": saved(np.array([[True, False], [False, True]])),
        "f4-fortran.npy": saved(np.arange(6, dtype=np.float32).reshape(2, 3) * 1.5 - 2, fortran=True),
        "f8.npy": saved(np.array([1e-40, -0.0, 3.25, 1e39], dtype=np.float64)),
        "i1.npy": saved(np.array([-128, -1, 0, 127], dtype=np.int8)),
        "u1.npy": saved(np.array([0, 1, 255], dtype=np.uint8)),
        "i8-scalar.npy": saved(np.array(-7, dtype=np.int64)),
        "f2-empty.npy": saved(np.zeros((0, 3), dtype=np.float16)),
        "v2-header.npy": raw("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", struct.pack("<2f", 1.5, -2), version=2),
        "fortran-order-int.npy": raw("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", bytes(4)),
        "fortran-order-string.npy": raw("{'descr': '<f4', 'fortran_order': 'False', 'shape': (1,), }", bytes(4)),
        "duplicate-shape.npy": raw("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'shape': (2,), }", bytes(8)),
        "duplicate-descr.npy": raw("{'descr': '<i4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", bytes(4)),
        "missing-shape.npy": raw("{'descr': '<f4', 'fortran_order': False, }", bytes(4)),
        "extra-key.npy": raw("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1, }", bytes(4)),
        "shape-negative.npy": raw("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", bytes(4)),
        "shape-float.npy": raw("{'descr': '<f4', 'fortran_order': False, 'shape': (1.0,), }", bytes(4)),
        "rank-65.npy": raw("{'descr': '<f4', 'fortran_order': False, 'shape': (" + "1, " * 65 + "), }", bytes(4)),
    }
    # Duplicate keys: numpy keeps the last; vls refuses (a silent choice between two shapes).
    stricter = {"duplicate-shape.npy", "duplicate-descr.npy"}
    # numpy (2.x) reads 64 axes at most; a wider shape is refused by both.
    expected = {}
    for name, data in sorted(files.items()):
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
        try:
            a = np.load(io.BytesIO(data), allow_pickle=False)
            with np.errstate(over="ignore"):
                v = a.astype(np.float32)   # 1e39 becomes inf, as in vls
            # JSON has no infinities: those are written as strings ("inf", "-inf", "nan").
            values = [float(x) if np.isfinite(x) else str(x) for x in v.ravel(order="C")]
            entry = {"shape": list(a.shape), "values": values}
            if name in stricter:
                entry = {"numpy_reads": entry, "vls_refuses": True}
        except Exception as e:  # numpy refuses: so does vls
            entry = {"numpy_error": f"{type(e).__name__}: {e}"}
        expected[name] = entry
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
