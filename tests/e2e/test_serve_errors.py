"""`plinth serve` given bad input and rough clients: every client mistake is a 4xx in OpenAI's error shape (never a
crash, never a 5xx the official client would retry); an API key guards all but /, /health and /v1/models; slow
clients do not block others; clients that vanish mid-stream free their slots; a full queue answers 503 with
Retry-After; SIGTERM drains (in-flight replies finish, new ones get 503)."""
import json
import socket
import struct
import threading
import time

import pytest

from serve_helpers import Server

KEY = "sk-test-123"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def server():
    s = Server("--slots", "4", "-t", "2", "--ctx", "256", "--max-body", "65536", "--api-key", KEY, "--max-queue", "256")
    yield s
    s.stop()


def err(server, method, path, body=None, headers=AUTH):
    st, h, data = server.request(method, path, body, headers)
    e = json.loads(data)["error"]
    assert set(e) == {"message", "type", "param", "code"} and e["message"]
    return st, e, h


def chat_body(**kw):
    b = {"model": "SmolLM2-135M-Instruct.Q4_1.gguf", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
    b.update(kw)
    return b


def test_malformed_json(server):
    st, e, _ = err(server, "POST", "/v1/chat/completions", b'{"messages": [', {**AUTH, "Content-Type": "application/json"})
    assert st == 400 and e["type"] == "invalid_request_error" and "JSON" in e["message"]
    st, e, _ = err(server, "POST", "/v1/chat/completions", b"[1, 2]", AUTH)
    assert st == 400


def test_body_over_limit(server):
    big = json.dumps(chat_body(messages=[{"role": "user", "content": "x" * 70000}])).encode()
    st, e, _ = err(server, "POST", "/v1/chat/completions", big)
    assert st == 413 and "65536" in e["message"]
    # sent without a Content-Length (chunked): counted as it arrives
    c = server.conn()
    c.putrequest("POST", "/v1/chat/completions")
    c.putheader("Authorization", AUTH["Authorization"])
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    for i in range(0, len(big), 8192):
        part = big[i:i + 8192]
        c.send(b"%x\r\n%s\r\n" % (len(part), part))
    c.send(b"0\r\n\r\n")
    r = c.getresponse()
    assert r.status == 413
    c.close()


def test_unknown_model(server):
    st, e, _ = err(server, "POST", "/v1/chat/completions", chat_body(model="gpt-9"))
    assert st == 404 and e["code"] == "model_not_found" and "gpt-9" in e["message"]


def test_api_key(server):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
        st, e, h = err(server, "POST", "/v1/chat/completions", chat_body(), headers)
        assert st == 401 and e["type"] == "authentication_error"
    st, _, _ = server.request("GET", "/metrics")
    assert st == 401
    for path in ("/health", "/v1/models", "/"):
        st, _, _ = server.request("GET", path)
        assert st == 200, path
    st, _, body = server.request("POST", "/v1/chat/completions", chat_body(), AUTH)
    assert st == 200 and json.loads(body)["choices"][0]["message"]["content"] is not None


@pytest.mark.parametrize("body,param", [
    (chat_body(messages="hello"), "messages"),
    (chat_body(messages=[{"role": "user"}]), "messages[0]"),
    (chat_body(messages=[{"role": "wizard", "content": "hi"}]), "messages[0]"),
    (chat_body(messages=[]), "messages"),
    (chat_body(max_tokens=-5), "max_tokens"),
    (chat_body(max_tokens="ten"), "max_tokens"),
    (chat_body(temperature=3), "temperature"),
    (chat_body(top_p=-0.1), "top_p"),
    (chat_body(n=0), "n"),
    (chat_body(stop=[1, 2]), "stop"),
    (chat_body(logit_bias={"abc": 1}), "logit_bias"),
    (chat_body(seed="x"), "seed"),
    (chat_body(response_format={"type": "yaml"}), "response_format"),
    (chat_body(stream="yes"), "stream"),
])
def test_wrong_values(server, body, param):
    st, e, _ = err(server, "POST", "/v1/chat/completions", body)
    assert st == 400 and e["param"] == param, e


def test_unknown_role_names_it(server):
    st, e, _ = err(server, "POST", "/v1/chat/completions", chat_body(messages=[{"role": "wizard", "content": "hi"}]))
    assert "wizard" in e["message"]


def test_completions_wrong_prompt(server):
    st, e, _ = err(server, "POST", "/v1/completions", {"prompt": 42, "max_tokens": 3})
    assert st == 400 and e["param"] == "prompt"


def test_prompt_over_context(server):
    st, e, _ = err(server, "POST", "/v1/completions", {"prompt": "hello " * 400, "max_tokens": 3})
    assert st == 400 and e["code"] == "context_length_exceeded"
    assert "256" in e["message"] and "40" in e["message"]  # the prompt's tokens and the context, both given


def test_routes_and_methods(server):
    st, e, _ = err(server, "GET", "/v2/nothing")
    assert st == 404
    st, e, _ = err(server, "GET", "/v1/chat/completions")
    assert st == 405


def raw_stream(server, max_tokens=200):
    """a streaming chat request on a bare socket; returns the socket after the first event arrived"""
    body = json.dumps(chat_body(max_tokens=max_tokens, stream=True, messages=[{"role": "user", "content": "Tell me a long story."}]))
    s = socket.create_connection((server.host, server.port), timeout=60)
    s.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode())
    got = b""
    while b"data: " not in got:
        chunk = s.recv(4096)
        assert chunk, "the server closed the stream"
        got += chunk
        assert got[:12] in (b"HTTP/1.1 200", b"HTTP/1.1 20"[:len(got)]), got
    return s, got


def abort(s):
    """close with a reset, as a crashed client or a dropped network does"""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def test_slow_clients_do_not_block_others(server):
    slow = []
    for _ in range(16):  # slowloris: headers that never end
        s = socket.create_connection((server.host, server.port), timeout=30)
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        slow.append(s)
    try:
        for s in slow:
            s.sendall(b"a")
        st, _, body = server.request("POST", "/v1/chat/completions", chat_body(), AUTH, timeout=60)
        assert st == 200 and json.loads(body)["choices"]
        st, _, _ = server.request("GET", "/health", timeout=30)
        assert st == 200
    finally:
        for s in slow:
            s.close()


def test_abrupt_disconnects_free_every_slot(server):
    def one():
        s, _ = raw_stream(server)
        abort(s)

    for _ in range(10):  # 100 in all, 10 at a time
        threads = [threading.Thread(target=one) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    m = server.wait_idle(timeout=120, headers=AUTH)
    name = 'model="SmolLM2-135M-Instruct.Q4_1.gguf"'
    assert m[f"plinth_slots_busy{{{name}}}"] == 0 and m[f"plinth_queue_depth{{{name}}}"] == 0
    # the cancelled requests ended long before their 200 tokens
    assert m[f"plinth_generated_tokens_total{{{name}}}"] < 100 * 200 / 2
    st, _, body = server.request("POST", "/v1/chat/completions", chat_body(), AUTH)
    assert st == 200


def test_full_queue_is_503_with_retry_after():
    s = Server("--slots", "1", "--max-queue", "1", "-t", "2", "--ctx", "512")
    try:
        holders = [raw_stream(s, max_tokens=400)[0]]  # takes the slot
        body = json.dumps(chat_body(max_tokens=400, stream=True))
        waiting = socket.create_connection((s.host, s.port), timeout=60)  # takes the queue's one place
        waiting.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode())
        deadline = time.time() + 30
        while time.time() < deadline and s.metrics().get('plinth_queue_depth{model="SmolLM2-135M-Instruct.Q4_1.gguf"}', 0) < 1:
            time.sleep(0.05)
        st, h, data = s.request("POST", "/v1/chat/completions", chat_body())
        assert st == 503 and int(h["retry-after"]) >= 1
        assert json.loads(data)["error"]["code"] == "overloaded"
        abort(waiting)
        for x in holders:
            abort(x)
        m = s.wait_idle(timeout=60)
        assert m['plinth_slots_busy{model="SmolLM2-135M-Instruct.Q4_1.gguf"}'] == 0
    finally:
        s.stop()


def test_sigterm_drains():
    s = Server("--slots", "2", "-t", "2", "--ctx", "512")
    try:
        sock, got = raw_stream(s, max_tokens=48)
        s.proc.send_signal(15)
        time.sleep(0.3)
        st, h, data = s.request("POST", "/v1/chat/completions", chat_body())
        assert st == 503 and json.loads(data)["error"]["code"] == "shutting_down"
        sock.settimeout(120)
        while b"data: [DONE]" not in got:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        sock.close()
        assert b"data: [DONE]" in got, got[-300:]  # the in-flight reply finished
        assert b'"finish_reason":"length"' in got or b'"finish_reason":"stop"' in got
        assert s.proc.wait(timeout=60) == 0
    finally:
        s.stop()


def test_two_models_route_by_name(tmp_path):
    from serve_helpers import fetch_model
    second = tmp_path / "second.gguf"
    second.symlink_to(fetch_model())
    s = Server("--slots", "1", "-t", "2", "--ctx", "256", "-m", str(second))
    try:
        st, _, body = s.request("GET", "/v1/models")
        assert [m["id"] for m in json.loads(body)["data"]] == ["SmolLM2-135M-Instruct.Q4_1.gguf", "second.gguf"]
        st, _, body = s.request("POST", "/v1/chat/completions", chat_body(model="second"))
        assert st == 200 and json.loads(body)["model"] == "second.gguf"
        m = s.metrics()
        assert m['plinth_requests_finished_total{model="second.gguf"}'] == 1
        assert m['plinth_requests_finished_total{model="SmolLM2-135M-Instruct.Q4_1.gguf"}'] == 0
    finally:
        s.stop()


def test_idle_timeout_drops_slow_senders_not_waiting_replies():
    """--idle-timeout 1: a client silent for a second while sending is dropped; a request waiting longer than
    that for its slot (one slot, held by a long reply) still streams to the end"""
    s = Server("--slots", "1", "-t", "2", "--ctx", "512", "--idle-timeout", "1")
    try:
        slow = socket.create_connection((s.host, s.port), timeout=30)
        slow.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n")
        holder, _ = raw_stream(s, max_tokens=48)
        waiting, got = raw_stream(s, max_tokens=4)  # queued behind the holder
        time.sleep(2.5)
        assert slow.recv(100) == b""  # dropped
        holder.settimeout(120)
        waiting.settimeout(120)
        for sock in (holder, waiting):
            data = b""
            while b"data: [DONE]" not in data:
                chunk = sock.recv(65536)
                assert chunk, "the server closed a stream that was waiting for its reply"
                data += chunk
            sock.close()
    finally:
        s.stop()
