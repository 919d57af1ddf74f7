"""The console in a real headless Chromium over the emulated stack: the predict API serves it from its own
process, the ingest API (another process, another origin) takes the batch by CORS, real Pub/Sub push
carries it to the functions, and the correction goes back through the feedback topic."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import browser  # noqa: F401 (the fixture)
from tests.emulated_harness import EmulatedRun

pytestmark = pytest.mark.e2e

CSV = """subject,variance,skewness,curtosis,entropy
console-1,3.6216,8.6661,-2.8073,-0.44699
console-2,-1.3971,3.3191,-1.3927,-1.9948
console-3,4.5459,8.1674,-2.4586,-1.4621
"""


def test_sign_in_submit_watch_done_and_correct_over_the_emulated_stack(
    emulated: EmulatedRun,
    browser: Browser,  # noqa: F811
) -> None:
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(f"{emulated.stack.predict_url}/console/")
        page.get_by_label("API key").fill(emulated.api_key)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("link", name="Submit", exact=True).click()
        page.get_by_label("Rows").fill(CSV)
        expect(page.locator("#preview tbody tr")).to_have_count(3)
        page.get_by_role("button", name="Submit batch").click()
        page.wait_for_url(re.compile(r"#/batches/[0-9a-f]+-[0-9a-f]+$"))
        rows = page.locator("#results > tbody > tr.result")
        expect(rows).to_have_count(3, timeout=60_000)
        version = emulated.current_model()["version"]
        expect(page.locator(".facts")).to_contain_text(version)
        first = rows.first
        predicted = int(first.locator("td").nth(4).inner_text())
        first.get_by_role("combobox").select_option(str(1 - predicted))
        expect(first.locator(".rated")).to_have_text(f"corrected to {1 - predicted} · accepted")
        assert errors == []
    finally:
        context.close()
