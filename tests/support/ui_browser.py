"""A real browser on the web pages: Debian's Chromium driven by Playwright, against a store the demo filled.

Used by the browser tests and by `make screenshots` (`python -m tests.support.ui_browser OUTDIR`).
Playwright's own browser download is not needed: it drives the system's `chromium`.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.http_server import HttpServer, start_http_server

__all__ = [
    "CHROMIUM",
    "CHROMIUM_FLAGS",
    "DEMO_AGENTS",
    "DEMO_TASKS",
    "TOKEN",
    "DemoSite",
    "SharedDemo",
    "chromium_or_fail_message",
    "demo_site",
    "run_demo",
    "shared_demo",
]

REPO = Path(__file__).resolve().parent.parent.parent
CHROMIUM = os.environ.get("OTEL_MCP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "token-for-the-browser-test-0001"
DEMO_AGENTS = ("coder", "planner", "security", "tester")
DEMO_TASKS = (
    "demo/calc",
    "demo/calc/fix-1",
    "demo/calc/implement",
    "demo/calc/release",
    "demo/calc/scan",
    "demo/calc/test",
)


def chromium_or_fail_message() -> str | None:
    """None when the browser tests can run; else what to install."""
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM}: `apt-get install chromium` (.ci/run does), or set OTEL_MCP_CHROMIUM"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "Playwright for Python is missing: pip install -e '.[test]'"
    return None


def run_demo(workspace: Path) -> Path:
    """`otel-mcp demo --keep` into `workspace`; the store it filled."""
    done = subprocess.run(
        [sys.executable, "-m", "otel_mcp", "demo", "--keep", "--dir", str(workspace), "--timeout", "240"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    db = workspace / ".git" / "otel-mcp" / "telemetry.db"  # its agents' worktrees share the repository's store
    assert db.is_file()
    return db


@dataclass(frozen=True)
class SharedDemo:
    """A kept demo workspace and what `otel-mcp demo` printed while filling it."""

    workspace: Path
    stdout: str


def shared_demo(root: Path) -> SharedDemo:
    """`otel-mcp demo --dir ROOT/demo/ws` (COLUMNS=80, run from ROOT/demo) once for every process sharing `root`.

    A demo run costs tens of seconds of CPU; the CLI test reads its output and the browser tests its
    store, so xdist workers share one run: the first to ask runs it under a file lock, the others wait
    and read it. Readers must not write into the workspace (copy it first).
    """
    home = root / "demo"
    home.mkdir(parents=True, exist_ok=True)
    workspace, printed = home / "ws", home / "stdout.txt"
    with (root / "demo.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not printed.is_file():
            shutil.rmtree(workspace, ignore_errors=True)  # a run that failed before
            done = subprocess.run(
                [sys.executable, "-m", "otel_mcp", "demo", "--dir", str(workspace), "--timeout", "240"],
                env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "80"},
                capture_output=True,
                text=True,
                timeout=300,
                cwd=home,
            )
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
            printed.write_text(done.stdout)
    return SharedDemo(workspace, printed.read_text())


@dataclass
class DemoSite:
    server: HttpServer
    workspace: Path
    db: Path

    @property
    def pages(self) -> str:
        return f"http://{self.server.host}:{self.server.port}/ui/"

    @property
    def mcp(self) -> str:
        return self.server.url


@contextmanager
def demo_site(root: Path, filled: Path | None = None) -> Iterator[DemoSite]:
    """The demo's store behind `otel-mcp serve --transport streamable-http` with one token, pages at /ui/.

    `filled`: a kept demo workspace to copy instead of running the demo here.
    """
    workspace = root / "demo"
    if filled is None:
        db = run_demo(workspace)
    else:
        shutil.copytree(filled, workspace, symlinks=True)
        db = workspace / ".git" / "otel-mcp" / "telemetry.db"  # the demo keeps the repository's shared store
    tokens = root / "tokens.json"
    tokens.write_text(json.dumps({TOKEN: "supervisor"}))
    tokens.chmod(0o600)
    server = start_http_server(
        root,
        "--tokens-file",
        str(tokens),
        env={
            "OTEL_MCP_DB": str(db),
            "OTEL_MCP_GATES_DIR": str(workspace / "gates"),  # the demo's gates: its decisions are in force
            "OTEL_MCP_WORKSPACE": str(workspace),
        },
        timeout_s=60,
        fork=False,  # the browser tests are end-to-end: the server is started as a deployment starts it
    )
    try:
        yield DemoSite(server, workspace, db)
    finally:
        server.stop()


@contextmanager
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()


def log_in(page: Any, site: DemoSite, token: str = TOKEN) -> None:
    page.goto(site.pages)
    page.fill("input[name=token]", token)
    with page.expect_navigation():
        page.click("button[type=submit]")


def screenshots(out: Path, site: DemoSite, chromium: Any) -> list[Path]:
    """Every screen of the site as a PNG under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    context = chromium.new_context(viewport={"width": 1400, "height": 860})
    try:
        page = context.new_page()
        log_in(page, site)
        for name, hash_ in (
            ("now", "now"),
            ("graph", "graph"),
            ("timeline", "timeline"),
            ("gates", "gates"),
            ("trace", "trace?task=demo/calc"),
        ):
            page.goto(site.pages + "#" + hash_)
            page.wait_for_selector(f"main[data-screen={name}]")
            page.wait_for_timeout(300)
            path = out / f"{name}.png"
            page.screenshot(path=str(path), full_page=True)
            written.append(path)
    finally:
        context.close()
    return written


def _main(target: Path) -> None:
    import tempfile

    shutil.rmtree(target, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="otel-mcp-shots-") as tmp, demo_site(Path(tmp)) as site, browser() as b:
        for shot in screenshots(target, site, b):
            print(shot)


if __name__ == "__main__":
    problem = chromium_or_fail_message()
    if problem:
        sys.exit(f"screenshots: {problem}")
    _main(Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots"))


# -- a host page for the MCP App view, built on ext-apps' app-bridge -------------------------------------

HOST_PACKAGES = (
    "@modelcontextprotocol/ext-apps@2.0.4",
    "@modelcontextprotocol/client@2",
    "@modelcontextprotocol/core@2",
    "zod@4",
    "esbuild@0.28",
)
HOST_ENTRY = """\
import { AppBridge, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";
// What a chat host does with a tool whose _meta.ui.resourceUri names a view: render the resource in a
// sandboxed iframe, hand it the tool's result, and carry its tools/call requests to the server.
window.startHost = async (html, toolResult) => {
  const iframe = document.createElement("iframe");
  iframe.id = "app";
  iframe.setAttribute("sandbox", "allow-scripts");
  iframe.style.cssText = "width:100%;height:640px;border:1px solid #ccc";
  document.body.append(iframe);
  const bridge = new AppBridge(null, { name: "otel-mcp-test-host", version: "1.0.0" }, { serverTools: {} });
  bridge.oncalltool = async (params) => JSON.parse(await window.callServerTool(JSON.stringify(params)));
  bridge.oninitialized = () => bridge.sendToolResult(toolResult);
  // Listen first: the view says ui/initialize as soon as its script runs.
  await bridge.connect(new PostMessageTransport(iframe.contentWindow, iframe.contentWindow));
  iframe.srcdoc = html;
};
"""


def host_bundle(cache: Path) -> Path:
    """The host page's script: app-bridge and its dependencies bundled into one file (npm + esbuild, cached)."""
    bundle = cache / "host.bundle.js"
    if bundle.is_file():
        return bundle
    npm = shutil.which("npm")
    assert npm, "the MCP App host test needs npm (Node.js): apt-get install npm (.ci/run does)"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "package.json").write_text('{"name": "otel-mcp-test-host", "private": true}')
    (cache / "host.js").write_text(HOST_ENTRY)
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--silent", *HOST_PACKAGES], cwd=cache, check=True, timeout=600
    )
    subprocess.run(
        [
            str(cache / "node_modules" / ".bin" / "esbuild"),
            "host.js",
            "--bundle",
            "--format=iife",
            "--outfile=host.tmp.js",
        ],
        cwd=cache,
        check=True,
        timeout=120,
    )
    (cache / "host.tmp.js").rename(bundle)
    return bundle
