#!/usr/bin/env python3
"""Writes the hostile-input corpus (one folder per case; see
Tests/VLSToolTests/HostileCorpusTests.swift for the layout). Each `expected` line is the
error a reviewer checked by hand: regenerate the inputs with this script, never the
expectations. Standard library only; every file is small.

    python3 Tests/Fixtures/hostile/make.py
"""
import json
import os
import shutil
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def case(name, files, script=None, setup=None, command=None, env=None):
    d = os.path.join(HERE, name)
    expected = None
    if os.path.exists(os.path.join(d, "expected")):
        expected = open(os.path.join(d, "expected")).read()
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for path, data in files.items():
        full = os.path.join(d, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
    if script is not None:
        open(os.path.join(d, "run.vls"), "w").write(script + "\n")
    if setup:
        open(os.path.join(d, "setup"), "w").write("\n".join(setup) + "\n")
    if command:
        open(os.path.join(d, "command"), "w").write("\n".join(command) + "\n")
    if env:
        open(os.path.join(d, "env"), "w").write("\n".join(f"{k}={v}" for k, v in env.items()) + "\n")
    if expected is not None:
        open(os.path.join(d, "expected"), "w").write(expected)


def safetensors(header, data=b""):
    h = header if isinstance(header, str) else json.dumps(header)
    hb = h.encode()
    return struct.pack("<Q", len(hb)) + hb + data


def npy(header, data=b""):
    h = header
    pad = (64 - (10 + len(h) + 1) % 64) % 64
    h = h + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + data


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


STANDARD = "{fixtures}/models/standard/model.safetensors"
STANDARD_CONFIG = json.load(open(os.path.join(HERE, "..", "models", "standard", "config.json")))


def timm_config(**changes):
    c = json.loads(json.dumps(STANDARD_CONFIG))
    for path, value in changes.items():
        node = c
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return json.dumps(c)


def main():
    # MARK: safetensors
    case("st-duplicate-key", {"x.safetensors": safetensors(
        '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4)},
        'read_safetensors("x.safetensors")')
    case("st-bool-shape", {"x.safetensors": safetensors(
        '{"a":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}', b"\0" * 4)},
        'read_safetensors("x.safetensors")')
    case("st-deep-unclosed", {"x.safetensors": safetensors(
        '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":' + "[" * 10000 + "}}", b"\0" * 4)},
        'read_safetensors("x.safetensors")')
    case("st-rank-huge", {"x.safetensors": safetensors(
        '{"a":{"dtype":"F32","shape":[' + ",".join(["1"] * 100000) + '],"data_offsets":[0,4]}}', b"\0" * 4)},
        'read_safetensors("x.safetensors")')
    case("st-fifo", {}, 'read_safetensors("x.safetensors")', setup=["fifo x.safetensors"])
    case("st-fifo-in-folder", {}, 'load("m")', setup=["mkdir m", "fifo m/model.safetensors"])
    case("st-u8-over-cap", {"x.safetensors": safetensors(
        '{"a":{"dtype":"U8","shape":[64,64],"data_offsets":[0,4096]}}', b"\1" * 4096)},
        'read_safetensors("x.safetensors")', env={"VLS_MAX_TENSOR_BYTES": "4K"})

    # MARK: checkpoint folders and configs
    case("config-dangling-symlink", {}, 'load("m")',
         setup=["mkdir m", f"symlink {STANDARD} m/model.safetensors", "symlink missing.json m/config.json"])
    case("config-symlink-loop", {}, 'load("m")',
         setup=["mkdir m", f"symlink {STANDARD} m/model.safetensors", "symlink config.json m/config.json"])
    case("weights-dangling-symlink", {"m/config.json": json.dumps(STANDARD_CONFIG)}, 'load("m")',
         setup=["symlink gone.safetensors m/model.safetensors"])
    case("config-crop-pct-tiny", {"m/config.json": timm_config(pretrained_cfg__crop_pct=1e-300)}, 'load("m")',
         setup=[f"symlink {STANDARD} m/model.safetensors"])
    weights = [f"symlink {STANDARD} m/model.safetensors"]
    case("config-trailing-comma", {"m/config.json": json.dumps(STANDARD_CONFIG)[:-1] + ", }"}, 'load("m")', setup=weights)
    case("config-duplicate-key", {"m/config.json": '{"num_classes": 10, ' + json.dumps(STANDARD_CONFIG)[1:]}, 'load("m")', setup=weights)
    case("config-crop-mode-squash", {"m/config.json": timm_config(pretrained_cfg__crop_mode="squash")}, 'load("m")', setup=weights)
    case("config-mean-overflow", {"m/config.json": timm_config(pretrained_cfg__mean=[1e39, 0.5, 0.5])}, 'load("m")', setup=weights)
    case("config-embed-dim-mismatch", {"m/config.json": timm_config(model_args__embed_dim=64)}, 'load("m")', setup=weights)
    case("config-id2label-malformed", {"m/config.json": json.dumps({k: v for k, v in STANDARD_CONFIG.items() if k != "label_names"} | {"id2label": {"zero": "a"}})},
         'load("m")', setup=weights)
    case("config-img-size-huge", {"m/config.json": timm_config(model_args__img_size=1e9)}, 'load("m")',
         setup=[f"symlink {STANDARD} m/model.safetensors"])
    case("config-img-size-string", {"m/config.json": timm_config(model_args__img_size="28")}, 'load("m")',
         setup=[f"symlink {STANDARD} m/model.safetensors"])
    case("config-img-size-fraction", {"m/config.json": timm_config(model_args__img_size=28.5)}, 'load("m")',
         setup=[f"symlink {STANDARD} m/model.safetensors"])
    hf = {"model_type": "vit", "hidden_size": 200000, "num_hidden_layers": 1, "num_attention_heads": 1,
          "intermediate_size": 4, "image_size": 32, "patch_size": 8, "num_channels": 3}
    case("hf-hidden-size-huge", {"m/config.json": json.dumps(hf), "m/model.safetensors": safetensors(
        '{"vit.embeddings.cls_token":{"dtype":"F32","shape":[1,1,1],"data_offsets":[0,4]}}', b"\0" * 4)},
        'load("m")')

    # MARK: npy
    case("npy-huge-shape", {"x.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }", b"\0" * 16)},
         'read_npy("x.npy")')

    case("npy-fifo", {}, 'read_npy("x.npy")', setup=["fifo x.npy"])
    # A rank-30000 shape in a version 2.0 header (4-byte length).
    h = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + "1, " * 30000 + "), }"
    h = h + " " * ((64 - (12 + len(h) + 1) % 64) % 64) + "\n"
    case("npy-rank-huge", {"x.npy": b"\x93NUMPY\x02\x00" + struct.pack("<I", len(h)) + h.encode() + b"\0" * 4},
         'read_npy("x.npy")')
    case("npy-duplicate-key", {"x.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'shape': (2,), }", b"\0" * 8)},
         'read_npy("x.npy")')
    case("npy-fortran-order-int", {"x.npy": npy("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", b"\0" * 4)},
         'read_npy("x.npy")')

    # MARK: images
    case("png-fifo", {}, 'image("x.png")', setup=["fifo x.png"])
    png = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
    case("png-truncated", {"x.png": png + png_chunk(b"IDAT", zlib.compress(b"\0" * 13 * 4))[:20]}, 'image("x.png")')
    # Ancillary chunks declaring 2 GB in a small file (libpng allocated the length first).
    for kind in [b"tEXt", b"zTXt", b"iTXt", b"sPLT"]:
        case(f"png-{kind.decode().lower()}-2gb", {"x.png": png + struct.pack(">I", 0x7FFFFF00) + kind + b"k\0" + b"\0" * 64},
             'image("x.png")')
    # A 13000x13000 header (about 500 MB of RGB) under a 100 MB cap: refused from the header.
    bomb = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 13000, 13000, 8, 2, 0, 0, 0))
    case("png-bomb-over-cap", {"x.png": bomb + png_chunk(b"IDAT", zlib.compress(b"\0" * 1000))}, 'image("x.png")',
         env={"VLS_MAX_TENSOR_BYTES": "100M"})
    jpg = open(os.path.join(HERE, "..", "images", "gray.jpg"), "rb").read()
    sof = jpg.find(b"\xff\xc0")
    jpg = jpg[:sof + 5] + struct.pack(">HH", 13000, 13000) + jpg[sof + 9:]
    case("jpeg-bomb-over-cap", {"x.jpg": jpg}, 'image("x.jpg")', env={"VLS_MAX_TENSOR_BYTES": "100M"})
    # The cap counts a decode's peak, not only its RGB output: a progressive 2000x2000 JPEG
    # (12 MB of RGB) keeps about as much again of DCT coefficients while it decodes, so under
    # a 16 MB cap it is refused from the header (its RGB alone fits).
    prog = open(os.path.join(HERE, "..", "images", "progressive.jpg"), "rb").read()
    sof2 = prog.find(b"\xff\xc2")
    prog = prog[:sof2 + 5] + struct.pack(">HH", 2000, 2000) + prog[sof2 + 9:]
    case("jpeg-progressive-peak-over-cap", {"x.jpg": prog}, 'image("x.jpg")', env={"VLS_MAX_TENSOR_BYTES": "16M"})
    # A 2000x2000 RGB PNG: 12,000,000 bytes of RGB, under a cap 100 bytes above that; the
    # decoder's row buffers and the file itself pass it.
    rows = zlib.compress(b"\0" * (1 + 2000 * 3) * 2000, 9)
    big = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 2000, 2000, 8, 2, 0, 0, 0))
    case("png-peak-over-cap", {"x.png": big + png_chunk(b"IDAT", rows) + png_chunk(b"IEND", b"")}, 'image("x.png")',
         env={"VLS_MAX_TENSOR_BYTES": "12000100"})
    # More pixels than Pillow's decompression-bomb limit: the error states the limit.
    huge = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0))
    case("png-pixels-over-limit", {"x.png": huge + png_chunk(b"IDAT", zlib.compress(b"\0" * 1000))}, 'image("x.png")')
    jhuge = jpg[:sof + 5] + struct.pack(">HH", 20000, 20000) + jpg[sof + 9:]
    case("jpeg-pixels-over-limit", {"x.jpg": jhuge}, 'image("x.jpg")')

    # MARK: symlink loops: every reader says so, naming the path (never "no such file")
    loop = ["symlink loop-b loop-a", "symlink loop-a loop-b"]
    case("image-symlink-loop", {}, 'image("loop-a")', setup=loop)
    case("npy-symlink-loop", {}, 'read_npy("loop-a")', setup=loop)
    case("safetensors-symlink-loop", {}, 'read_safetensors("loop-a")', setup=loop)
    case("load-symlink-loop", {}, 'load("loop-a")', setup=loop)
    case("part-symlink-loop", {}, 'load_part("loop-a")', setup=loop)
    case("dataset-folder-symlink-loop", {}, 'dataset("loop-a")', setup=loop)
    case("dataset-labels-csv-symlink-loop", {"d/a/x.png": open(os.path.join(HERE, "..", "images", "small.png"), "rb").read()},
         'dataset("d")', setup=["symlink labels.csv d/labels.csv"])
    case("import-symlink-loop", {}, 'import "loop-a" as m', setup=loop)
    case("script-symlink-loop", {}, None, setup=loop, command=["run", "loop-a"])

    # MARK: datasets
    for name, value in [("negative", "-5.0"), ("nan", 'float("nan")'), ("inf", 'float("inf")'), ("huge", "3e8")]:
        case(f"dataset-label-{name}", {}, "dataset(images: zeros(1, 3, 8, 8), labels: tensor([" + value + "]))")

    # MARK: script text: NUL and invalid UTF-8 are errors naming line and column (python3
    # refuses both: "source code cannot contain null bytes", a SyntaxError for bad UTF-8)
    case("script-nul-in-string", {"run.vls": b'x = 1\ny = "a\x00b"\nprint(len(y))\n'}, None)
    case("script-nul-in-comment", {"run.vls": b'x = 1  # a\x00b\nprint(x)\n'}, None)
    case("script-invalid-utf8-in-string", {"run.vls": b'x = 1\nprint("caf\xe9")\n'}, None)
    case("script-invalid-utf8-in-comment", {"run.vls": b'# \xff\xfe\nprint(1)\n'}, None)
    case("module-invalid-utf8", {"run.vls": b'import helper\n', "helper.vls": b'x = "\xc3("\n'}, None)

    # MARK: tool level
    case("notebook-onto-itself", {"nb.vls": "print(1)\n"}, None, command=["notebook", "nb.vls", "-o", "nb.vls"])
    case("notebook-onto-module", {"nb.vls": "import helper\nprint(helper.x)\n", "helper.vls": "x = 1\n"}, None,
         command=["notebook", "nb.vls", "-o", "helper.vls"])
    case("notebook-ipynb-onto-module", {"nb.vls": "import \"lib/helper.vls\"\n", "lib/helper.vls": "x = 1\n"}, None,
         command=["notebook", "--ipynb", "--execute", "nb.vls", "-o", "lib/../lib/helper.vls"])
    case("write-through-missing-dotdot", {}, 'write_npy("a/../b/../x.npy", tensor([1.0]))')
    case("tensor-cap-unparsable", {}, "print(1)", env={"VLS_MAX_TENSOR_BYTES": "lots"})
    case("tensor-cap-zero", {}, "print(1)", env={"VLS_MAX_TENSOR_BYTES": "0"})
    case("tensor-cap-below-a-byte", {}, "print(1)", env={"VLS_MAX_TENSOR_BYTES": "1e-3"})
    case("tensor-cap-above-memory", {}, "print(1)", env={"VLS_MAX_TENSOR_BYTES": "1000000T"})
    case("tensor-cap-merge", {}, None, command=["merge", "a.part", "-o", "b.part"], env={"VLS_MAX_TENSOR_BYTES": "0"})
    case("rank-over-64", {}, "x = zeros(1).reshape([1] * 30000)")
    case("nan-logits-predictions", {}, """m = load("m")
r = m.run(zeros(1, 3, 32, 32) * float("nan"))
print(argmax(r.logits))
print(r.predictions)""", setup=["mkdir m", f"symlink {STANDARD} m/model.safetensors", "symlink {fixtures}/models/standard/config.json m/config.json"])
    case("threads-over-cpu-count", {}, "print(1)", command=["run", "--threads", "100000", "run.vls"])
    # A negative or non-numeric thread count said "Missing value" (the parser took -1 for an option).
    case("threads-negative", {}, "print(1)", command=["run", "--threads", "-1", "run.vls"])
    case("threads-negative-no-run", {}, "print(1)", command=["--threads", "-1", "run.vls"])
    case("threads-equals-negative", {}, "print(1)", command=["run", "--threads=-1", "run.vls"])
    case("threads-zero", {}, "print(1)", command=["run", "--threads", "0", "run.vls"])
    case("threads-word", {}, "print(1)", command=["run", "--threads", "many", "run.vls"])
    case("threads-missing", {}, None, command=["run", "--threads"])
    case("seed-negative", {}, "print(1)", command=["run", "--seed", "-5", "run.vls"])
    # An empty cap variable is unset (the default cap): the script runs.
    case("tensor-cap-empty-is-unset", {}, "print(1)\nerror(\"ran\")", env={"VLS_MAX_TENSOR_BYTES": ""})
    case("threads-env-empty-is-unset", {}, "print(1)\nerror(\"ran\")", env={"VLS_THREADS": ""})
    case("hook-calls-model", {}, """m = load("model.safetensors")
x = zeros(1, 3, 32, 32)
def h(a):
    m.forward(x)
    return a
m.run(x, edits: [hook("blocks.0.hook_resid_post", h)])""",
         setup=[f"symlink {STANDARD} model.safetensors", "symlink {fixtures}/models/standard/config.json config.json"])


if __name__ == "__main__":
    main()
