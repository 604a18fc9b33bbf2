#!/usr/bin/env python3
"""Writes the committed test fixtures of vls from the real reference (timm + PyTorch).

Tiny random-weight ViTs of every supported variant, their weights perturbed after timm's
init (norms, biases, layer scale, class/position tokens set to visibly non-default random
values, so a bug in any of them cannot hide under the tolerance), saved in the folder
layouts vls reads (timm, and Hugging Face keys for one), with reference inputs, logits and
per-block activations in `reference.safetensors` under vls's hook names.

Run with the venv from Scripts/setup-python:
    ~/.cache/vls/venv/bin/python Scripts/make_fixtures.py [--out Tests/Fixtures]
"""
import argparse
import json
import os
import sys

import torch
import timm
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures_lens  # noqa: E402
import fixtures_saliency  # noqa: E402
import fixtures_probes  # noqa: E402
import fixtures_memories  # noqa: E402
import fixtures_context  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TINY = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=4, num_classes=10)

# name: (timm architecture, model_args overriding the name's defaults)
VARIANTS = {
    "standard": ("vit_base_patch16_224", dict(TINY, depth=3)),
    "gap": ("vit_base_patch16_224", dict(TINY, class_token=False, global_pool="avg", qkv_bias=False)),
    "gap_norm": ("vit_base_patch16_224", dict(TINY, class_token=False, global_pool="avg", fc_norm=False)),
    "rpn": ("vit_base_patch16_rpn_224", dict(TINY)),
    "miil": ("vit_base_patch16_224_miil", dict(TINY)),
    "registers": ("vit_base_patch16_224", dict(TINY, reg_tokens=2, no_embed_class=True)),
    "deit3": ("deit3_base_patch16_224", dict(TINY)),
    "distilled": ("deit_base_distilled_patch16_224", dict(TINY)),
    "clip_quickgelu": ("vit_base_patch16_clip_quickgelu_224", dict(TINY)),
}

# Variants with key-value memory references: CLS, GAP (pre- and post-norm), registers,
# layer scale, distillation token; labels of the reference input where there are no
# metrics images.
MEMORY_VARIANTS = ("standard", "gap", "rpn", "registers", "deit3", "distilled")
MEMORY_LABELS = [3, 8]


def perturb(model, gen):
    """Sets every norm, bias, layer scale and token parameter to non-default values."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.split(".")[-1]
            if "norm" in name and leaf == "weight":
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=gen))
            elif leaf == "bias":
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
            elif leaf == "gamma":
                p.copy_(0.5 + 0.3 * torch.randn(p.shape, generator=gen))
            elif name in ("cls_token", "pos_embed", "reg_token", "dist_token"):
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
            else:
                # weights: keep timm's init but make them large enough to matter
                p.mul_(3.0)


def capture(model, x):
    """Runs `x` and returns {vls hook name: tensor} for the points vls tests against."""
    out, handles = {}, []

    def save(name):
        def hook(_m, _inp, o):
            out[name] = o.detach().clone()
        return hook

    def save_input(name):
        def hook(_m, inp):
            out[name] = inp[0].detach().clone()
        return hook

    handles.append(model.pos_drop.register_forward_hook(save("hook_pos_embed")))
    for i, blk in enumerate(model.blocks):
        blk.attn.fused_attn = False
        handles.append(blk.register_forward_hook(save(f"blocks.{i}.hook_resid_post")))
        handles.append(blk.attn.attn_drop.register_forward_hook(save(f"blocks.{i}.attn.hook_pattern")))
        handles.append(blk.attn.proj.register_forward_pre_hook(save_input(f"blocks.{i}.attn.hook_z_flat")))
        handles.append(blk.mlp.fc1.register_forward_hook(save(f"blocks.{i}.mlp.hook_pre")))
        if isinstance(blk, timm.models.vision_transformer.ResPostBlock):
            handles.append(blk.norm1.register_forward_hook(save(f"blocks.{i}.hook_attn_out")))
            handles.append(blk.norm2.register_forward_hook(save(f"blocks.{i}.hook_mlp_out")))
        else:
            handles.append(blk.ls1.register_forward_hook(save(f"blocks.{i}.hook_attn_out")))
            handles.append(blk.ls2.register_forward_hook(save(f"blocks.{i}.hook_mlp_out")))
    with torch.no_grad():
        logits = model(x)
    for h in handles:
        h.remove()
    out["logits"] = logits
    # hook_z is [B, T, H, dh]: the proj input reshaped.
    for i, blk in enumerate(model.blocks):
        flat = out.pop(f"blocks.{i}.attn.hook_z_flat")
        B, T, D = flat.shape
        out[f"blocks.{i}.attn.hook_z"] = flat.reshape(B, T, blk.attn.num_heads, D // blk.attn.num_heads)
    return out


def timm_config(arch, args, model):
    cfg = model.pretrained_cfg
    return {
        "architecture": arch,
        "num_classes": args["num_classes"],
        "num_features": model.num_features,
        "global_pool": model.global_pool,
        "model_args": args,
        "pretrained_cfg": {
            "input_size": [3, args["img_size"], args["img_size"]],
            "interpolation": cfg.get("interpolation", "bicubic"),
            "crop_pct": cfg.get("crop_pct", 0.9),
            "crop_mode": "center",
            "mean": list(cfg.get("mean", (0.5, 0.5, 0.5))),
            "std": list(cfg.get("std", (0.5, 0.5, 0.5))),
            "num_classes": args["num_classes"],
            "first_conv": "patch_embed.proj",
            "classifier": "head",
        },
        "label_names": [f"class_{i}" for i in range(args["num_classes"])],
    }


def hf_state_dict(sd, depth, dim):
    """timm keys -> Hugging Face ViTForImageClassification keys (qkv split)."""
    out = {
        "vit.embeddings.cls_token": sd["cls_token"],
        "vit.embeddings.position_embeddings": sd["pos_embed"],
        "vit.embeddings.patch_embeddings.projection.weight": sd["patch_embed.proj.weight"],
        "vit.embeddings.patch_embeddings.projection.bias": sd["patch_embed.proj.bias"],
        "vit.layernorm.weight": sd["norm.weight"],
        "vit.layernorm.bias": sd["norm.bias"],
        "classifier.weight": sd["head.weight"],
        "classifier.bias": sd["head.bias"],
    }
    for i in range(depth):
        t, h = f"blocks.{i}", f"vit.encoder.layer.{i}"
        q, k, v = sd[f"{t}.attn.qkv.weight"].split(dim)
        qb, kb, vb = sd[f"{t}.attn.qkv.bias"].split(dim)
        out.update({
            f"{h}.layernorm_before.weight": sd[f"{t}.norm1.weight"], f"{h}.layernorm_before.bias": sd[f"{t}.norm1.bias"],
            f"{h}.attention.attention.query.weight": q, f"{h}.attention.attention.query.bias": qb,
            f"{h}.attention.attention.key.weight": k, f"{h}.attention.attention.key.bias": kb,
            f"{h}.attention.attention.value.weight": v, f"{h}.attention.attention.value.bias": vb,
            f"{h}.attention.output.dense.weight": sd[f"{t}.attn.proj.weight"], f"{h}.attention.output.dense.bias": sd[f"{t}.attn.proj.bias"],
            f"{h}.layernorm_after.weight": sd[f"{t}.norm2.weight"], f"{h}.layernorm_after.bias": sd[f"{t}.norm2.bias"],
            f"{h}.intermediate.dense.weight": sd[f"{t}.mlp.fc1.weight"], f"{h}.intermediate.dense.bias": sd[f"{t}.mlp.fc1.bias"],
            f"{h}.output.dense.weight": sd[f"{t}.mlp.fc2.weight"], f"{h}.output.dense.bias": sd[f"{t}.mlp.fc2.bias"],
        })
    return {k: v.contiguous() for k, v in out.items()}


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "Tests", "Fixtures"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    models_dir = os.path.join(args.out, "models")
    os.makedirs(models_dir, exist_ok=True)
    versions = {"torch": torch.__version__, "timm": timm.__version__}

    for i, (name, (arch, margs)) in enumerate(VARIANTS.items()):
        gen = torch.Generator().manual_seed(1000 + i)
        torch.manual_seed(1000 + i)
        model = timm.create_model(arch, pretrained=False, **margs).eval()
        perturb(model, gen)
        x = torch.randn(2, 3, margs["img_size"], margs["img_size"], generator=gen)
        ref = capture(model, x)
        ref["input"] = x
        folder = os.path.join(models_dir, name)
        os.makedirs(folder, exist_ok=True)
        sd = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        save_file(sd, os.path.join(folder, "model.safetensors"))
        write_json(os.path.join(folder, "config.json"), timm_config(arch, margs, model))
        save_file({k: v.contiguous() for k, v in ref.items()}, os.path.join(folder, "reference.safetensors"),
                  metadata={"arch": arch, **versions})
        print(f"{name:16s} {arch:40s} logits {tuple(ref['logits'].shape)}")

        if name in ("standard", "gap"):
            # Edits, the lens and the metrics M1-M6 (Scripts/fixtures_lens.py).
            fixtures_lens.write(folder, model, x, gen)
            # User-function hooks (vls hook(name, fn)) as timm forward hooks.
            fixtures_lens.write_hooks(folder, model, x)
        if name in MEMORY_VARIANTS:
            # Key-value memory statistics, both modes (Scripts/fixtures_memories.py): on the
            # metrics images where a model has them, else on the reference input with fixed
            # labels (no draw from `gen`, so the other fixtures stay as they were).
            if name in ("standard", "gap"):
                from safetensors.torch import load_file
                inp = load_file(os.path.join(folder, "metrics_input.safetensors"))
                fixtures_memories.write(folder, model, inp["images"], [int(v) for v in inp["labels"].tolist()])
            else:
                fixtures_memories.write(folder, model, x, MEMORY_LABELS, input_name="reference")
        if name == "standard":
            # Class vs context statistics on the metrics images (Scripts/fixtures_context.py).
            fixtures_context.write(folder, model)
        if name in ("standard", "deit3"):
            # Lens saliency, rollout, perturbation curves (Scripts/fixtures_saliency.py).
            fixtures_saliency.write(folder, model, torch.Generator().manual_seed(2000 + i))
        # Gradients, Chefer relevance, gradient x input (Scripts/fixtures_lens.py): every
        # hook point on the standard (pre-norm) and rpn (post-norm) models, the main ones on
        # gap and distilled, a few (logit target only) on the other variants.
        if name in ("standard", "rpn"):
            fixtures_lens.write_grads(folder, model, x, points=fixtures_lens.FULL_POINTS, edits=name == "standard")
        elif name in ("gap", "distilled"):
            fixtures_lens.write_grads(folder, model, x)
        elif name != "hf":
            fixtures_lens.write_grads(folder, model, x, points=fixtures_lens.SMALL_POINTS, ce=False)
        if name == "standard":
            # The same weights under Hugging Face keys, with an HF config.json.
            hf = os.path.join(models_dir, "hf")
            os.makedirs(hf, exist_ok=True)
            save_file(hf_state_dict(sd, margs["depth"], margs["embed_dim"]), os.path.join(hf, "model.safetensors"))
            write_json(os.path.join(hf, "config.json"), {
                "model_type": "vit", "architectures": ["ViTForImageClassification"],
                "hidden_size": margs["embed_dim"], "num_hidden_layers": margs["depth"],
                "num_attention_heads": margs["num_heads"], "intermediate_size": 4 * margs["embed_dim"],
                "hidden_act": "gelu", "layer_norm_eps": 1e-6, "image_size": margs["img_size"],
                "patch_size": margs["patch_size"], "num_channels": 3, "qkv_bias": True,
                "id2label": {str(j): f"class_{j}" for j in range(margs["num_classes"])},
                "label2id": {f"class_{j}": j for j in range(margs["num_classes"])},
            })
            write_json(os.path.join(hf, "preprocessor_config.json"), {
                "do_resize": True, "size": {"height": margs["img_size"], "width": margs["img_size"]},
                "resample": 2, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
                "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
            })
            save_file({k: v.contiguous() for k, v in ref.items()}, os.path.join(hf, "reference.safetensors"),
                      metadata={"arch": "hf:" + arch, **versions})
            # A bare file without config: architecture from shapes (heads = width / 64).
            bare = os.path.join(models_dir, "bare")
            os.makedirs(bare, exist_ok=True)
            bargs = dict(TINY, embed_dim=64, num_heads=1, depth=1)
            torch.manual_seed(77)
            bm = timm.create_model("vit_base_patch16_224", pretrained=False, **bargs).eval()
            perturb(bm, torch.Generator().manual_seed(77))
            bx = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(78))
            bref = capture(bm, bx)
            bref["input"] = bx
            save_file({k: v.contiguous() for k, v in bm.state_dict().items()}, os.path.join(bare, "weights.safetensors"))
            save_file({k: v.contiguous() for k, v in bref.items()}, os.path.join(bare, "reference.safetensors"),
                      metadata={"arch": "bare", **versions})
    fixtures_probes.write(args.out)
    write_json(os.path.join(models_dir, "VERSIONS.json"), versions)


if __name__ == "__main__":
    sys.exit(main())
