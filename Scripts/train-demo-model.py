#!/usr/bin/env python3
"""Train vls's demo model: a small plain timm ViT on Fashion-MNIST.

The model is timm's own VisionTransformer (class token, token pooling, pre-norm
blocks, exact GELU, LayerNorm eps 1e-6, qkv bias) on 28x28 images with 4x4
patches (7x7 = 49 patch tokens + CLS). The gray image is replicated to 3
channels so vls's RGB pipeline applies unchanged; normalisation is
(pixel/255 - 0.5) / 0.5 per channel, as the augreg ViTs.

The data is read straight from the IDX .gz files of Debian's
dataset-fashion-mnist (/usr/share/datasets/fashion-mnist); nothing is
downloaded. Seeded (python, numpy, torch) with a deterministic data order.

Writes a timm-layout checkpoint folder (config.json in the layout timm's
push_to_hf_hub writes + model.safetensors, float32) and a README.md, then
reloads the saved weights into a fresh timm model (strict) and recomputes the
test accuracy.

Run it with the venv that Scripts/setup-python makes:
    ~/.cache/vls/venv/bin/python Scripts/train-demo-model.py
"""
import argparse
import gzip
import json
import math
import os
import platform
import random
import struct
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
DEFAULT_OUT = os.path.join(REPO, "Examples", "models", "fashion-vit")
LABEL_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
# A registered timm name whose implied settings are all timm defaults; the
# model_args below override every size it names, so
# timm.create_model(ARCHITECTURE, pretrained=False, **model_args) builds
# exactly this model.
ARCHITECTURE = "vit_tiny_patch16_224"


def die(msg):
    print(f"train-demo-model: error: {msg}", file=sys.stderr)
    sys.exit(2)


def parse_args():
    p = argparse.ArgumentParser(
        description="Train the vls demo ViT on Fashion-MNIST and write a "
                    "timm-layout checkpoint folder (config.json + model.safetensors).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default=DEFAULT_DATA,
                   help="folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz")
    p.add_argument("--out", default=DEFAULT_OUT, help="output checkpoint folder")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (keep one core free for compiles)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=11)
    p.add_argument("--batch", type=int, default=128, help="training batch size")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (one-cycle)")
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--warmup", type=float, default=0.1,
                   help="fraction of steps spent warming up (one-cycle pct_start)")
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--pad", type=int, default=0,
                   help="random-crop padding in pixels (0 = no crop augmentation)")
    p.add_argument("--no-flip", action="store_true", help="disable random horizontal flip")
    p.add_argument("--clip-grad", type=float, default=1.0,
                   help="clip the gradient norm to this value (0 = no clipping)")
    p.add_argument("--embed-dim", type=int, default=64)
    p.add_argument("--depth", type=int, default=6)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--mlp-ratio", type=float, default=4.0)
    p.add_argument("--patch", type=int, default=4)
    p.add_argument("--eval-batch", type=int, default=1000)
    p.add_argument("--time-batches", type=int, default=0,
                   help="only time this many training batches, print the estimated "
                        "epoch time and exit (writes nothing)")
    p.add_argument("--min-accuracy", type=float, default=88.0,
                   help="exit with status 3 (after writing) when the test accuracy is below this")
    args = p.parse_args()
    # the flags that differ from the defaults, for the README's reproduce command
    recipe_flags = ("seed", "epochs", "batch", "lr", "weight_decay", "warmup", "label_smoothing",
                    "pad", "no_flip", "clip_grad", "embed_dim", "depth", "heads", "mlp_ratio",
                    "patch", "threads")
    args.nondefault = []
    for name in recipe_flags:
        value = getattr(args, name)
        if value != p.get_default(name):
            flag = "--" + name.replace("_", "-")
            args.nondefault.append(flag if isinstance(value, bool) else f"{flag} {value}")
    return args


def read_idx(path, kind):
    """Read an IDX file (optionally gzipped). kind 'images' -> (N, R, C) uint8,
    'labels' -> (N,) uint8. Checks magic numbers and sizes."""
    import numpy as np
    if not os.path.exists(path):
        die(f"{path}: no such file (install Debian's dataset-fashion-mnist, "
            f"or pass --data FOLDER)")
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        die(f"{path}: truncated IDX header")
    magic, n = struct.unpack(">II", data[:8])
    if kind == "images":
        if magic != 2051:
            die(f"{path}: bad magic {magic} (expected 2051 for images)")
        rows, cols = struct.unpack(">II", data[8:16])
        expected = 16 + n * rows * cols
        if len(data) != expected:
            die(f"{path}: {len(data)} bytes, expected {expected}")
        return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows, cols)
    if magic != 2049:
        die(f"{path}: bad magic {magic} (expected 2049 for labels)")
    if len(data) != 8 + n:
        die(f"{path}: {len(data)} bytes, expected {8 + n}")
    return np.frombuffer(data, dtype=np.uint8, offset=8)


def load_split(folder, split):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte.gz"), "images")
    y = read_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz"), "labels")
    if len(x) != len(y):
        die(f"{split}: {len(x)} images but {len(y)} labels")
    return x, y


def to_input(x_uint8):
    """(N, 28, 28) uint8 tensor -> (N, 3, 28, 28) float32, (x/255 - 0.5)/0.5."""
    x = x_uint8.float().div_(255.0).sub_(0.5).div_(0.5)
    return x.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()


def augment(x, gen, pad, flip):
    """x: (B, 28, 28) uint8. Random crop with zero padding (the background of
    Fashion-MNIST is 0) and random horizontal flip, drawn from gen."""
    import torch
    b, h, w = x.shape
    if pad > 0:
        padded = torch.zeros((b, h + 2 * pad, w + 2 * pad), dtype=x.dtype)
        padded[:, pad:pad + h, pad:pad + w] = x
        offs = torch.randint(0, 2 * pad + 1, (b, 2), generator=gen)
        rows = offs[:, 0:1] + torch.arange(h).unsqueeze(0)          # (B, h)
        cols = offs[:, 1:2] + torch.arange(w).unsqueeze(0)          # (B, w)
        bi = torch.arange(b).view(b, 1, 1)
        x = padded[bi, rows.view(b, h, 1), cols.view(b, 1, w)]
    if flip:
        m = torch.rand(b, generator=gen) < 0.5
        x = torch.where(m.view(b, 1, 1), x.flip(-1), x)
    return x


def evaluate(model, x_test, y_test, batch):
    import torch
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x_test), batch):
            logits = model(to_input(x_test[i:i + batch]))
            correct += (logits.argmax(-1) == y_test[i:i + batch]).sum().item()
    return 100.0 * correct / len(x_test)


def main():
    args = parse_args()
    try:
        import numpy as np
        import torch
        import timm
        from timm.models.vision_transformer import VisionTransformer
        from safetensors.torch import save_file, load_file
    except ImportError as e:
        die(f"{e}; run Scripts/setup-python and use the python it prints")

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)

    t_start = time.time()
    x_train, y_train = load_split(args.data, "train")
    x_test, y_test = load_split(args.data, "test")
    x_train = torch.from_numpy(x_train.copy())
    y_train = torch.from_numpy(y_train.astype(np.int64))
    x_test = torch.from_numpy(x_test.copy())
    y_test = torch.from_numpy(y_test.astype(np.int64))
    img = x_train.shape[-1]

    model_args = dict(img_size=img, patch_size=args.patch, in_chans=3, num_classes=10,
                      embed_dim=args.embed_dim, depth=args.depth, num_heads=args.heads,
                      mlp_ratio=args.mlp_ratio, qkv_bias=True, class_token=True,
                      global_pool="token")
    model = VisionTransformer(**model_args)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params} parameters, {model_args}", flush=True)

    # AdamW; no weight decay on biases, norms, cls token and position embedding.
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or name in ("cls_token", "pos_embed") else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.999))
    steps_per_epoch = math.ceil(len(x_train) / args.batch)
    total_steps = steps_per_epoch * args.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=total_steps, pct_start=args.warmup,
        anneal_strategy="cos", div_factor=25.0, final_div_factor=1e4,
        cycle_momentum=False)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    gen = torch.Generator().manual_seed(args.seed)

    if args.time_batches > 0:
        model.train()
        perm = torch.randperm(len(x_train), generator=gen)
        t0 = time.time()
        for s in range(args.time_batches):
            idx = perm[s * args.batch:(s + 1) * args.batch]
            xb = to_input(augment(x_train[idx], gen, args.pad, not args.no_flip))
            loss = loss_fn(model(xb), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        dt = (time.time() - t0) / args.time_batches
        t0 = time.time()
        evaluate(model, x_test[:2000], y_test[:2000], args.eval_batch)
        de = (time.time() - t0) * 5
        print(json.dumps({"s_per_batch": round(dt, 4), "est_epoch_s": round(dt * steps_per_epoch, 1),
                          "est_eval_s": round(de, 1), "threads": args.threads,
                          "batch": args.batch, "embed_dim": args.embed_dim,
                          "depth": args.depth}), flush=True)
        return

    print(f"training {args.epochs} epochs x {steps_per_epoch} steps, batch {args.batch}, "
          f"threads {args.threads}", flush=True)
    history = []
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(x_train), generator=gen)
        total, seen = 0.0, 0
        for s in range(steps_per_epoch):
            idx = perm[s * args.batch:(s + 1) * args.batch]
            xb = to_input(augment(x_train[idx], gen, args.pad, not args.no_flip))
            loss = loss_fn(model(xb), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if args.clip_grad > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad)
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            seen += len(idx)
        acc = evaluate(model, x_test, y_test, args.eval_batch)
        elapsed = time.time() - t_start
        history.append({"epoch": epoch + 1, "train_loss": round(total / seen, 4),
                        "test_accuracy": round(acc, 2), "elapsed_s": round(elapsed, 1)})
        print(f"epoch {epoch + 1:3d}/{args.epochs}  loss {total / seen:.4f}  "
              f"test acc {acc:6.2f}%  lr {sched.get_last_lr()[0]:.2e}  "
              f"elapsed {elapsed / 60:6.1f} min", flush=True)
    wall = time.time() - t_start
    model.eval()
    final_acc = evaluate(model, x_test, y_test, args.eval_batch)

    # ---- write the checkpoint folder
    os.makedirs(args.out, exist_ok=True)
    state = {k: v.detach().to(torch.float32).contiguous().clone()
             for k, v in model.state_dict().items()}
    st_path = os.path.join(args.out, "model.safetensors")
    save_file(state, st_path, metadata={"format": "pt"})
    os.chmod(st_path, 0o644)  # safetensors writes 0600
    size = os.path.getsize(st_path)
    if size > 10 * 1024 * 1024:
        die(f"{st_path} is {size} bytes, over the 10 MB limit")

    config = {
        "architecture": ARCHITECTURE,
        "num_classes": 10,
        "num_features": args.embed_dim,
        "global_pool": "token",
        "model_args": model_args,
        "pretrained_cfg": {
            "input_size": [3, img, img],
            "interpolation": "bilinear",
            "crop_pct": 1.0,
            "crop_mode": "center",
            "mean": [0.5, 0.5, 0.5],
            "std": [0.5, 0.5, 0.5],
            "num_classes": 10,
            "first_conv": "patch_embed.proj",
            "classifier": "head",
        },
        "label_names": LABEL_NAMES,
        "test_accuracy": round(final_acc, 2),
        "training": {
            "script": "Scripts/train-demo-model.py",
            "dataset": "Fashion-MNIST (Debian dataset-fashion-mnist), 60000 train / 10000 test",
            "input": "28x28 gray replicated to 3 channels; (x/255 - 0.5) / 0.5",
            "seed": args.seed,
            "epochs": args.epochs,
            "batch_size": args.batch,
            "optimizer": {"name": "AdamW", "lr": args.lr, "betas": [0.9, 0.999],
                          "weight_decay": args.weight_decay,
                          "no_weight_decay": "biases, norm weights, cls_token, pos_embed"},
            "lr_schedule": {"name": "OneCycleLR", "max_lr": args.lr, "pct_start": args.warmup,
                            "anneal_strategy": "cos", "div_factor": 25.0,
                            "final_div_factor": 1e4, "total_steps": total_steps},
            "loss": {"name": "cross_entropy", "label_smoothing": args.label_smoothing},
            "gradient_clipping": args.clip_grad if args.clip_grad > 0 else None,
            "augmentation": {"random_crop_padding": args.pad,
                             "random_horizontal_flip": not args.no_flip},
            "threads": args.threads,
            "wall_time_s": round(wall, 1),
            "parameters": n_params,
            "history": history,
            "torch": torch.__version__,
            "timm": timm.__version__,
            "python": platform.python_version(),
        },
    }
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")

    # ---- reload check: a fresh timm model built from the config, strict load
    fresh = timm.create_model(config["architecture"], pretrained=False, **config["model_args"])
    fresh.load_state_dict(load_file(st_path), strict=True)
    reload_acc = evaluate(fresh, x_test, y_test, args.eval_batch)
    print(f"reload check: test accuracy {reload_acc:.2f}% (trained model {final_acc:.2f}%)",
          flush=True)
    if abs(reload_acc - final_acc) > 1e-9:
        die("reloaded model does not reproduce the test accuracy")

    write_readme(args, config, n_params, size)
    print(f"wrote {args.out} (model.safetensors {size} bytes); test accuracy "
          f"{final_acc:.2f}%, wall time {wall / 60:.1f} min", flush=True)
    if final_acc < args.min_accuracy:
        print(f"train-demo-model: test accuracy {final_acc:.2f}% is below "
              f"{args.min_accuracy}%", file=sys.stderr)
        sys.exit(3)


def write_readme(args, config, n_params, size):
    tr = config["training"]
    ma = config["model_args"]
    augs = []
    if tr["augmentation"]["random_crop_padding"] > 0:
        augs.append(f"random crop (padding {tr['augmentation']['random_crop_padding']})")
    if tr["augmentation"]["random_horizontal_flip"]:
        augs.append("random horizontal flip")
    aug = " and ".join(augs) or "no augmentation"
    clip = f", gradient norm clipped at {args.clip_grad:g}" if args.clip_grad > 0 else ""
    cmd = "Scripts/setup-python\n~/.cache/vls/venv/bin/python Scripts/train-demo-model.py"
    if args.nondefault:
        cmd += " " + " ".join(args.nondefault)
    text = f"""# fashion-vit: the vls demo model

A small plain timm Vision Transformer trained by `Scripts/train-demo-model.py` on
Fashion-MNIST (the 60,000 training images of Debian's `dataset-fashion-mnist`).

- **Test accuracy: {config['test_accuracy']:.2f}%** on the 10,000 test images.
- timm `VisionTransformer`: {ma['img_size']}x{ma['img_size']} input, patch {ma['patch_size']}
  ({(ma['img_size'] // ma['patch_size']) ** 2} patch tokens + CLS), width {ma['embed_dim']},
  depth {ma['depth']}, {ma['num_heads']} heads, MLP ratio {ma['mlp_ratio']:g}, qkv bias,
  pre-norm blocks, exact GELU, LayerNorm eps 1e-6, token pooling; {n_params:,} parameters
  ({size / 1e6:.1f} MB float32).
- Input: the gray image replicated to 3 channels, `(pixel/255 - 0.5) / 0.5`.
- Classes: {', '.join(LABEL_NAMES)}.
- Files: `model.safetensors` (timm state_dict keys) and `config.json` (timm's
  `push_to_hf_hub` layout: `architecture`, `model_args`, `pretrained_cfg`, plus
  `label_names`, `test_accuracy` and the full `training` recipe). `architecture` is
  `{ARCHITECTURE}` only as a registered timm name with default settings:
  `model_args` overrides all its sizes, so
  `timm.create_model(cfg["architecture"], pretrained=False, **cfg["model_args"])`
  builds this model.

Recipe: seed {tr['seed']}, {tr['epochs']} epochs, batch {tr['batch_size']}, AdamW (lr
{tr['optimizer']['lr']:g}, weight decay {tr['optimizer']['weight_decay']:g}), one-cycle cosine
schedule ({tr['lr_schedule']['pct_start']:g} warm-up), label smoothing
{tr['loss']['label_smoothing']:g}, {aug}{clip}; {tr['threads']} thread(s), {tr['wall_time_s'] / 60:.1f} minutes wall time with
torch {tr['torch']} and timm {tr['timm']}.

Reproduce (bit-exact reproduction is not promised across machines or versions):

```
{cmd}
```
"""
    with open(os.path.join(args.out, "README.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
