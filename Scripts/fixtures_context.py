"""Class vs context references (Docs/method.md#attention-and-context-interventions) computed with timm + PyTorch + numpy,
for Scripts/make_fixtures.py: on the standard fixture model, the metrics images
(metrics_input.safetensors) and a fixed per-patch mask (1 = class patch; the last image is
all context, so the token-removal experiment skips it),
- per block: lens ranks of every token (strict count, true class), the mean identifiability
  s = 1 - r/C of class and of context image tokens, their difference and its one-sided
  permutation p-value;
- per block b >= 1: the true-class logit change p_c(attn_out[b]) - p_c(resid_post[b-1]) of
  class and of context tokens, difference and p-value;
- token removal at the last block (tokens dropped after the position embedding, CLS kept):
  per image with both kinds of patch, % top-1 of CLS / class / context tokens unperturbed,
  of CLS and class tokens with the context removed, of context tokens with the class tokens
  removed; means over those images.
The permutation draws are numpy's and are stored (`permutations`, [S, tokens]), so vls can
recompute the same p exactly; `*.p_many` are p-values from 5000 numpy draws, to bound the
p-values vls gets from its own generator. p = #(permuted difference >= observed - 1e-12 *
max(1, |observed|)) / S, the tolerance keeping ties of discrete ranks independent of
summation order (as vls's permutation_test).

Run alone (reusing the committed model): ~/.cache/vls/venv/bin/python Scripts/fixtures_context.py
"""
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import load_file, save_file

SHUFFLES = 100


def lens(model, h):
    norm = model.fc_norm if isinstance(model.fc_norm, torch.nn.LayerNorm) else model.norm
    with torch.no_grad():
        return model.head(norm(h))


def capture(model, x, rows=None):
    """Block outputs and attention outputs (ls1) of every block; `rows` drops tokens after pos-embed."""
    resid, attn, handles = {}, {}, []
    if rows is not None:
        handles.append(model.pos_drop.register_forward_hook(lambda m, i, o: o[:, rows]))
    for i, blk in enumerate(model.blocks):
        handles.append(blk.register_forward_hook(lambda m, inp, o, i=i: resid.__setitem__(i, o.detach().clone())))
        handles.append(blk.ls1.register_forward_hook(lambda m, inp, o, i=i: attn.__setitem__(i, o.detach().clone())))
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    L = len(model.blocks)
    return ([lens(model, resid[b]).double().numpy() for b in range(L)],
            [lens(model, attn[b]).double().numpy() for b in range(L)])


def true_logit(logits, labels):
    """[B, T, C] -> [B, T]: the logit of each image's class."""
    return logits[np.arange(len(labels)), :, labels]


def ranks(logits, labels):
    return (logits > true_logit(logits, labels)[:, :, None]).sum(-1)


def perm_p(a, b, perms):
    pool = np.concatenate([a, b])
    observed = a.mean() - b.mean()
    tie = 1e-12 * max(1.0, abs(observed))
    diffs = np.array([pool[p][:len(a)].mean() - pool[p][len(a):].mean() for p in perms])
    return float(np.mean(diffs >= observed - tie))


def fixed_mask(n_images, patches):
    rng = np.random.default_rng(5)
    mask = rng.random((n_images, patches)) < 0.4
    for i in range(n_images - 1):      # both kinds in every image but the last
        mask[i, 0], mask[i, -1] = True, False
    mask[-1] = False                    # all context: skipped by the removal experiment
    return mask


def write(folder, model):
    inp = load_file(os.path.join(folder, "metrics_input.safetensors"))
    x, labels = inp["images"], [int(v) for v in inp["labels"].tolist()]
    lab = np.array(labels)
    B, P = x.shape[0], model.num_prefix_tokens
    resid, attn = capture(model, x)
    L, C = len(resid), resid[0].shape[-1]
    N = resid[0].shape[1] - P
    mask = fixed_mask(B, N)
    rng = np.random.default_rng(6)
    perms = np.stack([rng.permutation(B * N) for _ in range(SHUFFLES)])
    many = [rng.permutation(B * N) for _ in range(5000)]
    out = {"mask": torch.tensor(mask.reshape(B, int(N ** 0.5), -1).astype(np.float32)),
           "labels": torch.tensor(lab.astype(np.float32)),
           "permutations": torch.tensor(perms.astype(np.uint8))}
    r = np.stack([ranks(resid[b], lab) for b in range(L)])          # [L, B, T]
    out["ranks"] = torch.tensor(r.astype(np.uint8))
    s = 1 - r[:, :, P:] / C
    rows = {k: [] for k in ("s_class", "s_context", "difference", "p", "p_many")}
    for b in range(L):
        a, c = s[b][mask], s[b][~mask]
        for k, v in zip(rows, (a.mean(), c.mean(), a.mean() - c.mean(), perm_p(a, c, perms), perm_p(a, c, many))):
            rows[k].append(v)
    for k, v in rows.items():
        out[f"identifiability.{k}"] = torch.tensor(np.array(v, dtype=np.float32))
    rows = {k: [] for k in ("class", "context", "difference", "p", "p_many")}
    for b in range(1, L):
        d = (true_logit(attn[b], lab) - true_logit(resid[b - 1], lab))[:, P:]
        a, c = d[mask], d[~mask]
        for k, v in zip(rows, (a.mean(), c.mean(), a.mean() - c.mean(), perm_p(a, c, perms), perm_p(a, c, many))):
            rows[k].append(v)
    for k, v in rows.items():
        out[f"logit_change.{k}"] = torch.tensor(np.array(v, dtype=np.float32))
    # token removal at the last block
    rem = [[] for _ in range(6)]
    last = r[-1]
    for i in range(B):
        cls, ctx = np.flatnonzero(mask[i]), np.flatnonzero(~mask[i])
        if len(cls) == 0 or len(ctx) == 0:
            continue
        rem[0].append(100.0 * (last[i, 0] == 0))
        rem[1].append(100.0 * np.mean(last[i, P + cls] == 0))
        rem[2].append(100.0 * np.mean(last[i, P + ctx] == 0))
        for keep, slots in ((cls, (3, 4)), (ctx, (5,))):
            kept, _ = capture(model, x[i:i + 1], rows=list(range(P)) + [int(k) + P for k in keep])
            rk = ranks(kept[-1], lab[i:i + 1])[0]
            if len(slots) == 2:
                rem[3].append(100.0 * (rk[0] == 0))
                rem[4].append(100.0 * np.mean(rk[P:] == 0))
            else:
                rem[5].append(100.0 * np.mean(rk[P:] == 0))
    out["removal.pct"] = torch.tensor(np.array([np.mean(v) for v in rem], dtype=np.float32))
    out["removal.images"] = torch.tensor(np.array([len(v) for v in rem], dtype=np.float32))
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(folder, "context.safetensors"))


def main():
    """Recomputes the references on the committed standard model (no other fixture changes)."""
    import timm
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    folder = os.path.join(root, "Tests", "Fixtures", "models", "standard")
    cfg = json.load(open(os.path.join(folder, "config.json")))
    model = timm.create_model(cfg["architecture"], pretrained=False, **cfg["model_args"]).eval()
    model.load_state_dict(load_file(os.path.join(folder, "model.safetensors")))
    write(folder, model)


if __name__ == "__main__":
    sys.exit(main())
