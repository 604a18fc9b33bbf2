"""The Jupyter project's own conformance suite (jupyter_kernel_test 0.7) against `vls kernel`,
with every optional sample set, so no test skips."""
import json
import os
import unittest

import jupyter_kernel_test

from conftest import KERNEL_DIR, VLS


class VLSKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "vls"
    language_name = "vls"
    file_extension = ".vls"

    code_hello_world = 'print("hello, world")'
    code_stderr = 'warn("a warning")'

    completion_samples = [
        {"text": "zer", "matches": {"zeros"}},
        {"text": "cle", "matches": {"clear_output"}},
        {"text": "import_not_a_name_", "matches": set()},
    ]

    complete_code_samples = ["1 + 1", "x = 3", "def f(a):\n    return a\n\n", "print(\"hi\")"]
    incomplete_code_samples = ["def f(a):", "for i in range(3):", "print(1,", "x = [1, 2,"]
    invalid_code_samples = ["x = )", "1 +* 2", "print(1))"]

    code_inspect_sample = "zeros"
    code_page_something = "help(zeros)"
    code_clear_output = "clear_output(wait: false)"
    code_generate_error = 'fail_here = 1 + "a"'

    code_execute_result = [
        {"code": "6 * 7", "result": "42"},
        {"code": '"ab" + "cd"', "result": '"abcd"'},
        {"code": "[1, 2.5]", "result": "[1, 2.5]"},
        {"code": 'table(["a", "b"], [[1, 2.5]])', "mime": "text/html"},
    ]
    code_history_pattern = "6 \\* 7"
    supported_history_operations = ("tail", "range", "search")

    code_display_data = [
        {"code": "show(heatmap(zeros([3, 8, 8]), zeros([2, 2])))", "mime": "image/png"},
        {"code": 'plot([1, 2, 3], y: [1.0, 4.0, 9.0], title: "t")', "mime": "image/svg+xml"},
    ]


class KernelSpecTests(unittest.TestCase):
    def test_kernel_json(self):
        with open(os.path.join(KERNEL_DIR, "kernel.json")) as f:
            spec = json.load(f)
        self.assertEqual(spec["argv"][1:], ["kernel", "-f", "{connection_file}"])
        self.assertTrue(os.path.isabs(spec["argv"][0]))
        self.assertEqual(os.path.realpath(spec["argv"][0]), os.path.realpath(VLS))
        self.assertEqual(spec["language"], "vls")
        self.assertEqual(spec["interrupt_mode"], "message")
        self.assertTrue(spec["display_name"])
        for size in (32, 64):
            with open(os.path.join(KERNEL_DIR, f"logo-{size}x{size}.png"), "rb") as f:
                head = f.read(24)
            self.assertEqual(head[:8], b"\x89PNG\r\n\x1a\n")
            self.assertEqual(int.from_bytes(head[16:20], "big"), size)
            self.assertEqual(int.from_bytes(head[20:24], "big"), size)

    def test_kernelspec_list_finds_it(self):
        from jupyter_client.kernelspec import KernelSpecManager
        specs = KernelSpecManager().find_kernel_specs()
        self.assertIn("vls", specs)
        self.assertEqual(os.path.realpath(specs["vls"]), os.path.realpath(KERNEL_DIR))
