"""The API reference at /docs: Swagger UI over both APIs' documents, its assets served by the project,
and a signed-in user's key filled in so "Try it out" works."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import USER_KEY, Stack, Watched, shot, sign_in
from tests.browser.test_console import only_our_origins


def test_docs_render_both_apis_and_a_signed_in_user_can_try_a_call(watched: Watched, stack: Stack) -> None:
    page = watched.page
    sign_in(page, stack, USER_KEY)
    page.get_by_role("link", name="API reference").click()
    expect(page.get_by_text("svmflow predict API")).to_be_visible()
    expect(page.locator("#docs-auth")).to_contain_text("Signed in")
    operation = page.locator("#operations-default-get_v1_me")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    with page.expect_response(re.compile(r"/v1/me$")) as answer:
        operation.get_by_role("button", name="Execute").click()
    assert answer.value.status == 200
    live = operation.locator(".live-responses-table")
    expect(live).to_contain_text('"role": "user"')
    expect(live.locator("tbody .response-col_status").first).to_contain_text("200")
    shot(page, "docs")

    page.locator("select#select").select_option(label="ingest API")
    expect(page.get_by_text("svmflow ingest API")).to_be_visible()
    only_our_origins(watched, stack)
