#!/usr/bin/env python3
"""Load on an OpenAI-compatible server (plinth serve or llama.cpp's llama-server), bounded in count and time.

  --levels 1,2,4,8,16  for each client count: that many clients send streaming chat completions back to back
                       for --seconds; reports aggregate generated tokens/s (all tokens over the whole run, the
                       requests still open at the end drained; and "in window": the tokens that arrived while all
                       the clients were still sending, over --seconds), time to first token and inter-token
                       latency (p50 / p99 over every token of every request), requests and errors
  --soak N             N concurrent streaming chats for --soak-seconds: zero errors expected, every stream well
                       formed (one id, a role first where --strict, finish_reason once, data: [DONE] last), then
                       /metrics back to 0 busy slots (plinth) and the server's resident memory at start and end

Standard library only (http.client + threads); the client side stays light next to the server on 2 cores.
usage: bench/serve_load.py --url http://127.0.0.1:8080/ [--pid PID] [--levels 1,2,4,8,16] [--seconds 20]
                           [--max-tokens 64] [--soak 32 --soak-seconds 60] [--strict] [--json OUT] [--label NAME]
"""
import argparse
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse

PROMPTS = [
    "Write a short story about a lighthouse keeper.",
    "Explain how a bicycle works.",
    "Give me five tips for learning to cook.",
    "Describe the water cycle for a child.",
    "What makes a good cup of tea?",
    "Tell me about the history of paper.",
    "Why is the sky blue?",
    "Plan a day trip to the mountains.",
]


class Result:
    def __init__(self):
        self.lock = threading.Lock()
        self.tokens = 0
        self.requests = 0
        self.errors = []
        self.ttft = []
        self.itl = []

    def add(self, tokens, ttft, gaps):
        with self.lock:
            self.tokens += tokens
            self.requests += 1
            if ttft is not None:
                self.ttft.append(ttft)
            self.itl.extend(gaps)

    def error(self, what):
        with self.lock:
            self.errors.append(what)


def one_request(u, model, prompt, max_tokens, seed, strict, arrivals=None):
    """-> (tokens, ttft, gaps); each content delta's arrival time appended to arrivals; raises on any error or
    malformed stream"""
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
                       "temperature": 0.8, "seed": seed, "stream": True, "stream_options": {"include_usage": True}})
    t0 = time.perf_counter()
    c.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError(f"HTTP {r.status}: {r.read()[:200]!r}")
    ids, finishes, events, first, last, gaps, ntok, usage, done = set(), 0, 0, None, None, [], 0, None, False
    buf = b""
    while True:
        chunk = r.read1(65536) if hasattr(r, "read1") else r.read(1)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            if not ev.startswith(b"data: "):
                continue
            data = ev[6:]
            if data == b"[DONE]":
                done = True
                continue
            if done:
                raise RuntimeError("an event after [DONE]")
            j = json.loads(data)
            if "error" in j:
                raise RuntimeError(f"error event: {j['error']}")
            ids.add(j["id"])
            if j.get("usage"):
                usage = j["usage"]
            for ch in j.get("choices", []):
                d = ch.get("delta") or {}
                if strict and events == 0 and d.get("role") != "assistant":
                    raise RuntimeError("the first delta has no role")
                events += 1
                if d.get("content"):
                    now = time.perf_counter()
                    if arrivals is not None:
                        arrivals.append(now)
                    if first is None:
                        first = now - t0
                    else:
                        gaps.append(now - last)
                    last = now
                    ntok += 1
                if ch.get("finish_reason"):
                    finishes += 1
    c.close()
    if not done:
        raise RuntimeError("no data: [DONE]")
    if len(ids) != 1:
        raise RuntimeError(f"{len(ids)} ids in one stream")
    if finishes != 1:
        raise RuntimeError(f"finish_reason {finishes} times")
    tokens = usage["completion_tokens"] if usage else ntok
    return tokens, first, gaps


def run_clients(u, model, n, seconds, max_tokens, strict):
    res = Result()
    deadline = time.perf_counter() + seconds

    arrivals = [[] for _ in range(n)]

    def client(k):
        i = 0
        while time.perf_counter() < deadline:
            try:
                res.add(*one_request(u, model, PROMPTS[(k + i) % len(PROMPTS)], max_tokens, 1000 * k + i, strict,
                                     arrivals[k]))
            except Exception as e:  # noqa: BLE001 - every failure is counted and reported
                res.error(str(e)[:200])
            i += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    res.wall = time.perf_counter() - t0
    res.window = sum(1 for a in arrivals for x in a if x <= deadline) / (deadline - t0)
    return res


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def rss_kib(pid):
    if not pid:
        return None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def busy_slots(u):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    c.request("GET", "/metrics")
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    if r.status != 200:
        return None
    return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith(("plinth_slots_busy", "plinth_queue_depth")))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--model", default="")
    ap.add_argument("--pid", type=int, default=0, help="the server's pid, for its resident memory")
    ap.add_argument("--levels", default="1,2,4,8,16")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--soak", type=int, default=0)
    ap.add_argument("--soak-seconds", type=float, default=60)
    ap.add_argument("--strict", action="store_true", help="also require the role in the first delta (OpenAI's shape)")
    ap.add_argument("--label", default="server")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.url)
    if not a.model:
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        c.request("GET", "/v1/models")
        a.model = json.loads(c.getresponse().read())["data"][0]["id"]
        c.close()
    out = {"label": a.label, "url": a.url, "model": a.model, "max_tokens": a.max_tokens, "levels": []}
    one_request(u, a.model, "Hello", 4, 0, a.strict)  # warm up
    if a.levels:
        print(f"| {a.label} clients | requests | errors | tokens/s | in window | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for n in [int(x) for x in a.levels.split(",") if x]:
            r = run_clients(u, a.model, n, a.seconds, a.max_tokens, a.strict)
            row = {"clients": n, "requests": r.requests, "errors": len(r.errors), "tokens_per_s": r.tokens / r.wall,
                   "window_tokens_per_s": r.window,
                   "ttft_p50": pct(r.ttft, 50), "ttft_p99": pct(r.ttft, 99), "itl_p50": pct(r.itl, 50), "itl_p99": pct(r.itl, 99)}
            out["levels"].append(row)
            print(f"| {n} | {r.requests} | {len(r.errors)} | {row['tokens_per_s']:.1f} | {r.window:.1f} | {1e3 * row['ttft_p50']:.0f} | "
                  f"{1e3 * row['ttft_p99']:.0f} | {1e3 * row['itl_p50']:.1f} | {1e3 * row['itl_p99']:.1f} |", flush=True)
            for e in r.errors[:3]:
                print(f"  error: {e}", file=sys.stderr)
    if a.soak:
        rss0 = rss_kib(a.pid)
        r = run_clients(u, a.model, a.soak, a.soak_seconds, a.max_tokens, a.strict)
        time.sleep(0.5)
        busy = busy_slots(u)
        rss1 = rss_kib(a.pid)
        out["soak"] = {"clients": a.soak, "seconds": a.soak_seconds, "requests": r.requests, "errors": len(r.errors),
                       "tokens_per_s": r.tokens / r.wall, "busy_after": busy, "rss_start_kib": rss0, "rss_end_kib": rss1,
                       "ttft_p50": pct(r.ttft, 50), "ttft_p99": pct(r.ttft, 99), "itl_p50": pct(r.itl, 50), "itl_p99": pct(r.itl, 99)}
        print(f"soak: {a.soak} clients x {a.soak_seconds:.0f} s: {r.requests} requests, {len(r.errors)} errors, "
              f"{out['soak']['tokens_per_s']:.1f} tokens/s, busy slots + queue after: {busy}, "
              f"RSS {rss0} -> {rss1} KiB", flush=True)
        for e in r.errors[:5]:
            print(f"  error: {e}", file=sys.stderr)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    bad = sum(l["errors"] for l in out["levels"]) + (out.get("soak", {}).get("errors", 0))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
