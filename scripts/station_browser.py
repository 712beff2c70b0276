#!/usr/bin/env python3
"""Real-browser check of the line station: headless Chromium, driven over its DevTools pipe.

Starts `auge watch --http` on a fresh inbox, opens the live screen, drops photos into the inbox and
waits for them to appear without a reload, opens the review queue, gives a verdict with a click, and
checks OUT/reviews.jsonl and OUT/feedback/<label>/. With --screenshots DIR, saves the live screen and
the review queue as PNGs (1366x768, the smallest line monitor the screen is made for).

Usage: scripts/station_browser.py AUGE MODEL PHOTOS [--screenshots DIR]
Exit 0 when every check passed; the failing check is printed otherwise. Standard library only.
"""
import argparse
import base64
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time


class Browser:
    """Chromium with --remote-debugging-pipe: NUL-terminated JSON messages on fds 3 (in) and 4 (out)."""

    def __init__(self, executable, profile):
        pipe_read, self.to_chrome = os.pipe()
        self.from_chrome, pipe_write = os.pipe()
        # Moved above 4 first, so that putting them on 3 and 4 in the child cannot overwrite each other.
        to_chrome_read = fcntl.fcntl(pipe_read, fcntl.F_DUPFD_CLOEXEC, 10)
        from_chrome_write = fcntl.fcntl(pipe_write, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(pipe_read)
        os.close(pipe_write)

        def wire():
            os.dup2(to_chrome_read, 3)
            os.dup2(from_chrome_write, 4)

        self.process = subprocess.Popen(
            [executable, "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--window-size=1366,768", f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(3, 4), preexec_fn=wire,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_read)
        os.close(from_chrome_write)
        self.next_id = 0
        self.buffer = b""
        self.session = None

    def send(self, method, params=None, session=True):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self.buffer:
                chunk = os.read(self.from_chrome, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed its DevTools pipe")
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def open(self, url):
        target = self.send("Target.createTarget", {"url": url}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
        self.send("Page.enable")
        self.send("Emulation.setDeviceMetricsOverride", {"width": 1366, "height": 768, "deviceScaleFactor": 1, "mobile": False})

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression, what, timeout=30):
        deadline = time.time() + timeout
        last_error = None
        while time.time() < deadline:
            try:
                if self.evaluate(expression):
                    return
            except RuntimeError as error:  # the page is still loading
                last_error = error
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what} ({expression}; last error: {last_error})")

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.send("Browser.close", session=False)
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok: {what}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("auge")
    parser.add_argument("model")
    parser.add_argument("photos")
    parser.add_argument("--screenshots")
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser") or "chromium")
    args = parser.parse_args()

    if args.screenshots:
        os.makedirs(args.screenshots, exist_ok=True)
    work = tempfile.mkdtemp(prefix="auge-browser-")
    inbox, out = os.path.join(work, "inbox"), os.path.join(work, "out")
    os.makedirs(inbox)
    watcher = subprocess.Popen([args.auge, "watch", inbox, "--out", out, "--model", args.model, "--http", "127.0.0.1:0"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    browser = None
    try:
        line = watcher.stderr.readline()
        match = re.search(r"line station at (http://\S+)/", line)
        check(match is not None, f"the watcher serves the station ({line.strip()})")
        base = match.group(1)
        browser = Browser(args.chromium, os.path.join(work, "profile"))
        browser.open(base + "/#/live")
        browser.wait_for("document.getElementById('connection').textContent.startsWith('live')", "the live screen to connect")
        browser.evaluate("window.augeMarker = 'same page'")

        photos = sorted(f for f in os.listdir(args.photos) if f.lower().endswith((".jpg", ".jpeg", ".png")))
        for name in photos:  # a camera's pace: a few parts a second
            temporary = os.path.join(inbox, name + ".tmp")
            shutil.copyfile(os.path.join(args.photos, name), temporary)
            os.rename(temporary, os.path.join(inbox, name))
            time.sleep(0.25)
        browser.wait_for(f"document.querySelectorAll('#thumbs .thumb').length >= {min(24, len(photos))}", "the parts to appear", timeout=300)
        check(browser.evaluate("window.augeMarker") == "same page", "new parts appeared without a reload")
        browser.wait_for(f"Number(document.getElementById('shift-ok').textContent) + Number(document.getElementById('shift-defect').textContent)"
                         f" + Number(document.getElementById('shift-review').textContent) + Number(document.getElementById('shift-error').textContent)"
                         f" === {len(photos)}", "the shift counts to add up to every photo", timeout=300)
        check(browser.evaluate("!!document.querySelector('#thumbs .thumb img')"), "thumbnails show the photos")
        browser.wait_for("[...document.querySelectorAll('#thumbs img')].every(i => i.complete)", "the thumbnails to load")
        if args.screenshots:
            browser.screenshot(os.path.join(args.screenshots, "station-live.png"))

        browser.evaluate("location.hash = '#/review'")
        browser.wait_for("!document.getElementById('review-item').hidden", "a part in the review queue")
        name = browser.evaluate("reviewing.name")
        label = browser.evaluate("document.querySelector('#defect-buttons button').dataset.label")
        browser.wait_for("document.getElementById('review-photo').complete", "the review photo to load")
        if args.screenshots:
            browser.screenshot(os.path.join(args.screenshots, "station-review.png"))
        browser.evaluate("document.getElementById('who').value = 'browser test'")
        browser.evaluate("document.querySelector('#defect-buttons button').click()")
        browser.wait_for("document.getElementById('review-message').textContent.includes('filed in')", "the verdict to be filed")

        with open(os.path.join(out, "reviews.jsonl")) as f:
            reviews = [json.loads(line) for line in f]
        check(len(reviews) == 1, "one verdict in reviews.jsonl")
        review = reviews[0]
        check(review["verdict"] == "defect" and review["label"] == label and review["who"] == "browser test",
              f"the verdict reads defect: {label} by the operator")
        check(review["model_decision"] in ("review", "defect"), "the model's decision is beside it")
        filed = os.path.join(out, "feedback", label, name)
        check(os.path.isfile(filed), f"the photo is filed in feedback/{label}/{name}")
        with open(os.path.join(args.photos, name), "rb") as a, open(filed, "rb") as b:
            check(a.read() == b.read(), "the filed photo is the photo")
        print("station browser check passed")
    finally:
        if browser:
            browser.close()
        watcher.send_signal(signal.SIGTERM)
        try:
            watcher.wait(timeout=10)
        except subprocess.TimeoutExpired:
            watcher.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except AssertionError as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
