"""Reference outputs of the lens issue (edits, lens, metrics M1-M6, Wilcoxon), computed with
timm + PyTorch + scipy, for Scripts/make_fixtures.py. Definitions: Docs/method.md#ranks-and-identifiability."""
import json
import os

import numpy as np
import scipy.stats
import torch
from safetensors.torch import save_file


def run_with(model, x, hooks):
    """Runs x with (module, hook_fn) forward hooks that may return replacements."""
    handles = [m.register_forward_hook(f) for m, f in hooks]
    with torch.no_grad():
        out = model(x)
    for h in handles:
        h.remove()
    return out


def capture_resid(model, x):
    res, hooks = {}, []
    for i, blk in enumerate(model.blocks):
        hooks.append((blk, (lambda i: lambda m, inp, o: res.__setitem__(i, o.detach().clone()))(i)))
    logits = run_with(model, x, hooks)
    return logits, res


def lens(model, h):
    """p(h) = W_h LN_f(h) + b_h, LN_f = norm, or fc_norm for pooled (GAP) models."""
    norm = model.fc_norm if isinstance(model.fc_norm, torch.nn.LayerNorm) else model.norm
    with torch.no_grad():
        return model.head(norm(h))


def edit_fixtures(model, x, x2, prefix):
    """Logits under each edit, on the standard (CLS, pre-norm) model."""
    out = {}
    for blk in model.blocks:
        blk.attn.fused_attn = False

    def self_only(m, inp, a):
        a = a.clone()
        T = a.shape[-1]
        for t in range(prefix, T):
            a[:, :, t, :] = 0
            a[:, :, t, t] = 1
        return a

    def no_cls(m, inp, a):
        a = a.clone()
        a[:, :, prefix:, 0] = 0
        return a

    def causal(T):
        return (torch.arange(T)[None, :] <= torch.arange(T)[:, None]).float()

    def masked(m, inp, a):  # causal mask, renormalised
        a = a * causal(a.shape[-1])
        return a / a.sum(-1, keepdim=True)

    out["edit.self_only"] = run_with(model, x, [(b.attn.attn_drop, self_only) for b in model.blocks])
    if model.cls_token is not None:
        out["edit.no_cls"] = run_with(model, x, [(b.attn.attn_drop, no_cls) for b in model.blocks])
    out["edit.mask_renorm"] = run_with(model, x, [(b.attn.attn_drop, masked) for b in model.blocks])
    out["edit.self_only_last"] = run_with(model, x, [(model.blocks[-1].attn.attn_drop, self_only)])
    keep = [0, 3, 5, 9]  # patch indices
    rows = list(range(prefix)) + [k + prefix for k in keep]
    out["edit.drop_tokens"] = run_with(model, x, [(model.pos_drop, lambda m, i, o: o[:, rows])])
    out["edit.ablate_attn_out_1"] = run_with(model, x, [(model.blocks[1].ls1, lambda m, i, o: torch.zeros_like(o))])
    out["edit.mean_ablate_mlp_out_0"] = run_with(
        model, x, [(model.blocks[0].ls2, lambda m, i, o: o.mean(0, keepdim=True).expand_as(o).clone())])
    # zero heads 1 and 3 of z (the attn.proj input) at block 0
    def zero_heads(m, inp):
        z = inp[0].clone()
        B, T, D = z.shape
        z = z.reshape(B, T, 4, D // 4)
        z[:, :, [1, 3]] = 0
        return (z.reshape(B, T, D),)
    h = model.blocks[0].attn.proj.register_forward_pre_hook(zero_heads)
    with torch.no_grad():
        out["edit.ablate_z_heads_0"] = model(x)
    h.remove()
    _, other = capture_resid(model, x2)
    out["edit.patch_resid_post_0"] = run_with(model, x, [(model.blocks[0], lambda m, i, o: other[0])])
    out["edit.input2"] = x2
    return out


def metrics_numpy(model, x, labels, mode, prefix, has_cls):
    """M1-M6 per block as Docs/method.md#ranks-and-identifiability defines them (rates in %)."""
    caps, hooks = {}, []
    for i, blk in enumerate(model.blocks):
        hooks.append((blk, (lambda i: lambda m, inp, o: caps.__setitem__(("resid", i), o.detach().clone()))(i)))
        hooks.append((blk.ls1, (lambda i: lambda m, inp, o: caps.__setitem__(("attn", i), o.detach().clone()))(i)))
        hooks.append((blk.ls2, (lambda i: lambda m, inp, o: caps.__setitem__(("mlp", i), o.detach().clone()))(i)))
    logits = run_with(model, x, hooks)
    L = len(model.blocks)
    B = x.shape[0]
    P = {k: lens(model, v).numpy() for k, v in caps.items()}  # [B, T, C]
    T, C = P[("resid", 0)].shape[1:]
    first = 1 if mode == "paper" else prefix
    lab = np.array(labels)
    rows = []
    for b in range(L):
        r = P[("resid", b)]
        true = r[np.arange(B), :, lab]                      # [B, T]
        rank = (r > true[:, :, None]).sum(-1)               # strict count
        s = 1 - rank / C
        img = rank[:, first:]
        row = {"block": b + 1,
               "m1_tokens": 100 * (img == 0).mean(),
               "m2_images": 100 * (img == 0).any(1).mean(),
               "s_image": s[:, first:].mean()}
        if has_cls:
            row["cls_top1"] = 100 * (rank[:, 0] == 0).mean()
            row["s_cls"] = s[:, 0].mean()
        if b >= 1:
            prev = P[("resid", b - 1)]
            ptrue = prev[np.arange(B), :, lab]
            row["m4_block_up"] = 100 * (true[:, first:] > ptrue[:, first:]).mean()
            for name in ("attn", "mlp"):
                sub = P[(name, b)][np.arange(B), :, lab]
                row[f"m5_{name}_image"] = 100 * (sub[:, first:] > ptrue[:, first:]).mean()
                if has_cls:
                    row[f"m5_{name}_cls"] = 100 * (sub[:, 0] > ptrue[:, 0]).mean()
            top = r.argmax(-1)
            sel = np.zeros(T, bool)
            sel[first:] = True
            if has_cls:
                sel[0] = True
            for key, other in (("m6_attn", P[("attn", b)]), ("m6_mlp", P[("mlp", b)]), ("m6_prev", prev)):
                row[key] = 100 * (other.argmax(-1) == top)[:, sel].mean()
            none = (P[("attn", b)].argmax(-1) != top) & (P[("mlp", b)].argmax(-1) != top) & (prev.argmax(-1) != top)
            row["m6_none"] = 100 * none[:, sel].mean()
        rows.append(row)
    acc = 100 * (logits.argmax(-1).numpy() == lab).mean()
    return {"rows": rows, "accuracy": acc, "labels": labels}


def wilcoxon_cases():
    rng = np.random.default_rng(5)
    cases = []
    for n, ties in ((30, False), (200, True), (80, True)):
        a = rng.normal(0.1, 1, n)
        b = rng.normal(0, 1, n)
        if ties:
            a = np.round(a, 1)
            b = np.round(b, 1)
        for alt in ("greater", "less", "two-sided"):
            r = scipy.stats.wilcoxon(a, b, zero_method="wilcox", correction=False, alternative=alt, method="approx")
            cases.append({"a": a.tolist(), "b": b.tolist(), "alternative": alt,
                          "statistic": float(r.statistic), "p": float(r.pvalue)})
    return cases


# Token positions the user-hook fixture scales (the same list is in
# Tests/VLSToolTests/Parity/hook_edits.vls).
HOOK_SCALE_TOKENS = [0, 2, 5]


def hook_fixtures(model, x):
    """User-function hooks (vls `hook(name, fn)`) as timm forward hooks, for
    Tests/VLSToolTests/Parity/hook_edits.vls: logits and a captured activation under each.

    - scale: blocks.0.hook_resid_post, tokens HOOK_SCALE_TOKENS multiplied by 0.5;
    - read: a function on every block's resid_post that returns nothing (must change
      nothing; what it saw at the last block is the unedited resid_post);
    - zero_mlp0: the two-argument form on every mlp_out, replacing only block 0's by zeros;
    - z_head: blocks.1.attn.hook_z, head 2 doubled (the attn.proj input)."""
    out = {}
    last = len(model.blocks) - 1

    def keep(store, key):
        return lambda m, inp, o: store.__setitem__(key, o.detach().clone())

    def scale(m, inp, o):
        o = o.clone()
        o[:, HOOK_SCALE_TOKENS] *= 0.5
        return o
    caps = {}
    out["hook.scale.logits"] = run_with(model, x, [(model.blocks[0], scale), (model.blocks[0], keep(caps, 0)),
                                                   (model.blocks[last], keep(caps, last))])
    out["hook.scale.resid_post_0"], out["hook.scale.resid_post_last"] = caps[0], caps[last]

    caps = {}
    out["hook.read.logits"] = run_with(model, x, [(model.blocks[last], keep(caps, last))])
    out["hook.read.resid_post_last"] = caps[last]

    caps = {}
    out["hook.zero_mlp0.logits"] = run_with(model, x, [(model.blocks[0].ls2, lambda m, i, o: torch.zeros_like(o)),
                                                       (model.blocks[0], keep(caps, 0))])
    out["hook.zero_mlp0.resid_post_0"] = caps[0]

    def double_head(m, inp):
        z = inp[0].clone()
        B, T, D = z.shape
        H = model.blocks[1].attn.num_heads
        z = z.reshape(B, T, H, D // H)
        z[:, :, 2] *= 2
        return (z.reshape(B, T, D),)
    caps = {}
    h = model.blocks[1].attn.proj.register_forward_pre_hook(double_head)
    out["hook.z_head.logits"] = run_with(model, x, [(model.blocks[1], keep(caps, 1))])
    h.remove()
    out["hook.z_head.resid_post_1"] = caps[1]
    return out


def write_hooks(folder, model, x):
    tensors = hook_fixtures(model, x)
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(folder, "hook_edits.safetensors"))


def write(folder, model, x, gen):
    prefix = model.num_prefix_tokens
    x2 = torch.randn(x.shape, generator=gen)
    tensors = edit_fixtures(model, x, x2, prefix)
    _, res = capture_resid(model, x)
    tensors["lens.resid_post"] = torch.stack([lens(model, res[i]) for i in range(len(model.blocks))])
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(folder, "edits.safetensors"))
    xm = torch.randn(6, *x.shape[1:], generator=gen)
    with torch.no_grad():
        pred = model(xm).argmax(-1).tolist()
    labels = [pred[0], pred[1], 3, 7, pred[4], 1]   # some right, some wrong
    save_file({"images": xm.contiguous(), "labels": torch.tensor(labels, dtype=torch.float32)},
              os.path.join(folder, "metrics_input.safetensors"))
    ref = {mode: metrics_numpy(model, xm, labels, mode, prefix, model.cls_token is not None) for mode in ("correct", "paper")}
    ref["wilcoxon"] = wilcoxon_cases()
    with open(os.path.join(folder, "metrics.json"), "w") as f:
        json.dump(ref, f, indent=1)


# ---------------------------------------------------------------------------------------
# Gradients (the backward pass of the core), Chefer et al. 2021 relevance, gradient x input.

GRAD_CLASSES = [3, 7]


def _grad_run(model, x, target, classes, edit_hooks=()):
    """One autograd run; returns ({vls hook name: (activation, grad)}, input grad, logits).

    target "logit": sum_b logits[b, c_b]; "ce": cross-entropy summed over the batch.
    edit_hooks: (module, forward hook[, "pre"]) returning replacements, registered first."""
    acts, handles = {}, []

    def keep(name):
        def hook(_m, _inp, o):
            o.retain_grad()
            acts[name] = o
            return o
        return hook

    def keep_input(name):
        def hook(_m, inp):
            inp[0].retain_grad()
            acts[name] = inp[0]
        return hook

    for m, f, *kind in edit_hooks:
        handles.append(m.register_forward_pre_hook(f) if kind == ["pre"] else m.register_forward_hook(f))
    handles.append(model.patch_embed.register_forward_hook(keep("hook_embed")))
    handles.append(model.pos_drop.register_forward_hook(keep("hook_pos_embed")))
    ResPostBlock = __import__("timm").models.vision_transformer.ResPostBlock
    for i, blk in enumerate(model.blocks):
        blk.attn.fused_attn = False
        post = isinstance(blk, ResPostBlock)
        b = f"blocks.{i}."
        handles.append(blk.register_forward_pre_hook(keep_input(b + "hook_resid_pre")))
        handles.append(blk.register_forward_hook(keep(b + "hook_resid_post")))
        handles.append(blk.attn.qkv.register_forward_hook(keep(b + "attn.qkv")))
        handles.append(blk.attn.attn_drop.register_forward_hook(keep(b + "attn.hook_pattern")))
        handles.append(blk.attn.proj.register_forward_pre_hook(keep_input(b + "attn.hook_z")))
        handles.append(blk.mlp.fc1.register_forward_hook(keep(b + "mlp.hook_pre")))
        handles.append(blk.mlp.fc2.register_forward_pre_hook(keep_input(b + "mlp.hook_post")))
        handles.append((blk.norm1 if post else blk.ls1).register_forward_hook(keep(b + "hook_attn_out")))
        handles.append((blk.norm2 if post else blk.ls2).register_forward_hook(keep(b + "hook_mlp_out")))
        if post:
            handles.append(blk.mlp.register_forward_pre_hook(keep_input(b + "hook_resid_mid")))
        else:
            handles.append(blk.norm2.register_forward_pre_hook(keep_input(b + "hook_resid_mid")))
            handles.append(blk.norm1.register_forward_hook(keep(b + "ln1.hook_normalized")))
            handles.append(blk.norm2.register_forward_hook(keep(b + "ln2.hook_normalized")))
    for norm in (model.norm, model.fc_norm):
        if isinstance(norm, torch.nn.LayerNorm):
            handles.append(norm.register_forward_hook(keep("ln_final.hook_normalized")))
    xi = x.clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model(xi)
        cls = torch.tensor(classes)
        if target == "logit":
            obj = logits[torch.arange(len(classes)), cls].sum()
        else:
            obj = torch.nn.functional.cross_entropy(logits, cls, reduction="sum")
        obj.backward()
    for h in handles:
        h.remove()
    out = {}
    H = model.blocks[0].attn.num_heads
    for name, a in acts.items():
        a, g = a.detach(), a.grad.detach()
        if name.endswith("hook_z"):
            B, T, D = a.shape
            a, g = a.reshape(B, T, H, D // H), g.reshape(B, T, H, D // H)
        if name.endswith("attn.qkv"):
            # q, k, v as vls's [B, T, H, dh] hooks (qkv rows ordered q|k|v, head, dim)
            B, T, D3 = a.shape
            a, g = a.reshape(B, T, 3, H, D3 // (3 * H)), g.reshape(B, T, 3, H, D3 // (3 * H))
            for j, n in enumerate("qkv"):
                out[name[:-3] + "hook_" + n] = (a[:, :, j].clone(), g[:, :, j].clone())
            continue
        out[name] = (a.clone(), g.clone())
    # scores (no module in timm): softmax backward of the pattern gradient, A * (dA - sum(dA * A))
    for i in range(len(model.blocks)):
        A, gA = out[f"blocks.{i}.attn.hook_pattern"]
        out[f"blocks.{i}.attn.hook_attn_scores"] = (None, A * (gA - (gA * A).sum(-1, keepdim=True)))
    model.zero_grad(set_to_none=True)
    return out, xi.grad.detach().clone(), logits.detach().clone(), obj.detach().clone()


def chefer(model, acts, prefix):
    """Chefer et al. 2021: R = I; per block R += mean_h clamp(dA * A, min 0) @ R; R[0, prefix:]."""
    A0 = acts["blocks.0.attn.hook_pattern"][0]
    B, H, T, _ = A0.shape
    R = torch.eye(T).expand(B, T, T).clone()
    for i in range(len(model.blocks)):
        A, g = acts[f"blocks.{i}.attn.hook_pattern"]
        cam = (g * A).clamp(min=0).mean(1)
        R = R + torch.bmm(cam, R)
    return R[:, 0, prefix:]


def grad_x_input(x, gx, patch):
    """sum over channels of grad * input, summed per patch: [B, n_patches] (row-major)."""
    s = (gx * x).sum(1)
    B, S, _ = s.shape
    g = S // patch
    return s[:, :g * patch, :g * patch].reshape(B, g, patch, g, patch).sum((2, 4)).reshape(B, g * g)


FULL_POINTS = None  # every point _grad_run records
MAIN_POINTS = ("hook_embed", "hook_pos_embed", "attn.hook_pattern", "attn.hook_z", "mlp.hook_pre",
               "hook_attn_out", "hook_mlp_out", "hook_resid_post")
SMALL_POINTS = ("attn.hook_pattern", "hook_resid_post")


def write_grads(folder, model, x, points=MAIN_POINTS, ce=True, edits=False):
    """grads.safetensors: for target logit (and ce), activations' gradients at the hook points
    whose name ends with one of `points` (None = all recorded; ce: the main points), the input gradient, Chefer
    relevance (CLS models) and gradient x input (pixels, tokens)."""
    prefix = model.num_prefix_tokens
    patch = model.patch_embed.patch_size[0]
    classes = GRAD_CLASSES[:x.shape[0]]
    t = {"classes": torch.tensor(classes, dtype=torch.float32)}
    for target in ("logit", "ce") if ce else ("logit",):
        acts, gx, logits, obj = _grad_run(model, x, target, classes)
        t[f"{target}.objective"] = obj.reshape(1)
        t[f"{target}.input"] = gx
        wanted = points if target == "logit" else MAIN_POINTS   # ce: the main points only
        for name, (_a, g) in acts.items():
            if wanted is None or name.endswith(wanted):
                t[f"{target}.{name}"] = g
        if model.cls_token is not None:
            t[f"{target}.chefer"] = chefer(model, acts, prefix)
        t[f"{target}.gxi_input"] = grad_x_input(x, gx, patch)
        a, g = acts["hook_pos_embed"]
        t[f"{target}.gxi_tokens"] = (a * g).sum(-1)[:, prefix:]
    t["logits"] = logits
    if edits:
        # Edited runs (logit target): no_cls and a renormalised causal mask at every block,
        # self_only at the last block, token removal, mean ablation of mlp_out 0, zero
        # ablation of heads 1 and 3 of pattern 0 and of z 1 at tokens 0 and 2.
        def self_only(m, inp, a):
            a = a.clone()
            for tt in range(prefix, a.shape[-1]):
                a[:, :, tt, :] = 0
                a[:, :, tt, tt] = 1
            return a

        def zero_heads(m, inp, a):
            a = a.clone()
            a[:, [1, 3]] = 0
            return a

        def no_cls(m, inp, a):
            a = a.clone()
            a[:, :, prefix:, 0] = 0
            return a

        def mask_renorm(m, inp, a):  # causal mask, renormalised
            T = a.shape[-1]
            a = a * (torch.arange(T)[None, :] <= torch.arange(T)[:, None]).float()
            return a / a.sum(-1, keepdim=True)

        def zero_z_heads_tokens(m, inp):  # heads 1, 3 of z at tokens 0, 2
            z = inp[0].clone()
            B, T, D = z.shape
            z = z.reshape(B, T, 4, D // 4)
            for tok in (0, 2):
                z[:, tok, [1, 3]] = 0
            return (z.reshape(B, T, D),)

        keep = [0, 3, 5, 9]
        rows = list(range(prefix)) + [k + prefix for k in keep]
        cases = {
            "no_cls": [(b.attn.attn_drop, no_cls) for b in model.blocks],
            "mask_renorm": [(b.attn.attn_drop, mask_renorm) for b in model.blocks],
            "ablate_z_heads_tokens_1": [(model.blocks[1].attn.proj, zero_z_heads_tokens, "pre")],
            "self_only_last": [(model.blocks[-1].attn.attn_drop, self_only)],
            "drop_tokens": [(model.pos_drop, lambda m, i, o: o[:, rows])],
            "mean_ablate_mlp_out_0": [(model.blocks[0].ls2, lambda m, i, o: o.mean(0, keepdim=True).expand_as(o))],
            "ablate_pattern_heads_0": [(model.blocks[0].attn.attn_drop, zero_heads)],
        }
        for key, hooks in cases.items():
            acts, gx, logits, obj = _grad_run(model, x, "logit", classes, hooks)
            t[f"edit.{key}.input"] = gx
            t[f"edit.{key}.logits"] = logits
            for i in range(len(model.blocks)):
                t[f"edit.{key}.blocks.{i}.hook_resid_post"] = acts[f"blocks.{i}.hook_resid_post"][1]
    save_file({k: v.contiguous() for k, v in t.items()}, os.path.join(folder, "grads.safetensors"))
