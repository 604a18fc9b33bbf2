"""scikit-learn Ridge references for the linear probes (Docs/method.md#linear-probes): the closed
form (solver="cholesky", vls's default) and the paper's solver="lsqr" (scipy's LSQR with
damp = sqrt(alpha), tol 1e-4, which stops before the exact solution), with its iteration
counts. Two problems: a well-conditioned one (40 x 24, 5 classes) and an ill-conditioned
one (60 x 48, 6 classes, feature scales over three decades) on which lsqr's early stop
leaves weights several percent away from the closed form."""
import os

import numpy as np
import torch
from safetensors.torch import save_file
from sklearn.linear_model import Ridge


def problem(seed, n, d, c, spread):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    if spread:
        scales = np.logspace(-1.5, 1.5, d)
        centers = rng.normal(0, 1, (c, d))
        x = ((centers[labels] + rng.normal(0, 1, (n, d))) * scales + 2).astype(np.float32)
    else:
        centers = rng.normal(0, 2, (c, d))
        x = (centers[labels] + rng.normal(0, 1, (n, d)) + 3).astype(np.float32)
    y = -np.ones((n, c))
    y[np.arange(n), labels] = 1
    return x, labels, y


def write(out_dir):
    out = {}
    for prefix, (seed, n, d, c, spread) in (("", (7, 40, 24, 5, False)), ("ill.", (11, 60, 48, 6, True))):
        x, labels, y = problem(seed, n, d, c, spread)
        out[prefix + "x"] = torch.tensor(x)
        out[prefix + "labels"] = torch.tensor(labels, dtype=torch.float32)
        for alpha in (1.0, 10.0):
            # float64 input: the values are float32's, the solvers run in double as vls's
            for solver, tag in (("cholesky", ""), ("lsqr", "lsqr.")):
                r = Ridge(alpha=alpha, solver=solver).fit(x.astype(np.float64), y)
                key = f"{prefix}{tag}alpha{alpha:g}"
                out[key + ".weight"] = torch.tensor(r.coef_.T.astype(np.float32))
                out[key + ".bias"] = torch.tensor(r.intercept_.astype(np.float32))
                if solver == "lsqr":
                    out[key + ".n_iter"] = torch.tensor(np.asarray(r.n_iter_, dtype=np.float32))
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(out_dir, "probes.safetensors"))
