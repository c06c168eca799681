"""Headless Chromium for tests (Debian's ``chromium``, installed by scripts/browser-tools.sh) and a
tiny PNG reader for its screenshots. Shared by the HTML report test and the dashboard test.

Chromium runs with the flags that work on these machines (no sandbox as root, no GPU, no background
networking: the network is closed), a fresh temporary profile per run and a timeout; a run that hangs
is killed by its own process group, nothing else.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--hide-scrollbars", "--force-device-scale-factor=1",
)


def chromium_or_skip() -> str:
    """Path of the chromium binary, or skip the test with the reason scripts/browser-tools.sh gave."""
    path = os.environ.get("PORSCAN_CHROMIUM") or shutil.which("chromium") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else "")
    if not path:
        why = os.environ.get("PORSCAN_CHROMIUM_WHY") or (
            "chromium is not installed (scripts/test installs Debian's chromium when run as root)")
        pytest.skip(why)
    return path


@dataclass
class ChromiumRun:
    stdout: str
    stderr: str
    returncode: int


def run_chromium(args: list[str], *, timeout: float = 90) -> ChromiumRun:
    """Run headless Chromium once with a new empty profile; kill its process group on timeout."""
    binary = chromium_or_skip()
    with tempfile.TemporaryDirectory(prefix="porscan-chromium-") as profile:
        cmd = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # our own child's group only
            out, err = proc.communicate()
            raise AssertionError(f"chromium did not finish within {timeout} s: {' '.join(cmd)}\n{err[-2000:]}")
        return ChromiumRun(out, err, proc.returncode)


def dump_dom(page: Path, *, timeout: float = 90) -> ChromiumRun:
    """The DOM after load (``--dump-dom``); console messages land in ``stderr``."""
    run = run_chromium(["--enable-logging=stderr", "--v=0", "--dump-dom", page.resolve().as_uri()], timeout=timeout)
    assert run.returncode == 0 and "<html" in run.stdout, f"chromium --dump-dom failed ({run.returncode}): {run.stderr[-2000:]}"
    return run


def screenshot(page: Path, out: Path, *, size: tuple[int, int] = (1280, 2000), timeout: float = 90) -> Path:
    """A PNG of the page's first ``size`` pixels."""
    run = run_chromium([f"--screenshot={out}", f"--window-size={size[0]},{size[1]}", page.resolve().as_uri()],
                       timeout=timeout)
    assert run.returncode == 0 and out.exists(), f"chromium --screenshot failed ({run.returncode}): {run.stderr[-2000:]}"
    return out


# ---------------------------------------------------------------------------------------------
# PNG: just enough to read Chromium's screenshots (8-bit RGB/RGBA, not interlaced)
# ---------------------------------------------------------------------------------------------
@dataclass
class Image:
    width: int
    height: int
    channels: int
    rows: list[bytes]  # unfiltered scanlines

    def colours(self, step: int = 1) -> dict[tuple[int, int, int], int]:
        """Pixel count per RGB colour (every ``step``-th pixel of every ``step``-th row)."""
        counts: dict[tuple[int, int, int], int] = {}
        c = self.channels
        for row in self.rows[::step]:
            for i in range(0, len(row), c * step):
                key = (row[i], row[i + 1], row[i + 2])
                counts[key] = counts.get(key, 0) + 1
        return counts


def read_png(path: Path) -> Image:
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None:
        raise ValueError(f"{path}: no IHDR")
    width, height, depth, colour_type, _, _, interlace = header
    channels = {2: 3, 6: 4}.get(colour_type)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"{path}: unsupported PNG (depth {depth}, colour type {colour_type}, interlace {interlace})")
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    rows, prev = [], bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        ftype, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        _unfilter(ftype, line, prev, channels)
        prev = bytes(line)
        rows.append(prev)
    return Image(width, height, channels, rows)


def _unfilter(ftype: int, line: bytearray, prev: bytes, bpp: int) -> None:
    n = len(line)
    if ftype == 0:
        return
    if ftype == 1:  # Sub
        for i in range(bpp, n):
            line[i] = (line[i] + line[i - bpp]) & 0xFF
    elif ftype == 2:  # Up
        for i in range(n):
            line[i] = (line[i] + prev[i]) & 0xFF
    elif ftype == 3:  # Average
        for i in range(n):
            left = line[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
    elif ftype == 4:  # Paeth
        for i in range(n):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
    else:
        raise ValueError(f"bad PNG filter type {ftype}")


# ---------------------------------------------------------------------------------------------
# A page at a real viewport size, through the DevTools protocol: headless Chromium will not make a
# window narrower than 500 px (``--window-size=390,844`` lays the page out 500 px wide and crops
# the screenshot), so phones are emulated with Emulation.setDeviceMetricsOverride; a script then
# measures the layout after load (Runtime.evaluate is not subject to the page's CSP, so the page
# is measured as served) and Page.captureScreenshot takes the whole page.
# ---------------------------------------------------------------------------------------------
MEASURE_JS = r"""(function () {
  var de = document.documentElement, out = {innerWidth: window.innerWidth, scrollWidth: de.scrollWidth,
    clippedCells: [], cells: 0, chartTexts: 0, minChartFont: null, smallChartText: [], textOutsideChart: [],
    scrollBoxes: [], firstColumnsOffScreen: 0, marks: [], refresh: null, visibleCharts: 0};
  function shown(el) { return el.getClientRects().length > 0; }
  document.querySelectorAll('td, th').forEach(function (c) {
    if (!shown(c)) return;
    out.cells++;
    if (c.scrollWidth > c.clientWidth + 1) {
      out.clippedCells.push({text: c.textContent.trim().slice(0, 80), scrollWidth: c.scrollWidth,
                             clientWidth: c.clientWidth, overflowX: getComputedStyle(c).overflowX});
    }
    var r = c.getBoundingClientRect();
    if (c.cellIndex === 0 && (r.right > window.innerWidth + 1 || r.left < -1)) out.firstColumnsOffScreen++;
  });
  document.querySelectorAll('svg.chart').forEach(function (svg) {
    if (!shown(svg)) return;
    out.visibleCharts++;
    var m = svg.getScreenCTM(), k = m ? m.a : 1, box = svg.getBoundingClientRect();
    svg.querySelectorAll('text').forEach(function (t) {
      if (!t.textContent.trim()) return;
      out.chartTexts++;
      var size = parseFloat(getComputedStyle(t).fontSize) * k;
      if (out.minChartFont === null || size < out.minChartFont) out.minChartFont = size;
      if (size < 11) out.smallChartText.push(t.textContent.slice(0, 40) + ' @' + size.toFixed(1) + 'px');
      var r = t.getBoundingClientRect();
      if (r.width && (r.left < box.left - 1 || r.right > box.right + 1)) out.textOutsideChart.push(t.textContent.slice(0, 40));
    });
  });
  document.querySelectorAll('body *').forEach(function (el) {
    var o = getComputedStyle(el).overflowX;
    if ((o === 'auto' || o === 'scroll' || o === 'hidden') && shown(el) && el.scrollWidth > el.clientWidth + 1)
      out.scrollBoxes.push(el.tagName.toLowerCase() + '.' + el.className + ' ' + el.scrollWidth + '>' + el.clientWidth);
  });
  document.querySelectorAll('.partial-mark').forEach(function (el) {
    var row = el.closest('tr');
    if (shown(el)) out.marks.push(row ? row.cells[0].textContent.trim() : el.textContent);
  });
  var meta = document.querySelector('meta[http-equiv="refresh"]');
  out.refresh = meta ? meta.getAttribute('content') : null;
  return out;
})()"""


@dataclass
class PageView:
    measured: dict  # what MEASURE_JS returned
    screenshot: Path | None


def view_page(url: str, size: tuple[int, int], *, screenshot: Path | None = None, full_page: bool = True,
              timeout: float = 90) -> PageView:
    """Load ``url`` in a viewport of ``size`` CSS pixels (device scale 1), measure its layout with
    ``MEASURE_JS`` after the load event and, when asked, write a PNG of the whole page (or of the
    first screen) to ``screenshot``."""
    import asyncio

    return asyncio.run(asyncio.wait_for(_view_page(url, size, screenshot, full_page), timeout))


async def _view_page(url: str, size: tuple[int, int], screenshot: Path | None, full_page: bool) -> PageView:
    import asyncio
    import base64
    import itertools
    import re

    import aiohttp

    binary = chromium_or_skip()
    with tempfile.TemporaryDirectory(prefix="porscan-chromium-") as profile:
        proc = await asyncio.create_subprocess_exec(
            binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0", "about:blank", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)
        try:
            assert proc.stderr is not None
            seen = []
            while True:
                line = (await proc.stderr.readline()).decode(errors="replace")
                if not line:
                    raise AssertionError("chromium exited before DevTools listened:\n" + "".join(seen[-30:]))
                seen.append(line)
                m = re.search(r"DevTools listening on (ws://\S+)", line)
                if m:
                    break
            ids = itertools.count(1)
            async with aiohttp.ClientSession() as http, http.ws_connect(m.group(1), max_msg_size=0) as ws:
                events: list[dict] = []

                async def call(method: str, session: str | None = None, **params) -> dict:
                    n = next(ids)
                    msg: dict = {"id": n, "method": method, "params": params}
                    if session:
                        msg["sessionId"] = session
                    await ws.send_json(msg)
                    while True:
                        reply = await ws.receive_json()
                        if reply.get("id") == n:
                            assert "error" not in reply, (method, reply["error"])
                            return reply.get("result", {})
                        events.append(reply)

                async def until(event: str) -> None:
                    while not any(e.get("method") == event for e in events):
                        events.append(await ws.receive_json())

                target = (await call("Target.createTarget", url="about:blank"))["targetId"]
                sid = (await call("Target.attachToTarget", targetId=target, flatten=True))["sessionId"]
                await call("Emulation.setDeviceMetricsOverride", sid, width=size[0], height=size[1],
                           deviceScaleFactor=1, mobile=False)
                await call("Page.enable", sid)
                events.clear()
                nav = await call("Page.navigate", sid, url=url)
                assert not nav.get("errorText"), nav
                await until("Page.loadEventFired")
                result = await call("Runtime.evaluate", sid, expression=MEASURE_JS, returnByValue=True)
                assert "exceptionDetails" not in result, result["exceptionDetails"]
                measured = result["result"]["value"]
                if screenshot is not None:
                    height = size[1]
                    if full_page:
                        metrics = await call("Page.getLayoutMetrics", sid)
                        height = int(metrics["cssContentSize"]["height"] + 0.5)
                    shot = await call("Page.captureScreenshot", sid, format="png", captureBeyondViewport=full_page,
                                      clip={"x": 0, "y": 0, "width": size[0], "height": height, "scale": 1})
                    screenshot.write_bytes(base64.b64decode(shot["data"]))
                await call("Browser.close")
        finally:
            if proc.returncode is None:
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except asyncio.TimeoutError:
                    os.killpg(proc.pid, signal.SIGKILL)  # our own child's group only
                    await proc.wait()
    return PageView(measured, screenshot)
