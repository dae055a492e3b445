# The memsafe Python client against a private memsafed (started by
# tests/integration/python.test, which sets MEMSAFE_SOCKET, MEMSAFE_STATE,
# MEMSAFE_MAX_FILE_SIZE and MKPDF).
import io
import json
import os
import subprocess
import tempfile
import time
import unittest

import memsafe

SOCK = os.environ["MEMSAFE_SOCKET"]
STATE = os.environ["MEMSAFE_STATE"]
MAX_FILE = int(os.environ["MEMSAFE_MAX_FILE_SIZE"])
MKPDF = os.environ["MKPDF"]


def spool_files():
    return sorted(os.listdir(os.path.join(STATE, "spool")))


def eventually(cond, seconds=5):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


class Upload:
    """A request body: non-seekable, no fd, read() in whatever sizes asked."""

    def __init__(self, data):
        self.data, self.pos, self.reads = data, 0, []

    def read(self, n=-1):
        self.reads.append(n)
        n = len(self.data) - self.pos if n < 0 else n
        b = self.data[self.pos:self.pos + n]
        self.pos += len(b)
        return b


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.pdf = os.path.join(cls.tmp.name, "three.pdf")
        cls.big = os.path.join(cls.tmp.name, "big.pdf")
        subprocess.run([MKPDF, "--pages", "3", cls.pdf], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([MKPDF, "--pages", "200", "--words", "100", cls.big], check=True,
                       stdout=subprocess.DEVNULL)
        cls.client = memsafe.Client(SOCK)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_submit_path_wait(self):
        job = self.client.submit(self.pdf, wait=True)
        self.assertIsInstance(job.id, int)
        self.assertEqual(job.info["state"], "done")
        self.assertEqual(job.info["pages"], 3)
        self.assertEqual(job.info["name"], "three.pdf")
        self.assertTrue(os.path.isfile(os.path.join(job.artifacts, "summary.json")))

    def test_submit_bytes(self):
        job = self.client.submit(b"one line of text\n", name="line.txt", kb="pytest")
        final = job.wait(timeout=60)
        self.assertEqual(final["state"], "done")
        self.assertEqual(final["kb"], "pytest")
        self.assertEqual(final["size_bytes"], 17)
        self.assertEqual(final["name"], "line.txt")

    def test_submit_regular_file_object(self):
        with open(self.pdf, "rb") as f:
            job = self.client.submit(f, memory_max="512M", batch_size=4, wait=True)
        self.assertEqual(job.info["state"], "done")
        self.assertEqual(job.info["memory_max"], 512 << 20)
        self.assertEqual(job.info["size_bytes"], os.path.getsize(self.pdf))

    def test_stream_through_pipe_in_chunks(self):
        data = b"a line of an upload streamed into memsafed\n" * 40000   # 1.7 MB
        body = Upload(data)
        job = self.client.submit(body, name="upload.txt", max_bytes="64K")
        final = job.wait(timeout=120)
        self.assertEqual(final["state"], "done")
        self.assertEqual(final["size_bytes"], len(data))
        self.assertTrue(body.reads and all(n == memsafe.CHUNK_SIZE for n in body.reads))
        self.assertEqual(spool_files(), [])

    def test_generator_of_bytes(self):
        def gen():
            for _ in range(5):
                yield b"x" * 100000 + b"\n"
        final = self.client.submit(gen(), name="gen.txt").wait(60)
        self.assertEqual(final["state"], "done")
        self.assertEqual(final["size_bytes"], 5 * 100001)

    def test_stream_over_max_file_size_is_refused(self):
        before = [j["id"] for j in self.client.list()]
        with self.assertRaises(memsafe.LimitError) as cm:
            self.client.submit(Upload(b"z" * (MAX_FILE + 3 * memsafe.CHUNK_SIZE)), name="huge")
        self.assertEqual(cm.exception.code, "too_large")
        self.assertIn("max_file_size", cm.exception.message)
        self.assertEqual([j["id"] for j in self.client.list()], before)
        self.assertTrue(eventually(lambda: spool_files() == []), spool_files())

    def test_generator_that_raises_halfway_leaves_nothing(self):
        before = [j["id"] for j in self.client.list()]

        def gen():
            yield b"first half of a document\n" * 20000
            raise RuntimeError("the upload was cut short")
        with self.assertRaises(RuntimeError):
            self.client.submit(gen(), name="cut.txt")
        self.assertTrue(eventually(lambda: spool_files() == []), spool_files())
        time.sleep(0.3)
        self.assertEqual([j["id"] for j in self.client.list()], before)
        # and memsafed still serves
        self.assertEqual(self.client.submit(b"after\n").wait(60)["state"], "done")

    def test_events(self):
        job = self.client.submit(self.pdf)
        events = list(job.events(timeout=60))
        kinds = [e["event"] for e in events]
        self.assertEqual(kinds[-1], "end")
        self.assertIn("state", kinds)
        for e in events:
            self.assertEqual(e["id"], job.id)
            self.assertEqual(e["job"]["id"], job.id)
        self.assertEqual(events[-1]["end_reason"], "ok")
        self.assertEqual(events[-1]["job"]["state"], "done")
        # an ended job: only its end
        self.assertEqual([e["event"] for e in job.events(timeout=10)], ["end"])

    def test_status_and_cancel(self):
        job = self.client.submit(self.big, batch_size=1, sink="exec")
        self.assertIn(job.status()["state"], ("queued", "running"))
        job.cancel()
        final = job.wait(timeout=60)
        self.assertEqual(final["state"], "cancelled")
        self.assertEqual(final["end_reason"], "cancelled")
        with self.assertRaises(memsafe.MemsafeError) as cm:
            job.cancel()
        self.assertEqual(cm.exception.code, "bad_request")

    def test_wait_timeout(self):
        job = self.client.submit(self.big, batch_size=1, sink="exec")
        t0 = time.monotonic()
        with self.assertRaises(TimeoutError):
            job.wait(timeout=0.3)
        self.assertLess(time.monotonic() - t0, 5)
        job.cancel()
        self.assertEqual(job.wait(60)["state"], "cancelled")

    def test_not_found(self):
        with self.assertRaises(memsafe.NotFoundError) as cm:
            self.client.status(987654321)
        self.assertEqual(cm.exception.code, "not_found")
        self.assertIsInstance(cm.exception, LookupError)
        job = memsafe.Job(self.client, {"id": 987654321})
        with self.assertRaises(memsafe.NotFoundError):
            job.wait(5)

    def test_refused_options(self):
        with self.assertRaises(memsafe.MemsafeError) as cm:
            self.client.submit(b"x\n", kb=".hidden")
        self.assertEqual(cm.exception.code, "bad_request")
        with self.assertRaises(ValueError):
            self.client.submit(b"x\n", memory_max="lots")

    def test_daemon_unavailable(self):
        with self.assertRaises(memsafe.DaemonUnavailable) as cm:
            memsafe.Client(os.path.join(self.tmp.name, "nothing.sock")).ping()
        self.assertIsInstance(cm.exception, ConnectionError)
        self.assertEqual(cm.exception.code, "unavailable")

    def test_forbidden(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to become nobody")
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                try:
                    memsafe.Client(SOCK).ping()
                    msg = b"connected"
                except memsafe.ForbiddenError as e:
                    msg = b"forbidden " + e.code.encode() + b" " + \
                        str(isinstance(e, PermissionError)).encode()
                except Exception as e:
                    msg = repr(e).encode()
                os.write(w, msg)
            finally:
                os._exit(0)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            out = f.read().decode()
        os.waitpid(pid, 0)
        self.assertEqual(out, "forbidden forbidden True")

    def test_readme_upload_handler(self):
        # The WSGI handler the README shows, taken from the README.
        with open(os.path.join(os.environ["top_srcdir"], "README")) as f:
            readme = f.read()
        start = readme.index("    import json, memsafe")
        end = readme.index("        return [json.dumps(answer).encode()]") + 48
        code = "\n".join(l[4:] for l in readme[start:end].splitlines())
        ns = {}
        exec(compile(code, "README", "exec"), ns)
        ns["client"] = self.client
        got = {}

        def start_response(status, headers):
            got["status"] = status
        data = b"uploaded text\n" * 50000
        out = ns["upload"]({"wsgi.input": io.BytesIO(data), "CONTENT_LENGTH": str(len(data)),
                            "HTTP_X_FILE_NAME": "up.txt"}, start_response)
        answer = json.loads(b"".join(out))
        self.assertEqual(got["status"], "200 OK")
        self.assertEqual((answer["state"], answer["end_reason"]), ("done", "ok"))
        big = b"y" * (MAX_FILE + 1)
        out = ns["upload"]({"wsgi.input": io.BytesIO(big), "CONTENT_LENGTH": str(len(big))},
                           start_response)
        self.assertEqual(got["status"], "413 Payload Too Large")
        self.assertEqual(json.loads(b"".join(out))["error"], "too_large")
        cut = {"wsgi.input": io.BytesIO(b"short"), "CONTENT_LENGTH": "100000"}
        with self.assertRaises(IOError):
            ns["upload"](cut, start_response)
        self.assertTrue(eventually(lambda: spool_files() == []), spool_files())

    def test_ping(self):
        p = self.client.ping()
        self.assertTrue(p["ok"])
        self.assertIn("version", p)


if __name__ == "__main__":
    unittest.main()
