"""Key-value memory statistics (method.md section 3) computed with timm + PyTorch, for
Scripts/make_fixtures.py: agreement of each token's top-k keys with the true class's top-k
values, CLS agreement per image, and compositionality, per block for MLP and attention."""
import json
import os

import torch


def write(folder, model, images, labels, k=5):
    keys, outs, handles = {}, {}, []
    for i, blk in enumerate(model.blocks):
        handles.append(blk.mlp.fc1.register_forward_hook(lambda m, inp, o, i=i: keys.__setitem__(("mlp", i), o.detach())))
        handles.append(blk.attn.proj.register_forward_pre_hook(lambda m, inp, i=i: keys.__setitem__(("attn", i), inp[0].detach())))
        handles.append(blk.ls1.register_forward_hook(lambda m, inp, o, i=i: outs.__setitem__(("attn", i), o.detach())))
        handles.append(blk.ls2.register_forward_hook(lambda m, inp, o, i=i: outs.__setitem__(("mlp", i), o.detach())))
    with torch.no_grad():
        model(images)
    for h in handles:
        h.remove()
    W = model.head.weight.detach()
    C = W.shape[0]
    lab = torch.tensor(labels)
    ref = {"k": k, "labels": labels}
    for kind in ("mlp", "attn"):
        per_block = []
        for i, blk in enumerate(model.blocks):
            values = blk.mlp.fc2.weight if kind == "mlp" else blk.attn.proj.weight
            P = W @ values.detach()                                   # [C, n]
            top_values = P.topk(k, dim=1).indices                     # [C, k]
            memory_class = P.argmax(0)                                # [n]
            top_keys = keys[(kind, i)].topk(k, dim=-1).indices        # [B, T, k]
            B, T, _ = top_keys.shape
            agree_tok = torch.zeros(B, T, dtype=torch.bool)
            for b in range(B):
                v = set(top_values[lab[b]].tolist())
                for t in range(T):
                    agree_tok[b, t] = bool(v & set(top_keys[b, t].tolist()))
            agree = [int(agree_tok[lab == c].sum()) for c in range(C)]
            tokens = [int((lab == c).sum()) * T for c in range(C)]
            with torch.no_grad():
                top1 = model.head(model.norm(outs[(kind, i)])).argmax(-1)  # [B, T]
            composed = int((memory_class[top_keys] == top1[..., None]).any(-1).sum())
            per_block.append({"agree": agree, "tokens": tokens, "cls_agree": agree_tok[:, 0].int().tolist(),
                              "composed": composed, "composed_total": B * T})
        ref[kind] = per_block
    with open(os.path.join(folder, "memories.json"), "w") as f:
        json.dump(ref, f)
