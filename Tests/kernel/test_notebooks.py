"""`vls notebook --ipynb`: notebooks that validate (nbformat 4.5, cell ids, kernelspec vls),
executed in-process (--execute) and by nbclient through the kernel, with the same printed
numbers as `vls run` on the same script and figures as image/png or image/svg+xml."""
import glob
import os
import re
import subprocess
import tempfile
import unittest

import nbformat
from nbclient import NotebookClient

from conftest import REPO, VLS

EXAMPLES = sorted(glob.glob(os.path.join(REPO, "Examples", "*.vls")))
ENV = dict(os.environ, VLS_PROGRESS="0")


def run_stdout(path):
    r = subprocess.run([VLS, "run", path], cwd=REPO, capture_output=True, text=True, env=ENV, timeout=240)
    assert r.returncode == 0, r.stderr
    return r.stdout


def make_notebook(path, *flags):
    out = os.path.join(tempfile.mkdtemp(prefix="vls-nb-"), os.path.basename(path) + ".ipynb")
    r = subprocess.run([VLS, "notebook", path, "--ipynb", "-o", out, *flags], cwd=REPO,
                       capture_output=True, text=True, env=ENV, timeout=240)
    assert r.returncode == 0, r.stderr
    with open(out) as f:
        return nbformat.read(f, as_version=nbformat.NO_CONVERT)


def code_cells(source):
    """How many `# %%` code cells with code the script has (prose cells are `# %% md`)."""
    cells, current, prose = [], [], False
    for line in source.split("\n"):
        if line.startswith("# %%"):
            cells.append((prose, current))
            current, prose = [], line[4:].strip().startswith("md")
        else:
            current.append(line)
    cells.append((prose, current))
    return sum(1 for p, lines in cells if not p and any(l.strip() for l in lines))


def expected_pattern(nb):
    """What `vls run` prints for the notebook's outputs: the stdout text, and for each figure
    the one-line description `[caption, kind WxH, not shown (...)...]` a pipe gets."""
    parts = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.output_type == "stream" and o.name == "stdout":
                parts.append(re.escape(o.text))
            elif o.output_type == "display_data":
                parts.append(re.escape("[" + o.data["text/plain"]) + r"(, [^\]\n]*)?\]\n")
    return "".join(parts)


class NotebookTests(unittest.TestCase):
    def check_structure(self, nb, source):
        nbformat.validate(nb)
        self.assertEqual((nb.nbformat, nb.nbformat_minor), (4, 5))
        self.assertEqual(nb.metadata.kernelspec.name, "vls")
        self.assertEqual(nb.metadata.language_info.name, "vls")
        ids = [c.id for c in nb.cells]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertEqual(sum(1 for c in nb.cells if c.cell_type == "code"), code_cells(source))

    def test_unexecuted_notebooks_validate(self):
        for path in EXAMPLES:
            with self.subTest(example=os.path.basename(path)):
                with open(path) as f:
                    source = f.read()
                nb = make_notebook(path)
                self.check_structure(nb, source)
                self.assertTrue(all(c.outputs == [] and c.execution_count is None for c in nb.cells if c.cell_type == "code"))
                # every line of code is in a code cell, in order
                code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
                self.assertIn(code.split("\n")[0], source)

    def test_execute_in_process_matches_vls_run(self):
        path = os.path.join(REPO, "Examples", "quickstart.vls")
        with open(path) as f:
            source = f.read()
        nb = make_notebook(path, "--execute")
        self.check_structure(nb, source)
        counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
        self.assertEqual(counts, list(range(1, len(counts) + 1)))
        mimes = {m for c in nb.cells for o in c.get("outputs", []) if o.output_type == "display_data" for m in o.data}
        self.assertTrue(mimes & {"image/png", "image/svg+xml"}, "no figure in the executed notebook")
        self.assertRegex(run_stdout(path), "^" + expected_pattern(nb) + "$")

    def test_a_failing_cell_stops_the_notebook(self):
        d = tempfile.mkdtemp(prefix="vls-nb-")
        script = os.path.join(d, "fails.vls")
        with open(script, "w") as f:
            f.write('# %%\nprint("one")\n# %%\nx = 1 + "a"\n# %%\nprint("never")\n')
        out = os.path.join(d, "fails.ipynb")
        r = subprocess.run([VLS, "notebook", script, "--ipynb", "--execute", "-o", out], capture_output=True, text=True)
        self.assertEqual(r.returncode, 70)
        nb = nbformat.read(out, as_version=4)
        nbformat.validate(nb)
        self.assertEqual([o.output_type for c in nb.cells for o in c.get("outputs", [])], ["stream", "error"])
        self.assertIsNone(nb.cells[2].execution_count)


class NbclientTests(unittest.TestCase):
    def test_examples_run_through_the_kernel(self):
        for path in EXAMPLES:
            with self.subTest(example=os.path.basename(path)):
                nb = make_notebook(path)
                NotebookClient(nb, kernel_name="vls", timeout=240, resources={"metadata": {"path": REPO}}).execute()
                nbformat.validate(nb)
                code = [c for c in nb.cells if c.cell_type == "code"]
                self.assertTrue(all(c.execution_count is not None for c in code), "a cell did not run")
                self.assertFalse([o for c in code for o in c.outputs if o.output_type == "error"])
                figures = [o for c in code for o in c.outputs if o.output_type == "display_data"]
                for o in figures:
                    self.assertTrue({"image/png", "image/svg+xml"} & set(o.data), o.data.keys())
                self.assertRegex(run_stdout(path), "^" + expected_pattern(nb) + "$")
