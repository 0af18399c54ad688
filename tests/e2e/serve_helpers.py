"""Start and stop a real `plinth serve` on 127.0.0.1 (a free port chosen by the server) for the serve tests, and
small raw-HTTP helpers for what the official client hides (status codes, headers, broken bodies, sockets)."""
import http.client
import json
import os
import select
import signal
import subprocess
import time
import urllib.parse

from helpers import ROOT, plinth_bin

MODEL = os.path.join(ROOT, "models", "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")


def fetch_model():
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "fetch-models.sh"), "smollm2"], check=True,
                   capture_output=True)
    assert os.path.exists(MODEL)
    return MODEL


class Server:
    """`plinth serve -m MODEL --port 0 ARGS...`; .url is what it printed once listening. model=False: no -m (an
    embeddings-only server, its --embed-model in ARGS)."""

    def __init__(self, *args, model=None):
        llm = [] if model is False else ["-m", model or fetch_model()]
        self.proc = subprocess.Popen([plinth_bin(), "serve", *llm, "--host", "127.0.0.1",
                                      "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = b""
        deadline = time.time() + 60
        while time.time() < deadline and b"\n" not in line:
            r, _, _ = select.select([self.proc.stdout], [], [], 1)
            if r:
                ch = os.read(self.proc.stdout.fileno(), 1)
                if not ch:
                    break
                line += ch
        text = line.decode()
        if "http://" not in text:
            self.proc.kill()
            raise RuntimeError(f"plinth serve did not start: {text!r} {self.proc.stderr.read().decode()}")
        self.url = text[text.index("http://"):].split()[0]
        u = urllib.parse.urlparse(self.url)
        self.host, self.port = u.hostname, u.port

    def conn(self, timeout=120):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=120):
        """(status, headers dict, body bytes); body: dict (sent as JSON), bytes or None."""
        c = self.conn(timeout)
        h = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def metrics(self, headers=None):
        st, _, body = self.request("GET", "/metrics", headers=headers)
        assert st == 200
        out = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def wait_idle(self, timeout=60, headers=None):
        """Wait until no slot is busy and nothing is queued; the last metrics."""
        deadline = time.time() + timeout
        while True:
            m = self.metrics(headers)
            busy = sum(v for k, v in m.items() if k.startswith("plinth_slots_busy"))
            queued = sum(v for k, v in m.items() if k.startswith("plinth_queue_depth"))
            if (busy == 0 and queued == 0) or time.time() > deadline:
                return m
            time.sleep(0.2)

    def stop(self):
        """SIGTERM: the server drains and exits 0 (under ASan, a leak or error would make that 1)"""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        err = self.proc.stderr.read().decode(errors="replace")
        self.proc.stdout.close()
        self.proc.stderr.close()
        assert self.proc.returncode == 0, f"plinth serve exited {self.proc.returncode}: {err[-3000:]}"
