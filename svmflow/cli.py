"""``svmflow``: run the system and operate it (seed, train, models, read model, dead letters, schemas)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import msgspec

from svmflow import demo, logs, operations
from svmflow.bootstrap import Container
from svmflow.config import ConfigError, Settings
from svmflow.domain.records import DecisionRecord
from svmflow.errors import SvmflowError, TransientError


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings: Settings | None = Settings.from_env()
    except ConfigError as exc:
        problem = exc
        settings = None
    # The help shows the defaults the commands really use, so it is built from the settings.
    args = _parser(settings or Settings()).parse_args(argv)
    if settings is None:
        print(f"configuration error: {problem}", file=sys.stderr)
        return 2
    logs.configure(args.log_level or settings.log_level, settings.project)
    try:
        return int(args.command(settings, args) or 0)
    except (SvmflowError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="svmflow", description=__doc__)
    parser.add_argument(
        "--log-level", help="DEBUG, INFO, WARNING, ERROR (default: SVMFLOW_LOG_LEVEL or INFO)"
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

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
    run.set_defaults(command=cmd_run)

    ingest_url, predict_url = local_urls(settings)
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
    walk.add_argument("--api-key", help=f"default: {_default_key_shown(settings)}")
    walk.add_argument("--rows", type=int, default=60, help="records in the demo batch (default: %(default)s)")
    walk.add_argument(
        "--wait", type=float, default=120.0, help="seconds to wait at each step (default: %(default)g)"
    )
    walk.set_defaults(command=cmd_demo)

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
    bulk.add_argument("--api-key", help=f"default: {_default_key_shown(settings)}")
    bulk.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait (default: 3600)")
    bulk.add_argument("--no-wait", action="store_true", help="print the job id and return")
    bulk.set_defaults(command=cmd_predict_file)

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
    init.set_defaults(command=cmd_init)

    seed = commands.add_parser("seed", help="load the seed data set into the training table")
    seed.add_argument("--data", type=Path, help="CSV file (default: the bundled banknote data set)")
    seed.set_defaults(command=cmd_seed)

    train = commands.add_parser("train", help="train now, evaluate against the champion, promote or not")
    train.set_defaults(command=cmd_train)

    models = commands.add_parser("models", help="model versions").add_subparsers(
        required=True, metavar="ACTION"
    )
    models.add_parser("list", help="every version, its metrics and the one in production").set_defaults(
        command=cmd_models_list
    )
    rollback = models.add_parser("rollback", help="serve the previous (or a given) version again")
    rollback.add_argument("--to", dest="version", help="version to serve (default: the previous one)")
    rollback.set_defaults(command=cmd_models_rollback)
    performance = models.add_parser(
        "performance", help="live accuracy, balanced accuracy and recall from rated predictions"
    )
    performance.add_argument("version", nargs="?", help="model version (default: the one in production)")
    performance.add_argument("--json", action="store_true", help="print the figures as JSON")
    performance.set_defaults(command=cmd_models_performance)
    drift = models.add_parser("drift", help="input drift: live inputs against the training data, per feature")
    drift.add_argument("version", nargs="?", help="model version (default: the one in production)")
    drift.add_argument("--json", action="store_true", help="print the figures as JSON")
    drift.set_defaults(command=cmd_models_drift)

    jobs = commands.add_parser(
        "jobs", help="training requests and their jobs: queued, running, covered, promoted, rejected, failed"
    )
    jobs.add_argument("--limit", type=int, default=50, help="newest first (default: 50)")
    jobs.set_defaults(command=cmd_jobs)

    rows = commands.add_parser(
        "training-rows", help="list training rows; quarantine or restore them"
    ).add_subparsers(required=True, metavar="ACTION")
    listing = rows.add_parser("list", help="rows, newest label first")
    listing.add_argument("--batch", help="only rows last rated in this batch")
    listing.add_argument("--source", choices=["seed", "feedback"])
    listing.add_argument("--status", choices=["active", "quarantined"])
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(command=cmd_training_rows_list)
    for action, help_text in (
        ("quarantine", "keep rows out of training (the rules never let them back in)"),
        ("restore", "train on rows again (the rules never quarantine them again)"),
    ):
        change = rows.add_parser(action, help=help_text)
        change.add_argument("--batch", help="every row last rated in this batch")
        change.add_argument("--source", choices=["seed", "feedback"], help="every row of this source")
        change.add_argument("--row", type=int, action="append", dest="rows", help="a row id (repeatable)")
        change.add_argument("--reason", help="why (recorded with the rows)")
        change.set_defaults(command=cmd_training_rows_change, status=action)

    rebuild = commands.add_parser("rebuild-cache", help="refill the Redis read model from the database")
    rebuild.set_defaults(command=cmd_rebuild_cache)

    dead = commands.add_parser("dead-letters", help="messages that could not be processed").add_subparsers(
        required=True, metavar="ACTION"
    )
    dead.add_parser("list", help="list dead letters").set_defaults(command=cmd_dead_letters_list)
    replay = dead.add_parser("replay", help="publish dead letters again to their original topic")
    replay.add_argument("--id", dest="ids", action="append", help="only this message id (repeatable)")
    replay.set_defaults(command=cmd_dead_letters_replay)

    from svmflow.evaluation import command as evaluation_command

    evaluation_command.add_parser(commands, settings)

    migrate = commands.add_parser("migrate", help="apply the database migrations (Alembic) as the owner")
    migrate.add_argument("--app-role", help="also create or update this PostgreSQL role for the components")
    migrate.set_defaults(command=cmd_migrate)

    schema = commands.add_parser("schema", help="JSON Schemas and SQL DDL in schema/").add_subparsers(
        required=True, metavar="ACTION"
    )
    schema.add_parser("write", help="regenerate schema/").set_defaults(command=cmd_schema_write)
    schema.add_parser("check", help="fail if schema/ differs from the code").set_defaults(
        command=cmd_schema_check
    )
    return parser


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    if settings.mode != "embedded":
        print(
            "`svmflow run` hosts the embedded mode; see the README for the emulated stack",
            file=sys.stderr,
        )
        return 2
    settings = settings.with_(
        api_host=args.host or settings.api_host,
        ingest_port=args.ingest_port or settings.ingest_port,
        predict_port=args.predict_port or settings.predict_port,
    )
    # This command is the composition root of the local system, so it alone reaches for the API
    # package; nothing else in the core does.
    from api.app import create_ingest_app, create_predict_app
    from api.server import uvicorn_options
    from api.wiring import backend_of
    from svmflow.embedded import EmbeddedSystem, HttpService, ensure_state_dir_free
    from svmflow.runtime.listen import PortUnavailableError, check_free

    try:
        ensure_state_dir_free(settings.state_dir)
        check_free(settings)
    except PortUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    ingest_url, predict_url = local_urls(settings)
    system = EmbeddedSystem(settings)
    try:
        print(f"starting svmflow (embedded mode, state in {settings.state_dir}) ...", flush=True)
        system.start()
        container = system.container
        system.serve(
            [
                HttpService(
                    "ingest",
                    create_ingest_app(backend_of(container), predict_url=predict_url),
                    settings.api_host,
                    settings.ingest_port,
                    uvicorn_options(),
                ),
                HttpService(
                    "predict",
                    create_predict_app(backend_of(container), predict_url=predict_url, ingest_url=ingest_url),
                    settings.api_host,
                    settings.predict_port,
                    uvicorn_options(),
                ),
            ]
        )
        _print_banner(container, ingest_url, predict_url)
        stop.wait()
        print("stopping ...", flush=True)
    finally:
        system.stop()
    print("stopped", flush=True)
    return 0


def local_urls(settings: Settings) -> tuple[str, str]:
    """Where `svmflow run` serves the ingest and predict APIs, as a client on this machine reaches them."""
    wildcard = settings.api_host in ("0.0.0.0", "::", "")  # noqa: S104 (compared, not bound)
    host = "127.0.0.1" if wildcard else settings.api_host
    if ":" in host:
        host = f"[{host}]"
    return (
        settings.ingest_url or f"http://{host}:{settings.ingest_port}",
        settings.predict_url or f"http://{host}:{settings.predict_port}",
    )


def _print_banner(container: Container, ingest_url: str, predict_url: str) -> None:
    from svmflow.adapters.secrets import LOCAL_DEFAULTS

    keys = container.secrets.get("api-keys")
    default = LOCAL_DEFAULTS["api-keys"]
    key = default if keys == default else "the one in SVMFLOW_SECRET_API_KEYS"
    current = container.read_model.current_model()
    model = current.version if current else "none yet"
    if (ingest_url, predict_url) == local_urls(Settings()):
        # Where the Makefile's demo target goes from a new shell.
        demo_hint = f"make demo    (or {demo.command()})"
    else:
        demo_hint = demo.command("--ingest-url", ingest_url, "--predict-url", predict_url)
    print(
        f"""
svmflow is running.
  ingest API   {ingest_url}    POST /v1/batches
  predict API  {predict_url}    GET /v1/batches/{{id}}, PATCH /v1/batches/{{id}}, /v1/models, /v1/jobs
  API key      {key}    (header X-API-Key, or Authorization: Bearer)
  console      {predict_url}/console/    (API reference: {predict_url}/docs)
  OpenAPI      {ingest_url}/openapi.json  {predict_url}/openapi.json
  model        {model} in production

Try it: {demo_hint}
  (API examples: api/README.md)
Ctrl-C stops everything.""",
        flush=True,
    )


def _default_key_shown(settings: Settings) -> str:
    """What the demo sends without --api-key, as its help can say without reading a secret store."""
    if settings.mode != "gcp" and not settings.secret_manager_endpoint:
        from svmflow.adapters.secrets import LOCAL_DEFAULTS

        if "SVMFLOW_SECRET_API_KEYS" not in os.environ:
            return LOCAL_DEFAULTS["api-keys"]
        return "the first key in SVMFLOW_SECRET_API_KEYS"
    return f"the first key in the {settings.secret_prefix}api-keys secret"


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    first = Container(settings).secrets.get("api-keys").replace(",", " ").split()[0]
    # An entry may name its role (`operator:KEY`); the key is what follows.
    role, sep, rest = first.partition(":")
    key = args.api_key or (rest if sep and role in ("user", "operator") and rest else first)
    client = demo.Client(args.ingest_url, args.predict_url, key)
    try:
        with client:
            demo.run(client, settings.data_path, rows=args.rows, wait_seconds=args.wait)
    except demo.DemoError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    print("\ndemo finished")
    return 0


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from svmflow.db.database import make_engine
    from svmflow.db.migrate import migrate_database

    container = Container(settings)
    url = settings.effective_database_url
    # The migrate job's URL carries the owner's password; elsewhere it comes from db-password.
    password = None if url.startswith("sqlite") else container.secrets.get("db-password") or None
    engine = make_engine(url, password=password, pool_size=1)
    try:
        app_password = container.secrets.get("db-password") if args.app_role else ""
        revision = migrate_database(engine, args.app_role, app_password)
    finally:
        engine.dispose()
    granted = f"; role {args.app_role} granted" if args.app_role else ""
    print(f"database schema at revision {revision}{granted}")
    return 0


def cmd_predict_file(settings: Settings, args: argparse.Namespace) -> int:
    from svmflow import bulk_command

    return bulk_command.run(settings, args)


def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    added = operations.seed(Container(settings), args.data)
    print(f"seeded {added} new training rows")
    return 0


def cmd_train(settings: Settings, _: argparse.Namespace) -> int:
    container = Container(settings)
    operations.seed(container)
    try:
        event = operations.train(container)
    except TransientError as exc:
        print(f"training could not run now: {exc}", file=sys.stderr)
        return 1
    print(f"decision: {event.decision} ({event.reason})")
    if event.decision in ("queued", "running", "covered"):
        print(f"job {event.job_id}: follow it with `svmflow jobs`")
        return 0
    if event.training is not None:
        t = event.training
        print(
            f"candidate {event.candidate_version}: C={t.c:g} by {t.metric} cross-validation over "
            f"{t.c_grid}, class weight {t.class_weight}; {t.train_rows} training rows "
            f"({t.feedback_rows} from feedback, {t.quarantined_rows} quarantined)"
        )
    if event.record is not None:
        for line in describe_record(event.record):
            print(f"  {line}")
    print(f"in production: {event.current_version}")
    return 0 if event.decision != "failed" else 1


def describe_record(record: DecisionRecord) -> list[str]:
    """The numbers a decision used, one line each."""
    lines = []
    seed = record.challenger_seed
    delta = "" if record.seed_delta is None else f", {record.seed_delta:+.3f} vs the champion"
    lines.append(f"seed hold-out {seed.metric} {seed.value:.3f} [{seed.low:.3f}, {seed.high:.3f}]{delta}")
    if record.challenger_window is not None and record.champion_window is not None:
        ours, theirs = record.challenger_window, record.champion_window
        lines.append(
            f"latest {record.window_rows} rated rows: challenger {ours.value:.3f} [{ours.low:.3f}, "
            f"{ours.high:.3f}], champion {theirs.value:.3f} [{theirs.low:.3f}, {theirs.high:.3f}]"
        )
        recall = ", ".join(f"class {r.label} {r.recall:.3f}" for r in ours.recall if r.recall is not None)
        lines.append(f"challenger recall on the window: {recall}")
    if record.p_value is not None:
        drift = "" if record.drift_p_value is None else f"; drift p = {record.drift_p_value:.2g}"
        lines.append(
            f"paired test {record.look} against this champion: {record.challenger_only} rows favour the "
            f"challenger, {record.champion_only} the champion, p = {record.p_value:.2g} "
            f"(alpha {record.alpha or 0:.2g}){drift}"
        )
    return lines


def cmd_models_list(settings: Settings, _: argparse.Namespace) -> int:
    registry = Container(settings).registry
    pointer = registry.pointer()[0]
    print(f"{'':2}{'version':28}{'seed acc':>9}{'window':>8}{'C':>6}{'rows':>7}  decision")
    for meta in sorted((registry.metadata(v) for v in registry.versions()), key=lambda m: m.created_at):
        version = meta.version
        challenger = meta.metrics.get("challenger") or {}
        window = challenger.get("feedback_holdout_accuracy")
        training = meta.metrics.get("training") or {}
        record = meta.metrics.get("record") or {}
        decision = record.get("sentence") or "-"
        marker = "* " if pointer and pointer.version == version else "  "
        c = training.get("c")
        print(
            f"{marker}{version:28}{challenger.get('seed_holdout_accuracy', 0):>9.4f}"
            f"{'-' if window is None else f'{window:.4f}':>8}{'-' if c is None else f'{c:g}':>6}"
            f"{meta.train_size:>7}  {decision}"
        )
    print("(* = in production)" if pointer else "no model in production")
    return 0


def cmd_training_rows_list(settings: Settings, args: argparse.Namespace) -> int:
    rows = operations.training_rows(
        Container(settings), batch_id=args.batch, source=args.source, status=args.status, limit=args.limit
    )
    print(f"{'id':>7} {'source':8} {'batch':24} {'label':>5} {'kind':11} {'status':11} {'by':22} reason")
    for r in rows:
        print(
            f"{r['id']:>7} {r['source']:8} {r['batch_id'] or '-'!s:24} {r['label']:>5} {r['kind']:11} "
            f"{r['status']:11} {r['labelled_by'] or '-'!s:22} {r['status_reason'] or ''}"
        )
    print(f"{len(rows)} row(s)")
    return 0


def cmd_training_rows_change(settings: Settings, args: argparse.Namespace) -> int:
    status = "quarantined" if args.status == "quarantine" else "active"
    try:
        changed = operations.set_row_status(
            Container(settings),
            status,
            batch_id=args.batch,
            source=args.source,
            row_ids=args.rows,
            reason=args.reason,
        )
    except ValueError as exc:
        print(f"svmflow training-rows {args.status}: {exc}", file=sys.stderr)
        return 2
    way = "without" if status == "quarantined" else "with"
    print(f"{changed} row(s) now {status}; `svmflow train` retrains {way} them")
    return 0


def cmd_models_rollback(settings: Settings, args: argparse.Namespace) -> int:
    event = operations.rollback(Container(settings), args.version)
    print(f"production: {event.previous_version} -> {event.current_version}")
    return 0


def cmd_jobs(settings: Settings, args: argparse.Namespace) -> int:
    from svmflow.db import job_queue

    records = job_queue.records(Container(settings).db, args.limit)
    print(f"{'received (UTC)':20}{'job':36}{'status':10}{'labels':>8}  detail")
    for r in records:
        print(
            f"{r.received_at:%Y-%m-%d %H:%M:%S}  {r.job_id:34}{r.status:10}{r.labels_wanted:>8}  {r.detail}"
        )
    print(f"{len(records)} training request(s)")
    return 0


def cmd_models_performance(settings: Settings, args: argparse.Namespace) -> int:
    from svmflow.db import performance
    from svmflow.domain.performance import Figure, Performance

    container = Container(settings)
    version = args.version
    if version is None:
        pointer, _ = container.registry.pointer()
        if pointer is None:
            print("no model in production; name a version", file=sys.stderr)
            return 1
        version = pointer.version
    with container.db.transaction() as session:
        figures = performance.load(session, version)
    if figures is None:
        print(f"no rated predictions of model version {version} yet")
        return 0
    if args.json:
        print(msgspec.json.format(msgspec.json.encode(figures), indent=2).decode())
        return 0

    def cell(value: Figure | None) -> str:
        if value is None:
            return "-"
        return f"{value.value:.3f} [{value.low:.3f}, {value.high:.3f}] n={value.n}"

    def line(name: str, p: Performance) -> str:
        recalls = "  ".join(f"recall {label} {cell(f)}" for label, f in sorted(p.recall.items()))
        return (
            f"{name:<11}{p.labels:>7}  accuracy {cell(p.accuracy)}  "
            f"balanced {cell(p.balanced_accuracy)}  {recalls}"
        )

    print(f"model version {version}: figures with 95% Wilson intervals and the labels behind each")
    print(f"{'':<11}{'labels':>7}")
    print(line("overall", figures.overall))
    for day in figures.days:
        print(line(day.day, day))
    return 0


def cmd_models_drift(settings: Settings, args: argparse.Namespace) -> int:
    from svmflow.db import drift
    from svmflow.domain.drift_windows import empty_view
    from svmflow.errors import ModelNotFoundError

    container = Container(settings)
    version = args.version
    if version is None:
        pointer, _ = container.registry.pointer()
        if pointer is None:
            print("no model in production; name a version", file=sys.stderr)
            return 1
        version = pointer.version
    with container.db.transaction() as session:
        view = drift.load(session, version)
    if view is None:
        try:
            container.registry.metadata(version)
        except ModelNotFoundError:
            print(f"no model version {version!r}", file=sys.stderr)
            return 1
        view = empty_view(version, settings.drift_window)
    if args.json:
        print(msgspec.json.format(msgspec.json.encode(view), indent=2).decode())
        return 0
    print(
        f"model version {version}: {view.windows_closed} window(s) of {view.window_size} records closed, "
        f"{view.records_in_window} record(s) in the open window"
    )
    if not view.features:
        print("no window has closed yet")
        return 0
    verdict = "DRIFTED: " + ", ".join(view.drifted_features) if view.drifted else "no drift"
    closed = f"{view.window_closed_at:%Y-%m-%d %H:%M:%S}"
    print(f"latest window (closed {closed} UTC, alpha {view.alpha:g}): {verdict}")
    print(f"{'feature':<16}{'PSI':>9}{'KS':>9}{'p-value':>11}{'shift (sd)':>12}  drifted")
    for f in view.features:
        p_value = "-" if f.p_value is None else f"{f.p_value:.2e}"
        print(
            f"{f.name:<16}{f.psi:>9.4f}{f.ks:>9.4f}{p_value:>11}{f.mean_shift_sd:>+12.3f}  "
            f"{'yes' if f.drifted else 'no'}"
        )
    return 0


def cmd_rebuild_cache(settings: Settings, _: argparse.Namespace) -> int:
    settings = settings.reaching_embedded_redis()
    container = Container(settings)
    try:
        container.read_model.ping()
    except Exception as exc:
        print(
            f"cannot reach Redis at {settings.redis_url}: {exc} (is the system running?)",
            file=sys.stderr,
        )
        return 1
    counts = operations.rebuild_read_model(container)
    print(
        f"read model rebuilt: {counts['batches']} batches, {counts['models']} models, {counts['jobs']} jobs, "
        f"{counts['dead_letters']} dead letters, the webhooks of {counts['webhooks']} batches"
    )
    return 0


def cmd_dead_letters_list(settings: Settings, _: argparse.Namespace) -> int:
    letters = Container(settings).dead_letters.list_dead_letters()
    for letter in letters:
        print(f"{letter.message_id}  {letter.topic:20} {letter.reason}")
    print(f"{len(letters)} dead letter(s)")
    return 0


def cmd_dead_letters_replay(settings: Settings, args: argparse.Namespace) -> int:
    from svmflow import dead_letters

    ids = set(args.ids) if args.ids else None
    container = Container(settings)
    replayed = dead_letters.replay(container, ids)
    if settings.mode == "embedded":
        # The read model of a running `svmflow run` lives in its memory: the replay function there
        # takes these dead letters out of its listing (they are recorded as replayed already).
        dead_letters.announce(container.publisher, replayed)
    for letter in replayed:
        print(f"replayed {letter.message_id} to {letter.topic}")
    print(f"{len(replayed)} message(s) replayed")
    return 0


def cmd_init(_: Settings, args: argparse.Namespace) -> int:
    from svmflow.datasets.csv_table import CsvError
    from svmflow.datasets.inference import infer
    from svmflow.datasets.spec import SpecError

    out: Path = args.out or args.data.with_suffix(".toml")
    if out.exists() and not args.force:
        print(f"error: {out} exists; pass --force to overwrite it, or --out elsewhere", file=sys.stderr)
        return 2
    try:
        inferred = infer(args.data, args.label, out, args.name)
    except (CsvError, SpecError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.data}: {inferred.preview()}\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(inferred.to_toml())
    print(f"wrote {out} (model {inferred.spec.name!r}); edit it to add bounds, units or class names")
    return 0


def cmd_schema_write(_: Settings, __: argparse.Namespace) -> int:
    from svmflow import schemas

    for path in schemas.write(schemas.SCHEMA_DIR):
        print(f"wrote {path}")
    return 0


def cmd_schema_check(_: Settings, __: argparse.Namespace) -> int:
    from svmflow import schemas

    stale = schemas.drift(schemas.SCHEMA_DIR)
    for path in stale:
        print(f"out of date: {path} (run `make schema`)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
