"""Real Chromium (Debian's /usr/bin/chromium) driving web/ against the local host and the simulator.

Playwright's own browser download cannot work here, so `tests/browser/setup.sh` installs
Debian's Chromium; without it every test here skips, saying why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import ROOT, Host, Simulator, host_env, start_host, start_simulator, stop

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
WEB_SOURCE = ROOT / "web"
WEB = WEB_SOURCE / "dist"  # what is served and deployed: `npm run build` in web/


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists() and {"browser", "page", "context"} & set(getattr(item, "fixturenames", ())):
                item.add_marker(
                    pytest.mark.skip(
                        reason=f"BROWSER TESTS SKIPPED: {CHROMIUM} is missing; run `bash tests/browser/setup.sh` "
                        "(installs Debian's chromium, fonts-noto-cjk, fonts-noto-color-emoji)"
                    )
                )


@pytest.fixture(scope="session")
def sim() -> Iterator[Simulator]:
    started = start_simulator("--ttft-ms", "30", "--token-ms", "5", "--tokens", "30", "--api-key", "sim-key")
    yield started
    stop(started.process)


def build_web() -> None:
    """Build web/dist from the sources, as `make web` does, so a test never sees a stale page."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: the web chat is built with Node.js (see docs/web.md)")
    installed = WEB_SOURCE / "node_modules" / ".package-lock.json"  # npm writes it on every install
    if not installed.exists() or installed.stat().st_mtime < (WEB_SOURCE / "package-lock.json").stat().st_mtime:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=WEB_SOURCE, check=True)
    subprocess.run(["npm", "run", "--silent", "build"], cwd=WEB_SOURCE, check=True, stdout=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def host(sim: Simulator) -> Iterator[Host]:
    build_web()
    started = start_host(host_env(sim), "--web", str(WEB))
    yield started
    stop(started.process)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    created = browser.new_context(viewport={"width": 1100, "height": 800}, locale="en-US")
    yield created
    created.close()


@pytest.fixture
def page(context: Any) -> Any:
    created = context.new_page()
    errors: list[str] = []
    created.on("pageerror", lambda error: errors.append(str(error)))
    created.page_errors = errors
    return created


def swa_headers() -> dict[str, str]:
    """The headers Static Web Apps adds to every response, from web/staticwebapp.config.json."""
    config = json.loads((WEB_SOURCE / "staticwebapp.config.json").read_text(encoding="utf-8"))
    return config["globalHeaders"]
