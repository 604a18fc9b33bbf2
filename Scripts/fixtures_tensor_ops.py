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


# ---- Scalars, dtypes, advanced indexing, softmax/cumsum/clip/in (issue 17, items 2-4) ----
# These cases also carry "type" (what vls must give: float32, float, int, bool, or
# tensor:<dtype>) and, where the printed form is exact, "text": str() of numpy's scalar
# (True/False lower-cased as vls spells them) or np.array2string(v, precision=4,
# separator=', ') of numpy's array.

def vtype(v):
    if isinstance(v, np.ndarray):
        return "tensor:" + {"float32": "float32", "int64": "int64", "bool": "bool"}[str(v.dtype)]
    if isinstance(v, (bool, np.bool_)): return "bool"
    if isinstance(v, np.float32): return "float32"
    if isinstance(v, (float, np.float64)): return "float"
    if isinstance(v, (int, np.integer)): return "int"
    raise TypeError(type(v))

def vtext(v):
    if isinstance(v, np.ndarray):
        return np.array2string(v, precision=4, separator=', ')
    if isinstance(v, (bool, np.bool_)): return "true" if v else "false"
    if isinstance(v, np.float32): return str(v)
    return repr(float(v)) if isinstance(v, (float, np.float64)) else str(int(v))

def add_typed(program, inputs, v, kind="exact", tol=None, text=True, dtypes=None):
    add(program, inputs, v, kind, tol)
    c = cases[-1]
    c["type"] = vtype(v)
    if text: c["text"] = vtext(v)
    if dtypes:
        for k, d in dtypes.items(): c["inputs"][k]["dtype"] = d

def add_error(program, inputs, dtypes=None):
    add(program, inputs, None, "exact")
    if dtypes:
        for k, d in dtypes.items(): cases[-1]["inputs"][k]["dtype"] = d

# float32 scalars: indexing and order statistics are exact (shortest float32 text);
# arithmetic with Python numbers stays float32 (NEP 50), comparisons cast the number.
for _ in range(40):
    s = rand_shape(allow_zero=False)
    a = rand_values(s, nan=False)
    idx = tuple(int(rng.integers(-d, d)) for d in s)
    x = a[idx]
    isrc = ", ".join(map(str, idx))
    add_typed(f"r = a[{isrc}]", {"a": a}, x)
    k = float(rng.choice([0.1, 3, -2.5, 7, 1e-3]))
    kt = repr(k) if isinstance(k, float) and not k.is_integer() else str(int(k))
    kv = k if not k.is_integer() else int(k)
    op = str(rng.choice(["+", "-", "*", "/", "==", "<", ">="]))
    with np.errstate(all="ignore"):
        ref = {"+": lambda p, q: p + q, "-": lambda p, q: p - q, "*": lambda p, q: p * q, "/": lambda p, q: p / q,
               "==": lambda p, q: p == q, "<": lambda p, q: p < q, ">=": lambda p, q: p >= q}[op](x, kv)
    add_typed(f"x = a[{isrc}]\nr = x {op} {kt}", {"a": a}, ref)
    add_typed(f"x = a[{isrc}]\nr = {kt} {op} x", {"a": a}, {"+": lambda p, q: q + p, "-": lambda p, q: q - p, "*": lambda p, q: q * p,
              "/": lambda p, q: np.float32(q) / p if p != 0 else None, "==": lambda p, q: q == p, "<": lambda p, q: q < p, ">=": lambda p, q: q >= p}[op](x, kv)) if not (op == "/" and x == 0) else None
    add_typed(f"r = float(a[{isrc}])", {"a": a}, float(x))
    add_typed(f"r = a[{isrc}].item()", {"a": a}, x.item())
    red = str(rng.choice(["max", "min"]))
    add_typed(f"r = a.{red}()", {"a": a}, getattr(a, red)())
for v in (0.1, 1e-6, 123456789.0, 1e-5, 0.0001, 1234567.0, 999999.0, -0.0, 2.5e-38, 3.4e38):
    a = np.array([v], np.float32)
    add_typed("r = a[0]", {"a": a}, a[0])
add_typed("r = a.sum()", {"a": np.array([0.1, 0.2], np.float32)}, np.array([0.1, 0.2], np.float32).sum())

# bool and int64 results: comparisons, masks summed and averaged, indices.
for _ in range(30):
    s = rand_shape(allow_zero=False)
    a = rand_values(s, nan=True, ties=True)
    b = rand_values(s, nan=False, ties=True)
    add_typed("r = a > b", {"a": a, "b": b}, a > b)
    add_typed("r = (a == b).sum()", {"a": a, "b": b}, (a == b).sum())
    add_typed("r = (a <= b).mean()", {"a": a, "b": b}, (a <= b).mean())
    ax = int(rng.integers(-a.ndim, a.ndim))
    add_typed(f"r = (a < 0).sum(axis: {ax})", {"a": a}, (a < 0).sum(axis=ax))
    add_typed(f"r = a.argsort(axis: {ax})", {"a": a}, np.argsort(a, axis=ax, kind="stable"))
    add_typed(f"r = a.argmax(axis: {ax})", {"a": a}, np.argmax(a, axis=ax))
    add_typed("r = a.isnan()", {"a": a}, np.isnan(a))
    add_typed(f"r = (a > 0).any(axis: {ax})", {"a": a}, (a > 0).any(axis=ax))
    v, c = np.unique(a, return_counts=True)
    add_typed("v, n = a.unique(counts: true)\nr = n", {"a": a}, c)
yes = np.zeros(1000, np.float32); yes[:895] = 1
rng.shuffle(yes)
add_typed("r = (a == 1).mean()", {"a": yes}, (yes == 1).mean())       # 0.895, not 0.8949999809265137
add_typed("r = (a == 1).sum()", {"a": yes}, (yes == 1).sum())         # 895, not 895.0

# integer arithmetic on int64 tensors: exact; where numpy warns (division or modulo by
# zero) vls raises.
for _ in range(30):
    s = rand_shape(allow_zero=False)
    a = rng.integers(-20, 21, s).astype(np.int64)
    b = rng.integers(-5, 6, s[int(rng.integers(0, len(s))):]).astype(np.int64)
    op = str(rng.choice(["+", "-", "*", "//", "%"]))
    f = {"+": np.add, "-": np.subtract, "*": np.multiply, "//": np.floor_divide, "%": np.mod}[op]
    dt = {"a": "int64", "b": "int64"}
    r = attempt(lambda: f(a, b))
    if r is None:
        add_error(f"r = a {op} b", {"a": a, "b": b}, dt)
    else:
        add_typed(f"r = a {op} b", {"a": a, "b": b}, r, dtypes=dt)
    k = int(rng.integers(1, 5))
    add_typed(f"r = a {op} {k}", {"a": a}, f(a, k), dtypes={"a": "int64"})
    add_typed(f"r = a * 0.5", {"a": a}, (a * 0.5).astype(np.float32), text=False, dtypes={"a": "int64"})
for _ in range(8):
    a = rng.integers(-6, 7, (int(rng.integers(1, 6)),)).astype(np.int64)
    e = int(rng.integers(0, 6))
    add_typed(f"r = a ** {e}", {"a": a}, a ** e, dtypes={"a": "int64"})
    d = rng.integers(-3, 4, a.shape).astype(np.int64)
    r = attempt(lambda: a / d)
    if r is None:
        add_error("r = a / b", {"a": a, "b": d}, {"a": "int64", "b": "int64"})      # numpy warns: inf or nan
    else:
        add_typed("r = a / b", {"a": a, "b": d}, r.astype(np.float32), text=False, dtypes={"a": "int64", "b": "int64"})
add_error("r = a ** -1", {"a": np.array([1, 2], np.int64)}, {"a": "int64"})       # numpy refuses negative integer powers
add_error("r = a + 100000000", {"a": np.array([1, 2], np.int64)}, {"a": "int64"})  # beyond 2^24
add_error("r = a // 0", {"a": np.array([1, 2], np.int64)}, {"a": "int64"})
add_error("r = a % 0", {"a": np.array([1, 2], np.int64)}, {"a": "int64"})
add_error("r = a * 100000", {"a": np.array([1000], np.int64)}, {"a": "int64"})      # beyond 2^24: refused, never rounded

# advanced indexing: several index lists pair element by element and broadcast; arrays
# beside each other keep their place, separated ones go first; empty lists.
for _ in range(40):
    rank = int(rng.integers(1, 4))
    s = tuple(int(rng.integers(1, 5)) for _ in range(rank))
    a = rand_values(s, nan=False, ties=False)
    items, src = [], []
    narr = int(rng.integers(1, rank + 1))
    ishape = [(), (2,), (3,), (2, 1), (1, 3), (0,)][int(rng.integers(0, 6))]
    for d in range(rank):
        kind = "arr" if d < narr else str(rng.choice(["slice", "int", "arr", "none"]))
        if kind == "none":
            break
        if kind == "arr":
            if ishape == ():
                v = int(rng.integers(-s[d], s[d])); items.append(v); src.append(str(v))
            else:
                v = rng.integers(-s[d], s[d], ishape); items.append(v); src.append(str(v.tolist()))
        elif kind == "int":
            v = int(rng.integers(-s[d], s[d])); items.append(v); src.append(str(v))
        else:
            lo = int(rng.integers(0, s[d])); items.append(slice(lo, None)); src.append(f"{lo}:")
    if rng.random() < 0.3 and rank >= 2 and len(items) >= 2:
        items[0] = slice(None); src[0] = ":"
    exp = a[tuple(items)]
    prog = f"r = a[{', '.join(src)}]"
    if isinstance(exp, np.ndarray):
        add_typed(prog, {"a": a}, exp)
        x = a.copy(); x[tuple(items)] = -7
        add(f"a[{', '.join(src)}] = -7\nr = a", {"a": a}, x, "exact")
    else:
        add_typed(prog, {"a": a}, exp)
a = rand_values((3, 4), nan=False)
add_typed("r = a[[]]", {"a": a}, a[[]])
add_typed("r = a[[], 1:]", {"a": a}, a[[], 1:])
add_typed("r = a[[0, 2], [1, 3]]", {"a": a}, a[[0, 2], [1, 3]])
add_typed("r = a[[[0], [2]], [1, 3]]", {"a": a}, a[[[0], [2]], [1, 3]])
add_typed("r = a[a.argmax(axis: 0), [0, 1, 2, 3]]", {"a": a}, a[a.argmax(axis=0), [0, 1, 2, 3]])
add_error("r = a[[0, 1], [0, 1, 2]]", {"a": a})       # shapes (2,) and (3,) do not broadcast
add_error("r = a[[0, 5]]", {"a": a})                  # out of range
a3 = rand_values((2, 3, 4), nan=False)
add_typed("r = a[[0, 1], :, [1, 2]]", {"a": a3}, a3[[0, 1], :, [1, 2]])   # separated: pairs first
add_typed("r = a[0, :, [1, 2]]", {"a": a3}, a3[0, :, [1, 2]])             # the int counts as an array

# softmax as numpy computes it in float32 (underflow to 0 or subnormals, no 1.2e-38 floor)
for _ in range(12):
    s = rand_shape(allow_zero=False)
    a = (rand_values(s, nan=False) * np.float32(rng.choice([1, 30, 100]))).astype(np.float32)
    ax = int(rng.integers(-a.ndim, a.ndim))
    e = np.exp(a - a.max(axis=ax, keepdims=True))
    exp = e / e.sum(axis=ax, keepdims=True)
    add_typed(f"r = a.softmax(axis: {ax})", {"a": a}, exp, "tol", 8 * EPS * np.abs(exp.astype(np.float64)) + 1e-45, text=False)
a = np.array([0.0, -200.0, -90.0, -103.9], np.float32)
e = np.exp(a - a.max()); add_typed("r = a.softmax()", {"a": a}, e / e.sum(), "tol", 8 * EPS * np.abs((e / e.sum()).astype(np.float64)) + 1e-45, text=False)

# cumsum/cumprod of float32 accumulate in float32, as numpy: equal bit for bit
for _ in range(12):
    op = str(rng.choice(["cumsum", "cumprod"]))
    a = rand_values(rand_shape(), nan=False)
    if op == "cumprod":
        a = np.clip(a, -2, 2).astype(np.float32)
    ax = int(rng.integers(-a.ndim, a.ndim)) if rng.random() < 0.7 else None
    add_typed(f"r = a.{op}({'axis: %d' % ax if ax is not None else ''})", {"a": a}, getattr(np, op)(a, axis=ax), text=False)
a = np.full(5000, 0.1, np.float32)
add_typed("r = a.cumsum()", {"a": a}, np.cumsum(a), text=False)        # float32 drift, as numpy's
add_typed("r = (a > 0).cumsum()", {"a": a}, np.cumsum(a > 0))         # int64 counts

# clip with a NaN bound (numpy: NaN everywhere); `x in t` over every element
a = rand_values((2, 3), nan=False)
add_typed("r = a.clip(min: float(\"nan\"), max: 1)", {"a": a}, np.clip(a, np.float32(np.nan), np.float32(1)), text=False)
add_typed("r = a.clip(max: float(\"nan\"))", {"a": a}, np.clip(a, None, np.float32(np.nan)), text=False)
b = np.array([[1, 5], [3, 2]], np.float32)
add_typed("r = 5 in a", {"a": b}, bool((b == 5).any()))
add_typed("r = 4 in a", {"a": b}, bool((b == 4).any()))
add_error("d = {a: 1}\nr = 0", {"a": b})                   # numpy arrays are unhashable
add_error("d = {}\nd[a] = 1\nr = 0", {"a": b})
# logical_and/or/xor/not (numpy's names; NaN is true), broadcast, bool results
for _ in range(12):
    sh = rand_shape(allow_zero=rng.random() < 0.2)
    x = rand_values(sh, nan=True, ties=True)
    y = rand_values(bshape(sh), nan=True, ties=True)
    op = str(rng.choice(["and", "or", "xor"]))
    add_typed(f"r = logical_{op}(a, b)", {"a": x, "b": y}, getattr(np, "logical_" + op)(x, y))
    add_typed("r = logical_not(a)", {"a": x}, np.logical_not(x))
add_typed("r = logical_and(a > 0, a < 1)", {"a": np.array([-1, 0.5, 2, np.nan], np.float32)}, np.logical_and(np.array([-1, 0.5, 2, np.nan], np.float32) > 0, np.array([-1, 0.5, 2, np.nan], np.float32) < 1))
# where keeps integers integers; tensor(t) keeps the dtype
c = rand_values((3, 4), nan=False) > 0
add_typed("r = where(a > 0, 1, 0)", {"a": np.where(c, 1.0, -1.0).astype(np.float32)}, np.where(c, 1, 0))
x5 = rand_values((5,), nan=False, ties=False)
add_typed("r = tensor(a.argsort())", {"a": x5}, np.argsort(x5, kind="stable"))
# stack and concat keep a shared dtype
x6 = rand_values((2, 3), nan=False, ties=False)
add_typed("r = stack([a.argsort(), a.argsort()], axis: 1)", {"a": x6}, np.stack([np.argsort(x6, kind="stable")] * 2, axis=1))
add_typed("r = concat([a > 0, a < 0])", {"a": x6}, np.concatenate([x6 > 0, x6 < 0]))
add_typed("r = concat([a > 0, a])", {"a": x6}, np.concatenate([x6 > 0, x6]))
# a high-rank tensor prints (in linear time) as numpy prints it
a = np.arange(2, dtype=np.float32).reshape((1,) * 29 + (2,))
add_typed("r = a", {"a": a}, a)

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "tensors", "ops.json")
with open(out, "w") as f:
    json.dump({"numpy": np.__version__, "cases": cases}, f, separators=(",", ":"))
print(f"{len(cases)} cases -> {out} ({os.path.getsize(out)} bytes)")
