"""scikit-learn Ridge references for the linear probes (method.md section 6)."""
import os

import numpy as np
import torch
from safetensors.torch import save_file
from sklearn.linear_model import Ridge


def write(out_dir):
    rng = np.random.default_rng(7)
    n, d, c = 40, 24, 5
    labels = rng.integers(0, c, n)
    centers = rng.normal(0, 2, (c, d))
    x = (centers[labels] + rng.normal(0, 1, (n, d)) + 3).astype(np.float32)
    y = -np.ones((n, c))
    y[np.arange(n), labels] = 1
    out = {"x": torch.tensor(x), "labels": torch.tensor(labels, dtype=torch.float32)}
    for alpha in (1.0, 10.0):
        r = Ridge(alpha=alpha, solver="cholesky").fit(x.astype(np.float64), y)
        out[f"alpha{alpha:g}.weight"] = torch.tensor(r.coef_.T.astype(np.float32))
        out[f"alpha{alpha:g}.bias"] = torch.tensor(r.intercept_.astype(np.float32))
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(out_dir, "probes.safetensors"))
