#!/usr/bin/env python3
"""Load and fault test of `ipadapter serve` on loopback (issue 14 item 4; docs/server.md).

Starts the server on a free port with the tiny pipeline_sd15 models, then at once: N clients
submitting tiny jobs and polling them (some cancelled mid-job, some following the event stream
and hanging up), a hostile client (malformed JSON, oversized bodies and images, a pixel bomb,
path traversal, wrong API keys, deep JSON), /health probed every 50 ms and hammered by `wrk`
(or a Python loop where wrk is missing). Checks: /health always answers within the bound, every
accepted job ends done or cancelled (none lost, none in error), every hostile request gets its
4xx, the resident memory at the end is within the margin of the memory after the warm-up job,
and the server stops on SIGTERM. Writes the figures as JSON. Bounded: the whole run is killed
after --time-limit seconds. Python standard library only.
"""
import argparse
import base64
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib

KEY = "load-test-key"
BASE = "sd15"
ADAPTER = "IP-Adapter/models/ip-adapter_sd15.safetensors"


def tiny_request(steps, seed=0):
    return {"base": BASE, "prompt": "a red cat", "steps": steps, "width": 64, "height": 64,
            "seed": seed, "ip_adapters": [{"file": ADAPTER, "images": ["reference.png"], "scale": 0.6}]}


def png(width, height, rows=1):
    """A PNG whose header says width x height (only `rows` rows of data: a pixel bomb)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\0" + b"\0" * (3 * width) for _ in range(rows))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class Client:
    def __init__(self, port, key=KEY, timeout=30):
        self.port, self.key, self.timeout = port, key, timeout
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        h = {"Authorization": "Bearer " + self.key} if self.key else {}
        h.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        for attempt in range(2):  # one retry on a dropped keep-alive connection
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                return r.status, dict(r.getheaders()), data
            except (ConnectionError, http.client.HTTPException, socket.timeout):
                self.conn = None
                if attempt == 1:
                    raise

    def json(self, method, path, body=None):
        status, headers, data = self.request(method, path, body)
        try:
            return status, headers, json.loads(data or b"null")
        except ValueError:
            return status, headers, None


class Run:
    def __init__(self, args):
        self.args = args
        self.failures = []
        self.lock = threading.Lock()
        self.accepted = []        # (id, kind)
        self.final = {}           # id -> state
        self.health_latencies = []
        self.health_errors = 0
        self.stop_health = threading.Event()
        self.rejected_429 = 0
        self.hostile = {}         # case -> status
        self.sse_dropped = 0

    def fail(self, what):
        with self.lock:
            self.failures.append(what)
        print("FAIL:", what, flush=True)

    def start_server(self):
        cmd = [self.args.cli, "serve", "--models", self.args.models, "--port", "0", "--api-key", KEY,
               "--queue", "6", "--max-body", "1M", "--max-image-bytes", "256K",
               "--max-image-pixels", "100000", "--max-steps", "1000", "--threads", "1",
               "--max-json-depth", "16", "--keep-jobs", "1000"]
        self.log = open(self.args.log, "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"http://[^:]+:(\d+)/", line)
        if not m:
            raise SystemExit("server did not start: " + line)
        self.port = int(m.group(1))

    def health(self):
        status, _, h = Client(self.port, key=None, timeout=10).json("GET", "/health")
        assert status == 200, status
        return h

    def health_probe(self):
        while not self.stop_health.is_set():
            t = time.monotonic()
            try:
                status, _, _ = Client(self.port, key=None, timeout=self.args.health_bound).request("GET", "/health")
                if status != 200:
                    raise RuntimeError("status %d" % status)
                with self.lock:
                    self.health_latencies.append(time.monotonic() - t)
            except Exception as e:  # noqa: BLE001 — any failure counts
                with self.lock:
                    self.health_errors += 1
                self.fail("/health did not answer within %.1f s: %r" % (self.args.health_bound, e))
            time.sleep(0.05)

    def submit(self, client, body, kind):
        for _ in range(200):
            status, headers, j = client.json("POST", "/v1/generate", body)
            if status == 202:
                with self.lock:
                    self.accepted.append((j["id"], kind))
                return j["id"]
            if status == 429:
                with self.lock:
                    self.rejected_429 += 1
                time.sleep(min(float(headers.get("Retry-After", "1")), 1.0) * random.uniform(0.3, 1.0))
                continue
            self.fail("submit %s: %d %s" % (kind, status, j))
            return None
        self.fail("submit %s: the queue stayed full" % kind)
        return None

    def wait_final(self, client, job_id, deadline_s=120):
        if job_id is None:
            return None
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            status, _, j = client.json("GET", "/v1/jobs/" + job_id)
            if status != 200:
                self.fail("job %s lost: GET answered %d" % (job_id, status))
                return None
            if j["state"] in ("done", "error", "cancelled"):
                with self.lock:
                    self.final[job_id] = j["state"]
                return j
            time.sleep(0.02)
        self.fail("job %s did not finish in %d s" % (job_id, deadline_s))
        return None

    def drop_sse(self, job_id):
        """Opens the event stream, reads its first bytes, and hangs up mid-job."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.sendall(("GET /v1/jobs/%s/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
                   % (job_id, KEY)).encode())
        s.recv(256)
        s.close()
        with self.lock:
            self.sse_dropped += 1

    def client_loop(self, index):
        c = Client(self.port)
        for n in range(self.args.jobs_per_client):
            kind = ("cancel", "sse-drop", "tiny", "tiny")[(index + n) % 4]
            steps = 800 if kind == "cancel" else random.randint(3, 8)
            job_id = self.submit(c, tiny_request(steps, seed=index * 100 + n), kind)
            if not job_id:
                continue
            if kind == "cancel":
                end = time.monotonic() + 60
                while time.monotonic() < end:  # until it runs (or still waits: cancel then too)
                    _, _, j = c.json("GET", "/v1/jobs/" + job_id)
                    if j["state"] != "queued" and j["step"] > 0 or random.random() < 0.02:
                        break
                    time.sleep(0.02)
                status, _, _ = c.json("DELETE", "/v1/jobs/" + job_id)
                if status != 200:
                    self.fail("cancel %s: %d" % (job_id, status))
            elif kind == "sse-drop":
                self.drop_sse(job_id)
            j = self.wait_final(c, job_id)
            if j and kind == "cancel" and j["state"] not in ("cancelled", "done"):
                self.fail("cancelled job %s ended %s" % (job_id, j["state"]))
            if j and kind != "cancel" and j["state"] != "done":
                self.fail("job %s ended %s: %s" % (job_id, j["state"], j.get("error")))

    def burst(self):
        """Jobs submitted faster than they run: past --queue they are answered 429 + Retry-After."""
        c = Client(self.port)
        ids, refused, retry_after = [], 0, []
        for n in range(14):
            status, headers, j = c.json("POST", "/v1/generate", tiny_request(200, seed=900 + n))
            if status == 202:
                ids.append(j["id"])
                with self.lock:
                    self.accepted.append((j["id"], "burst"))
            elif status == 429:
                refused += 1
                retry_after.append(headers.get("Retry-After"))
            else:
                self.fail("burst: %d %s" % (status, j))
        for i in ids:
            j = self.wait_final(c, i)
            if j and j["state"] != "done":
                self.fail("burst job %s ended %s" % (i, j["state"]))
        if not refused or not all(r and int(r) >= 1 for r in retry_after):
            self.fail("burst: no 429 with Retry-After (refused %d, %s)" % (refused, retry_after))
        self.burst_figures = {"submitted": 14, "accepted": len(ids), "answered_429": refused,
                              "retry_after_s": sorted(set(retry_after))}

    def partial_upload(self):
        """A client that announces a body, sends part of it and hangs up."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.sendall(("POST /v1/generate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                   "Content-Type: application/json\r\nContent-Length: 500000\r\n\r\n{\"base\": \"sd"
                   % KEY).encode())
        s.close()

    def fd_count(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def hostile_loop(self):
        big_image = "data:image/png;base64," + base64.b64encode(os.urandom(300 << 10)).decode()
        bomb = "data:image/png;base64," + base64.b64encode(png(20000, 20000)).decode()
        def with_image(ref):
            r = tiny_request(3)
            r["ip_adapters"][0]["images"] = [ref]
            return r
        cases = [
            ("malformed JSON", "POST", "/v1/generate", '{"base": ', KEY, 400),
            ("not an object", "POST", "/v1/generate", "[1, 2, 3]", KEY, 400),
            ("deep JSON", "POST", "/v1/generate", "[" * 5000 + "]" * 5000, KEY, 400),
            ("oversized body", "POST", "/v1/generate", " " * (2 << 20), KEY, 413),
            ("oversized image", "POST", "/v1/generate", with_image(big_image), KEY, 400),
            ("pixel bomb", "POST", "/v1/generate", with_image(bomb), KEY, 400),
            ("path traversal", "POST", "/v1/generate", dict(tiny_request(3), base="../pipeline_sdxl/sdxl"), KEY, 400),
            ("absolute path", "POST", "/v1/generate", with_image("/etc/passwd"), KEY, 400),
            ("unknown field", "POST", "/v1/generate", dict(tiny_request(3), stepz=3), KEY, 400),
            ("bad value", "POST", "/v1/generate", dict(tiny_request(3), steps=-1), KEY, 400),
            ("wrong API key", "POST", "/v1/generate", tiny_request(3), "wrong", 401),
            ("no API key", "GET", "/v1/models", None, None, 401),
            ("unknown job", "GET", "/v1/jobs/ffff", None, KEY, 404),
            ("unknown route", "GET", "/v1/nothing", None, KEY, 404),
        ]
        for _ in range(self.args.hostile_rounds):
            self.partial_upload()
            for name, method, path, body, key, expected in cases:
                c = Client(self.port, key=key)
                try:
                    status, _, _ = c.request(method, path, body)
                except (ConnectionError, http.client.HTTPException, socket.timeout) as e:
                    # The server may close the connection of an oversized body after its answer.
                    status = "closed: %r" % e
                with self.lock:
                    self.hostile[name] = status
                if status != expected:
                    self.fail("%s: expected %s, got %s" % (name, expected, status))
            time.sleep(0.1)

    def health_rate(self, seconds):
        if shutil.which("wrk"):
            out = subprocess.run(["wrk", "-t2", "-c8", "-d%ds" % seconds, "--timeout", "5s",
                                  "http://127.0.0.1:%d/health" % self.port],
                                 capture_output=True, text=True, timeout=seconds + 30).stdout
            m = re.search(r"Requests/sec:\s*([\d.]+)", out)
            lat = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", out)
            errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            if errors:
                self.fail("wrk: %s non-2xx answers from /health" % errors.group(1))
            return {"tool": "wrk -t2 -c8 -d%ds" % seconds, "requests_per_s": float(m.group(1)) if m else None,
                    "latency_avg": lat.group(1) if lat else None, "latency_max": lat.group(3) if lat else None}
        count = [0]
        end = time.monotonic() + seconds
        def loop():
            c = Client(self.port, key=None)
            while time.monotonic() < end:
                c.request("GET", "/health")
                count[0] += 1
        threads = [threading.Thread(target=loop) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return {"tool": "python, 4 keep-alive connections", "requests_per_s": count[0] / seconds}

    def tiny_latency_while_queued(self):
        c = Client(self.port)
        t = time.monotonic()
        idle_id = self.submit(c, tiny_request(4, seed=7), "latency-idle")
        self.wait_final(c, idle_id)
        idle = time.monotonic() - t
        queued = [self.submit(c, tiny_request(400, seed=s), "latency-queue") for s in range(4)]
        t = time.monotonic()
        tiny_id = self.submit(c, tiny_request(4, seed=8), "latency-tiny")
        self.wait_final(c, tiny_id)
        behind = time.monotonic() - t
        for q in queued:
            self.wait_final(c, q)
        return {"tiny_job_idle_s": round(idle, 3), "tiny_job_behind_4_queued_s": round(behind, 3),
                "queued_ahead": "4 jobs of 400 steps"}

    def main(self):
        self.start_server()
        t0 = time.monotonic()
        c = Client(self.port)
        warm = self.submit(c, tiny_request(4), "warm-up")
        self.wait_final(c, warm)
        rss_warm = self.health()["memory"]["rss_mib"]
        fds_warm = self.fd_count()
        self.burst_figures = None

        probe = threading.Thread(target=self.health_probe)
        probe.start()
        workers = [threading.Thread(target=self.client_loop, args=(i,)) for i in range(self.args.clients)]
        workers.append(threading.Thread(target=self.hostile_loop))
        workers.append(threading.Thread(target=self.burst))
        for w in workers:
            w.start()
        rate = self.health_rate(self.args.wrk_seconds)
        for w in workers:
            w.join()
        latency = self.tiny_latency_while_queued()
        self.stop_health.set()
        probe.join()

        h = self.health()
        jobs = h["jobs"]
        lost = [i for i, _ in self.accepted if i not in self.final]
        if lost:
            self.fail("accepted jobs never seen finished: %s" % lost)
        if jobs["accepted"] != jobs["done"] + jobs["cancelled"] + jobs["error"]:
            self.fail("server counts: accepted %d != done + cancelled + error" % jobs["accepted"])
        if jobs["error"]:
            self.fail("%d jobs ended in error" % jobs["error"])
        if h["queued"] or h["running"]:
            self.fail("jobs left after the run: %s" % h)
        rss_end = h["memory"]["rss_mib"]
        margin = max(self.args.rss_margin_mib, 0.25 * rss_warm)
        if rss_end > rss_warm + margin:
            self.fail("RSS grew from %.0f to %.0f MiB (margin %.0f)" % (rss_warm, rss_end, margin))

        # Every connection is closed by now or soon (keep-alive timeout 5 s): no socket leaked.
        end = time.monotonic() + 8
        while self.fd_count() > fds_warm + 2 and time.monotonic() < end:
            time.sleep(0.2)
        fds_end = self.fd_count()
        if fds_end > fds_warm + 2:
            self.fail("open files grew from %d to %d" % (fds_warm, fds_end))

        t = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = "killed"
            self.fail("the server did not stop within 20 s of SIGTERM")
        if rc != 0:
            self.fail("the server exited with %s" % rc)
        lat = sorted(self.health_latencies)
        pct = lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else None
        cpu = ""
        try:
            cpu = re.search(r"Model name:\s*(.*)", subprocess.run(["lscpu"], capture_output=True, text=True).stdout).group(1)
        except Exception:  # noqa: BLE001
            pass
        figures = {
            "cpu": cpu, "cpus": os.cpu_count(), "clients": self.args.clients,
            "jobs": {k: jobs[k] for k in ("accepted", "done", "cancelled", "error", "rejected_queue_full")},
            "client_429_retries": self.rejected_429, "event_streams_dropped": self.sse_dropped,
            "burst": self.burst_figures, "open_files": {"after_warm_up": fds_warm, "end": fds_end},
            "health_probe": {"count": len(lat), "p50_ms": pct(0.5), "p99_ms": pct(0.99),
                             "max_ms": pct(1.0), "errors": self.health_errors,
                             "bound_ms": self.args.health_bound * 1000},
            "health_under_load": rate, "latency": latency,
            "memory_mib": {"after_warm_up": round(rss_warm, 1), "end": round(rss_end, 1),
                           "peak": round(h["memory"]["peak_rss_mib"], 1), "margin": round(margin, 1)},
            "hostile": self.hostile, "stop_s": round(time.monotonic() - t, 2),
            "total_s": round(time.monotonic() - t0, 1), "failures": self.failures,
        }
        os.makedirs(os.path.dirname(self.args.out) or ".", exist_ok=True)
        with open(self.args.out, "w") as f:
            json.dump(figures, f, indent=1)
        print(json.dumps(figures, indent=1))
        return 1 if self.failures else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cli", default="build/ci/ipadapter")
    p.add_argument("--models", default="tests/data/pipeline_sd15")
    p.add_argument("--clients", type=int, default=6)
    p.add_argument("--jobs-per-client", type=int, default=6)
    p.add_argument("--hostile-rounds", type=int, default=3)
    p.add_argument("--wrk-seconds", type=int, default=5)
    p.add_argument("--health-bound", type=float, default=2.0, help="seconds /health may take")
    p.add_argument("--rss-margin-mib", type=float, default=64)
    p.add_argument("--time-limit", type=float, default=300)
    p.add_argument("--out", default="build/ci/artifacts/server-load.json")
    p.add_argument("--log", default="build/ci/artifacts/server-load.log")
    args = p.parse_args()
    os.makedirs(os.path.dirname(args.log) or ".", exist_ok=True)
    run = Run(args)

    def watchdog():
        time.sleep(args.time_limit)
        print("FAIL: the load test ran past %.0f s" % args.time_limit, flush=True)
        try:
            run.proc.kill()
        finally:
            os._exit(2)
    threading.Thread(target=watchdog, daemon=True).start()
    try:
        rc = run.main()
    finally:
        if getattr(run, "proc", None) and run.proc.poll() is None:
            run.proc.kill()
    print("server load test: %s" % ("passed" if rc == 0 else "FAILED (%d problems)" % len(run.failures)))
    sys.exit(rc)


if __name__ == "__main__":
    main()
