#!/usr/bin/env python3
"""Write random-weight timm-layout checkpoint folders for the forward benchmark.

For each architecture (default: vit_base_patch16_224 and vit_base_patch32_224)
builds the timm model with timm's own initialisation (pretrained=False), seeded,
and writes OUT/<architecture>/config.json (the layout of timm's push_to_hf_hub)
+ model.safetensors (float32). ~350 MB each; they belong outside the repo.
"""
import argparse
import json
import os
import sys

DEFAULT_ARCHS = ["vit_base_patch16_224", "vit_base_patch32_224"]


def main():
    p = argparse.ArgumentParser(prog="make-bench-checkpoints.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="/tmp/vls-bench",
                   help="output folder (one sub-folder per architecture); default /tmp/vls-bench")
    p.add_argument("--arch", action="append", default=None,
                   help=f"timm architecture (repeatable); default: {' and '.join(DEFAULT_ARCHS)}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads for the initialisation")
    p.add_argument("--force", action="store_true", help="rewrite folders that already exist")
    args = p.parse_args()

    try:
        import torch
        import timm
        from timm.models._hub import save_config_for_hf
        from safetensors.torch import save_file, load_file
    except ImportError as e:
        print(f"make-bench-checkpoints: error: {e}; run Scripts/setup-python", file=sys.stderr)
        sys.exit(2)
    torch.set_num_threads(args.threads)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.abspath(args.out).startswith(repo + os.sep):
        print(f"make-bench-checkpoints: warning: writing inside the repository ({args.out}); "
              f"these files are large, do not commit them", file=sys.stderr)

    for arch in args.arch or DEFAULT_ARCHS:
        folder = os.path.join(args.out, arch)
        cfg_path = os.path.join(folder, "config.json")
        st_path = os.path.join(folder, "model.safetensors")
        if os.path.isfile(cfg_path) and os.path.isfile(st_path) and not args.force:
            print(f"{folder}: exists, kept (use --force to rewrite)")
            continue
        torch.manual_seed(args.seed)
        try:
            model = timm.create_model(arch, pretrained=False).eval()
        except RuntimeError as e:
            print(f"make-bench-checkpoints: error: {arch}: {e}", file=sys.stderr)
            sys.exit(1)
        os.makedirs(folder, exist_ok=True)
        state = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()}
        save_file(state, st_path, metadata={"format": "pt", "note": f"random timm init, seed {args.seed}"})
        os.chmod(st_path, 0o644)  # safetensors writes 0600
        save_config_for_hf(model, cfg_path)
        # strict reload check
        fresh = timm.create_model(arch, pretrained=False)
        fresh.load_state_dict(load_file(st_path), strict=True)
        with open(cfg_path) as f:
            cfg = json.load(f)
        size = os.path.getsize(st_path)
        print(f"{folder}: {len(state)} tensors, {size / 1e6:.1f} MB, input "
              f"{cfg['pretrained_cfg']['input_size']}, {cfg['num_classes']} classes")


if __name__ == "__main__":
    main()
