#!/usr/bin/env python3
"""bench/stream_bench.py - spec S2 (streaming) and S3 (memory at 1,000 in flight), run by
bench/stream.sh against the mock directly and through tollgate. Three measurements:

  ttft    one client on a keep-alive connection: time from sending the request to the first
          event with content (the mock sends the first word at once: 20 words, no pacing),
          direct and through tollgate, p50 and p99 of --n calls; the difference is what
          tollgate adds to time-to-first-token.
  chunks  one client: streams of 200 words sent by the mock all at once; the time from the
          first content event to [DONE], direct and through tollgate; (difference of p50s) /
          200 is the latency tollgate adds per chunk. And tollgate's CPU per chunk: its
          processes' CPU time (utime + stime, /proc) over --n streams of 1,000 words minus
          --n streams of 10 words, divided by 990 per stream.
  hold    --conc clients at once, each one stream of 30 words paced 100 ms apart (3 s), all
          open together through one worker: every stream must end with [DONE] after its 30
          words; RSS of ingest + router + worker (summed, /proc, sampled every 100 ms while
          all are open) gives the S3 figure.

Prints one block of results; exits 1 when a stream of the hold test fails.
"""
import argparse
import asyncio
import http.client
import json
import os
import resource
import statistics
import sys
import time


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def body(words, delay, tag):
    text = f"stream bench {tag} [[mock:words={words},chunk_delay_ms={delay}]]"
    return json.dumps({"model": "gpt-4o-mini", "stream": True,
                       "messages": [{"role": "user", "content": text}]})


def one_stream(conn, key, payload):
    """Sends one streamed chat call; returns (first content s, done s, content events)."""
    t0 = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", payload,
                 {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:200]!r}")
    first = None
    n = 0
    while True:
        line = resp.readline()
        if not line:
            raise RuntimeError("the stream ended without [DONE]")
        if not line.startswith(b"data: "):
            continue
        if line.startswith(b"data: [DONE]"):
            done = time.perf_counter() - t0
            resp.read()
            return first, done, n
        if b'"content":"' in line and b'"content":""' not in line:
            n += 1
            if first is None:
                first = time.perf_counter() - t0


def series(port, key, words, delay, n, warm=30):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    firsts, tails = [], []
    for i in range(warm + n):
        f, d, got = one_stream(conn, key, body(words, delay, i % 7))
        if got != words:
            raise RuntimeError(f"{got} content events, expected {words}")
        if i >= warm:
            firsts.append(f)
            tails.append(d - f)
    conn.close()
    return firsts, tails


def cpu_ticks(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as fh:
                f = fh.read().rsplit(") ", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except OSError:
            pass
    return total


def rss_kb(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def children(sup):
    out = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as fh:
                s = fh.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")]
        ppid = int(s.rsplit(") ", 1)[1].split()[1])
        if ppid == sup and comm.startswith("tg-"):
            out[int(p)] = comm
    return out


async def hold_one(port, key, idx, opened, results):
    payload = body(30, 100, f"hold {idx}").encode()
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: bench\r\n"
                b"Authorization: Bearer " + key.encode() + b"\r\n"
                b"Content-Type: application/json\r\nConnection: close\r\n"
                b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload)
        await w.drain()
        data = b""
        seen_first = False
        while True:
            chunk = await asyncio.wait_for(r.read(65536), 30)
            if not chunk:
                break
            data += chunk
            if not seen_first and b'"content":"' in data:
                seen_first = True
                opened.append(idx)
        w.close()
        ok = data.startswith(b"HTTP/1.1 200") and b"data: [DONE]" in data
        words = data.count(b'"content":"') - data.count(b'"content":""')
        results.append(ok and words == 30)
    except Exception as e:  # noqa: BLE001 - any failure counts as a failed stream
        results.append(False)
        print(f"  stream {idx}: {e!r}", file=sys.stderr)


async def hold(port, key, conc, pids):
    """Returns (streams that ended right, whether all were open at once, peak RSS in KB)."""
    opened, results, peak, all_open = [], [], 0, False
    tasks = [asyncio.create_task(hold_one(port, key, i, opened, results)) for i in range(conc)]
    while len(results) < conc:
        await asyncio.sleep(0.1)
        if not results:  # none has finished: every stream that started is open
            all_open = all_open or len(opened) == conc
            peak = max(peak, rss_kb(pids))
    await asyncio.gather(*tasks)
    return sum(results), all_open, peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--direct-port", type=int, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--sup", type=int, required=True, help="tollgate up's pid")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--conc", type=int, default=1000)
    a = ap.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    procs = children(a.sup)
    hz = os.sysconf("SC_CLK_TCK")

    df, _ = series(a.direct_port, "mock", 20, 0, a.n)
    tf, _ = series(a.port, a.key, 20, 0, a.n)
    us = lambda s: s * 1e6  # noqa: E731
    print(f"ttft   (20 words; {a.n} calls, one client, keep-alive)")
    print(f"       direct p50 {us(pct(df, .5)):.0f} us p99 {us(pct(df, .99)):.0f} us | "
          f"tollgate p50 {us(pct(tf, .5)):.0f} us p99 {us(pct(tf, .99)):.0f} us | "
          f"added p50 {us(pct(tf, .5) - pct(df, .5)):.0f} us p99 {us(pct(tf, .99) - pct(df, .99)):.0f} us")

    _, dt = series(a.direct_port, "mock", 200, 0, a.n)
    _, tt = series(a.port, a.key, 200, 0, a.n)
    added = (statistics.median(tt) - statistics.median(dt)) / 200
    print(f"chunks (200 words at once; first content event to [DONE])")
    print(f"       direct p50 {us(statistics.median(dt)):.0f} us | tollgate p50 "
          f"{us(statistics.median(tt)):.0f} us | added per chunk {us(added):.2f} us")
    pids = list(procs)
    c0 = cpu_ticks(pids)
    series(a.port, a.key, 10, 0, a.n, warm=0)
    c1 = cpu_ticks(pids)
    series(a.port, a.key, 1000, 0, a.n, warm=0)
    c2 = cpu_ticks(pids)
    short = (c1 - c0) / hz / a.n
    long_ = (c2 - c1) / hz / a.n
    print(f"       tollgate CPU per stream: {us(short):.0f} us at 10 words, {us(long_):.0f} us at "
          f"1000 words: {us((long_ - short) / 990):.2f} us per chunk")

    core = [p for p, c in procs.items() if c in ("tg-ingest", "tg-router", "tg-worker")]
    idle = rss_kb(core)
    ok, all_open, peak = asyncio.run(hold(a.port, a.key, a.conc, core))
    print(f"hold   ({a.conc} streams at once, 30 words 100 ms apart, one worker)")
    print(f"       {ok}/{a.conc} complete with [DONE] and 30 words; all open together: "
          f"{'yes' if all_open else 'no'}")
    print(f"       RSS ingest + router + worker: idle {idle / 1024:.1f} MB, peak with all open "
          f"{peak / 1024:.1f} MB")
    return 0 if ok == a.conc and all_open else 1


if __name__ == "__main__":
    sys.exit(main())
