"""Drive a real headless Chromium through the Chrome DevTools protocol (for the review page).

Only what the tests need: open a page, evaluate JavaScript, click with real mouse events,
type, press keys, set a file input, allow downloads, take a screenshot.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                  "--disable-dev-shm-usage", "--window-size=1400,1000"]


def find_chromium() -> str | None:
    for name in (os.environ.get("LYNXID_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class Browser:
    """One headless Chromium with one page, driven over CDP."""

    def __init__(self, url: str, timeout: float = 60):
        import websocket  # websocket-client (dev extra)

        exe = find_chromium()
        if exe is None:
            raise RuntimeError("chromium not found (install Debian's chromium: scripts/install-system-deps.sh)")
        self.profile = Path(tempfile.mkdtemp(prefix="lynxid-chromium-"))
        self.proc = subprocess.Popen([exe, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}",
                                      "--remote-debugging-port=0", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = self.profile / "DevToolsActivePort"
        t0 = time.time()
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.time() - t0 > timeout:
                self.close()
                raise RuntimeError("chromium did not start (no DevToolsActivePort)")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        pages = []
        while not pages:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                pages = [p for p in json.load(r) if p.get("type") == "page"]
            if time.time() - t0 > timeout:
                raise RuntimeError("chromium has no page")
            time.sleep(0.1)
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=timeout,
                                              suppress_origin=True)
        self._id = 0
        self.events: list = []
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.goto(url)

    # -- protocol ------------------------------------------------------------------------
    def send(self, method: str, **params):
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def js(self, expr: str, await_promise: bool = False):
        r = self.send("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=await_promise)
        if "exceptionDetails" in r:
            raise RuntimeError(f"JavaScript error in {expr!r}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expr: str, timeout: float = 30):
        t0 = time.time()
        while time.time() - t0 < timeout:
            v = self.js(expr)
            if v:
                return v
            time.sleep(0.1)
        raise TimeoutError(f"timed out waiting for {expr}")

    # -- actions -------------------------------------------------------------------------
    def goto(self, url: str):
        self.send("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'")

    def click(self, selector: str):
        """A real mouse click (pressed and released) in the middle of the element."""
        box = self.js(f"""(() => {{ const e = document.querySelector({json.dumps(selector)});
            if (!e) return null; e.scrollIntoView({{block: 'center'}});
            const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()""")
        if box is None:
            raise LookupError(f"no element {selector}")
        x, y = box
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def type(self, selector: str, text: str):
        self.click(selector)
        self.send("Input.insertText", text=text)

    def key(self, key: str):
        code = f"Key{key.upper()}" if key.isalpha() else f"Digit{key}"
        self.send("Input.dispatchKeyEvent", type="keyDown", key=key, text=key, code=code)
        self.send("Input.dispatchKeyEvent", type="keyUp", key=key, code=code)

    def set_files(self, selector: str, files):
        doc = self.send("DOM.getDocument")
        node = self.send("DOM.querySelector", nodeId=doc["root"]["nodeId"], selector=selector)
        self.send("DOM.setFileInputFiles", nodeId=node["nodeId"], files=[str(f) for f in files])

    def allow_downloads(self, folder: Path):
        self.send("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(folder))

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self):
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
