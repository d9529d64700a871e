"""Open a page in headless Chromium and ask it what it shows, over the DevTools protocol on a pipe
(`--remote-debugging-pipe`: Chromium reads commands on fd 3 and writes answers and events on fd 4,
each a JSON message ended by a NUL byte), so no browser driver or websocket library is needed and
the page itself carries nothing for the test.

    with Chromium() as browser:
        seen = browser.load(Path("report.html"), "document.images.length")
        seen.value, seen.errors, seen.requests
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXECUTABLE = shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Seen:
    value: Any = None  # what the expression evaluated to, after the load event
    errors: list[str] = field(default_factory=list)  # console errors, uncaught exceptions, error log entries
    requests: list[str] = field(default_factory=list)  # every URL the page asked for


class Chromium:
    def __init__(self, timeout: float = 60.0) -> None:
        self.timeout, self.next_id, self.buffer = timeout, 0, b""

    def __enter__(self) -> Chromium:
        self.profile = tempfile.TemporaryDirectory()
        commands, self.to_browser = os.pipe()
        self.from_browser, answers = os.pipe()
        # Chromium's ends become its fds 3 and 4 through the shell's redirections (no preexec_fn, which is
        # unsafe in a process with threads); numbered from 10 up first, so neither is 3 or 4 already.
        theirs = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (commands, answers)]
        for fd in (commands, answers):
            os.close(fd)
        browser = [EXECUTABLE, "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                   "--no-first-run", "--no-default-browser-check", f"--user-data-dir={self.profile.name}",
                   "about:blank"]
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{theirs[0]} 4>&{theirs[1]} {theirs[0]}<&- {theirs[1]}>&-', "chromium",
             *browser], pass_fds=theirs, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        for fd in theirs:
            os.close(fd)
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self._send("Browser.close")
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        os.close(self.to_browser)
        os.close(self.from_browser)
        self.profile.cleanup()

    def _send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        return self.next_id

    def _messages(self, deadline: float):
        while True:
            while b"\0" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\0", 1)
                yield json.loads(raw)
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.from_browser], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self.from_browser, 1 << 16)
            if not chunk:
                raise ConnectionError("Chromium closed its pipe")
            self.buffer += chunk

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             events: list[dict] | None = None) -> dict:
        """Send a command and wait for its answer; events that arrive meanwhile go to `events`."""
        wanted = self._send(method, params, session)
        for m in self._messages(time.monotonic() + self.timeout):
            if m.get("id") == wanted:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            if events is not None and "method" in m:
                events.append(m)
        raise AssertionError("unreachable")

    def load(self, page: Path, expression: str) -> Seen:
        """Open `page` in a new tab, wait for its load event, then evaluate `expression` (JSON-able)."""
        events: list[dict] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.call(f"{domain}.enable", session=session, events=events)
        self.call("Page.navigate", {"url": page.resolve().as_uri()}, session=session, events=events)
        deadline = time.monotonic() + self.timeout
        if not any(e["method"] == "Page.loadEventFired" for e in events):
            for m in self._messages(deadline):
                if "method" in m:
                    events.append(m)
                    if m["method"] == "Page.loadEventFired" and m.get("sessionId") == session:
                        break
        answer = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, session=session, events=events)
        if "exceptionDetails" in answer:
            raise RuntimeError(f"the test's expression failed: {answer['exceptionDetails']}")
        return Seen(answer["result"].get("value"), _errors(events),
                    [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"])


def _errors(events: list[dict]) -> list[str]:
    found = []
    for e in events:
        p = e.get("params", {})
        if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            found.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
        elif e["method"] == "Runtime.exceptionThrown":
            found.append("exception: " + json.dumps(p.get("exceptionDetails", {}))[:300])
        elif e["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            found.append(f"log: {p['entry'].get('text')}")
    return found
