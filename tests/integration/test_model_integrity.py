"""A model artifact altered in the bucket (fake-gcs-server) is refused by the prediction function, which
keeps serving the model it has."""

from __future__ import annotations

import secrets
import time

import msgspec
import pytest

from tests.emulated_harness import EmulatedRun, wait_until

pytestmark = pytest.mark.integration


def test_altered_artifact_is_refused_and_the_previous_model_keeps_serving(emulated: EmulatedRun) -> None:
    run = emulated
    registry, bucket = run.container.registry, run.container.bucket
    serving = registry.pointer()[0]
    assert serving is not None
    assert run.wait_done(run.accepted(rows=5, offset=1300))["model_version"] == serving.version

    # A second version, then its model.json altered after its digest was recorded.
    version = f"20990101T000000-{secrets.token_hex(4)}"
    model = registry.load(serving.version)
    registry.save(model, msgspec.structs.replace(registry.metadata(serving.version), version=version))
    altered = bytearray(bucket.read(f"models/{version}/model.json").data)
    altered[altered.index(b"[") + 1 : altered.index(b"[") + 1] = b"9"  # a weight changes
    bucket.write(f"models/{version}/model.json", bytes(altered))

    # Production points at it. The prediction function looks at the pointer when a message comes
    # (at most every SVMFLOW_MODEL_REFRESH_SECONDS), sees it moved, and checks the digest.
    _, generation = registry.pointer()
    registry.promote(version, generation, reason="integrity test")
    log = run.stack.log_dir / "fn-prediction.log"
    try:
        for offset in (1305, 1310):
            time.sleep(0.6)  # past the refresh interval, so each batch makes the function look again
            assert run.wait_done(run.accepted(rows=5, offset=offset))["model_version"] == serving.version
        refusal = wait_until(
            lambda: next(
                (ln for ln in log.read_text().splitlines() if f"refusing model {version}" in ln), ""
            ),
            10,
            "the refusal in the function's log",
        )
        assert "sha256" in refusal
        assert f"keeping {serving.version}" in refusal
    finally:
        _, generation = registry.pointer()
        registry.promote(serving.version, generation, reason="restore after the integrity test")
