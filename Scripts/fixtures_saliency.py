"""Reference outputs of the saliency issue computed with timm + PyTorch autograd, for
Scripts/make_fixtures.py: lens saliency (Docs/method.md#saliency-and-the-perturbation-test, all three losses), attention
rollout, last-block attention, and the token-removal perturbation curves and AUCs."""
import os

import torch
from safetensors.torch import save_file


def lens_logits(model, h):
    norm = model.fc_norm if isinstance(model.fc_norm, torch.nn.LayerNorm) else model.norm
    return model.head(norm(h))


def lens_saliency(model, x, classes, loss_kind):
    """I_j = -sum_b sum_h d loss_b / d A_b[h, 0, j] by autograd."""
    pats, outs, handles = {}, {}, []
    for i, blk in enumerate(model.blocks):
        blk.attn.fused_attn = False

        def keep_pattern(m, inp, o, i=i):
            o.retain_grad()
            pats[i] = o
            return o

        handles.append(blk.attn.attn_drop.register_forward_hook(keep_pattern))
        handles.append(blk.ls1.register_forward_hook(lambda m, inp, o, i=i: outs.__setitem__(i, o)))
    model(x)
    for h in handles:
        h.remove()
    prefix = model.num_prefix_tokens
    total = torch.zeros(x.shape[0], pats[0].shape[-1] - prefix)
    c = torch.tensor(classes)
    for i in range(len(model.blocks)):
        z = lens_logits(model, outs[i][:, 0])
        if loss_kind == "ce":
            loss = torch.nn.functional.cross_entropy(z, c, reduction="sum")
        elif loss_kind == "paper":
            loss = torch.nn.functional.cross_entropy(z.softmax(-1), c, reduction="sum")
        else:
            loss = -z[torch.arange(len(classes)), c].sum()
        g, = torch.autograd.grad(loss, pats[i], retain_graph=True)
        total -= g[:, :, 0, prefix:].sum(1)
    return total.detach()


def patterns(model, x):
    pats, handles = {}, []
    for i, blk in enumerate(model.blocks):
        blk.attn.fused_attn = False
        handles.append(blk.attn.attn_drop.register_forward_hook(lambda m, inp, o, i=i: pats.__setitem__(i, o.detach())))
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return [pats[i] for i in range(len(model.blocks))]


def rollout(model, x):
    prefix = model.num_prefix_tokens
    R = None
    for a in patterns(model, x):
        m = a.mean(1)
        T = m.shape[-1]
        m = 0.5 * m + 0.5 * torch.eye(T)
        m = m / m.sum(-1, keepdim=True)
        R = m if R is None else m @ R
    return R[:, 0, prefix:]


def perturbation(model, x, labels, saliency, positive):
    """Top-1 accuracy keeping CLS + the k most (negative test) or least (positive) important
    tokens, k = 1..n-1, tokens dropped after the position embedding."""
    prefix = model.num_prefix_tokens
    n = saliency.shape[1]
    order = saliency.argsort(dim=1, descending=not positive, stable=True)
    accs = []
    for k in range(1, n):
        correct = 0
        for i in range(x.shape[0]):
            keep = sorted(order[i, :k].tolist())
            rows = list(range(prefix)) + [j + prefix for j in keep]
            h = model.pos_drop.register_forward_hook(lambda m, inp, o: o[:, rows])
            with torch.no_grad():
                pred = model(x[i:i + 1]).argmax(-1).item()
            h.remove()
            correct += int(pred == labels[i])
        accs.append(correct / x.shape[0])
    accs = torch.tensor(accs)
    return accs, float(accs.sum() / (accs.max() * n)) if accs.max() > 0 else 0.0


def write(folder, model, gen):
    if model.cls_token is None:
        return
    x = torch.randn(4, 3, 32, 32, generator=gen)
    with torch.no_grad():
        pred = model(x).argmax(-1).tolist()
    labels = [pred[0], pred[1], (pred[2] + 1) % 10, pred[3]]
    out = {"input": x, "labels": torch.tensor(labels, dtype=torch.float32)}
    for kind in ("ce", "paper", "logit"):
        out[f"lens.{kind}"] = lens_saliency(model, x, labels, kind)
    out["rollout"] = rollout(model, x)
    out["attention"] = patterns(model, x)[-1].mean(1)[:, 0, model.num_prefix_tokens:]
    for name, positive in (("negative", False), ("positive", True)):
        accs, auc = perturbation(model, x, labels, out["lens.ce"], positive)
        out[f"perturbation.{name}"] = accs
        out[f"perturbation.{name}.auc"] = torch.tensor([auc])
    save_file({k: v.contiguous().float() for k, v in out.items()}, os.path.join(folder, "saliency.safetensors"))
