#!/usr/bin/env python3
"""Convert a timm or Hugging Face PyTorch checkpoint into the folder vls reads.

vls reads a folder with `config.json` + `model.safetensors` (timm or Hugging
Face hub layout) and never unpickles anything. This script runs on the user's
own machine, with PyTorch, to turn a `.pth` / `.pt` / `.pth.tar` / `.bin` /
`pytorch_model.bin` pickle (loaded with torch.load(weights_only=True), which
never executes pickled code) into that folder.

timm checkpoints
    The state_dict keys are kept as timm names them. Training wrappers are
    unwrapped (`state_dict_ema` / `model_ema` preferred unless --no-ema, as
    timm's own loader does, then `state_dict` / `model`), and `module.` /
    `_orig_mod.` prefixes are stripped. config.json is written in the layout
    of timm's push_to_hf_hub (architecture, num_classes, num_features,
    global_pool, label_names, model_args, pretrained_cfg from timm's default
    cfg for that architecture). The architecture comes from --architecture or
    from a config.json beside the checkpoint.

    --timm-name NAME instead uses timm's own pretrained loading (needs
    network access to the model hub).

Hugging Face checkpoints (ViTForImageClassification and relatives)
    The weights are written under their Hugging Face keys; config.json (and
    preprocessor_config.json when present) are copied from beside the
    checkpoint or from --hf-config.

Validation: the saved safetensors is reloaded (strictly) into a freshly built
model and a forward pass on seeded random input is compared with the model
built from the original pickle; the max difference is printed. Validation
needs timm (timm checkpoints) or transformers (Hugging Face ones); when the
model cannot be built it is skipped, said aloud.

Examples:
    python Scripts/convert-checkpoint.py deit_small.pth --architecture deit_small_patch16_224 -o out/deit-s
    python Scripts/convert-checkpoint.py ./hf-vit-folder/ -o out/hf-vit
    python Scripts/convert-checkpoint.py --timm-name vit_base_patch32_224.augreg_in21k_ft_in1k -o out/vit-b32
"""
import argparse
import json
import os
import re
import shutil
import sys

PICKLE_EXTS = (".pth", ".pt", ".pth.tar", ".bin", ".ckpt")
HF_NAMES = ("pytorch_model.bin", "model.safetensors", "pytorch_model.pth")


class ConvertError(Exception):
    pass


def log(msg):
    print(f"convert-checkpoint: {msg}", file=sys.stderr)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="convert-checkpoint.py",
        description=__doc__.split("\n\n")[0] + " Writes config.json + model.safetensors.",
        epilog=__doc__[__doc__.index("timm checkpoints"):],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="?",
                   help="a .pth/.pt/.pth.tar/.bin/.safetensors file, or a folder holding "
                        "pytorch_model.bin (Hugging Face) or one checkpoint file")
    p.add_argument("-o", "--out", required=True, help="output folder (created)")
    p.add_argument("--format", choices=["auto", "timm", "hf"], default="auto",
                   help="checkpoint family; auto: Hugging Face when the keys or the "
                        "config.json beside it say so, else timm")
    p.add_argument("--architecture",
                   help="timm architecture name, e.g. vit_base_patch16_224 (optionally "
                        "with a pretrained tag, vit_base_patch16_224.augreg_in21k); "
                        "default: read from a config.json beside the checkpoint")
    p.add_argument("--model-args", default=None,
                   help="JSON object of extra timm model kwargs, e.g. "
                        "'{\"img_size\": 384}' (merged over a config's model_args)")
    p.add_argument("--label-names", default=None,
                   help="file with the class names, one per line or a JSON list")
    p.add_argument("--timm-name", default=None,
                   help="build with timm.create_model(NAME, pretrained=True) (network "
                        "needed) and convert its weights; no checkpoint argument")
    p.add_argument("--hf-config", default=None,
                   help="Hugging Face config.json to use (default: the one beside the checkpoint)")
    p.add_argument("--no-ema", action="store_true",
                   help="prefer 'state_dict'/'model' over EMA weights in a training checkpoint")
    p.add_argument("--float32", action="store_true",
                   help="cast floating tensors to float32 (default: keep their dtype)")
    p.add_argument("--no-validate", action="store_true", help="skip the reload + forward check")
    p.add_argument("--tolerance", type=float, default=1e-5,
                   help="max allowed |difference| of the validation forward pass")
    p.add_argument("--force", action="store_true", help="write into a non-empty output folder")
    p.add_argument("--seed", type=int, default=0, help="seed of the validation input")
    a = p.parse_args(argv)
    if a.timm_name and a.checkpoint:
        p.error("give either a checkpoint or --timm-name, not both")
    if not a.timm_name and not a.checkpoint:
        p.error("a checkpoint (or --timm-name NAME) is required")
    return a


# ----------------------------------------------------------------- loading

def imports():
    try:
        import torch  # noqa: F401
        import safetensors.torch  # noqa: F401
    except ImportError as e:
        raise ConvertError(f"{e}; run Scripts/setup-python and use the python it prints")


def resolve_checkpoint_path(path):
    """A file, or a folder with one recognisable checkpoint file."""
    if not os.path.exists(path):
        raise ConvertError(f"{path}: no such file or folder")
    if os.path.isfile(path):
        return path
    for name in HF_NAMES + ("model.pth", "checkpoint.pth", "checkpoint.pth.tar"):
        cand = os.path.join(path, name)
        if os.path.isfile(cand):
            return cand
    found = sorted(f for f in os.listdir(path)
                   if f.endswith(PICKLE_EXTS + (".safetensors",)))
    if len(found) == 1:
        return os.path.join(path, found[0])
    if not found:
        raise ConvertError(f"{path}: no checkpoint file (.pth/.pt/.bin/.safetensors) in this folder")
    raise ConvertError(f"{path}: several checkpoint files ({', '.join(found)}); name one")


def torch_load(path):
    import torch
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        return load_file(path)
    if path.endswith(".npz"):
        raise ConvertError(f"{path}: .npz (JAX/big_vision) checkpoints are not handled here; "
                           f"load them with timm (timm.create_model(name, "
                           f"pretrained_cfg_overlay=dict(file=PATH))) and use --timm-name, "
                           f"or save the model's state_dict with torch.save first")
    with open(path, "rb") as f:
        head = f.read(4)
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
        raise ConvertError(f"{path}: not a PyTorch checkpoint (neither a torch.save zip "
                           f"archive nor a pickle)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle with non-tensor objects, corrupt file, ...
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        msg = re.sub(r"\x1b\[[0-9;]*m", "", msg)
        raise ConvertError(
            f"{path}: torch.load(weights_only=True) refused or failed: {msg}\n"
            f"  (a checkpoint holding arbitrary Python objects is not loaded: re-save only "
            f"its state_dict with torch.save(model.state_dict(), PATH) on a machine you trust)")


def is_tensor_dict(d):
    import torch
    return isinstance(d, dict) and d and all(isinstance(v, torch.Tensor) for v in d.values())


def extract_state_dict(obj, prefer_ema=True):
    """Unwrap a training checkpoint; returns (state_dict, which)."""
    import torch
    if isinstance(obj, torch.nn.Module):  # cannot happen with weights_only, but be clear
        return obj.state_dict(), "module"
    if not isinstance(obj, dict):
        raise ConvertError(f"checkpoint holds a {type(obj).__name__}, not a state_dict")
    order = (["state_dict_ema", "model_ema"] if prefer_ema else []) + \
        ["state_dict", "model", "module", "net", "params"] + \
        ([] if prefer_ema else ["state_dict_ema", "model_ema"])
    if is_tensor_dict(obj):
        sd, which = obj, "top level"
    else:
        for key in order:
            if isinstance(obj.get(key), dict) and obj[key]:
                sd, which = obj[key], key
                break
        else:
            keys = ", ".join(list(obj.keys())[:12])
            raise ConvertError(f"no state_dict found in the checkpoint (top-level keys: {keys})")
    tensors = {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}
    dropped = [k for k in sd if k not in tensors]
    if dropped:
        log(f"ignoring {len(dropped)} non-tensor entries: {', '.join(dropped[:5])}")
    if not tensors:
        raise ConvertError(f"'{which}' holds no tensors")
    cleaned = {}
    for k, v in tensors.items():
        changed = True
        while changed:
            changed = False
            for prefix in ("module.", "_orig_mod."):
                if k.startswith(prefix):
                    k, changed = k[len(prefix):], True
        if k in cleaned:
            raise ConvertError(f"duplicate key after stripping wrapper prefixes: {k}")
        cleaned[k] = v
    return cleaned, which


def looks_hf(state_dict):
    return any(k.startswith(("vit.", "deit.", "beit.", "dinov2.", "embeddings.", "encoder.layer."))
               for k in state_dict)


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as e:
        raise ConvertError(f"{path}: invalid JSON ({e})")


def read_label_names(path):
    if path is None:
        return None
    try:
        text = open(path).read()
    except OSError as e:
        raise ConvertError(f"--label-names {path}: {e.strerror}")
    try:
        names = json.loads(text)
        if not isinstance(names, list):
            raise ConvertError(f"--label-names {path}: JSON must be a list of strings")
        return [str(n) for n in names]
    except json.JSONDecodeError:
        return [line.strip() for line in text.splitlines() if line.strip()]


# ----------------------------------------------------------------- writing

def prepare_out(out, force):
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConvertError(f"{out}: exists and is not a folder")
    if os.path.isdir(out) and os.listdir(out) and not force:
        raise ConvertError(f"{out}: folder is not empty (use --force to write into it)")
    os.makedirs(out, exist_ok=True)


def save_tensors(state_dict, path, float32):
    import torch
    from safetensors.torch import save_file
    out = {}
    for k, v in state_dict.items():
        v = v.detach()
        if float32 and v.is_floating_point():
            v = v.to(torch.float32)
        out[k] = v.contiguous().clone()  # no shared storage (tied weights) in safetensors
    save_file(out, path, metadata={"format": "pt"})
    os.chmod(path, 0o644)  # safetensors writes 0600
    return out


def max_abs_diff(a, b):
    import torch
    return (a.float() - b.float()).abs().max().item() if a.numel() else 0.0


# ----------------------------------------------------------------- timm

def timm_build(architecture, model_args, state_dict):
    """Build a timm model, with num_classes taken from the head when not given."""
    import timm
    args = dict(model_args)
    if "num_classes" not in args:
        for key in ("head.weight", "head.fc.weight", "fc.weight", "classifier.weight"):
            if key in state_dict and state_dict[key].ndim == 2:
                args["num_classes"] = int(state_dict[key].shape[0])
                break
        else:
            if not any(k.startswith(("head.", "fc.", "classifier.")) for k in state_dict):
                args["num_classes"] = 0
    try:
        model = timm.create_model(architecture, pretrained=False, **args)
    except RuntimeError as e:
        if "Unknown model" in str(e):
            raise ConvertError(f"timm {timm.__version__} does not know the architecture "
                               f"'{architecture}' (see timm.list_models())")
        raise
    return model.eval(), args


def load_into(model, state_dict, label):
    """Strict load; on failure try timm's checkpoint filter for the model's module."""
    import importlib
    try:
        model.load_state_dict(state_dict, strict=True)
        return state_dict
    except RuntimeError as e:
        first = e
    mod = importlib.import_module(type(model).__module__)
    filt = getattr(mod, "checkpoint_filter_fn", None)
    if filt is not None:
        try:
            filtered = filt(dict(state_dict), model)
            model.load_state_dict(filtered, strict=True)
            log(f"{label}: keys needed timm's {mod.__name__}.checkpoint_filter_fn; "
                f"the converted file holds the filtered (timm-native) keys")
            return filtered
        except Exception:
            pass
    raise ConvertError(f"{label}: the weights do not load strictly into this architecture "
                       f"({type(model).__name__}):\n{key_report(model.state_dict(), state_dict)}"
                       f"\n  (check --architecture, or pass --model-args, e.g. "
                       f"'{{\"depth\": 6}}' or '{{\"img_size\": 384}}' for a 384 px fine-tune)")


def key_report(expected, given, limit=6):
    """Missing, unused and mis-shaped keys, a few of each, with counts."""
    def some(keys):
        keys = sorted(keys)
        more = f" ... ({len(keys)} in all)" if len(keys) > limit else ""
        return ", ".join(keys[:limit]) + more
    lines = []
    missing = set(expected) - set(given)
    unused = set(given) - set(expected)
    shapes = [f"{k} {list(given[k].shape)} (model wants {list(expected[k].shape)})"
              for k in sorted(set(expected) & set(given)) if given[k].shape != expected[k].shape]
    if missing:
        lines.append(f"  missing from the checkpoint: {some(missing)}")
    if unused:
        lines.append(f"  not used by the model: {some(unused)}")
    if shapes:
        more = f" ... ({len(shapes)} in all)" if len(shapes) > limit else ""
        lines.append(f"  wrong shape: {'; '.join(shapes[:limit])}{more}")
    return "\n".join(lines) or "  (keys and shapes match; see the torch error)"


def write_timm_config(model, out_path, model_args, base_config, label_names):
    from timm.models._hub import save_config_for_hf
    model_config = {}
    if base_config:
        for k in ("label_names", "label_descriptions", "pretrained_cfg"):
            if k in base_config:
                model_config[k] = base_config[k]
    if label_names:
        model_config["label_names"] = label_names
    save_config_for_hf(model, out_path, model_config=model_config or None,
                       model_args=model_args or None)
    with open(out_path) as f:
        cfg = json.load(f)
    names = cfg.get("label_names")
    if names is not None and len(names) != cfg["num_classes"]:
        raise ConvertError(f"{len(names)} label names for {cfg['num_classes']} classes")
    return cfg


def validate_timm(cfg, st_path, reference_model, seed, tol):
    import torch
    import timm
    from safetensors.torch import load_file
    fresh = timm.create_model(cfg["architecture"], pretrained=False, **cfg.get("model_args", {}))
    fresh.load_state_dict(load_file(st_path), strict=True)
    fresh.eval()
    c, h, w = cfg["pretrained_cfg"]["input_size"]
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, c, h, w, generator=gen)
    with torch.no_grad():
        ref = reference_model.float()(x)
        got = fresh.float()(x)
    d = max_abs_diff(ref, got)
    print(f"validation: reloaded {os.path.basename(st_path)} into timm.create_model("
          f"'{cfg['architecture']}'), forward on random {list(x.shape)}: "
          f"max |diff| = {d:.3g}")
    if d > tol:
        raise ConvertError(f"validation failed: max |diff| {d:.3g} > {tol}")


def convert_timm(args, state_dict, ckpt_path):
    try:
        import timm  # noqa: F401
    except ImportError:
        timm = None
    base = None
    if ckpt_path:
        base = read_json(os.path.join(os.path.dirname(os.path.abspath(ckpt_path)), "config.json"))
        if base is not None and "architecture" not in base:
            base = None  # not a timm config (e.g. Hugging Face)
    arch = args.architecture or (base or {}).get("architecture")
    if not arch:
        raise ConvertError("which timm architecture is this? pass --architecture NAME "
                           "(e.g. vit_base_patch16_224), or put its timm config.json beside "
                           "the checkpoint")
    model_args = dict((base or {}).get("model_args", {}))
    if args.model_args:
        try:
            extra = json.loads(args.model_args)
        except json.JSONDecodeError as e:
            raise ConvertError(f"--model-args is not valid JSON: {e}")
        if not isinstance(extra, dict):
            raise ConvertError("--model-args must be a JSON object")
        model_args.update(extra)
    label_names = read_label_names(args.label_names)
    cfg_path = os.path.join(args.out, "config.json")
    st_path = os.path.join(args.out, "model.safetensors")

    if timm is None:
        prepare_out(args.out, args.force)
        log("timm is not importable: writing a minimal config.json without pretrained_cfg "
            "and no validation")
        head = state_dict.get("head.weight")
        cfg = {"architecture": arch.split(".")[0],
               "num_classes": int(head.shape[0]) if head is not None else 0}
        if model_args:
            cfg["model_args"] = model_args
        if label_names:
            cfg["label_names"] = label_names
        save_tensors(state_dict, st_path, args.float32)
        with open(cfg_path, "w") as f:
            json.dump(cfg, f, indent=2)
        return cfg

    model, used_args = timm_build(arch, model_args, state_dict)
    state_dict = load_into(model, state_dict, ckpt_path or arch)
    prepare_out(args.out, args.force)
    # Record what the model needs to be rebuilt: the given model_args, plus
    # num_classes when it differs from the architecture's default.
    export_args = dict(model_args)
    if "num_classes" in used_args:
        export_args["num_classes"] = used_args["num_classes"]
    save_tensors(state_dict, st_path, args.float32)
    cfg = write_timm_config(model, cfg_path, export_args, base, label_names)
    if not args.no_validate:
        validate_timm(cfg, st_path, model, args.seed, args.tolerance)
    return cfg


def convert_timm_name(args):
    try:
        import timm
        import torch  # noqa: F401
    except ImportError as e:
        raise ConvertError(f"{e}; run Scripts/setup-python")
    model_args = json.loads(args.model_args) if args.model_args else {}
    try:
        model = timm.create_model(args.timm_name, pretrained=True, **model_args).eval()
    except RuntimeError as e:
        if "Unknown model" in str(e):
            raise ConvertError(f"timm {timm.__version__} does not know '{args.timm_name}'")
        raise ConvertError(f"timm could not load pretrained '{args.timm_name}': {e}")
    except Exception as e:  # network errors come in many types
        raise ConvertError(f"timm could not download pretrained '{args.timm_name}' "
                           f"({type(e).__name__}: {str(e)[:300]}); this needs network access "
                           f"to the model hub. Offline, download the checkpoint elsewhere and "
                           f"pass the file with --architecture")
    prepare_out(args.out, args.force)
    st_path = os.path.join(args.out, "model.safetensors")
    cfg_path = os.path.join(args.out, "config.json")
    save_tensors(model.state_dict(), st_path, args.float32)
    cfg = write_timm_config(model, cfg_path, model_args, None, read_label_names(args.label_names))
    if not args.no_validate:
        validate_timm(cfg, st_path, model, args.seed, args.tolerance)
    return cfg


# ----------------------------------------------------------------- Hugging Face

def convert_hf(args, state_dict, ckpt_path):
    folder = os.path.dirname(os.path.abspath(ckpt_path))
    cfg_src = args.hf_config or os.path.join(folder, "config.json")
    cfg = read_json(cfg_src)
    if cfg is None:
        raise ConvertError(f"Hugging Face checkpoint without config.json: none at {cfg_src} "
                           f"(pass --hf-config PATH)")
    if "architecture" in cfg and "model_type" not in cfg:
        raise ConvertError(f"{cfg_src} is a timm config, but the keys look like Hugging Face "
                           f"ones; pass --format timm or --format hf --hf-config PATH")
    prepare_out(args.out, args.force)
    shutil.copyfile(cfg_src, os.path.join(args.out, "config.json"))
    pre_src = os.path.join(os.path.dirname(os.path.abspath(cfg_src)), "preprocessor_config.json")
    if os.path.isfile(pre_src):
        shutil.copyfile(pre_src, os.path.join(args.out, "preprocessor_config.json"))
    else:
        log(f"no preprocessor_config.json beside {cfg_src}: vls will use the config's "
            f"defaults for mean/std/size")
    st_path = os.path.join(args.out, "model.safetensors")
    save_tensors(state_dict, st_path, args.float32)
    if not args.no_validate:
        validate_hf(cfg, args.out, state_dict, args.seed, args.tolerance)
    return cfg


def validate_hf(cfg, out, state_dict, seed, tol):
    try:
        import transformers
    except ImportError:
        log("transformers is not installed: Hugging Face checkpoint written without "
            "a forward-pass validation (pip install transformers to validate)")
        return
    import torch
    from safetensors.torch import load_file
    archs = cfg.get("architectures") or ["AutoModelForImageClassification"]
    cls = getattr(transformers, archs[0], None) or transformers.AutoModelForImageClassification
    config = transformers.AutoConfig.from_pretrained(out)

    def build(sd):
        m = cls(config)
        missing, unexpected = m.load_state_dict(sd, strict=False)
        if missing or unexpected:
            raise ConvertError(f"weights do not match {cls.__name__}: missing {missing[:5]}, "
                               f"unexpected {unexpected[:5]}")
        return m.eval()

    ref = build(state_dict)
    fresh = build(load_file(os.path.join(out, "model.safetensors")))
    size = getattr(config, "image_size", 224)
    size = size if isinstance(size, (list, tuple)) else (size, size)
    chans = getattr(config, "num_channels", 3)
    x = torch.randn(2, chans, *size, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        a, b = ref(pixel_values=x.float()).logits, fresh(pixel_values=x.float()).logits
    d = max_abs_diff(a, b)
    print(f"validation: reloaded model.safetensors into transformers.{cls.__name__}, "
          f"forward on random {list(x.shape)}: max |diff| = {d:.3g}")
    if d > tol:
        raise ConvertError(f"validation failed: max |diff| {d:.3g} > {tol}")


# ----------------------------------------------------------------- main

def main(argv=None):
    args = parse_args(argv)
    try:
        imports()
        import torch
        torch.manual_seed(args.seed)
        if os.path.isdir(args.out) and os.listdir(args.out) and not args.force:
            raise ConvertError(f"{args.out}: folder is not empty (use --force to write into it)")
        if args.timm_name:
            cfg = convert_timm_name(args)
            kind = "timm"
        else:
            path = resolve_checkpoint_path(args.checkpoint)
            if os.path.abspath(path).startswith(os.path.abspath(args.out) + os.sep):
                raise ConvertError("the output folder must not contain the checkpoint")
            state_dict, which = extract_state_dict(torch_load(path), prefer_ema=not args.no_ema)
            log(f"{path}: {len(state_dict)} tensors (from {which})")
            kind = args.format
            if kind == "auto":
                side = read_json(os.path.join(os.path.dirname(os.path.abspath(path)), "config.json"))
                hf_side = side is not None and "model_type" in side and "architecture" not in side
                kind = "hf" if (looks_hf(state_dict) or hf_side or args.hf_config) else "timm"
            cfg = (convert_hf if kind == "hf" else convert_timm)(args, state_dict, path)
        n = cfg.get("num_classes") or len(cfg.get("id2label", {}) or {})
        arch = cfg.get("architecture") or (cfg.get("architectures") or ["?"])[0]
        print(f"wrote {args.out}/config.json + model.safetensors ({kind}: {arch}, {n} classes)")
        return 0
    except ConvertError as e:
        print(f"convert-checkpoint: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
