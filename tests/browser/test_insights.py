"""The console's views of what the system learned: live accuracy per version with its interval, drift
per feature, each record's explanation, and a correction followed into the training data."""

from __future__ import annotations

import re
from typing import Any

import httpx2
import msgspec
from playwright.sync_api import Page, expect

from api.models import ModelDrift
from svmflow.domain.drift_windows import DriftView
from tests.browser.conftest import (
    USER_KEY,
    Stack,
    Watched,
    drift_report,
    no_drift_yet,
    serve_drift,
    shot,
    sign_in,
)

GENUINE = [3.6216, 8.6661, -2.8073, -0.44699]
FORGED = [-1.3971, 3.3191, -1.3927, -1.9948]
AUTH = {"X-API-Key": USER_KEY}
MINUS = "\N{MINUS SIGN}"  # the console writes negative contributions with it


def submit_elsewhere(stack: Stack, subjects: list[str], features: list[list[float]]) -> dict[str, Any]:
    """A batch from another client than the console, predicted before it returns."""
    response = httpx2.post(
        f"{stack.ingest_url}/v1/batches", json={"subjects": subjects, "features": features}, headers=AUTH
    )
    assert response.status_code == 202, response.text
    stack.bus.drain(timeout=60)
    done = httpx2.get(f"{stack.predict_url}/v1/batches/{response.json()['batch_id']}", headers=AUTH)
    assert done.status_code == 200, done.text
    return done.json()  # type: ignore[no-any-return]


def no_policy_violation(watched: Watched) -> None:
    """The charts and bars are drawn within the Content-Security-Policy: no inline style or script."""
    assert [e for e in watched.errors if "Content Security Policy" in e] == []


def result_rows(page: Page) -> Any:
    return page.locator("#results > tbody > tr.result")


def test_live_accuracy_per_version_is_a_chart_with_intervals_and_a_table(
    watched: Watched, stack: Stack
) -> None:
    # One vector rated five times: five labels for the version's accuracy, one row of training data
    # at most (a retraining needs more).
    batch = submit_elsewhere(stack, [f"acc-{i}" for i in range(5)], [GENUINE] * 5)
    rated = httpx2.patch(
        f"{stack.predict_url}/v1/batches/{batch['batch_id']}",
        json={"subjects": [r["subject"] for r in batch["results"]], "ratings": [1, 1, 1, 1, 0]},
        headers=AUTH,
    )
    assert rated.status_code == 202
    stack.bus.drain(timeout=60)
    version = batch["model_version"]
    figures = httpx2.get(f"{stack.predict_url}/v1/models/{version}/performance", headers=AUTH).json()
    accuracy = figures["overall"]["accuracy"]
    assert figures["overall"]["labels"] >= 5

    page = watched.page
    serve_drift(page, None)
    sign_in(page, stack, USER_KEY)
    page.get_by_role("link", name="Models", exact=True).click()
    chart = page.get_by_role("img", name="Live accuracy per version")
    expect(chart).to_be_visible()
    expect(chart.locator("circle.point").first).to_be_visible()
    # The table says in words what the chart draws: the figures the API serves for the version.
    row = page.locator("#accuracy-table tbody tr", has_text=version)
    expect(row.locator("td").nth(0)).to_have_text(f"{accuracy['value'] * 100:.1f}%")
    expect(row.locator("td").nth(1)).to_have_text(
        f"{accuracy['low'] * 100:.1f}% to {accuracy['high'] * 100:.1f}%"
    )
    expect(row.locator("td").nth(2)).to_have_text(str(figures["overall"]["labels"]))
    # The interval bar spans low to high around the point, on the chart's own scale.
    line = chart.locator("g.row", has_text=version).locator("line.ci").first
    circle = chart.locator("g.row", has_text=version).locator("circle.point")
    x1, x2, cx = (
        float((element.get_attribute(name) or "nan").removesuffix("%"))
        for element, name in ((line, "x1"), (line, "x2"), (circle, "cx"))
    )
    assert x1 < cx < x2 if accuracy["low"] < accuracy["value"] < accuracy["high"] else x1 <= cx <= x2
    expect(chart.locator("g.row", has_text=version)).to_contain_text(f"{figures['overall']['labels']} labels")
    no_policy_violation(watched)


def test_drift_per_feature_is_shown_for_the_version_in_production(watched: Watched, stack: Stack) -> None:
    current = stack.container.read_model.current_model()
    assert current is not None
    # The figures of three closed windows go into the read model the drift monitor projects into, so
    # the console reads them through the real route; a higher revision than the monitor's own wins.
    read_model = stack.container.read_model
    projected = read_model.drift_json(current.version)
    revision = 0 if projected is None else msgspec.json.decode(projected, type=DriftView).revision
    figures = msgspec.convert(drift_report(current.version), ModelDrift)
    assert read_model.put_drift(msgspec.structs.replace(figures, revision=revision + 1))
    page = watched.page
    sign_in(page, stack, USER_KEY)
    page.get_by_role("link", name="Models", exact=True).click()
    table = page.locator("#drift-table")
    expect(table.locator("tbody tr")).to_have_count(4)
    expect(page.locator("#drift-status")).to_have_text("drifted")
    variance = table.locator("tbody tr", has_text="variance")
    expect(variance).to_contain_text("0.412")
    expect(variance).to_contain_text("< 0.0001")
    expect(variance.locator(".badge")).to_have_text("drifted")
    expect(table.locator("tbody tr", has_text="skewness").locator(".badge")).to_have_text("stable")
    expect(table.locator("tbody tr", has_text="entropy")).to_contain_text("—")  # no p-value
    expect(page.locator("#drift")).to_contain_text("212 of 500 records in the open window; 3 windows tested")
    asked = [url for url in watched.requests if url.endswith("/drift")]
    assert asked
    assert asked[0].endswith(f"/v1/models/{current.version}/drift")
    # A longer PSI bar for a larger PSI.
    widths = [
        float(table.locator("tbody tr", has_text=name).locator("rect.fill").get_attribute("width") or "nan")
        for name in ("variance", "curtosis", "skewness")
    ]
    assert widths == sorted(widths, reverse=True)
    shot(page, "models-drift")
    no_policy_violation(watched)


def test_a_version_without_drift_data_says_so(watched: Watched, stack: Stack) -> None:
    current = stack.container.read_model.current_model()
    assert current is not None
    page = watched.page
    serve_drift(page, no_drift_yet(current.version))
    sign_in(page, stack, USER_KEY)
    page.get_by_role("link", name="Models", exact=True).click()
    expect(page.locator("#drift-empty")).to_have_text(re.compile(r"^No drift data yet for \S+\.$"))
    expect(page.locator("#drift")).to_contain_text("37 of 500 records counted toward the first window.")
    expect(page.locator("#drift-table")).to_have_count(0)
    assert [e for e in watched.errors if "drift" in e] == []


def test_a_version_the_drift_route_does_not_know_says_so(watched: Watched, stack: Stack) -> None:
    page = watched.page
    serve_drift(page, None)
    sign_in(page, stack, USER_KEY)
    page.get_by_role("link", name="Models", exact=True).click()
    expect(page.locator("#drift-empty")).to_have_text(re.compile(r"^No drift data yet for \S+\.$"))
    expect(page.locator("#drift-table")).to_have_count(0)
    assert [e for e in watched.errors if "drift" in e and "404" not in e] == []


def test_a_batch_submitted_elsewhere_shows_its_features_and_explanations(
    watched: Watched, stack: Stack
) -> None:
    batch = submit_elsewhere(stack, ["why-genuine", "why-forged"], [GENUINE, FORGED])
    explained = httpx2.get(
        f"{stack.predict_url}/v1/batches/{batch['batch_id']}?explain=true", headers=AUTH
    ).json()
    page = watched.page
    sign_in(page, stack, USER_KEY)  # a fresh tab: nothing of this batch in its session storage
    page.goto(f"{stack.console_url}#/batches/{batch['batch_id']}")
    expect(result_rows(page)).to_have_count(2)
    first = result_rows(page).first
    expect(first.locator("td").nth(0)).to_have_text("3.6216")  # from the read model
    expect(first.locator("td").nth(3)).to_have_text("-0.44699")
    expect(page.get_by_text("shown only in the tab that submitted it")).to_have_count(0)

    # By keyboard: the toggle opens the record's explanation and closes it again.
    toggle = first.get_by_role("button", name="Why why-genuine is")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    table = page.locator("#why-0-table-0")
    expect(table).to_be_visible()
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(4 + 2)  # the features, the intercept, the score
    expected = explained["results"][0]["contributions"][0]
    shown = [float(rows.nth(i).locator("td").nth(1).inner_text().replace(MINUS, "-")) for i in range(4)]
    assert shown == [round(v, 3) for v in expected]
    score = explained["results"][0]["score"]
    expect(rows.nth(5).locator("td").nth(1)).to_have_text(f"{'+' if score >= 0 else MINUS}{abs(score):.3f}")
    # The bar of the largest contribution is the longest.
    widths = [float(rows.nth(i).locator("rect.fill").get_attribute("width") or "nan") for i in range(4)]
    assert widths.index(max(widths)) == [abs(v) for v in expected].index(max(abs(v) for v in expected))
    shot(page, "batch-explained")
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(table).to_be_hidden()
    no_policy_violation(watched)


def test_a_correction_is_shown_once_it_reached_the_training_data(watched: Watched, stack: Stack) -> None:
    batch = submit_elsewhere(stack, ["train-1", "train-2"], [[x + 0.0042 for x in GENUINE], FORGED])
    page = watched.page
    sign_in(page, stack, USER_KEY)
    page.goto(f"{stack.console_url}#/batches/{batch['batch_id']}")
    first = result_rows(page).first
    cell = first.locator("td.training")
    expect(cell).to_have_text("not rated")
    predicted = batch["results"][0]["label"]
    first.get_by_role("combobox").select_option(str(1 - predicted))
    expect(first.locator(".rated")).to_have_text(f"corrected to {1 - predicted} · accepted")
    expect(cell).to_have_text(re.compile(rf"^label {1 - predicted} since "), timeout=30_000)
    expect(result_rows(page).nth(1).locator("td.training")).to_have_text("not rated")
    # The API the console polls says the same.
    entries = httpx2.get(
        f"{stack.predict_url}/v1/batches/{batch['batch_id']}/training-labels", headers=AUTH
    ).json()["items"]
    assert [(e["subject"], e["label"]) for e in entries] == [("train-1", 1 - predicted)]
