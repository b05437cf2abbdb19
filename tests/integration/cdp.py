"""A minimal Chrome DevTools Protocol client over ``--remote-debugging-pipe``.

Chromium reads protocol messages (JSON, each ended by a NUL byte) from its file descriptor 3
and writes its answers and events to descriptor 4, so a test drives a real headless browser
with the standard library alone: no websocket package, no browser download, no port.
Protocol reference: https://chromedevtools.github.io/devtools-protocol/.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import shlex
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

#: where Debian's ``chromium`` package installs the browser
CHROMIUM = "/usr/bin/chromium"
#: flags of a quiet, isolated run: no sandbox (root in containers), no GPU, no QUIC, and
#: none of the browser's own background traffic (updates, sync, safe browsing lists)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)


class BrowserError(RuntimeError):
    """The browser ended, answered with an error, or did not answer in time."""


def find_chromium() -> str | None:
    """Path of the Chromium executable: $CHROMIUM, Debian's /usr/bin/chromium, or on PATH."""
    for candidate in (os.environ.get("CHROMIUM"), CHROMIUM):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """One headless Chromium process and one page attached to it (flat session mode).

    Every event received is kept in :attr:`events` (method, params), for the checks made
    after the page loaded (console messages, exceptions, network requests).
    """

    def __init__(self, executable: str, user_data_dir: Path, *, width: int, height: int) -> None:
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        args = [
            executable,
            *FLAGS,
            f"--user-data-dir={user_data_dir}",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        # bash (dash reads one-digit descriptors only) puts our pipe ends on the descriptors
        # 3 and 4 that Chromium reads and writes (to_child_r < from_child_w, so the first
        # redirection never closes the second's source)
        command = " ".join(shlex.quote(a) for a in args)
        #: the browser's own log (read when it ends unexpectedly); a file, not a pipe that
        #: nobody reads and that would block the browser once full
        self.log_path = Path(f"{user_data_dir}.log")
        self._log = self.log_path.open("wb")
        script = f"exec {command} 3<&{to_child_r} 4>&{from_child_w}"
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", script],
            pass_fds=(to_child_r, from_child_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._next_id = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.session: str | None = None
        targets = self.call("Target.getTargets", session=False)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call(
            "Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}, session=False
        )["sessionId"]

    def _read(self) -> None:
        buf = b""
        with os.fdopen(self._from_child, "rb", buffering=0) as pipe:
            while chunk := pipe.read(1 << 16):
                buf += chunk
                *messages, buf = buf.split(b"\0")
                for raw in messages:
                    self._inbox.put(json.loads(raw))
        self._inbox.put(None)  # the browser closed its end

    def _receive(self, deadline: float) -> dict[str, Any]:
        try:
            message = self._inbox.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise BrowserError("the browser did not answer in time") from None
        if message is None:
            raise BrowserError(f"the browser ended: {self._stderr_tail()}")
        if "method" in message:
            self.events.append((message["method"], message.get("params", {})))
        return message

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: bool = True,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Send one command and return its result (events that arrive meanwhile are kept)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._receive(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def wait_for(self, method: str, *, timeout: float = 30.0) -> dict[str, Any]:
        """The params of the first event ``method`` (one already received counts)."""
        for name, params in self.events:
            if name == method:
                return params
        deadline = time.monotonic() + timeout
        while True:
            message = self._receive(deadline)
            if message.get("method") == method:
                return message.get("params", {})

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"the page's script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, clip: dict[str, float] | None = None) -> Path:
        """A PNG of the page (``clip``: a rectangle in CSS pixels; default the whole page)."""
        if clip is None:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"]}
        data = self.call(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": {**clip, "scale": 1}},
        )["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def _stderr_tail(self) -> str:
        self._log.flush()
        return self.log_path.read_bytes().decode(errors="replace")[-2000:]

    def close(self) -> None:
        """Close the browser (politely, then by force) and release the pipes."""
        try:
            if self.proc.poll() is None:
                self.call("Browser.close", session=False, timeout=10)
        except (BrowserError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_child)
        self._log.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
