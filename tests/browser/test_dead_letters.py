"""Dead letters in the console: a batch whose prediction request is dead-lettered shows `failed` with
the reason; an operator replays it from the Dead letters page and the batch turns done; a plain key
sees no such page and the API refuses it."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import OPERATOR_KEY, USER_KEY, Stack, Watched, shot, sign_in
from tests.browser.test_console import CSV, only_our_origins, submit_csv


def test_a_poison_batch_fails_and_an_operator_replays_it(
    watched: Watched, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable() -> Any:
        raise RuntimeError("model store unreachable")

    # Every delivery of the request fails until the bus gives up on it.
    monkeypatch.setattr(stack.container.models, "current", unreachable)
    page = watched.page
    sign_in(page, stack, USER_KEY)
    batch_id = submit_csv(page, CSV)
    expect(page.locator(".facts .badge")).to_have_text("failed", timeout=30_000)
    expect(page.locator("#failure-reason")).to_contain_text("model store unreachable")
    expect(page.locator("#failure-reason")).to_contain_text("dead-lettered after 2 attempts")
    shot(page, "batch-failed")
    page.get_by_role("link", name="Batches", exact=True).click()
    row = page.locator("#batches tbody tr", has=page.get_by_role("link", name=f"Batch {batch_id}"))
    expect(row.locator(".badge")).to_have_text("failed")
    expect(row.locator(".reason")).to_contain_text("model store unreachable")
    # A plain key has no Dead letters page.
    expect(page.get_by_role("link", name="Dead letters")).to_have_count(0)
    monkeypatch.undo()  # the cause is fixed

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, stack, OPERATOR_KEY)
    page.get_by_role("link", name="Dead letters", exact=True).click()
    letter = page.locator("#dead-letters tbody tr", has_text=batch_id[:12])
    expect(letter).to_contain_text("prediction-requests")
    expect(letter).to_contain_text("model store unreachable")
    shot(page, "dead-letters")
    letter.get_by_role("button", name="Replay").click()
    expect(page.get_by_text("requested; it goes back to prediction-requests")).to_be_visible()
    expect(page.locator("#dead-letters tbody tr", has_text=batch_id[:12])).to_have_count(0, timeout=30_000)
    page.goto(f"{stack.console_url}#/batches/{batch_id}")
    expect(page.locator(".facts .badge").first).to_have_text("done", timeout=30_000)
    assert stack.container.dead_letters.list_dead_letters() == []
    only_our_origins(watched, stack)


def test_a_plain_key_cannot_list_or_replay_dead_letters(watched: Watched, stack: Stack) -> None:
    page = watched.page
    sign_in(page, stack, USER_KEY)
    page.goto(f"{stack.console_url}#/dead-letters")
    expect(page.get_by_text("Dead letters need an API key with the operator role.")).to_be_visible()
    answers = page.evaluate(
        """async (key) => {
            const list = await fetch('/v1/dead-letters', {headers: {'X-API-Key': key}});
            const replay = await fetch('/v1/dead-letters/some-id/replay',
              {method: 'POST', headers: {'X-API-Key': key}});
            return [list.status, (await list.json()).detail, replay.status];
        }""",
        USER_KEY,
    )
    assert answers[0] == 403
    assert "operator role" in answers[1]
    assert answers[2] == 403
