"""The web pages in a real browser (Debian's Chromium, driven by Playwright) over a store the demo filled.

A copy of the run's one demo (shared with test_demo) and one `otel-mcp serve --transport streamable-http`
serve the whole module; each test opens its own browser context (its own cookies) and logs in through
the form as a person would.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.extension import ClientExtension
from mcp.client.streamable_http import streamable_http_client
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

from tests.support.ui_browser import (
    DEMO_AGENTS,
    DEMO_TASKS,
    TOKEN,
    DemoSite,
    SharedDemo,
    browser,
    chromium_or_fail_message,
    demo_site,
    host_bundle,
    log_in,
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, kept_demo: SharedDemo) -> Iterator[DemoSite]:
    problem = chromium_or_fail_message()
    if problem:
        pytest.fail(problem)  # CI installs both (.ci/run); a missing browser must not pass as green
    # A copy of the run's one kept demo (tests/e2e/conftest.py): this server may write to its store.
    with demo_site(tmp_path_factory.mktemp("ui-browser"), kept_demo.workspace) as running:
        yield running


@pytest.fixture(scope="module")
def chromium(site: DemoSite) -> Iterator[Any]:
    with browser() as b:
        yield b


@pytest.fixture
def page(chromium: Any, site: DemoSite) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    pg = context.new_page()
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    log_in(pg, site)
    pg.wait_for_selector("main[data-screen=now]")
    yield pg
    context.close()
    assert errors == [], f"the page reported errors: {errors}"


def test_the_first_screen_lists_each_demo_agent(page: Any) -> None:
    page.wait_for_selector("#agents .agent")
    shown = page.eval_on_selector_all("#agents .agent", "cards => cards.map(c => c.dataset.agent)")
    assert set(DEMO_AGENTS) <= set(shown)
    assert "last span" in page.inner_text("#agents")


def test_the_graph_shows_the_demos_tasks_in_their_final_states(page: Any, site: DemoSite) -> None:
    page.goto(site.pages + "#graph")
    page.wait_for_selector("#graph .node")
    states = dict(page.eval_on_selector_all("#graph .node", "ns => ns.map(n => [n.dataset.task, n.dataset.status])"))
    assert set(DEMO_TASKS) <= set(states)
    assert all(states[t] == "complete" for t in DEMO_TASKS)
    assert page.locator("#graph path.edge").count() >= 3  # release waits for test and scan; test for scan


def test_the_timeline_has_one_lane_per_demo_agent_with_checks_and_gate_decisions_marked(
    page: Any, site: DemoSite
) -> None:
    page.goto(site.pages + "#timeline")
    page.wait_for_selector("#timeline .lane")
    lanes = page.eval_on_selector_all("#timeline .lane", "ls => ls.map(l => l.dataset.agent)")
    assert sorted(lanes) == sorted(DEMO_AGENTS)
    assert page.locator("#timeline [data-kind=check]").count() >= 4
    assert page.locator("#timeline [data-kind=gate]").count() == 4
    # Zoom in with the wheel: the axis is redrawn for the narrower window.
    before = page.evaluate("document.querySelector('#timeline .axis').textContent")
    box = page.locator("#timeline").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(4):
        page.mouse.wheel(0, -200)
    page.wait_for_function("b => document.querySelector('#timeline .axis').textContent !== b", arg=before)
    # The window shown goes into the URL: the link opens on the same zoom.
    page.wait_for_function("() => location.hash.includes('from=') && location.hash.includes('to=')")
    zoomed = page.evaluate("document.querySelector('#timeline .axis').textContent")
    page.reload()
    page.wait_for_selector("#timeline .lane")
    assert page.evaluate("document.querySelector('#timeline .axis').textContent") == zoomed


def test_the_security_gate_shows_its_first_attempt_failure_and_the_failing_predicate(page: Any, site: DemoSite) -> None:
    page.goto(site.pages + "#gates")
    page.wait_for_selector(".gate[data-gate=security]")
    card = page.inner_text(".gate[data-gate=security]")
    assert "0%" in card and "(0/1)" in card and "vulnerabilities.high" in card
    failed = page.locator("#decisions tr", has_text="FAIL")
    assert failed.count() == 1
    row = failed.inner_text()
    assert "security" in row and "vulnerabilities.high" in row and "bandit" in row


def test_a_task_link_opens_its_trace_as_a_tree_with_attributes_on_demand(page: Any, site: DemoSite) -> None:
    page.goto(site.pages + "#trace?task=demo/calc")
    page.wait_for_selector("#trace .trace-row")
    assert page.locator("#trace .trace-row").count() >= 20
    first = page.locator("#trace .trace-row").first
    first.click()
    assert "task.summary" in first.inner_text()


def test_a_span_recorded_after_the_page_loaded_appears_within_two_seconds_without_a_reload(
    page: Any, site: DemoSite
) -> None:
    page.goto(site.pages + "#graph")
    page.wait_for_selector("#graph .node")
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads

    async def record() -> None:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        async with Client(streamable_http_client(site.mcp, http_client=http)) as client:
            done = await client.call_tool(
                "record_task", {"task_id": "live/after-load", "task_type": "docs", "status": "planned"}
            )
            assert not done.is_error

    # Playwright's sync API keeps an event loop on this thread: the agent's client runs on its own.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(anyio.run, record).result(timeout=60)
    recorded = time.monotonic()
    page.wait_for_selector('#graph .node[data-task="live/after-load"]', timeout=2000)
    assert time.monotonic() - recorded < 2.0
    assert page.evaluate("window.loadedOnce") is True


def test_a_wrong_token_gets_the_form_again_and_no_data(chromium: Any, site: DemoSite) -> None:
    context = chromium.new_context()
    try:
        pg = context.new_page()
        log_in(pg, site, token="not-a-token-of-this-server-00")
        assert "not one of this server" in pg.inner_text("body")
        assert pg.locator("#agents").count() == 0
        status = pg.evaluate("fetch('api/now').then(r => r.status)")
        assert status == 401
        assert context.cookies() == []
    finally:
        context.close()


def test_make_screenshots_writes_every_screen(tmp_path: Path, site: DemoSite, chromium: Any) -> None:
    # The code `make screenshots` runs (there with a demo and server of its own), so the step cannot rot unseen.
    from tests.support.ui_browser import screenshots

    written = screenshots(tmp_path / "shots", site, chromium)
    assert [p.name for p in written] == ["now.png", "graph.png", "timeline.png", "gates.png", "trace.png"]
    assert all(p.stat().st_size > 10_000 and p.read_bytes()[:4] == b"\x89PNG" for p in written)


class _AppsHost(ClientExtension):
    """What a host that renders MCP Apps advertises."""

    identifier = EXTENSION_ID

    def settings(self) -> dict[str, Any]:
        return {"mimeTypes": [APP_MIME_TYPE]}


def _as_host(site: DemoSite, work: Callable[[Client], Awaitable[Any]]) -> Any:
    """Run `work` with an MCP client that speaks for a host rendering MCP Apps, on a thread of its own."""

    async def session() -> Any:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        async with Client(streamable_http_client(site.mcp, http_client=http), extensions=[_AppsHost()]) as client:
            return await work(client)

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, session).result(timeout=60)


def test_the_mcp_app_view_shows_the_demos_agents_and_tasks_inside_an_app_bridge_host(
    chromium: Any, site: DemoSite, tmp_path_factory: pytest.TempPathFactory
) -> None:
    bundle = host_bundle(Path(os.environ.get("OTEL_MCP_TEST_NPM_CACHE", "/tmp/otel-mcp-test-host")))

    async def open_view(client: Client) -> tuple[str, dict[str, Any]]:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        uri = (tools["find_ready"].meta or {})["ui"]["resourceUri"]
        html = (await client.read_resource(uri)).contents[0].text  # type: ignore[union-attr]
        result = await client.call_tool("find_ready", {})
        return html, result.model_dump(mode="json", by_alias=True, exclude_none=True)

    html, result = _as_host(site, open_view)

    def call_server_tool(params: str) -> str:
        asked = json.loads(params)

        async def forward(client: Client) -> dict[str, Any]:
            answer = await client.call_tool(asked["name"], asked.get("arguments") or {})
            return answer.model_dump(mode="json", by_alias=True, exclude_none=True)

        return json.dumps(_as_host(site, forward))

    context = chromium.new_context(viewport={"width": 1200, "height": 800})
    try:
        page = context.new_page()
        page.expose_function("callServerTool", call_server_tool)
        page.set_content("<!doctype html><html><body><h1>test host</h1></body></html>")
        page.add_script_tag(path=str(bundle))
        page.evaluate("([html, result]) => window.startHost(html, result)", [html, result])
        view = page.frame_locator("#app")
        view.locator("#view[data-view=now]").wait_for(timeout=20_000)
        for agent in DEMO_AGENTS:
            assert view.locator(f'tr[data-agent="{agent}"]').count() == 1, agent
        view.locator("#tabs button[data-view=graph]").click()
        view.locator("#view[data-view=graph]").wait_for(timeout=20_000)
        for task in DEMO_TASKS:
            assert view.locator(f'tr[data-task="{task}"][data-status=complete]').count() == 1, task
        view.locator("#tabs button[data-view=gates]").click()
        assert "vulnerabilities.high" in view.locator('#view tr[data-gate="security"]').inner_text(timeout=20_000)
    finally:
        context.close()
