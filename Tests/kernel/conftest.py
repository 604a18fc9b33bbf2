"""Shared set-up of the kernel tests: the vls kernelspec goes into a temporary JUPYTER_PATH
(never the home folder), and every Jupyter directory points into the same temporary tree.
Runs at import, before the test classes start their kernels."""
import atexit
import os
import shutil
import subprocess
import tempfile

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VLS = os.path.abspath(os.environ.get("VLS_BIN", os.path.join(REPO, ".build", "release", "vls")))
if not os.access(VLS, os.X_OK):
    raise RuntimeError(f"no vls binary at {VLS} (build with `swift build -c release` or set VLS_BIN)")

TMP = tempfile.mkdtemp(prefix="vls-kernel-tests-")
atexit.register(shutil.rmtree, TMP, ignore_errors=True)
for var, sub in [("JUPYTER_DATA_DIR", "data"), ("JUPYTER_CONFIG_DIR", "config"),
                 ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")]:
    os.environ[var] = os.path.join(TMP, sub)
    os.makedirs(os.environ[var], exist_ok=True)
os.environ["JUPYTER_PATH"] = os.path.join(TMP, "share", "jupyter")
os.environ["JUPYTER_PLATFORM_DIRS"] = "1"
os.environ.setdefault("VLS_THREADS", "2")

subprocess.run([VLS, "kernel", "install", "--prefix", TMP, "--name", "vls"], check=True,
               stdout=subprocess.DEVNULL)
KERNEL_DIR = os.path.join(TMP, "share", "jupyter", "kernels", "vls")
