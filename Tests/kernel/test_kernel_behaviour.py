"""What jupyter_kernel_test does not cover: execution counts, silent runs, errors as vls prints
them, the help pager, interrupts (message and signal) during forward passes, control and
heartbeat while a cell runs, progress output, tables as HTML, signatures, shutdown."""
import os
import signal
import subprocess
import time
import unittest
from queue import Empty

import zmq
from jupyter_client.manager import start_new_kernel
from jupyter_client.session import Session

from conftest import REPO, VLS

MODEL = os.path.join(REPO, "Examples", "models", "fashion-vit")
FORWARD_LOOP = f"""
m = load("{MODEL}")
data = dataset("fashion-mnist", split: "test")
img, label = data[0]
x = m.preprocess(img)
passes = 0
print("looping")
while true:
    y = m.forward(x)
    passes += 1
"""


class KernelCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = start_new_kernel(kernel_name="vls", cwd=REPO)

    @classmethod
    def tearDownClass(cls):
        cls.kc.stop_channels()
        cls.km.shutdown_kernel(now=True)

    def run_cell(self, code, timeout=30, **kw):
        """Executes and returns (reply, [iopub messages between busy and idle])."""
        msg_id = self.kc.execute(code, **kw)
        reply = self.kc.get_shell_msg(timeout=timeout)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.kc.get_shell_msg(timeout=timeout)
        return reply, self.collect(msg_id, timeout)

    def collect(self, msg_id, timeout=30):
        out = []
        self.inputs = []
        deadline = time.time() + timeout
        while time.time() < deadline:
            msg = self.kc.get_iopub_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status":
                if msg["content"]["execution_state"] == "idle":
                    return out
                continue
            if msg["msg_type"] == "execute_input":
                self.inputs.append(msg["content"])
                continue
            out.append(msg)
        self.fail("no idle status")

    def flush(self):
        for ch in (self.kc.iopub_channel, self.kc.shell_channel, self.kc.control_channel):
            while True:
                try:
                    ch.get_msg(timeout=0.05)
                except Empty:
                    break


class ExecutionTests(KernelCase):
    def test_counts_silent_and_errors(self):
        self.flush()
        r1, _ = self.run_cell("a = 1")
        n = r1["content"]["execution_count"]
        r2, out = self.run_cell("a + 1")
        self.assertEqual(r2["content"]["execution_count"], n + 1)
        self.assertEqual([m["content"]["data"]["text/plain"] for m in out if m["msg_type"] == "execute_result"], ["2"])
        self.assertEqual(self.inputs, [{"code": "a + 1", "execution_count": n + 1}])
        # silent: nothing on iopub, no count
        r3, out = self.run_cell('print("quiet")\na = 5\na', silent=True)
        self.assertEqual(out, [])
        self.assertEqual(self.inputs, [])
        self.assertEqual(r3["content"]["status"], "ok")
        # store_history false: runs, shows, no count
        r4, out = self.run_cell("a * 2", store_history=False)
        self.assertEqual([m["content"]["data"]["text/plain"] for m in out if m["msg_type"] == "execute_result"], ["10"])
        r5, _ = self.run_cell("a")
        self.assertEqual(r5["content"]["execution_count"], n + 2)
        # an error: counted, reported, and the session survives
        r6, out = self.run_cell('b = a + "x"')
        self.assertEqual(r6["content"]["status"], "error")
        self.assertEqual(r6["content"]["execution_count"], n + 3)
        self.assertEqual([m["msg_type"] for m in out], ["error"])
        r7, out = self.run_cell("a")
        self.assertEqual(r7["content"]["status"], "ok")
        self.assertEqual(r7["content"]["execution_count"], n + 4)
        self.assertEqual(out[-1]["content"]["data"]["text/plain"], "5")

    def test_error_is_what_vls_prints(self):
        code = 'def f(x):\n    return x + "s"\n\nprint("before")\nf(1)'
        reply, out = self.run_cell(code)
        count = reply["content"]["execution_count"]
        errors = [m for m in out if m["msg_type"] == "error"]
        self.assertEqual(len(errors), 1)
        e = errors[0]["content"]
        self.assertEqual(reply["content"]["traceback"], e["traceback"])
        self.assertEqual(e["ename"], "RuntimeError")
        cli = subprocess.run([VLS], input=code, capture_output=True, text=True)
        self.assertEqual(cli.returncode, 70)
        expected = cli.stderr.replace("<stdin>", f"<cell {count}>").rstrip("\n")
        self.assertEqual("\n".join(e["traceback"]), expected)
        self.assertIn(e["evalue"], expected)
        self.assertEqual([m["content"]["text"] for m in out if m["msg_type"] == "stream"], ["before\n"])

    def test_syntax_error(self):
        reply, out = self.run_cell("x = (1 +")
        self.assertEqual(reply["content"]["ename"], "SyntaxError")
        self.assertEqual([m["msg_type"] for m in out], ["error"])

    def test_stream_order_and_batching(self):
        reply, out = self.run_cell('print("one")\nwarn("two")\nprint("three")\nfor i in range(2000):\n    print(i)')
        streams = [(m["content"]["name"], m["content"]["text"]) for m in out if m["msg_type"] == "stream"]
        self.assertEqual(streams[0], ("stdout", "one\n"))
        self.assertEqual(streams[1], ("stderr", "two\n"))
        text = "".join(t for n, t in streams[2:])
        self.assertEqual(text, "three\n" + "".join(f"{i}\n" for i in range(2000)))
        self.assertLess(len(streams), 50, "prints are batched, not one message each")

    def test_help_pages(self):
        reply, out = self.run_cell("help(zeros)")
        pages = reply["content"]["payload"]
        self.assertEqual(len(pages), 1)
        cli = subprocess.run([VLS], input="help(zeros)", capture_output=True, text=True)
        self.assertEqual(pages[0]["data"]["text/plain"] + "\n", cli.stdout)
        self.assertEqual(out, [])

    def test_table_html_and_clear_output(self):
        reply, out = self.run_cell('table(["name", "v"], [["a<b", 1.5], ["c", 2]], title: "T")')
        data = [m for m in out if m["msg_type"] == "execute_result"][0]["content"]["data"]
        self.assertIn("<table", data["text/html"])
        self.assertIn("<caption>T</caption>", data["text/html"])
        self.assertIn("<td>a&lt;b</td>", data["text/html"])
        self.assertIn("1.5000", data["text/html"])
        self.assertIn("a<b", data["text/plain"])
        reply, out = self.run_cell('print("x")\nclear_output(wait: true)\nprint("y")')
        self.assertEqual([(m["msg_type"], m["content"].get("wait")) for m in out],
                         [("stream", None), ("clear_output", True), ("stream", None)])

    def test_figures(self):
        reply, out = self.run_cell("show(heatmap(zeros([3, 8, 8]), zeros([2, 2])))")
        d = [m for m in out if m["msg_type"] == "display_data"][0]["content"]
        import base64
        png = base64.b64decode(d["data"]["image/png"])
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        self.assertEqual(d["metadata"]["image/png"]["width"], int.from_bytes(png[16:20], "big"))
        reply, out = self.run_cell('plot([1, 2, 3], y: [1.0, 4.0, 9.0])')
        d = [m for m in out if m["msg_type"] == "display_data"][0]["content"]
        self.assertTrue(d["data"]["image/svg+xml"].lstrip().startswith("<svg"))

    def test_completion_and_inspection(self):
        self.run_cell("items = [1, 2]")
        self.kc.complete("y = items.app", 13)
        c = self.kc.get_shell_msg(timeout=10)["content"]
        self.assertEqual(c["matches"], ["items.append"])
        self.assertEqual((c["cursor_start"], c["cursor_end"]), (4, 13))
        self.kc.inspect("zeros(2, 3)", 7)
        c = self.kc.get_shell_msg(timeout=10)["content"]
        self.assertTrue(c["found"])
        self.assertIn("zeros(*shape: int|list[int])", c["data"]["text/plain"])
        self.kc.inspect("no_such_name_here", 3)
        self.assertFalse(self.kc.get_shell_msg(timeout=10)["content"]["found"])
        self.kc.is_complete("for i in range(3):")
        c = self.kc.get_shell_msg(timeout=10)["content"]
        self.assertEqual((c["status"], c["indent"]), ("incomplete", "    "))

    def test_user_expressions(self):
        reply, _ = self.run_cell("u = 20", user_expressions={"double": "u * 2", "bad": "u + \"x\""})
        ue = reply["content"]["user_expressions"]
        self.assertEqual(ue["double"]["data"]["text/plain"], "40")
        self.assertEqual(ue["bad"]["status"], "error")


class InterruptTests(KernelCase):
    def start_loop(self):
        self.flush()
        msg_id = self.kc.execute(FORWARD_LOOP)
        # wait until the loop runs (model and data loaded), then let it make some passes
        deadline = time.time() + 60
        while time.time() < deadline:
            msg = self.kc.get_iopub_msg(timeout=60)
            if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream"
                    and "looping" in msg["content"]["text"]):
                break
        else:
            self.fail("the loop did not start")
        time.sleep(0.5)
        return msg_id

    def wait_reply(self, msg_id, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                r = self.kc.get_shell_msg(timeout=max(0.01, deadline - time.time()))
            except Empty:
                break
            if r["parent_header"].get("msg_id") == msg_id:
                return r
        return None

    def test_interrupt_request_within_a_second(self):
        msg_id = self.start_loop()
        # control and heartbeat answer while the cell runs
        t0 = time.time()
        self.kc.control_channel.send(self.kc.session.msg("kernel_info_request"))
        info = self.kc.control_channel.get_msg(timeout=1)
        self.assertEqual(info["msg_type"], "kernel_info_reply")
        self.assertLess(time.time() - t0, 1)
        self.assertTrue(self.kc.hb_channel.is_beating())
        self.assertIsNone(self.wait_reply(msg_id, 0.2), "the loop is still running")
        t0 = time.time()
        self.km.interrupt_kernel()   # interrupt_mode "message": an interrupt_request on control
        reply = self.wait_reply(msg_id, 1.0)
        self.assertIsNotNone(reply, "no execute_reply within 1 s of interrupt_request")
        self.assertLess(time.time() - t0, 1.0)
        self.assertEqual(reply["content"]["status"], "error")
        self.assertEqual(reply["content"]["ename"], "Interrupted")
        # a second interrupt (idle now) does not kill the kernel; the next cells run
        self.km.interrupt_kernel()
        time.sleep(0.3)
        self.assertTrue(self.km.is_alive())
        r, out = self.run_cell("passes > 0")
        self.assertEqual(out[-1]["content"]["data"]["text/plain"], "true")
        r, out = self.run_cell("1 + 1")
        self.assertEqual(r["content"]["status"], "ok")

    def test_sigint_twice_never_kills(self):
        msg_id = self.start_loop()
        t0 = time.time()
        self.km.signal_kernel(signal.SIGINT)
        self.km.signal_kernel(signal.SIGINT)
        reply = self.wait_reply(msg_id, 1.0)
        self.assertIsNotNone(reply, "no execute_reply within 1 s of SIGINT")
        self.assertEqual(reply["content"]["ename"], "Interrupted")
        self.km.signal_kernel(signal.SIGINT)
        time.sleep(0.3)
        self.assertTrue(self.km.is_alive())
        r, out = self.run_cell('print("alive")')
        self.assertEqual([m["content"]["text"] for m in out if m["msg_type"] == "stream"], ["alive\n"])


class ProgressTests(KernelCase):
    def test_progress_bar_is_carriage_returns(self):
        code = f"""
m = load("{MODEL}")
data = dataset("fashion-mnist", split: "test")
n = 0
for x, y in data.batches(500, model: m):
    n += 1
print(n)
"""
        reply, out = self.run_cell(code, timeout=120)
        self.assertEqual(reply["content"]["status"], "ok")
        err = "".join(m["content"]["text"] for m in out if m["msg_type"] == "stream" and m["content"]["name"] == "stderr")
        self.assertIn("\r", err)
        self.assertIn("10000/10000", err)
        self.assertLessEqual(err.count("\n"), 1, "progress updates in place, not line by line")
        self.assertEqual(out[-1]["content"]["text"], "20\n")


class WireTests(KernelCase):
    def test_bad_signature_is_dropped(self):
        self.flush()
        ctx = zmq.Context.instance()
        sock = ctx.socket(zmq.DEALER)
        sock.linger = 0
        sock.connect(f"{self.km.transport}://{self.km.ip}:{self.km.shell_port}")
        try:
            wrong = Session(key=b"not-the-key", signature_scheme="hmac-sha256")
            wrong.send(sock, "kernel_info_request", {})
            self.assertEqual(sock.poll(1000), 0, "a message signed with another key got an answer")
            right = Session(key=self.km.session.key, signature_scheme="hmac-sha256")
            right.send(sock, "kernel_info_request", {})
            self.assertNotEqual(sock.poll(5000), 0)
            idents, msg = right.feed_identities(sock.recv_multipart())
            msg = right.deserialize(msg)   # checks the kernel's signature with the key
            self.assertEqual(msg["msg_type"], "kernel_info_reply")
            self.assertEqual(msg["content"]["language_info"]["mimetype"], "text/x-vls")
            self.assertEqual(msg["content"]["protocol_version"], "5.3")
            self.assertIs(msg["content"]["debugger"], False)
        finally:
            sock.close()

    def test_shutdown_ends_the_process(self):
        km, kc = start_new_kernel(kernel_name="vls", cwd=REPO)
        try:
            kc.shutdown()
            reply = kc.get_control_msg(timeout=5) if hasattr(kc, "get_control_msg") else None
            if reply is not None:
                self.assertEqual(reply["msg_type"], "shutdown_reply")
            proc = km.provisioner.process
            proc.wait(timeout=5)
            self.assertEqual(proc.returncode, 0)
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
