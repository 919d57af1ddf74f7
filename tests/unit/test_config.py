"""Settings: read from SVMFLOW_* once, typed and validated, every refusal naming its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from svmflow.config import ConfigError, Settings


def test_the_environment_gives_typed_values() -> None:
    settings = Settings.from_env(
        {
            "SVMFLOW_MODE": "emulated",
            "SVMFLOW_DATABASE_URL": "postgresql+psycopg://u@h/db",
            "SVMFLOW_REDIS_URL": "redis://h:6379/0",
            "SVMFLOW_HOLDOUT_PERCENT": "30",
            "SVMFLOW_MODEL_REFRESH_SECONDS": "2.5",
            "SVMFLOW_STATE_DIR": "/tmp/state",
            "SVMFLOW_C_GRID": "0.5, 2",
            "UNRELATED": "x",
            "SVMFLOW_SECRET_API_KEYS": "read elsewhere, ignored here",
        }
    )
    assert settings.mode == "emulated"
    assert settings.holdout_percent == 30
    assert settings.model_refresh_seconds == 2.5
    assert settings.state_dir == Path("/tmp/state")
    assert settings.c_values == (0.5, 2.0)
    assert settings.effective_database_url == "postgresql+psycopg://u@h/db"


def test_unset_variables_keep_their_defaults() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.mode == "embedded"
    assert settings.gate_min_window == 20
    assert settings.c_values == (0.01, 0.1, 1.0, 10.0)
    assert settings.effective_database_url.endswith("/.svmflow/svmflow.sqlite")
    assert settings.data_path.name == "banknote.csv"
    assert settings.data_path.is_file()


def test_constructed_settings_do_not_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SVMFLOW_HOLDOUT_PERCENT", "abc")
    monkeypatch.setenv("SVMFLOW_CV_FOLDS", "7")
    assert Settings().cv_folds == 5
    assert Settings(cv_folds=3).cv_folds == 3


def test_overrides_win_over_the_environment() -> None:
    assert Settings.from_env({"SVMFLOW_CV_FOLDS": "7"}, cv_folds=3).cv_folds == 3


def test_the_client_libraries_emulator_variable_is_honoured_after_ours() -> None:
    assert Settings.from_env({"PUBSUB_EMULATOR_HOST": "h:1"}).pubsub_emulator_host == "h:1"
    both = {"PUBSUB_EMULATOR_HOST": "h:1", "SVMFLOW_PUBSUB_EMULATOR_HOST": "h:2"}
    assert Settings.from_env(both).pubsub_emulator_host == "h:2"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SVMFLOW_HOLDOUT_PERCENT", "abc", "SVMFLOW_HOLDOUT_PERCENT='abc' is not a valid int"),
        ("SVMFLOW_HOLDOUT_PERCENT", "100", "SVMFLOW_HOLDOUT_PERCENT='100': input should be less than 100"),
        ("SVMFLOW_HOLDOUT_PERCENT", "0", "SVMFLOW_HOLDOUT_PERCENT='0': input should be greater than 0"),
        (
            "SVMFLOW_MODEL_REFRESH_SECONDS",
            "soon",
            "SVMFLOW_MODEL_REFRESH_SECONDS='soon' is not a valid float",
        ),
        ("SVMFLOW_MODE", "cloud", "SVMFLOW_MODE='cloud': input should be 'embedded', 'emulated' or 'gcp'"),
        ("SVMFLOW_GATE_METRIC", "f1", "SVMFLOW_GATE_METRIC='f1': input should be 'auto'"),
        (
            "SVMFLOW_CLASS_WEIGHT",
            "heavy",
            "SVMFLOW_CLASS_WEIGHT='heavy': input should be 'none' or 'balanced'",
        ),
        ("SVMFLOW_GATE_ALPHA", "1", "SVMFLOW_GATE_ALPHA='1': input should be less than 1"),
        ("SVMFLOW_GATE_ACCURACY_FLOOR", "1.5", "SVMFLOW_GATE_ACCURACY_FLOOR='1.5': input should be less"),
        ("SVMFLOW_BULK_CHUNK_ROWS", "10001", "SVMFLOW_BULK_CHUNK_ROWS='10001': input should be less"),
        ("SVMFLOW_CV_FOLDS", "1", "SVMFLOW_CV_FOLDS='1': input should be greater than or equal to 2"),
        ("SVMFLOW_C_GRID", "a,b", "SVMFLOW_C_GRID='a,b': not a comma-separated list of numbers"),
        ("SVMFLOW_C_GRID", "0,1", "SVMFLOW_C_GRID='0,1': needs at least one C, all above 0"),
        ("SVMFLOW_C_GRID", "", "SVMFLOW_C_GRID='': needs at least one C, all above 0"),
        ("SVMFLOW_DB_POOL_SIZE", "", "SVMFLOW_DB_POOL_SIZE='' is not a valid int"),
    ],
)
def test_a_malformed_value_is_refused_naming_its_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({variable: value})
    assert str(refused.value).startswith(message)


def test_every_malformed_variable_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"SVMFLOW_CV_FOLDS": "x", "SVMFLOW_GATE_WINDOW": "y"})
    assert "SVMFLOW_CV_FOLDS='x'" in str(refused.value)
    assert "SVMFLOW_GATE_WINDOW='y'" in str(refused.value)


@pytest.mark.parametrize("mode", ["emulated", "gcp"])
def test_outside_embedded_mode_the_stores_must_be_given(mode: str) -> None:
    with pytest.raises(ConfigError, match=f"^SVMFLOW_DATABASE_URL is required in {mode} mode$"):
        Settings.from_env({"SVMFLOW_MODE": mode, "SVMFLOW_REDIS_URL": "redis://h/0"})
    with pytest.raises(ConfigError, match=f"^SVMFLOW_REDIS_URL is required in {mode} mode$"):
        Settings.from_env({"SVMFLOW_MODE": mode, "SVMFLOW_DATABASE_URL": "sqlite://"})


def test_settings_are_immutable_and_changed_copies_are_validated() -> None:
    settings = Settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.cv_folds = 3  # type: ignore[misc]
    assert settings.with_(cv_folds=3).cv_folds == 3
    assert settings.cv_folds == 5
    with pytest.raises(ConfigError, match="SVMFLOW_CV_FOLDS=1: input should be greater than or equal to 2"):
        settings.with_(cv_folds=1)
    with pytest.raises(ConfigError, match="SVMFLOW_UNKNOWN=1: extra inputs are not permitted"):
        settings.with_(unknown=1)


def test_another_process_reaches_the_embedded_redis_over_tcp() -> None:
    settings = Settings(embedded_redis_port=6999)
    assert settings.reaching_embedded_redis().redis_url == "redis://127.0.0.1:6999/0"
    given = settings.with_(redis_url="redis://h:1/0")
    assert given.reaching_embedded_redis() is given
