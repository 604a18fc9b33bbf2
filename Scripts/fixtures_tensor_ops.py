#!/usr/bin/env python3
"""Generates Tests/Fixtures/tensors/ops.json: random float32 inputs (0-sized and 1-sized
axes, negative axes, broadcasting pairs, NaN and ties), a vls program over them and
numpy's result. TensorOpsTests replays every case through vls. Integer, boolean and order
results (argmax, argsort, sort, max, min, any, all, isnan, comparisons, where, clip,
assignment) are compared exactly; elementwise float results within 1e-6 relative;
reductions, cumsum, norm, var and friends within 4*n*2^-24*sum|x_i| of numpy's float64
result ("tol" per element). A case whose numpy call fails or warns (max of an empty axis,
mean of nothing) expects an error from vls.  Run: python3 Scripts/fixtures_tensor_ops.py"""
import json, os, warnings
import numpy as np

rng = np.random.default_rng(1717)
cases = []

def enc(a):
    a = np.asarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "bits": [int(b) for b in a.reshape(-1).view(np.uint32)]}

def encd(a):
    a = np.asarray(a, dtype=np.float64)
    return {"shape": list(a.shape), "values": [("nan" if np.isnan(x) else "inf" if x > 0 else "-inf") if not np.isfinite(x) else float(x) for x in a.reshape(-1)]}

def rand_shape(max_rank=3, allow_zero=True):
    rank = int(rng.integers(1, max_rank + 1))
    dims = [0, 1, 1, 2, 3, 4, 5] if allow_zero else [1, 2, 3, 4, 5]
    return tuple(int(rng.choice(dims)) for _ in range(rank))

def rand_values(s, nan=True, ties=True):
    n = int(np.prod(s))
    if ties and rng.random() < 0.3:
        x = rng.integers(-3, 4, n).astype(np.float32)
    else:
        x = rng.standard_normal(n).astype(np.float32) * np.float32(10.0 ** rng.integers(-2, 3))
    if nan and n and rng.random() < 0.15:
        x[rng.integers(0, n)] = np.nan
    return x.reshape(s)

def add(program, inputs, expected, kind, tol=None):
    c = {"program": program, "inputs": {k: enc(v) for k, v in inputs.items()}, "kind": kind}
    if expected is None:
        c["error"] = True
    else:
        c["expected"] = encd(expected)
        if tol is not None:
            c["tol"] = [float(t) for t in np.asarray(tol, dtype=np.float64).reshape(-1)]
    cases.append(c)

def attempt(f):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return f()
        except (ValueError, RuntimeWarning, ZeroDivisionError, IndexError):
            return None

EPS = 2.0 ** -24

def axis_arg(a):
    r = rng.random()
    if r < 0.3 or a.ndim == 0:
        return None, None, ""
    if r < 0.7 or a.ndim < 2:
        ax = int(rng.integers(-a.ndim, a.ndim))
        return ax, ax, f"axis: {ax}"
    k = int(rng.integers(2, a.ndim + 1))
    axs = [int(x) for x in rng.choice(a.ndim, size=k, replace=False)]
    axs = [x - a.ndim if rng.random() < 0.5 else x for x in axs]
    return tuple(axs), axs, f"axis: {axs}"

def red_tol(x, ax, keep, scale=4):
    x64 = np.abs(x.astype(np.float64))
    s = np.sum(x64, axis=ax, keepdims=keep)
    n = x.size if ax is None else int(np.prod([x.shape[i] for i in (ax if isinstance(ax, tuple) else (ax,))]))
    return scale * max(n, 1) * EPS * s

# reductions
for _ in range(160):
    op = str(rng.choice(["sum", "mean", "max", "min", "std", "var", "prod", "any", "all", "argmax", "argmin", "norm"]))
    a = rand_values(rand_shape(), nan=op in ("max", "min", "argmax", "argmin", "sum", "any"))
    if op == "prod":
        a = np.clip(a, -2, 2).astype(np.float32)
    keep = bool(rng.random() < 0.3) and op not in ("argmax", "argmin")
    if op in ("argmax", "argmin"):
        ax = int(rng.integers(-a.ndim, a.ndim)) if rng.random() < 0.6 else None
        args = f"axis: {ax}" if ax is not None else ""
        add(f"r = a.{op}({args})", {"a": a}, attempt(lambda: getattr(np, op)(a, axis=ax)), "exact")
        continue
    npax, vax, args = axis_arg(a)
    kw = [args] if args else []
    if keep: kw.append("keepdims: true")
    ddof = 0
    if op in ("std", "var") and rng.random() < 0.5:
        ddof = 1
        kw.append("ddof: 1")
    prog = f"r = a.{op}({', '.join(kw)})"
    x64 = a.astype(np.float64)
    if op in ("max", "min", "any", "all"):
        f = {"max": np.max, "min": np.min, "any": np.any, "all": np.all}[op]
        add(prog, {"a": a}, attempt(lambda: f(a, axis=npax, keepdims=keep)), "exact")
    elif op == "norm":
        exp = np.sqrt(np.sum(x64 * x64, axis=npax, keepdims=keep))
        add(prog, {"a": a}, exp, "tol", np.maximum(red_tol(a * a, npax, keep), 2 * EPS * exp))
    elif op == "prod":
        exp = np.prod(x64, axis=npax, keepdims=keep)
        add(prog, {"a": a}, exp, "tol", 4 * EPS * np.abs(exp) + 1e-30)
    else:
        f = {"sum": np.sum, "mean": np.mean, "std": np.std, "var": np.var}[op]
        extra = {"ddof": ddof} if op in ("std", "var") else {}
        exp = attempt(lambda: f(x64, axis=npax, keepdims=keep, **extra))
        if exp is not None and op in ("std", "var") and np.any(np.isnan(exp)) and not np.any(np.isnan(a)):
            exp = None  # numpy warns (n - ddof <= 0): vls raises or gives NaN; not checked here
            continue
        tol = None
        if exp is not None:
            base = red_tol(a, npax, keep)
            if op == "var":
                base = red_tol(a * a, npax, keep)
            tol = np.maximum(base, 2 * EPS * np.abs(exp))
        add(prog, {"a": a}, exp, "tol", tol)

# cumulative
for _ in range(30):
    op = str(rng.choice(["cumsum", "cumprod"]))
    a = rand_values(rand_shape(), nan=False)
    if op == "cumprod":
        a = np.clip(a, -2, 2).astype(np.float32)
    ax = int(rng.integers(-a.ndim, a.ndim)) if rng.random() < 0.7 else None
    x64 = a.astype(np.float64)
    exp = getattr(np, op)(x64, axis=ax)
    if op == "cumsum":
        tol = 4 * max(a.size, 1) * EPS * np.cumsum(np.abs(x64), axis=ax)
    else:
        tol = 4 * max(a.size, 1) * EPS * np.abs(exp)
    add(f"r = a.{op}({'axis: %d' % ax if ax is not None else ''})", {"a": a}, exp, "tol", np.maximum(tol, 1e-30))

# sort / argsort (stable, NaN last)
for _ in range(30):
    op = str(rng.choice(["sort", "argsort"]))
    a = rand_values(rand_shape(), nan=True, ties=True)
    ax = int(rng.integers(-a.ndim, a.ndim))
    exp = getattr(np, op)(a, axis=ax, kind="stable")
    add(f"r = a.{op}(axis: {ax})", {"a": a}, exp, "exact")

# elementwise, broadcasting pairs
def bshape(s):
    return tuple(d if rng.random() < 0.6 else 1 for d in s[int(rng.integers(0, len(s) + 1)):])
for _ in range(50):
    op = str(rng.choice(["+", "-", "*", "/", "<", ">=", "==", "where", "clip", "isnan", "isfinite"]))
    s = rand_shape(allow_zero=rng.random() < 0.2)
    a = rand_values(s, nan=True)
    b = rand_values(bshape(s), nan=False)
    if op == "/":
        b[b == 0] = 1
    if op in ("+", "-", "*", "/"):
        exp = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}[op](a, b)
        add(f"r = a {op} b", {"a": a, "b": b}, exp, "rel")
        add(f"r = b {op} a", {"a": a, "b": b}, {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}[op](b, a), "rel") if op != "/" else None
    elif op in ("<", ">=", "=="):
        exp = {"<": np.less, ">=": np.greater_equal, "==": np.equal}[op](a, b)
        add(f"r = a {op} b", {"a": a, "b": b}, exp, "exact")
    elif op == "where":
        c = (rand_values(bshape(s), nan=False) > 0).astype(np.float32)
        add("r = where(c, a, b)", {"a": a, "b": b, "c": c}, np.where(c != 0, a, b), "exact")
    elif op == "clip":
        add("r = a.clip(min: -0.5, max: 1)", {"a": a}, np.clip(a, np.float32(-0.5), np.float32(1)), "exact")
    else:
        add(f"r = a.{op}()", {"a": a}, getattr(np, op)(a), "exact")

# assignment with broadcasting (the result is the whole tensor after the write)
for _ in range(30):
    kind = str(rng.choice(["item", "slice", "mask", "list", "row"]))
    s = rand_shape(allow_zero=False)
    a = rand_values(s, nan=False)
    x = a.copy()
    if kind == "item":
        idx = tuple(int(rng.integers(-d, d)) for d in s)
        x[idx] = 5
        prog = f"a[{', '.join(map(str, idx))}] = 5\nr = a"
    elif kind == "slice":
        lo = int(rng.integers(0, s[0])); x[lo:] = -1
        prog = f"a[{lo}:] = -1\nr = a"
    elif kind == "mask":
        x[x > 0] = 0
        prog = "a[a > 0] = 0\nr = a"
    elif kind == "list":
        idx = sorted(set(int(i) for i in rng.integers(0, s[0], 2)))
        x[idx] = 2
        prog = f"a[{idx}] = 2\nr = a"
    else:
        if len(s) < 2:
            continue
        col = int(rng.integers(-s[1], s[1]))
        target = x[:, col].shape
        row = rand_values(target[1:] if len(target) > 1 else target, nan=False)
        x[:, col] = row
        add(f"a[:, {col}] = b\nr = a", {"a": a, "b": row}, x, "exact")
        continue
    add(prog, {"a": a}, x, "exact")

# einsum: the usual 1-3 operand contractions
specs = [("ij,jk->ik", [(3, 4), (4, 5)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]), ("i,i->", [(6,), (6,)]),
         ("ij->j", [(3, 5)]), ("ii->i", [(4, 4)]), ("ii->", [(3, 3)]), ("ij,ij->i", [(3, 4), (3, 4)]),
         ("bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 5, 4)]), ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
         ("ij,jk", [(2, 3), (3, 2)]), ("i,j->ij", [(3,), (4,)]), ("ij,j->i", [(0, 3), (3,)]), ("ij,j->i", [(2, 0), (0,)])]
for spec, shapes in specs * 2:
    ops = [rand_values(s_, nan=False, ties=False) for s_ in shapes]
    o64 = [x.astype(np.float64) for x in ops]
    exp = np.einsum(spec, *o64)
    absum = np.einsum(spec, *[np.abs(x) for x in o64])
    sizes = {}
    for sub, x in zip(spec.split("->")[0].split(","), ops):
        for c, d in zip(sub, x.shape): sizes[c] = d
    outl = spec.split("->")[1] if "->" in spec else "".join(sorted(c for c in sizes if spec.count(c) == 1))
    nsum = int(np.prod([sizes[c] for c in sizes if c not in outl])) * len(ops)
    names = "abc"[:len(ops)]
    add(f"r = einsum(\"{spec}\", {', '.join(names)})", dict(zip(names, ops)), exp, "tol",
        np.maximum(4 * max(nsum, 1) * EPS * absum, 2 * EPS * np.abs(exp)))

# unique with counts (NaN collapsed, last)
for _ in range(10):
    a = rand_values(rand_shape(), nan=True, ties=True)
    v, c = np.unique(a, return_counts=True)
    add("r = a.unique()", {"a": a}, v, "exact")
    add("v, n = a.unique(counts: true)\nr = n", {"a": a}, c, "exact")

# linspace
for n in (0, 1, 2, 5, 50):
    exp = np.linspace(-1.5, 2.0, n).astype(np.float32)
    add(f"r = linspace(-1.5, 2.0, {n})", {}, exp, "rel")

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "tensors", "ops.json")
with open(out, "w") as f:
    json.dump({"numpy": np.__version__, "cases": cases}, f, separators=(",", ":"))
print(f"{len(cases)} cases -> {out} ({os.path.getsize(out)} bytes)")
