"""The console in a real browser: sign in, submit a CSV, watch it turn done, correct labels, see the
retraining job and the model history, and the refusals."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Page, expect

from svmflow import operations
from tests.browser.conftest import (
    OPERATOR_KEY,
    RETRAIN_AFTER,
    USER_KEY,
    Stack,
    Watched,
    drift_report,
    serve_drift,
    shot,
    sign_in,
)

GENUINE = [3.6216, 8.6661, -2.8073, -0.44699]
FORGED = [-1.3971, 3.3191, -1.3927, -1.9948]
CSV = "\n".join(
    ["subject,variance,skewness,curtosis,entropy"]
    + [f"note-{i},{','.join(map(str, GENUINE if i % 2 else FORGED))}" for i in range(1, 7)]
)


def distinct_csv(prefix: str) -> str:
    """Six notes with six different feature vectors: the training data keys a label by its vector, so
    rating the same vector again is no new label."""
    rows = [
        [x + i * 0.001 for x in (GENUINE if i % 2 else FORGED)]  # a scanner's noise in the last digits
        for i in range(1, 7)
    ]
    return "\n".join(
        ["subject,variance,skewness,curtosis,entropy"]
        + [f"{prefix}{i},{','.join(map(str, row))}" for i, row in enumerate(rows, 1)]
    )


def only_our_origins(watched: Watched, stack: Stack) -> None:
    allowed = {urlsplit(stack.ingest_url).netloc, urlsplit(stack.predict_url).netloc}
    elsewhere = [
        u for u in watched.requests if urlsplit(u).scheme != "data" and urlsplit(u).netloc not in allowed
    ]
    assert elsewhere == []
    assert [e for e in watched.errors if "Content Security Policy" in e] == []


def submit_csv(page: Page, text: str) -> str:
    page.get_by_role("link", name="Submit", exact=True).click()
    page.get_by_label("Rows").fill(text)
    expect(page.get_by_role("heading", name=re.compile(r"Will send \d+ row"))).to_be_visible()
    page.get_by_role("button", name="Submit batch").dblclick()
    page.wait_for_url(re.compile(r"#/batches/[0-9a-f]+-[0-9a-f]+$"))
    return page.url.rsplit("/", 1)[1]


def test_a_wrong_key_is_refused_with_a_clear_message(watched: Watched, stack: Stack) -> None:
    page = watched.page
    page.goto(stack.console_url)
    page.get_by_label("API key").fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text(re.compile("API key was not accepted"))
    assert page.evaluate("sessionStorage.getItem('svmflow.apiKey')") is None
    shot(page, "sign-in-refused")
    only_our_origins(watched, stack)


def test_submit_a_csv_watch_it_turn_done_and_correct_a_label(watched: Watched, stack: Stack) -> None:
    page = watched.page
    sign_in(page, stack, USER_KEY)
    page.get_by_role("link", name="Submit", exact=True).click()
    page.get_by_label("Rows").fill(CSV)
    expect(page.locator("#preview tbody tr")).to_have_count(6)
    shot(page, "submit")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.get_by_role("button", name="Submit batch").dblclick()
    page.wait_for_url(re.compile(r"#/batches/[0-9a-f]+-[0-9a-f]+$"))
    batch_id = page.url.rsplit("/", 1)[1]
    assert len(posts) == 1  # a double click sends once

    expect(page.locator("#results > tbody > tr.result")).to_have_count(6)
    expect(page.get_by_text("done", exact=True).first).to_be_visible()
    first = page.locator("#results > tbody > tr.result").first
    expect(first.locator("td").first).to_have_text("3.6216")  # the features this tab sent
    predicted = int(first.locator("td").nth(4).inner_text())
    first.get_by_role("combobox").select_option(str(1 - predicted))
    expect(first.locator(".rated")).to_have_text(f"corrected to {1 - predicted} · accepted")
    expect(first.locator("td.training")).to_have_text(re.compile(rf"^label {1 - predicted} since "))
    shot(page, "batch")

    page.get_by_role("link", name="Batches", exact=True).click()
    expect(page.locator("#batches tbody tr", has_text=batch_id[:12])).to_be_visible()
    page.get_by_label("Filter").fill("no-such-thing")
    expect(page.get_by_text("No batch matches the filter.")).to_be_visible()
    page.get_by_label("Filter").fill("")
    only_our_origins(watched, stack)


def test_new_batches_appear_in_the_list_without_a_reload(watched: Watched, stack: Stack) -> None:
    page = watched.page
    sign_in(page, stack, USER_KEY)
    page.get_by_role("link", name="Batches", exact=True).click()
    before = page.locator("#batches tbody tr").count()
    # Submitted by another client while the list is open.
    import httpx2

    response = httpx2.post(
        f"{stack.ingest_url}/v1/batches",
        json={"subjects": ["live-1"], "features": [GENUINE]},
        headers={"X-API-Key": USER_KEY},
    )
    assert response.status_code == 202
    batch_id = response.json()["batch_id"]
    expect(page.locator("#batches tbody tr", has_text=batch_id[:12])).to_be_visible()
    assert page.locator("#batches tbody tr").count() >= before
    shot(page, "batches")


def test_a_bad_csv_is_named_and_nothing_is_sent(watched: Watched, stack: Stack) -> None:
    page = watched.page
    sign_in(page, stack, USER_KEY)
    page.get_by_role("link", name="Submit", exact=True).click()
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.get_by_label("Rows").fill("a,1,2,3,4\nb,1,two,3,4\nc,1,2")
    alert = page.locator("#errors")
    expect(alert).to_contain_text("Line 2, skewness: “two” is not a finite number.")
    expect(alert).to_contain_text("Line 3: 3 values, expected 4")
    expect(page.get_by_role("button", name="Submit batch")).to_be_disabled()
    page.get_by_label("Rows").fill("subject,variance,skewness\nx,1,2")
    expect(alert).to_contain_text("no column for curtosis, entropy")
    shot(page, "submit-refused")
    assert posts == []


def test_corrections_start_a_retraining_that_shows_in_jobs_and_models(watched: Watched, stack: Stack) -> None:
    page = watched.page
    sign_in(page, stack, USER_KEY)
    page.get_by_role("link", name="Jobs", exact=True).click()
    expect(page.locator("#jobs tbody tr")).to_have_count(1)
    submit_csv(page, distinct_csv("retrain-"))
    expect(page.locator("#results > tbody > tr.result")).to_have_count(6)
    page.get_by_role("button", name="Confirm every predicted label").click()
    expect(page.get_by_text(re.compile(r"6 rating\(s\) accepted"))).to_be_visible()
    assert RETRAIN_AFTER <= 6
    page.get_by_role("link", name="Jobs", exact=True).click()
    expect(page.locator("#jobs tbody tr")).to_have_count(2, timeout=60_000)
    expect(page.locator("#jobs tbody tr").first).to_contain_text(re.compile("promoted|rejected"))
    shot(page, "jobs")
    current = stack.container.read_model.current_model()
    assert current is not None
    serve_drift(page, drift_report(current.version))  # the drift monitor is not served here
    page.get_by_role("link", name="Models", exact=True).click()
    expect(page.locator("#timeline > li")).to_have_count(2)
    expect(page.locator("#current")).to_contain_text("In production")
    expect(page.locator("#accuracy-table tbody tr").first).to_be_attached()
    expect(page.locator("#drift-table tbody tr")).to_have_count(4)
    shot(page, "models")


def test_an_operator_rolls_back_and_the_history_shows_it(watched: Watched, stack: Stack) -> None:
    # A second stored version to serve instead of the current one (the gate promotes or rejects it).
    operations.train(stack.container)
    stack.bus.drain(timeout=60)
    current = stack.container.read_model.current_model()
    assert current is not None
    others = [v.version for v in stack.container.read_model.model_versions(50)]
    target = next(v for v in others if v != current.version)

    page = watched.page
    sign_in(page, stack, OPERATOR_KEY)
    expect(page.locator(".who .role")).to_have_text("operator")
    page.get_by_role("link", name="Models", exact=True).click()
    expect(page.locator("#current")).to_contain_text(current.version)
    entry = page.locator("#timeline > li", has_text=target)
    entry.get_by_role("button", name="Roll back to this version").click()
    entry.get_by_role("button", name=f"Confirm: serve {target} again").click()
    expect(page.locator("#rollback-outcome")).to_contain_text(f"Rollback to {target} requested")
    expect(page.locator("#current")).to_contain_text(target, timeout=60_000)
    expect(page.locator("#current")).to_contain_text("rolled_back")
    shot(page, "models-operator")
    page.get_by_role("link", name="Jobs", exact=True).click()
    expect(page.locator("#jobs tbody tr").first).to_contain_text("rolled_back")
    assert stack.container.registry.pointer()[0].version == target


def test_operator_only_actions_are_refused_with_a_plain_key(watched: Watched, stack: Stack) -> None:
    page = watched.page
    sign_in(page, stack, USER_KEY)
    page.get_by_role("link", name="Models", exact=True).click()
    expect(page.locator("#timeline > li").first).to_be_visible()
    expect(page.get_by_role("button", name="Roll back to this version")).to_have_count(0)
    expect(page.get_by_text("Rolling back needs an API key with the operator role.")).to_be_visible()
    # The API refuses it too, whatever a page shows.
    status, detail = page.evaluate(
        """async (key) => {
            const r = await fetch('/v1/models/rollback', {method: 'POST',
              headers: {'X-API-Key': key, 'Content-Type': 'application/json'}, body: '{}'});
            return [r.status, (await r.json()).detail];
        }""",
        USER_KEY,
    )
    assert status == 403
    assert "operator role" in detail


def test_on_a_phone_the_pages_fit_the_screen_and_work_by_keyboard(browser: Browser, stack: Stack) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(stack.console_url)
        # Keyboard only: the key field has focus, Enter signs in.
        page.keyboard.type(USER_KEY)
        page.keyboard.press("Enter")
        page.get_by_role("button", name="Sign out").wait_for()
        views = (
            ("#/batches", "#batches tbody tr", "batches-phone"),
            ("#/models", "#timeline > li", "models-phone"),
        )
        for view, content, name in views:
            page.goto(f"{stack.console_url}{view}")
            page.locator(content).first.wait_for()
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{view} is wider than the phone's screen by {overflow}px"
            shot(page, name)
    finally:
        context.close()
