"""The ``hub`` command: dev, serve, worker, migrate, keys."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import structlog
import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from hub import listening
from hub.auth.service import bootstrap_key
from hub.crypto import keyring_for
from hub.db import Database, upgrade
from hub.files import create_private, private_dir
from hub.jobs.dead_letters import list_failed, requeue, requeue_all
from hub.jobs.worker import run_worker
from hub.observability.logging import configure_logging
from hub.redis import connect, release_embedded, with_redis
from hub.secrets_rotation import rotate
from hub.settings import Settings, SettingsError

log = structlog.get_logger("hub.cli")


def _settings() -> Settings:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        sys.exit(f"hub: configuration error: {exc}")
    configure_logging(json=settings.log_format == "json", level=settings.log_level)
    if settings.data_dir.is_dir():
        private_dir(settings.data_dir)  # one made by an earlier version may still be 0755
    return settings


def _migrate(settings: Settings) -> Database:
    db = Database(settings.resolved_database_url)
    upgrade(db)
    return db


def cmd_migrate(_args: argparse.Namespace) -> int:
    settings = _settings()
    _migrate(settings).dispose()
    print(f"Database is up to date: {Database(settings.resolved_database_url).engine.url.render_as_string()}")
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    settings = _settings()
    db = _migrate(settings)
    organization_id, secret = bootstrap_key(db, args.org, role=args.role, name=args.name)
    db.dispose()
    if args.json:
        print(json.dumps({"organization_id": organization_id, "api_key": secret}))
    else:
        print(f"Organization {organization_id}\nAPI key (shown once): {secret}")
    return 0


GRACEFUL_SHUTDOWN_SECONDS = 20  # in-flight requests get this long after SIGTERM; then the relay drains
KEEP_ALIVE_SECONDS = 5  # an idle keep-alive connection is closed after this
WORKER_STOP_SECONDS = 120  # `hub dev`: the worker's running job may end (its timeout plus a margin)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopped(Exception):
    """A stop signal (SIGTERM, SIGINT) that arrived while no server or worker loop handled it,
    or after uvicorn's graceful shutdown ended (uvicorn then re-raises the signal it got)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop_requested(signum: int, _frame: object) -> None:
    """The first stop signal unwinds the command (``Stopped``); later ones are ignored so that
    the cleanup it starts (stopping the worker, the embedded Redis) is never cut short."""
    _ignore_stop_signals()
    raise Stopped(signum)


def _ignore_further(signum: int, _frame: object) -> None:
    log.info("hub.stop_signal_ignored", signal=signal.Signals(signum).name, reason="already stopping")


def _ignore_stop_signals() -> None:
    for sig in STOP_SIGNALS:
        signal.signal(sig, _ignore_further)


def _run_until_stopped(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a long-running command (serve, worker, dev) so that SIGTERM and SIGINT end it
    through its own cleanup: the servers' graceful shutdown, then the embedded Redis's lease
    given back (and the server stopped when no other Hub process uses it), exit status 0."""

    for sig in STOP_SIGNALS:
        signal.signal(sig, _stop_requested)
    try:
        return command(args)
    except Stopped as stop:
        log.info("hub.stopped", signal=str(stop))
        return 0
    finally:
        _ignore_stop_signals()  # uvicorn and RQ leave their own handlers installed
        release_embedded()


def _serve(settings: Settings, host: str, port: int, workers: int) -> None:
    """Run uvicorn until SIGTERM/SIGINT: it stops accepting, lets in-flight requests finish
    (up to ``GRACEFUL_SHUTDOWN_SECONDS``), then the app's shutdown drains the outbox relay.

    With one process uvicorn serves here and re-raises the signal once it shut down, which
    ``_run_until_stopped`` turns into a normal exit. With ``--workers N`` this process is
    uvicorn's supervisor: it passes SIGTERM on to every server process (each shuts down
    gracefully as above) and returns once all of them ended."""

    settings = with_redis(settings)
    # Worker processes of uvicorn build their own app from the environment: hand them the
    # resolved Redis URL so they share the embedded server instead of starting their own.
    os.environ["HUB_REDIS_URL"] = settings.redis_url or ""
    if workers > 1:
        _prometheus_multiprocess(settings.data_dir / "prometheus")
    print(f"Hub listening on http://{host}:{port}  (OpenAPI: http://{host}:{port}/schema)", flush=True)
    config = uvicorn.Config(
        "hub.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        proxy_headers=False,  # Hub reads X-Forwarded-For itself, only from HUB_TRUSTED_PROXIES
        # The standard library's event loop, not uvloop: on SQLite the request path runs on the
        # loop's thread (``Database.run``), and a loop busy with it let uvloop leave some
        # connections unread for several rounds (availability p99 0.8 s at a p50 of 94 ms under
        # 32 connections), where asyncio's loop serves them in turn (p99 140 ms) at the same rate.
        loop="asyncio",
    )
    if workers == 1:
        server = uvicorn.Server(config)
        server.run()
        if not server.started:  # as uvicorn.run: the app or the socket failed before serving
            sys.exit(STARTUP_FAILURE)
        return
    # uvicorn's supervisor, with a listening socket per process where the kernel spreads
    # connections over them (``hub.listening``), else the one socket its processes share.
    sockets = [listening.reserve(host, port) if listening.PER_PROCESS else config.bind_socket()]
    try:
        Multiprocess(config, sockets=sockets).run()
    finally:
        sockets[0].close()


def _prometheus_multiprocess(directory: Path) -> None:
    """Several server processes answer ``/metrics`` in turn: unless the operator chose a
    directory, keep the metric files under the data directory, cleared at every start (files
    of processes from an earlier run would be counted again)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    shutil.rmtree(directory, ignore_errors=True)
    private_dir(directory)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory.resolve())
    # prometheus_client creates those files with the process umask, and the server processes
    # inherit this one: keep them 0600 like everything else in the data directory.
    os.umask(0o077)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings()
    _migrate(settings).dispose()
    _serve(settings, args.host, args.port, args.workers)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    settings = _settings()
    _migrate(settings).dispose()
    return run_worker(settings, burst=args.burst)


def cmd_dev(args: argparse.Namespace) -> int:
    """Everything in one command on embedded defaults."""

    os.environ.setdefault("HUB_WEBHOOKS_ALLOW_PRIVATE", "true")
    os.environ.setdefault("HUB_CALDAV_ALLOW_PRIVATE", "true")
    os.environ.setdefault("HUB_OAUTH_REDIRECT_ALLOW_LOCALHOST", "true")
    settings = _settings()
    db = _migrate(settings)
    settings = with_redis(settings)
    os.environ["HUB_REDIS_URL"] = settings.redis_url or ""
    marker = settings.data_dir / ".bootstrapped"
    if not marker.exists():
        organization_id, secret = bootstrap_key(db, "Default", role="owner", name="dev owner")
        with os.fdopen(create_private(marker, exclusive=False, truncate=True), "w") as handle:
            handle.write(organization_id)
        print(
            f"\nCreated organization {organization_id} with an owner API key (shown once, keep it):\n\n"
            f"    {secret}\n\nTry:  curl -H 'Authorization: Bearer {secret}' http://{args.host}:{args.port}/v1/users\n",
            flush=True,
        )
    else:
        print(f"Organization {marker.read_text()} exists; create another key with `hub keys create`.", flush=True)
    db.dispose()
    # Its own session: Ctrl-C reaches only this process, which then stops the worker once,
    # after the server's graceful shutdown (a second signal would make RQ drop the running job).
    worker = subprocess.Popen([sys.executable, "-m", "hub.cli", "worker"], env=dict(os.environ), start_new_session=True)
    try:
        _serve(settings, args.host, args.port, 1)
    finally:
        _stop_worker(worker)
    return 0


def _stop_worker(worker: subprocess.Popen[bytes]) -> None:
    """SIGTERM: RQ's warm shutdown lets the running job end; SIGKILL if it takes too long."""
    worker.terminate()
    try:
        worker.wait(timeout=WORKER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        log.warning("dev.worker_killed", pid=worker.pid, reason=f"still running {WORKER_STOP_SECONDS} s after SIGTERM")
        worker.kill()
        worker.wait()


def cmd_jobs_failed(_args: argparse.Namespace) -> int:
    settings = with_redis(_settings())
    dead = list_failed(connect(settings.redis_url or ""))
    if not dead:
        print("No failed jobs.")
    for letter in dead:
        when = letter.failed_at.isoformat() if letter.failed_at else "-"
        print(f"{letter.job_id}\t{letter.queue}\t{when}\t{letter.function}{tuple(letter.args)}\t{letter.error}")
    return 0


def cmd_jobs_retry(args: argparse.Namespace) -> int:
    settings = with_redis(_settings())
    connection = connect(settings.redis_url or "")
    if args.all:
        print(f"Requeued {requeue_all(connection)} failed job(s).")
        return 0
    if not args.job_id:
        sys.exit("hub jobs retry: give a JOB_ID or --all")
    if not requeue(connection, args.job_id):
        print(f"No failed job with id {args.job_id}; list them with `hub jobs failed`.", file=sys.stderr)
        return 1
    print(f"Requeued {args.job_id}.")
    return 0


def cmd_secrets_rotate(_args: argparse.Namespace) -> int:
    settings = _settings()
    db = _migrate(settings)
    counts = rotate(db, keyring_for(settings))
    db.dispose()
    print("Re-encrypted under the newest key: " + ", ".join(f"{table} {n}" for table, n in counts.items()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub", description="Hub: the integration gateway of a scheduling platform.")
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run server + worker on embedded defaults (SQLite, embedded Redis)")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000)
    dev.set_defaults(func=cmd_dev)

    serve = sub.add_parser("serve", help="run the API server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="server processes behind one address")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run an RQ worker on Hub's queues")
    worker.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    worker.set_defaults(func=cmd_worker)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(func=cmd_migrate)

    keys = sub.add_parser("keys", help="API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create an API key (and the organization if missing)")
    create.add_argument("--org", required=True, help="organization name")
    create.add_argument("--role", default="owner", choices=["owner", "member", "support", "app"])
    create.add_argument("--name", default="cli", help="a label for the key")
    create.add_argument("--json", action="store_true", help="print one JSON line")
    create.set_defaults(func=cmd_keys_create)

    secrets_parser = sub.add_parser("secrets", help="secrets at rest")
    secrets_sub = secrets_parser.add_subparsers(dest="secrets_command", required=True)
    rotate = secrets_sub.add_parser(
        "rotate", help="re-encrypt every stored secret under the newest HUB_SECRET_KEYS key"
    )
    rotate.set_defaults(func=cmd_secrets_rotate)

    jobs = sub.add_parser("jobs", help="the job pipeline's dead letters")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True)
    failed = jobs_sub.add_parser("failed", help="list failed (dead-lettered) jobs")
    failed.set_defaults(func=cmd_jobs_failed)
    retry = jobs_sub.add_parser("retry", help="requeue a failed job, or all of them")
    retry.add_argument("job_id", nargs="?")
    retry.add_argument("--all", action="store_true")
    retry.set_defaults(func=cmd_jobs_retry)
    return parser


LONG_RUNNING = {"serve", "worker", "dev"}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in LONG_RUNNING:
        return _run_until_stopped(args.func, args)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
