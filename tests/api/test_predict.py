"""The predict API over the embedded runtime: polling (pending, 404, 200), listing, feedback, models."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import msgspec
import pytest

from svmflow import topology
from svmflow.contracts import Feedback
from svmflow.read_model import BatchResult, BatchView
from tests.api.conftest import AUTH, PREDICT_URL, System, batch

FEEDBACK = topology.FEEDBACK


class TestPolling:
    def test_a_submitted_batch_is_pollable_to_its_results(self, system: System) -> None:
        body = batch(3)
        accepted = system.ingest.post("/v1/batches", json=body, headers=AUTH)
        batch_id = accepted.json()["batch_id"]
        path = accepted.headers["location"].removeprefix(PREDICT_URL)

        system.drain()
        response = system.predict.get(path, headers=AUTH)
        assert response.status_code == 200
        result = response.json()
        assert result["batch_id"] == batch_id
        assert result["status"] == "done"
        assert result["record_count"] == 3
        current = system.predict.get("/v1/models/current", headers=AUTH).json()
        assert result["model_version"] == current["version"]
        submitted = datetime.fromisoformat(result["submitted_at"])
        predicted = datetime.fromisoformat(result["predicted_at"])
        assert submitted <= predicted
        assert [r["subject"] for r in result["results"]] == body["subjects"]
        # The genuine and the forged banknote from the data set, classified as such.
        assert [r["label"] for r in result["results"]] == [0, 1, 0]
        assert all(isinstance(r["score"], float) for r in result["results"])

    def test_an_issued_id_without_results_is_pending(self, system: System) -> None:
        batch_id = system.predict.app.state.service.batch_ids.issue()
        response = system.predict.get(f"/v1/batches/{batch_id}", headers=AUTH)
        assert response.status_code == 202
        assert response.json() == {"batch_id": batch_id, "status": "pending"}
        assert response.headers["retry-after"] == "1"

    @pytest.mark.parametrize(
        "batch_id",
        ["never-issued-0", "0" * 24 + "-" + "0" * 24, "x", "A" * 49, "0123456789abcdef01234567-"],
    )
    def test_an_id_never_issued_is_404(self, system: System, batch_id: str) -> None:
        response = system.predict.get(f"/v1/batches/{batch_id}", headers=AUTH)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["field"] == "batch_id"

    def test_a_tampered_id_is_404(self, system: System) -> None:
        batch_id = system.submit()["batch_id"]
        nonce, tag = batch_id.split("-")
        flipped = nonce[:-1] + ("0" if nonce[-1] != "0" else "1")
        for forged in (f"{flipped}-{tag}", f"{nonce}-{tag[:-1]}{'0' if tag[-1] != '0' else '1'}"):
            assert system.predict.get(f"/v1/batches/{forged}", headers=AUTH).status_code == 404
        system.drain()
        assert system.predict.get(f"/v1/batches/{batch_id}", headers=AUTH).status_code == 200


class TestExplanations:
    def test_explain_true_gives_each_features_exact_contribution(self, system: System) -> None:
        body = batch(4)
        batch_id = system.submit_body(body)["batch_id"]
        plain = system.done(batch_id)
        response = system.predict.get(f"/v1/batches/{batch_id}?explain=true", headers=AUTH)
        assert response.status_code == 200, response.text
        explained = response.json()
        key = explained["explanation"]
        assert key["feature_names"] == ["variance", "skewness", "curtosis", "entropy"]
        assert key["decisions"] == [1]
        for result, plain_result, row in zip(
            explained["results"], plain["results"], body["features"], strict=True
        ):
            assert {k: result[k] for k in ("subject", "label", "class", "score")} == plain_result
            (values,) = result["contributions"]
            assert len(values) == len(row)
            # Exact: the contributions and the intercept add up to the score that was served.
            assert sum(values) + key["intercept"][0] == pytest.approx(result["score"], abs=1e-9)
        # The forged note is pushed towards class 1 overall, the genuine one away from it.
        assert sum(explained["results"][1]["contributions"][0]) > sum(
            explained["results"][0]["contributions"][0]
        )

    def test_explained_results_carry_the_features_they_explain(self, system: System) -> None:
        # A batch submitted by another client: its page can show the features from the read model.
        body = batch(3)
        batch_id = system.submit_body(body)["batch_id"]
        system.done(batch_id)
        explained = system.predict.get(f"/v1/batches/{batch_id}?explain=true", headers=AUTH).json()
        assert [r["features"] for r in explained["results"]] == body["features"]

    def test_a_plain_poll_is_unchanged(self, system: System) -> None:
        batch_id = system.submit(2)["batch_id"]
        plain = system.done(batch_id)
        assert "explanation" not in plain
        assert all("contributions" not in r for r in plain["results"])
        again = system.predict.get(f"/v1/batches/{batch_id}?explain=false", headers=AUTH).json()
        assert again == plain

    def test_explain_on_a_pending_batch_is_pending(self, system: System) -> None:
        batch_id = system.predict.app.state.service.batch_ids.issue()
        response = system.predict.get(f"/v1/batches/{batch_id}?explain=true", headers=AUTH)
        assert response.status_code == 202
        assert response.json()["status"] == "pending"

    @pytest.mark.parametrize("value", ["yes", "1", "TRUE", ""])
    def test_an_explain_value_other_than_true_or_false_is_400(self, system: System, value: str) -> None:
        batch_id = system.submit(1)["batch_id"]
        response = system.predict.get(f"/v1/batches/{batch_id}", params={"explain": value}, headers=AUTH)
        assert response.status_code == 400
        assert response.json()["field"] == "explain"

    def test_a_batch_stored_without_explanation_inputs_is_409(self, system: System) -> None:
        batch_id = system.predict.app.state.service.batch_ids.issue()
        moment = datetime.now(UTC)
        view = BatchView(
            batch_id=batch_id,
            status="done",
            model_version="v",
            record_count=1,
            submitted_at=moment,
            predicted_at=moment,
            results=[BatchResult(subject="s", label=0, score=-1.0)],
        )
        system.container.read_model.put_batch(view)  # as a rebuild from the database stores it
        assert system.predict.get(f"/v1/batches/{batch_id}", headers=AUTH).status_code == 200
        response = system.predict.get(f"/v1/batches/{batch_id}?explain=true", headers=AUTH)
        assert response.status_code == 409
        assert response.json()["field"] == "explain"


class TestListing:
    def test_newest_first_with_cursor_pagination(self, system: System) -> None:
        ids = [system.submit(1)["batch_id"] for _ in range(5)]
        system.drain()
        seen: list[dict[str, str]] = []
        cursor = None
        for _ in range(10):
            params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
            response = system.predict.get("/v1/batches", params=params, headers=AUTH)
            assert response.status_code == 200
            page = response.json()
            assert len(page["items"]) <= 2
            seen.extend(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        listed = [item["batch_id"] for item in seen]
        assert len(listed) == len(set(listed))  # no page repeats an item
        assert listed[:5] == list(reversed(ids))  # the five newest, newest first
        times = [datetime.fromisoformat(item["submitted_at"]) for item in seen]
        assert times == sorted(times, reverse=True)
        assert seen[0]["href"] == f"{PREDICT_URL}/v1/batches/{ids[-1]}"

    def test_the_last_page_has_no_cursor(self, system: System) -> None:
        response = system.predict.get("/v1/batches", params={"limit": "100"}, headers=AUTH)
        page = response.json()
        if len(page["items"]) < 100:
            assert page["next_cursor"] is None

    def test_a_page_boundary_inside_a_tie_neither_skips_nor_repeats(self, system: System) -> None:
        moment = datetime(2001, 1, 1, tzinfo=UTC)
        read_model = system.container.read_model
        names = [f"tie-{i}" for i in range(3)]
        for name in names:
            read_model.put_batch(
                BatchView(
                    batch_id=name,
                    status="done",
                    model_version="v",
                    record_count=1,
                    submitted_at=moment,
                    predicted_at=moment,
                    results=[BatchResult(subject="s", label=0, score=0.0)],
                )
            )
        found: list[str] = []
        after = None
        while True:
            page = read_model.page_batches(1, after)
            if not page:
                break
            found.extend(s.batch_id for s in page)
            after = (page[-1].submitted_at, page[-1].batch_id)
        assert [f for f in found if f.startswith("tie-")] == sorted(names, reverse=True)

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"limit": "0"}, "limit"),
            ({"limit": "101"}, "limit"),
            ({"limit": "abc"}, "limit"),
            ({"limit": "-1"}, "limit"),
            ({"cursor": "not-a-cursor"}, "cursor"),
            ({"cursor": "bmFufGE"}, "cursor"),  # "nan|a"
            ({"cursor": "%%%"}, "cursor"),
        ],
    )
    def test_bad_paging_parameters_are_400(self, system: System, params: dict[str, str], field: str) -> None:
        response = system.predict.get("/v1/batches", params=params, headers=AUTH)
        assert response.status_code == 400
        assert response.json()["field"] == field


class TestFeedback:
    def test_ratings_are_published_to_the_feedback_topic(self, system: System) -> None:
        body = batch(4)
        batch_id = system.ingest.post("/v1/batches", json=body, headers=AUTH).json()["batch_id"]
        system.done(batch_id)
        before = system.spy.count(FEEDBACK)
        rating = {"subjects": body["subjects"][:2], "ratings": [1, 0]}
        response = system.predict.patch(f"/v1/batches/{batch_id}", json=rating, headers=AUTH)
        assert response.status_code == 202
        accepted = response.json()
        # When the ratings were recorded: what training-labels answers once they are training data.
        assert datetime.fromisoformat(accepted.pop("rated_at")).tzinfo is not None
        # Two of four rows, and no kind given: corrections, not evidence for the gate.
        assert accepted == {
            "batch_id": batch_id,
            "accepted": 2,
            "status": "accepted",
            "kind": "corrections",
        }
        assert system.spy.count(FEEDBACK) == before + 1
        system.drain()  # the feedback processors take it without a dead letter
        assert system.bus.list_dead_letters() == []

    @pytest.mark.parametrize(
        ("rows", "kind", "recorded"),
        [
            (4, None, "sample"),
            (2, None, "corrections"),
            (2, "sample", "sample"),
            (4, "corrections", "corrections"),
        ],
    )
    def test_the_kind_of_ratings_is_resolved_and_published(
        self, system: System, rows: int, kind: str | None, recorded: str
    ) -> None:
        body = batch(4)
        batch_id = system.ingest.post("/v1/batches", json=body, headers=AUTH).json()["batch_id"]
        system.done(batch_id)
        rating: dict[str, object] = {"subjects": body["subjects"][:rows], "ratings": [1] * rows}
        if kind is not None:
            rating["kind"] = kind
        response = system.predict.patch(f"/v1/batches/{batch_id}", json=rating, headers=AUTH)
        assert response.status_code == 202
        assert response.json()["kind"] == recorded

    def test_an_unknown_kind_is_422_naming_the_field(self, system: System) -> None:
        body = batch(2)
        batch_id = system.ingest.post("/v1/batches", json=body, headers=AUTH).json()["batch_id"]
        system.done(batch_id)
        rating = {"subjects": body["subjects"], "ratings": [1, 1], "kind": "guess"}
        response = system.predict.patch(f"/v1/batches/{batch_id}", json=rating, headers=AUTH)
        assert response.status_code in (400, 422)
        assert "kind" in response.text

    def test_enough_corrections_retrain_and_the_decision_is_listed(self, system: System) -> None:
        jobs_before = {j["job_id"] for j in system.predict.get("/v1/jobs", headers=AUTH).json()["items"]}
        rows = system.container.settings.retrain_min_new_labels + 5
        body = batch(rows)
        batch_id = system.ingest.post("/v1/batches", json=body, headers=AUTH).json()["batch_id"]
        results = system.done(batch_id)["results"]
        # The even rows are the genuine note (label 0): confirm them; call every forged one wrong.
        ratings = [1 if r["label"] == 0 else 0 for r in results]
        response = system.predict.patch(
            f"/v1/batches/{batch_id}",
            json={"subjects": [r["subject"] for r in results], "ratings": ratings},
            headers=AUTH,
        )
        assert response.status_code == 202
        system.drain()
        jobs = system.predict.get("/v1/jobs", headers=AUTH).json()["items"]
        new = [j for j in jobs if j["job_id"] not in jobs_before]
        assert len(new) == 1
        assert new[0]["decision"] in ("promoted", "rejected")
        assert new[0]["reason"]
        models = system.predict.get("/v1/models", headers=AUTH).json()["items"]
        assert new[0]["candidate_version"] in [m["version"] for m in models]

    def test_a_rating_is_listed_once_it_reached_the_training_data(self, system: System) -> None:
        body = batch(3)
        batch_id = system.submit_body(body)["batch_id"]
        results = system.done(batch_id)["results"]
        path = f"/v1/batches/{batch_id}/training-labels"
        assert system.predict.get(path, headers=AUTH).json() == {"batch_id": batch_id, "items": []}
        first, second = results[0], results[1]
        response = system.predict.patch(
            f"/v1/batches/{batch_id}",
            json={"subjects": [first["subject"], second["subject"]], "ratings": [0, 1]},
            headers=AUTH,
        )
        assert response.status_code == 202
        rated_at = response.json()["rated_at"]
        system.drain()
        answer = system.predict.get(path, headers=AUTH)
        assert answer.status_code == 200
        items = answer.json()["items"]
        assert [i["subject"] for i in items] == sorted([first["subject"], second["subject"]])
        by_subject = {i["subject"]: i for i in items}
        # A 0 corrects the label to the other class; a 1 confirms the predicted one.
        assert by_subject[first["subject"]]["label"] == 1 - first["label"]
        assert by_subject[second["subject"]]["label"] == second["label"]
        for item in items:
            assert datetime.fromisoformat(item["rated_at"]) == datetime.fromisoformat(rated_at)
            assert datetime.fromisoformat(item["reached_at"]) >= datetime.fromisoformat(rated_at)

    def test_training_labels_of_a_batch_never_issued_is_404(self, system: System) -> None:
        response = system.predict.get("/v1/batches/never-issued-0/training-labels", headers=AUTH)
        assert response.status_code == 404
        assert response.json()["field"] == "batch_id"

    def test_subjects_not_in_the_batch_are_422_naming_them(self, system: System) -> None:
        body = batch(2)
        batch_id = system.ingest.post("/v1/batches", json=body, headers=AUTH).json()["batch_id"]
        system.done(batch_id)
        before = system.spy.count(FEEDBACK)
        rating = {"subjects": [body["subjects"][0], "stranger", "other"], "ratings": [1, 1, 0]}
        response = system.predict.patch(f"/v1/batches/{batch_id}", json=rating, headers=AUTH)
        assert response.status_code == 422
        problem = response.json()
        assert problem["field"] == "subjects[1]"
        assert "'stranger'" in problem["detail"]
        assert "'other'" in problem["detail"]
        assert system.spy.count(FEEDBACK) == before

    def test_a_batch_without_results_is_409(self, system: System) -> None:
        batch_id = system.predict.app.state.service.batch_ids.issue()
        response = system.predict.patch(
            f"/v1/batches/{batch_id}", json={"subjects": ["a"], "ratings": [1]}, headers=AUTH
        )
        assert response.status_code == 409

    def test_an_id_never_issued_is_404(self, system: System) -> None:
        response = system.predict.patch(
            "/v1/batches/never-issued-0", json={"subjects": ["a"], "ratings": [1]}, headers=AUTH
        )
        assert response.status_code == 404

    @pytest.mark.parametrize(
        ("rating", "status", "field"),
        [
            ({"subjects": ["a"], "ratings": [2]}, 422, "ratings[0]"),
            ({"subjects": ["a"], "ratings": [True]}, 422, "ratings[0]"),
            ({"subjects": ["a"], "ratings": ["1"]}, 422, "ratings[0]"),
            ({"subjects": ["a"], "ratings": [1.0]}, 422, "ratings[0]"),
            ({"subjects": ["a", "b"], "ratings": [1]}, 422, "ratings"),
            ({"subjects": ["a", "a"], "ratings": [1, 0]}, 422, "subjects[1]"),
            ({"subjects": [], "ratings": []}, 422, "subjects"),
            ({"subjects": ["a"]}, 422, None),
            ({"subjects": ["a"], "ratings": [1], "extra": 1}, 422, "extra"),
        ],
    )
    def test_bad_ratings_are_refused(
        self, system: System, rating: dict[str, object], status: int, field: str | None
    ) -> None:
        batch_id = system.submit(1)["batch_id"]
        before = system.spy.count(FEEDBACK)
        response = system.predict.patch(f"/v1/batches/{batch_id}", json=rating, headers=AUTH)
        assert response.status_code == status, response.text
        assert response.json().get("field") == field
        assert system.spy.count(FEEDBACK) == before

    def test_non_json_feedback_is_refused(self, system: System) -> None:
        batch_id = system.submit(1)["batch_id"]
        wrong_type = system.predict.patch(
            f"/v1/batches/{batch_id}", content=b"a=1", headers={**AUTH, "Content-Type": "text/plain"}
        )
        not_json = system.predict.patch(
            f"/v1/batches/{batch_id}", content=b"{", headers={**AUTH, "Content-Type": "application/json"}
        )
        assert wrong_type.status_code == 415
        assert not_json.status_code == 400

    def test_the_published_message_is_the_feedback_contract(self, system: System) -> None:
        body = batch(2)
        batch_id = system.ingest.post("/v1/batches", json=body, headers=AUTH).json()["batch_id"]
        system.done(batch_id)
        captured: list[bytes] = []
        inner = system.spy.inner

        class Capture:
            def publish(self, topic: str, data: bytes, attributes: dict[str, str]):  # type: ignore[no-untyped-def]
                if topic == FEEDBACK:
                    captured.append(data)
                    assert attributes["batch_id"] == batch_id
                return inner.publish(topic, data, attributes)

        system.spy.inner = Capture()
        try:
            rating = {"subjects": body["subjects"], "ratings": [0, 1]}
            system.predict.patch(f"/v1/batches/{batch_id}", json=rating, headers=AUTH)
        finally:
            system.spy.inner = inner
        message = msgspec.json.decode(captured[0], type=Feedback)
        assert message.batch_id == batch_id
        assert message.subjects == body["subjects"]
        assert message.ratings == [0, 1]


class TestModels:
    def test_current_model(self, system: System) -> None:
        response = system.predict.get("/v1/models/current", headers=AUTH)
        assert response.status_code == 200
        model = response.json()
        assert model["version"]
        assert model["n_features"] == 4
        assert model["evaluation"]["seed_holdout_accuracy"] > 0.95

    def test_history_with_metrics_and_decisions(self, system: System) -> None:
        models = system.predict.get("/v1/models", headers=AUTH).json()["items"]
        assert models
        for entry in models:
            assert entry["decision"] in ("promoted", "rejected")
            assert entry["reason"]
            assert "seed_holdout_accuracy" in entry["evaluation"]
        created = [entry["created_at"] for entry in models]
        assert created == sorted(created, reverse=True)

    def test_live_performance_of_a_version_from_its_ratings(self, system: System) -> None:
        result = system.done(system.submit(4)["batch_id"])
        version = result["model_version"]
        path = f"/v1/models/{version}/performance"
        before = system.predict.get(path, headers=AUTH)
        assert before.status_code == 200
        labels_before = before.json()["overall"]["labels"]
        subjects = [r["subject"] for r in result["results"]]
        rated = system.predict.patch(
            f"/v1/batches/{result['batch_id']}",
            json={"subjects": subjects, "ratings": [1, 1, 1, 0]},
            headers=AUTH,
        )
        assert rated.status_code == 202
        system.drain()
        figures = system.predict.get(path, headers=AUTH).json()
        assert figures["model_version"] == version
        overall = figures["overall"]
        assert overall["labels"] == labels_before + 4
        accuracy = overall["accuracy"]
        assert accuracy["n"] == overall["labels"]
        assert 0 <= accuracy["low"] <= accuracy["value"] <= accuracy["high"] <= 1
        assert sum(f["n"] for f in overall["recall"].values()) == overall["labels"]
        assert overall["balanced_accuracy"]["n"] == overall["labels"]
        today = datetime.fromisoformat(result["predicted_at"]).date().isoformat()
        assert today in [d["day"] for d in figures["days"]]

    def test_performance_of_a_version_never_trained_is_404(self, system: System) -> None:
        response = system.predict.get("/v1/models/no-such-version/performance", headers=AUTH)
        assert response.status_code == 404
        assert response.json()["field"] == "version"

    def test_jobs(self, system: System) -> None:
        response = system.predict.get("/v1/jobs", params={"limit": "5"}, headers=AUTH)
        assert response.status_code == 200
        jobs = response.json()["items"]
        assert 1 <= len(jobs) <= 5
        assert {"job_id", "decision", "reason", "finished_at"} <= set(jobs[0])


def test_json_bodies_are_json(system: System) -> None:
    response = system.predict.get("/v1/models", headers=AUTH)
    assert response.headers["content-type"] == "application/json"
    json.loads(response.content)
