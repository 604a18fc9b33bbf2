"""Key-value memory statistics (Docs/method.md#key-value-memories) computed with timm + PyTorch, for
Scripts/make_fixtures.py, in both definitions vls offers (`memories(..., mode:)`):

- "correct": memories as they act on the residual stream. Values are gamma * column on
  layer-scale models (DeiT-3), the sublayer output is what is added to the residual (after
  the layer scale; after the block's norm on post-norm models), a distilled model projects
  through the mean of its two heads (as timm's eval output and vls's `project`), and
  compositionality is counted for CLS and image tokens separately; registers and the
  distillation token belong to neither ("other").
- "paper": the authors' code (src/memories.py compute_composition, src/extractor.py,
  src/plots/mech_interp.py plot_memory_compositionality): raw fc2 / attn.proj columns,
  the fc2 / attn.proj output before the layer scale (with norm1 / norm2 on the post-norm
  GAP model), model.head alone, and one percentage pooled over every token of every image.

Agreement of each token's top-k keys with the true class's top-k values counts every
token in both modes. The random-class baseline uses numpy's draws
np.random.default_rng(seed).integers(0, C, C), exported so vls can be fed the same ones.
"""
import json
import os

import numpy as np
import timm
import torch


def _post_norm(blk):
    return isinstance(blk, timm.models.vision_transformer.ResPostBlock)


def _gamma(module):
    return getattr(module, "gamma", None)


def lens(model, h, mode):
    """Sublayer logits: LN_f then the head (paper: model.head; correct: mean of both heads)."""
    norm = model.fc_norm if isinstance(model.fc_norm, torch.nn.LayerNorm) else model.norm
    n = norm(h)
    out = model.head(n)
    if mode == "correct" and getattr(model, "head_dist", None) is not None:
        out = (out + model.head_dist(n)) / 2
    return out


def head_weight(model, mode):
    W = model.head.weight.detach()
    if mode == "correct" and getattr(model, "head_dist", None) is not None:
        W = (W + model.head_dist.weight.detach()) / 2
    return W


def values(model, blk, kind, mode):
    """[D, n]: column j is value j."""
    W = (blk.mlp.fc2.weight if kind == "mlp" else blk.attn.proj.weight).detach()
    if mode == "correct" and not _post_norm(blk):
        g = _gamma(blk.ls2 if kind == "mlp" else blk.ls1)
        if g is not None:
            W = g.detach()[:, None] * W
    return W


def capture(model, images):
    """Keys and the sublayer outputs of both definitions."""
    keys, outs, handles = {}, {}, []

    def put(store, key):
        return lambda m, inp, o: store.__setitem__(key, o.detach().clone())

    for i, blk in enumerate(model.blocks):
        blk.attn.fused_attn = False
        handles.append(blk.mlp.fc1.register_forward_hook(put(keys, ("mlp", i))))
        handles.append(blk.attn.proj.register_forward_pre_hook(
            lambda m, inp, i=i: keys.__setitem__(("attn", i), inp[0].detach().clone())))
        if _post_norm(blk):
            # x = x + norm1(attn(x)): the authors apply norm1 / norm2 to their GAP model's outputs.
            for kind, mod in (("attn", blk.norm1), ("mlp", blk.norm2)):
                handles.append(mod.register_forward_hook(put(outs, ("correct", kind, i))))
                handles.append(mod.register_forward_hook(put(outs, ("paper", kind, i))))
        else:
            handles.append(blk.ls1.register_forward_hook(put(outs, ("correct", "attn", i))))
            handles.append(blk.ls2.register_forward_hook(put(outs, ("correct", "mlp", i))))
            handles.append(blk.attn.proj.register_forward_hook(put(outs, ("paper", "attn", i))))
            handles.append(blk.mlp.fc2.register_forward_hook(put(outs, ("paper", "mlp", i))))
    with torch.no_grad():
        logits = model(images)
    for h in handles:
        h.remove()
    return keys, outs, logits


def compute(model, images, labels, k=5, seed=0):
    keys, outs, logits = capture(model, images)
    C = model.head.weight.shape[0]
    lab = torch.tensor(labels)
    B = images.shape[0]
    prefix = model.num_prefix_tokens
    has_cls = model.cls_token is not None
    random_classes = [int(v) for v in np.random.default_rng(seed).integers(0, C, C)]
    ref = {"k": k, "labels": labels, "seed": seed, "random_classes": random_classes,
           "correct_predictions": (logits.argmax(-1) == lab).int().tolist()}
    for mode in ("correct", "paper"):
        W = head_weight(model, mode)
        per_kind = {}
        cva = {}
        for kind in ("mlp", "attn"):
            per_block, cva_blocks = [], []
            for i, blk in enumerate(model.blocks):
                V = values(model, blk, kind, mode)
                P = W @ V                                                  # [C, n]
                top_values = P.topk(k, dim=1).indices                      # [C, k]
                memory_class = P.argmax(0)                                 # [n]
                top_keys = keys[(kind, i)].topk(k, dim=-1).indices         # [B, T, k]
                T = top_keys.shape[1]

                def agreement(classes):
                    a = torch.zeros(B, T, dtype=torch.bool)
                    for b in range(B):
                        v = set(top_values[classes[b]].tolist())
                        for t in range(T):
                            a[b, t] = bool(v & set(top_keys[b, t].tolist()))
                    return a
                agree_tok = agreement([int(c) for c in lab])
                random_tok = agreement([random_classes[int(c)] for c in lab])
                with torch.no_grad():
                    top1 = lens(model, outs[(mode, kind, i)], mode).argmax(-1)     # [B, T]
                # The authors' loop: each of the token's top-k memories mapped to its class,
                # isin the sublayer's top-1; a token composes when any matches.
                match = (memory_class[top_keys] == top1[..., None]).any(-1)     # [B, T]
                groups = {"cls": [0] if has_cls else [],
                          "image": list(range(prefix, T)),
                          "other": [t for t in range(1 if has_cls else 0, prefix)]}
                per_block.append({
                    "agree": [int(agree_tok[lab == c].sum()) for c in range(C)],
                    "agree_random": [int(random_tok[lab == c].sum()) for c in range(C)],
                    "tokens": [int((lab == c).sum()) * T for c in range(C)],
                    "cls_agree": agree_tok[:, 0].int().tolist() if has_cls else [],
                    "composed": {g: int(match[:, ts].sum()) for g, ts in groups.items()},
                    "composed_total": {g: B * len(ts) for g, ts in groups.items()},
                    # plot_memory_compositionality: sum(any) / numel * 100 over all tokens.
                    "composed_pooled_percent": float(match.sum() / match.flatten().shape[0] * 100),
                })
                Wn = W / W.norm(dim=-1, keepdim=True)
                Vn = V / V.norm(dim=0, keepdim=True)
                cva_blocks.append((Wn @ Vn).max(1).values.tolist())
            per_kind[kind] = per_block
            cva[kind] = cva_blocks
        ref[mode] = per_kind
        ref[mode]["class_value_agreement"] = cva
    return ref


def write(folder, model, images, labels, k=5, seed=0, input_name="metrics_input"):
    ref = compute(model, images, labels, k=k, seed=seed)
    ref["input"] = input_name
    with open(os.path.join(folder, "memories.json"), "w") as f:
        json.dump(ref, f)
