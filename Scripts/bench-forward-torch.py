#!/usr/bin/env python3
"""Time a timm ViT in PyTorch: the reference side of vls's forward-pass benchmark.

Reads a timm-layout checkpoint folder (config.json + model.safetensors), builds
the model with timm.create_model(architecture, pretrained=False, **model_args),
loads the weights strictly, and times one of:

  forward  plain model(x)
  capture  model(x) with forward hooks cloning every block's output, every
           attn.proj output (attention sublayer output) and every mlp.fc2 output
           (MLP sublayer output), as vls's hook layer captures them
  lens     capture every block's output, then project every token of every
           block through the final norm (model.norm, model.fc_norm) and the
           head, and compute the rank of the target class per token (strict
           count of classes scoring higher; 0 = top-1)
  lens3    the lens of all three layer types: capture as in `capture` (block
           outputs, attention and MLP sublayer outputs), then rank the target
           class at every token of each of them as in `lens`
  load     safetensors.torch.load_file + model.load_state_dict (no forward)

Prints one JSON line on stdout:
  {"images_per_s", "median_ms_per_batch", "runs_ms", "threads", "torch", "batch", ...}
(for --mode load, median_ms_per_batch is the median load time and images_per_s is null).
"""
import argparse
import json
import os
import statistics
import sys
import time


def die(msg, code=2):
    print(f"bench-forward-torch: error: {msg}", file=sys.stderr)
    sys.exit(code)


def parse_args():
    p = argparse.ArgumentParser(
        prog="bench-forward-torch.py",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__[__doc__.index("Reads"):],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True,
                   help="timm-layout folder with config.json + model.safetensors")
    p.add_argument("--batch", type=int, default=1, help="images per forward pass")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--runs", type=int, default=7, help="timed runs (the median is reported)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    p.add_argument("--input", default=None,
                   help="a .npy float32 array (N, C, H, W), N >= batch, already "
                        "preprocessed; default: seeded standard-normal input")
    p.add_argument("--seed", type=int, default=0, help="seed of the random input")
    p.add_argument("--mode", choices=["forward", "capture", "lens", "lens3", "load"], default="forward")
    p.add_argument("--target", type=int, default=0,
                   help="class whose rank the lens mode computes per token")
    a = p.parse_args()
    for name in ("batch", "threads", "runs"):
        if getattr(a, name) < 1:
            p.error(f"--{name} must be at least 1")
    if a.warmup < 0:
        p.error("--warmup must be >= 0")
    return a


def read_checkpoint(folder):
    cfg_path = os.path.join(folder, "config.json")
    st_path = os.path.join(folder, "model.safetensors")
    if not os.path.isdir(folder):
        die(f"{folder}: no such folder")
    for path in (cfg_path, st_path):
        if not os.path.isfile(path):
            die(f"{path}: missing (a timm-layout folder needs config.json + model.safetensors; "
                f"Scripts/convert-checkpoint.py makes one)")
    try:
        with open(cfg_path) as f:
            cfg = json.load(f)
    except json.JSONDecodeError as e:
        die(f"{cfg_path}: invalid JSON ({e})")
    if "architecture" not in cfg:
        die(f"{cfg_path}: no 'architecture' (not a timm config; Hugging Face folders are "
            f"not handled by this benchmark)")
    return cfg, st_path


def build(cfg):
    import timm
    args = dict(cfg.get("model_args", {}))
    if "num_classes" in cfg and "num_classes" not in args:
        args["num_classes"] = cfg["num_classes"]
    try:
        return timm.create_model(cfg["architecture"], pretrained=False, **args).eval()
    except RuntimeError as e:
        die(f"timm cannot build '{cfg['architecture']}': {e}")


def load_weights(model, st_path):
    from safetensors.torch import load_file
    try:
        sd = load_file(st_path)
    except Exception as e:
        die(f"{st_path}: cannot read safetensors ({e})")
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        die(f"{st_path}: weights do not match the config's architecture:\n{str(e)[:1500]}")


def make_input(args, cfg, model):
    import numpy as np
    import torch
    if "pretrained_cfg" in cfg and "input_size" in cfg["pretrained_cfg"]:
        c, h, w = cfg["pretrained_cfg"]["input_size"]
    else:
        c, (h, w) = model.patch_embed.proj.in_channels, model.patch_embed.img_size
    if args.input is None:
        gen = torch.Generator().manual_seed(args.seed)
        return torch.randn(args.batch, c, h, w, generator=gen)
    try:
        arr = np.load(args.input, allow_pickle=False)
    except Exception as e:
        die(f"{args.input}: cannot read .npy ({e})")
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or tuple(arr.shape[1:]) != (c, h, w):
        die(f"{args.input}: shape {list(arr.shape)}, expected (N, {c}, {h}, {w})")
    if arr.shape[0] < args.batch:
        die(f"{args.input}: {arr.shape[0]} images, fewer than --batch {args.batch}")
    return torch.from_numpy(np.ascontiguousarray(arr[:args.batch], dtype=np.float32))


def capture_hooks(model, sublayers):
    """Register forward hooks that clone block outputs (and, with sublayers,
    attn.proj and mlp.fc2 outputs). Returns (store, handles)."""
    store = []

    def hook(_module, _inp, out):
        store.append(out.clone())

    handles = []
    for blk in model.blocks:
        handles.append(blk.register_forward_hook(hook))
        if sublayers:
            handles.append(blk.attn.proj.register_forward_hook(hook))
            handles.append(blk.mlp.fc2.register_forward_hook(hook))
    return store, handles


def main():
    args = parse_args()
    try:
        import numpy  # noqa: F401
        import torch
        import timm
        import safetensors.torch  # noqa: F401
    except ImportError as e:
        die(f"{e}; run Scripts/setup-python and use the python it prints")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    cfg, st_path = read_checkpoint(args.checkpoint)
    model = build(cfg)
    n_classes = model.num_classes

    if args.mode == "load":
        def step():
            load_weights(model, st_path)
        x = None
    else:
        load_weights(model, st_path)
        x = make_input(args, cfg, model)
        if args.mode in ("lens", "lens3") and not 0 <= args.target < n_classes:
            die(f"--target {args.target} outside 0..{n_classes - 1}")

        if args.mode == "forward":
            def step():
                model(x)
        elif args.mode == "capture":
            store, _ = capture_hooks(model, sublayers=True)

            def step():
                store.clear()
                model(x)
        else:  # lens, lens3
            store, _ = capture_hooks(model, sublayers=args.mode == "lens3")
            fc_norm = getattr(model, "fc_norm", torch.nn.Identity())

            def step():
                store.clear()
                model(x)
                ranks = []
                for resid in store:                                # (B, T, D)
                    logits = model.head(fc_norm(model.norm(resid)))  # (B, T, C)
                    tgt = logits[..., args.target:args.target + 1]
                    ranks.append((logits > tgt).sum(-1))           # (B, T)
                return torch.stack(ranks, 1)                       # (B, blocks, T)

    times = []
    with torch.inference_mode():
        for i in range(args.warmup + args.runs):
            t0 = time.perf_counter()
            step()
            dt = (time.perf_counter() - t0) * 1000.0
            if i >= args.warmup:
                times.append(dt)
    med = statistics.median(times)
    result = {
        "images_per_s": None if args.mode == "load" else round(args.batch * 1000.0 / med, 3),
        "median_ms_per_batch": round(med, 3),
        "runs_ms": [round(t, 3) for t in times],
        "threads": args.threads,
        "torch": torch.__version__,
        "timm": timm.__version__,
        "batch": args.batch,
        "mode": args.mode,
        "architecture": cfg["architecture"],
        "checkpoint": args.checkpoint,
        "input": None if args.mode == "load" else (args.input or f"random seed {args.seed}"),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
