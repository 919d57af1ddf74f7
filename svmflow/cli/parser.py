"""The command line of ``svmflow``: one small function per group of commands, in the order the help
lists them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from svmflow.cli import dead_letters, files, maintenance, models, running, training, training_rows
from svmflow.config import Settings

if TYPE_CHECKING:
    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


def build_parser(settings: Settings, description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="svmflow", description=description)
    parser.add_argument(
        "--log-level", help="DEBUG, INFO, WARNING, ERROR (default: SVMFLOW_LOG_LEVEL or INFO)"
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    _add_run(commands, settings)
    _add_demo(commands, settings)
    _add_predict_file(commands, settings)
    _add_init(commands)
    _add_seed_and_train(commands)
    _add_models(commands)
    _add_jobs(commands)
    _add_training_rows(commands)
    _add_rebuild_cache(commands)
    _add_dead_letters(commands)

    from svmflow.evaluation import command as evaluation_command

    evaluation_command.add_parser(commands, settings)
    _add_migrate(commands)
    _add_schema(commands)
    return parser


def _add_run(commands: Commands, settings: Settings) -> None:
    run = commands.add_parser(
        "run", help="run the whole system in this process (embedded mode), with both APIs"
    )
    run.add_argument(
        "--host", help=f"address the APIs listen on (default: {settings.api_host}, from SVMFLOW_API_HOST)"
    )
    run.add_argument(
        "--ingest-port",
        type=int,
        help=f"ingest API port (default: {settings.ingest_port}, from SVMFLOW_INGEST_PORT)",
    )
    run.add_argument(
        "--predict-port",
        type=int,
        help=f"predict API port (default: {settings.predict_port}, from SVMFLOW_PREDICT_PORT)",
    )
    run.set_defaults(command=running.cmd_run)


def _add_demo(commands: Commands, settings: Settings) -> None:
    ingest_url, predict_url = running.local_urls(settings)
    walk = commands.add_parser("demo", help="walk through the loop against running APIs")
    walk.add_argument(
        "--ingest-url",
        default=ingest_url,
        help=f"default: {ingest_url} (SVMFLOW_API_HOST, SVMFLOW_INGEST_PORT)",
    )
    walk.add_argument(
        "--predict-url",
        default=predict_url,
        help=f"default: {predict_url} (SVMFLOW_PREDICT_URL, else SVMFLOW_API_HOST, SVMFLOW_PREDICT_PORT)",
    )
    walk.add_argument("--api-key", help=f"default: {running.default_key_shown(settings)}")
    walk.add_argument("--rows", type=int, default=60, help="records in the demo batch (default: %(default)s)")
    walk.add_argument(
        "--wait", type=float, default=120.0, help="seconds to wait at each step (default: %(default)g)"
    )
    walk.set_defaults(command=running.cmd_demo)


def _add_predict_file(commands: Commands, settings: Settings) -> None:
    ingest_url, predict_url = running.local_urls(settings)
    bulk = commands.add_parser(
        "predict-file", help="predict every row of a CSV or JSON-lines file in the bucket, with progress"
    )
    bulk.add_argument(
        "file",
        metavar="PATH_OR_URI",
        help="gs://BUCKET/bulk/NAME, bulk/NAME, or (embedded mode) a local file, copied into the bucket",
    )
    bulk.add_argument("--ingest-url", default=ingest_url, help=f"default: {ingest_url}")
    bulk.add_argument("--predict-url", default=predict_url, help=f"default: {predict_url}")
    bulk.add_argument("--api-key", help=f"default: {running.default_key_shown(settings)}")
    bulk.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait (default: 3600)")
    bulk.add_argument("--no-wait", action="store_true", help="print the job id and return")
    bulk.set_defaults(command=files.cmd_predict_file)


def _add_init(commands: Commands) -> None:
    init = commands.add_parser(
        "init",
        help="infer a data set spec from a CSV, preview it and write it",
        description="Every column but the label is a numeric feature; the label's distinct values are "
        "the classes. The spec (TOML, schema/dataset-spec.schema.json) can then be edited: bounds and "
        "units per feature, class names (keep `value` as the cell in the CSV), gate settings.",
    )
    init.add_argument("data", type=Path, metavar="DATA.csv", help="the seed data: a header row, then rows")
    init.add_argument("--label", required=True, metavar="COLUMN", help="the column holding the class")
    init.add_argument("--name", help="model name (default: from the file name, e.g. wine for wine.csv)")
    init.add_argument("--out", type=Path, metavar="PATH", help="where to write the spec (default: DATA.toml)")
    init.add_argument("--force", action="store_true", help="overwrite an existing spec file")
    init.set_defaults(command=files.cmd_init)


def _add_seed_and_train(commands: Commands) -> None:
    seed = commands.add_parser("seed", help="load the seed data set into the training table")
    seed.add_argument("--data", type=Path, help="CSV file (default: the bundled banknote data set)")
    seed.set_defaults(command=training.cmd_seed)

    train = commands.add_parser("train", help="train now, evaluate against the champion, promote or not")
    train.set_defaults(command=training.cmd_train)


def _add_models(commands: Commands) -> None:
    actions = commands.add_parser("models", help="model versions").add_subparsers(
        required=True, metavar="ACTION"
    )
    actions.add_parser("list", help="every version, its metrics and the one in production").set_defaults(
        command=models.cmd_models_list
    )
    rollback = actions.add_parser("rollback", help="serve the previous (or a given) version again")
    rollback.add_argument("--to", dest="version", help="version to serve (default: the previous one)")
    rollback.set_defaults(command=models.cmd_models_rollback)
    performance = actions.add_parser(
        "performance", help="live accuracy, balanced accuracy and recall from rated predictions"
    )
    performance.add_argument("version", nargs="?", help="model version (default: the one in production)")
    performance.add_argument("--json", action="store_true", help="print the figures as JSON")
    performance.set_defaults(command=models.cmd_models_performance)
    drift = actions.add_parser(
        "drift", help="input drift: live inputs against the training data, per feature"
    )
    drift.add_argument("version", nargs="?", help="model version (default: the one in production)")
    drift.add_argument("--json", action="store_true", help="print the figures as JSON")
    drift.set_defaults(command=models.cmd_models_drift)


def _add_jobs(commands: Commands) -> None:
    jobs = commands.add_parser(
        "jobs", help="training requests and their jobs: queued, running, covered, promoted, rejected, failed"
    )
    jobs.add_argument("--limit", type=int, default=50, help="newest first (default: 50)")
    jobs.set_defaults(command=training.cmd_jobs)


def _add_training_rows(commands: Commands) -> None:
    rows = commands.add_parser(
        "training-rows", help="list training rows; quarantine or restore them"
    ).add_subparsers(required=True, metavar="ACTION")
    listing = rows.add_parser("list", help="rows, newest label first")
    listing.add_argument("--batch", help="only rows last rated in this batch")
    listing.add_argument("--source", choices=["seed", "feedback"])
    listing.add_argument("--status", choices=["active", "quarantined"])
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(command=training_rows.cmd_training_rows_list)
    for action, help_text in (
        ("quarantine", "keep rows out of training (the rules never let them back in)"),
        ("restore", "train on rows again (the rules never quarantine them again)"),
    ):
        change = rows.add_parser(action, help=help_text)
        change.add_argument("--batch", help="every row last rated in this batch")
        change.add_argument("--source", choices=["seed", "feedback"], help="every row of this source")
        change.add_argument("--row", type=int, action="append", dest="rows", help="a row id (repeatable)")
        change.add_argument("--reason", help="why (recorded with the rows)")
        change.set_defaults(command=training_rows.cmd_training_rows_change, status=action)


def _add_rebuild_cache(commands: Commands) -> None:
    rebuild = commands.add_parser("rebuild-cache", help="refill the Redis read model from the database")
    rebuild.set_defaults(command=maintenance.cmd_rebuild_cache)


def _add_dead_letters(commands: Commands) -> None:
    dead = commands.add_parser("dead-letters", help="messages that could not be processed").add_subparsers(
        required=True, metavar="ACTION"
    )
    dead.add_parser("list", help="list dead letters").set_defaults(command=dead_letters.cmd_dead_letters_list)
    replay = dead.add_parser("replay", help="publish dead letters again to their original topic")
    replay.add_argument("--id", dest="ids", action="append", help="only this message id (repeatable)")
    replay.set_defaults(command=dead_letters.cmd_dead_letters_replay)


def _add_migrate(commands: Commands) -> None:
    migrate = commands.add_parser("migrate", help="apply the database migrations (Alembic) as the owner")
    migrate.add_argument("--app-role", help="also create or update this PostgreSQL role for the components")
    migrate.set_defaults(command=maintenance.cmd_migrate)


def _add_schema(commands: Commands) -> None:
    schema = commands.add_parser("schema", help="JSON Schemas and SQL DDL in schema/").add_subparsers(
        required=True, metavar="ACTION"
    )
    schema.add_parser("write", help="regenerate schema/").set_defaults(command=maintenance.cmd_schema_write)
    schema.add_parser("check", help="fail if schema/ differs from the code").set_defaults(
        command=maintenance.cmd_schema_check
    )
