#!/usr/bin/env python3
"""The web page of `ipadapter serve` in headless Chromium (issue 14 item 2; docs/server.md).

Starts the server on a free loopback port with the tiny pipeline_sd15 models and Debian's
chromedriver, then drives the page over the W3C WebDriver protocol (Python standard library
only): the page loads with the models in its pickers, a reference image is uploaded into the
adapter card, the form's Generate button runs a generation end to end, the progress bar moves
through intermediate values, the image appears in the gallery with its parameters, nothing was
loaded from outside the server, and a screenshot is written. Bounded: every wait has a limit.
"""
import argparse
import base64
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


# Loopback only: never through a proxy the environment may name.
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebDriver:
    def __init__(self, port):
        self.base = "http://127.0.0.1:%d" % port
        self.session = None

    def call(self, method, path, body=None, timeout=60):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with NO_PROXY.open(req, timeout=timeout) as r:
                return json.loads(r.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            raise RuntimeError("%s %s: %s" % (method, path, e.read().decode()[:2000])) from None

    def s(self, method, path, body=None):
        return self.call(method, "/session/%s%s" % (self.session, path), body)

    def start(self, chromium, user_dir):
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000", "--user-data-dir=" + user_dir,
                     "--no-first-run", "--disable-background-networking", "--no-proxy-server"]}}}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def js(self, script, *args):
        return self.s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css):
        v = self.s("POST", "/element", {"using": "css selector", "value": css})
        return next(iter(v.values()))

    def wait(self, what, script, timeout=60):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            v = self.js(script)
            if v:
                return v
            time.sleep(0.1)
        raise RuntimeError("timed out waiting for: " + what)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cli", default="build/ci/ipadapter")
    p.add_argument("--models", default="tests/data", help="README's `serve --models tests/data`")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    p.add_argument("--steps", type=int, default=800, help="enough for the bar to be seen moving")
    p.add_argument("--artifacts", default="build/ci/artifacts")
    args = p.parse_args()
    os.makedirs(args.artifacts, exist_ok=True)
    procs = []
    failures = []
    try:
        log = open(os.path.join(args.artifacts, "server-browser.log"), "w")
        server = subprocess.Popen([args.cli, "serve", "--models", args.models, "--port", "0",
                                   "--threads", "1", "--max-steps", "1000"], stdout=subprocess.PIPE, stderr=log, text=True)
        procs.append(server)
        url = re.search(r"(http://\S+/)", server.stdout.readline()).group(1)
        driver_port = free_port()
        procs.append(subprocess.Popen([args.chromedriver, "--port=%d" % driver_port],
                                      stdout=log, stderr=log))
        wd = WebDriver(driver_port)
        for _ in range(100):
            try:
                if wd.call("GET", "/status", timeout=2).get("ready"):
                    break
            except Exception:  # noqa: BLE001 — not listening yet
                time.sleep(0.1)
        user_dir = tempfile.mkdtemp(prefix="ipa-chromium-")
        wd.start(args.chromium, user_dir)

        wd.s("POST", "/url", {"url": url})
        wd.wait("the model pickers", "return document.querySelectorAll('#base option').length > 0 &&"
                " document.querySelectorAll('.adapter .adapter-file option').length > 0")
        bases = wd.js("return [...document.querySelectorAll('#base option')].map(o => o.value)")
        adapters = wd.js("return [...document.querySelectorAll('.adapter-file option')].map(o => o.value)")
        print("page: bases %s, adapters %s" % (bases, adapters))
        wd.js("const s = document.querySelector('#base'); s.value = arguments[0];"
              "s.dispatchEvent(new Event('change'));", "pipeline_sd15/sd15")
        # The picker offers the adapters that fit the base, those beside it first.
        picked = wd.js("return document.querySelector('.adapter-file').value")
        if not picked.startswith("pipeline_sd15/IP-Adapter/"):
            failures.append("the adapter picker put %r first for pipeline_sd15/sd15" % picked)
        for css, text in (("#prompt", "a photo of a red cat"), ("#steps", str(args.steps)),
                          ("#width", "64"), ("#height", "64"), ("#seed", "42")):
            el = wd.find(css)
            wd.s("POST", "/element/%s/clear" % el, {})
            wd.s("POST", "/element/%s/value" % el, {"text": text})
        ref = os.path.abspath(os.path.join(args.models, "pipeline_sd15", "reference.png"))
        wd.s("POST", "/element/%s/value" % wd.find(".images-input"), {"text": ref})
        wd.wait("the reference thumbnail", "return document.querySelectorAll('.adapter .thumbs img').length === 1")
        # Every value the progress bar takes (setting .value sets the attribute).
        wd.js("window.__progress = [];"
              "new MutationObserver(rs => rs.forEach(r => window.__progress.push(Number(r.target.value))))"
              ".observe(document.querySelector('#progress'), {attributes: true});")
        t = time.monotonic()
        wd.s("POST", "/element/%s/click" % wd.find("#generate"), {})
        wd.wait("the image in the gallery",
                "const i = document.querySelector('#gallery img.result'); return i && i.complete && i.naturalWidth > 0",
                timeout=180)
        took = time.monotonic() - t
        progress = wd.js("return window.__progress")
        size = wd.js("const i = document.querySelector('#gallery img.result'); return [i.naturalWidth, i.naturalHeight]")
        params = wd.js("return document.querySelector('#gallery .params').textContent")
        status = wd.js("return document.querySelector('#status').textContent")
        outside = wd.js("return performance.getEntriesByType('resource').map(e => e.name)"
                        ".filter(n => !n.startsWith(location.origin))")
        shot = wd.s("GET", "/screenshot")
        path = os.path.join(args.artifacts, "server-page.png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot))

        between = [v for v in progress if 0 < v < 1]
        print("generation from the form: %.1f s; progress values %s; image %s; status '%s'"
              % (took, progress[:12] + (["..."] if len(progress) > 12 else []), size, status))
        if len(set(between)) < 2:
            failures.append("the progress bar did not move through intermediate values: %s" % progress)
        if not progress or progress[-1] != 1:
            failures.append("the progress bar did not end full: %s" % progress)
        if size != [64, 64]:
            failures.append("the image is %s, expected 64x64" % size)
        if "Steps: %d" % args.steps not in params:
            failures.append("the gallery's parameters lack 'Steps: %d': %r" % (args.steps, params))
        if outside:
            failures.append("the page loaded from outside the server: %s" % outside)
        # Re-run from the gallery gives a second result.
        wd.s("POST", "/element/%s/click" % wd.find("#gallery .rerun"), {})
        wd.wait("the re-run's image", "return document.querySelectorAll('#gallery img.result').length === 2 &&"
                " document.querySelectorAll('#gallery img.result')[0].naturalWidth > 0", timeout=180)
        wd.js("window.scrollTo(0, 0)")
        with open(path, "wb") as f:
            f.write(base64.b64decode(wd.s("GET", "/screenshot")))
        print("screenshot: %s" % path)
        wd.call("DELETE", "/session/%s" % wd.session)
    except Exception as e:  # noqa: BLE001
        failures.append("%s: %s" % (type(e).__name__, e))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                failures.append("%s did not stop" % proc.args[0])
    for f in failures:
        print("FAIL:", f)
    print("server browser test: %s" % ("passed" if not failures else "FAILED"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
