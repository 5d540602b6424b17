"""Headless Chromium for the browser tests (test_web_*.py): where it is, how it starts, and a page whose
console errors and uncaught exceptions are collected (pages must stay silent)."""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("DDX7_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def sync_api():
    """playwright.sync_api, or skip the test where playwright or chromium is missing."""
    api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium, or set DDX7_CHROMIUM)")
    return api


def open_page(browser, path: Path, ready: str, messages: list | None = None, timeout: float = 30000, **options):
    """A new page of ``browser`` (``options``: new_page's, e.g. viewport) at ``path`` (file://) once the JS
    expression ``ready`` is true; console errors and warnings and uncaught exceptions go to ``messages``."""
    page = browser.new_page(**options)
    if messages is not None:
        page.on("console", lambda m: messages.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
    page.goto(Path(path).resolve().as_uri())
    page.wait_for_function(ready, timeout=timeout)
    return page
