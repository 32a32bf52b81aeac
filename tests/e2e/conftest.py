"""Browser tests: Playwright drives Debian's chromium against the real ASGI app (HTTP and
WebSocket) served by uvicorn in a thread of the pytest process.

The server shares this process, so the in-memory channel layer carries broadcasts between the
views and the consumers as it does under `make run`, and it talks to the test database. Tests see
committed data only: the server fixture asks for `transactional_db`.

    def test_something(new_page):
        page = new_page()
        page.goto("/")  # relative to the live server (`asgi_server`)

When a test fails, every page it opened is saved (a screenshot, its HTML and its console) under
tests/e2e/artifacts/ (or EUREKA_E2E_ARTIFACTS).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright._impl import _sync_base
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from tests.factories import PASSWORD

CHROMIUM = os.environ.get("EUREKA_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(
    os.environ.get("EUREKA_E2E_ARTIFACTS", Path(__file__).resolve().parent / "artifacts")
)
# Every wait in these tests is bounded: a page that does not show what it should within this
# many milliseconds fails the test instead of hanging it.
TIMEOUT_MS = 5_000
SERVER_START_S = 10.0
SERVER_STOP_S = 10.0

expect.set_options(timeout=TIMEOUT_MS)

# Notes the type of every JSON frame the page's WebSockets receive. The TA chat joins the
# conversation's broadcasts before the server sends it the history, so once a "history" frame is
# in, anything broadcast to the conversation reaches this page.
SOCKET_WATCH = """
(() => {
  const Native = window.WebSocket;
  window.__e2eFrames = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        try { window.__e2eFrames.push(JSON.parse(event.data).type); } catch (e) {}
      });
    }
  };
})();
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is a browser test (marker `e2e`)."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.e2e)
            # WhiteNoise answers static files with a synchronous iterator, which Django's ASGI
            # handler warns about on every file; it still serves them.
            item.add_marker(
                pytest.mark.filterwarnings(
                    "ignore:StreamingHttpResponse must consume synchronous iterators"
                )
            )


class LiveServer:
    """uvicorn serving `eureka.asgi.application` on a loopback port, in a daemon thread."""

    def __init__(self) -> None:
        from eureka.asgi import application

        # The socket is bound here and handed to uvicorn, so no other process can take the port
        # between choosing it and serving on it.
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            application,
            lifespan="off",  # Channels' router has no lifespan handler
            log_level="warning",
            timeout_graceful_shutdown=int(SERVER_STOP_S / 2),
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run,
            kwargs={"sockets": [self.socket]},
            name=f"e2e-live-server-{port}",
            daemon=True,
        )

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + SERVER_START_S
        while not self.server.started:
            if not self.thread.is_alive():
                pytest.fail("the live server thread stopped while starting (see its log above)")
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the live server did not start within {SERVER_START_S:.0f} s")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop serving and wait for the thread: open WebSockets are closed, and requests and
        consumers in flight finish before the test database is flushed."""
        self.server.should_exit = True
        self.thread.join(SERVER_STOP_S)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(SERVER_STOP_S)
        self.socket.close()
        if self.thread.is_alive():
            pytest.fail(f"the live server did not stop within {2 * SERVER_STOP_S:.0f} s")


@pytest.fixture
def asgi_server(transactional_db: None) -> Iterator[LiveServer]:
    """The app served on a free loopback port for one test, against the test database."""
    server = LiveServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def playwright_sync_api() -> Iterator[Playwright]:
    """Playwright's sync API that leaves this thread to Django and pytest between its calls.

    Between sync calls Playwright marks its event loop as running in the calling thread (its
    dispatcher runs the loop in a greenlet). Django would then refuse the ORM in the tests
    (SynchronousOnlyOperation), asgiref its async_to_sync, and pytest-asyncio its loops, in these
    and in every later test of the session. So the mark is set only while a call waits on the
    loop, and the thread is left as it was found otherwise.
    """
    wait = _sync_base.wait_for_future

    def wait_and_leave(loop: asyncio.AbstractEventLoop, fiber: Any, future: Any) -> None:
        found = asyncio._get_running_loop()
        asyncio._set_running_loop(loop)
        try:
            wait(loop, fiber, future)
        finally:
            asyncio._set_running_loop(found)

    manager = sync_playwright()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_sync_base, "wait_for_future", wait_and_leave)
        playwright = manager.__enter__()
        loop = asyncio._get_running_loop()
        asyncio._set_running_loop(None)
        try:
            yield playwright
        finally:
            asyncio._set_running_loop(loop)
            try:
                manager.__exit__(None, None, None)
            finally:
                asyncio._set_running_loop(None)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless chromium for the whole session. Its absence fails the tests: CI installs it."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"The browser tests need Debian's chromium at {CHROMIUM} (or set EUREKA_CHROMIUM). "
            "Install it with `apt-get install chromium`, or run `.ci/run`, which installs it."
        )
    with playwright_sync_api() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, timeout=30_000)
        except Error as error:
            pytest.fail(f"chromium at {CHROMIUM} did not start: {error}")
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Opened:
    """The browser contexts one test opened, and what their pages wrote to the console."""

    contexts: list[BrowserContext] = field(default_factory=list)
    console: dict[Page, list[str]] = field(default_factory=dict)


OPENED = pytest.StashKey[Opened]()


@pytest.fixture
def new_context(
    request: pytest.FixtureRequest, browser: Browser, asgi_server: LiveServer
) -> Iterator[Callable[[], BrowserContext]]:
    """A factory of fresh browser contexts (separate cookies: one per person), each pointed at
    the live server; all are closed at the end of the test."""
    opened = Opened()
    request.node.stash[OPENED] = opened

    def make() -> BrowserContext:
        context = browser.new_context(base_url=asgi_server.url)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        context.add_init_script(SOCKET_WATCH)

        def watch(page: Page) -> None:
            lines = opened.console.setdefault(page, [])

            def on_console(message: ConsoleMessage) -> None:
                lines.append(f"[{message.type}] {message.text}")

            page.on("console", on_console)
            page.on("pageerror", lambda error: lines.append(f"[pageerror] {error}"))

        context.on("page", watch)
        opened.contexts.append(context)
        return context

    yield make
    for context in opened.contexts:
        context.close()
    # The Content Security Policy must cost the pages nothing: chromium reports each thing it
    # blocked (an inline script or style, a connection elsewhere) on the console.
    blocked = [
        line
        for lines in opened.console.values()
        for line in lines
        if "Content Security Policy" in line
    ]
    if blocked:
        pytest.fail("the page broke the Content Security Policy:\n" + "\n".join(blocked))


@pytest.fixture
def new_page(new_context: Callable[[], BrowserContext]) -> Callable[[], Page]:
    """A factory of pages, each in its own browser context."""

    def make() -> Page:
        return new_context().new_page()

    return make


def log_in(page: Page, login: str, password: str = PASSWORD) -> None:
    """Log in through allauth's real login page; ends on the page it redirects to."""
    page.goto("/accounts/login/")
    page.get_by_label(re.compile(r"^(Username or email|Login)", re.I)).fill(login)
    page.get_by_label(re.compile(r"^Password", re.I)).fill(password)
    page.get_by_role("button", name=re.compile(r"sign in|log in", re.I)).click()
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))


def wait_for_chat(page: Page) -> None:
    """Wait until the page's TA chat is connected and has its history."""
    page.wait_for_function("() => window.__e2eFrames.includes('history')", timeout=TIMEOUT_MS)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    opened = item.stash.get(OPENED, None)
    if report.failed and report.when in ("setup", "call") and opened is not None:
        folder = _save_pages(item, opened)
        report.sections.append(("e2e artifacts", f"the pages are saved under {folder}"))
    return report


def _save_pages(item: pytest.Item, opened: Opened) -> Path:
    """A screenshot, the HTML and the console of every page still open, named after the test."""
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", item.nodeid)
    shutil.rmtree(folder, ignore_errors=True)  # an earlier failure's pages would mislead
    folder.mkdir(parents=True)
    for c, context in enumerate(opened.contexts):
        for p, page in enumerate(context.pages):
            stem = folder / f"context{c}-page{p}"
            try:
                page.screenshot(path=f"{stem}.png", full_page=True, timeout=TIMEOUT_MS)
                Path(f"{stem}.html").write_text(page.content(), encoding="utf-8")
            except Error as error:
                Path(f"{stem}.error.txt").write_text(str(error), encoding="utf-8")
            lines = [f"url: {page.url}", *opened.console.get(page, [])]
            Path(f"{stem}.console.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder
