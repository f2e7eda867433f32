"""Locust hooks: options, the per-process context, shipping and merging, the run directory.

Flow: every process records phases into its ProcessResults; workers ship deltas to the
master in `report_to_master` (every 3 s) and a final one in a `harness_final` message from
their own `test_stop`; the master merges in `worker_report`, and writes the run directory in
`quitting`, after waiting for every worker's final message (Locust fires the master's
`test_stop` and `quitting` before the last regular worker reports arrive).
"""

from __future__ import annotations

import logging
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import LocalRunner, MasterRunner, Runner, WorkerRunner

from harness.config import Settings, load_settings
from harness.embedded import start_platform
from harness.errors import HarnessError
from harness.load import locust_fixes, rundir
from harness.load.health import HealthMonitor
from harness.load.lifecycle import RunContext
from harness.load.record import Run
from harness.load.results import ProcessResults, SampleWriter
from harness.load.scenario import Knobs, Scenario, ScenarioShape, load_scenario
from harness.load.state import context, set_context
from harness.protocol.session import PhaseSample

log = logging.getLogger("harness")
DEFAULT_MAX_LOOP_LAG_MS = 10.0
FINAL_WAIT_S = 60.0


class PhaseFailed(Exception):
    """A failed phase as Locust shows it: the message is the error class."""


_run = Run()


locust_fixes.install()  # Locust's worker bookkeeping, without the stalls


@events.init_command_line_parser.add_listener
def add_options(parser: Any) -> None:
    g = parser.add_argument_group("MIPTech harness")
    g.add_argument("--scenario", default="", help="scenario name (scenarios/NAME.toml) or path")
    g.add_argument("--chats-per-session", type=int, default=None, help="chats per lifecycle")
    g.add_argument("--think-time", default=None, help="seconds between chats, LOW,HIGH")
    g.add_argument("--message-length", type=int, default=None, help="characters per chat")
    g.add_argument("--session-duration", type=float, default=None, help="held session, s")
    g.add_argument("--heartbeat-interval", type=float, default=None, help="seconds (default 30)")
    g.add_argument(
        "--start-spread",
        type=float,
        default=None,
        help="each user waits a random part of this many seconds before its first lifecycle, "
        "so a spawn batch arrives spread out, not at once (default 1; 0: off)",
    )
    g.add_argument(
        "--max-loop-lag-ms",
        type=float,
        default=None,
        help="harness event-loop lag p99 above which the run is invalid (default 10)",
    )
    g.add_argument("--reports-dir", default="reports", help="where run directories go")
    g.add_argument(
        "--platform-profile",
        default=None,
        help="profile of the embedded reference platform (runs with no --host)",
    )
    g.add_argument(
        "--ground-truth",
        action="store_true",
        help="the embedded platform writes its per-session ground truth into the run",
    )
    g.add_argument("--env-file", default=None, help="a .env file with harness settings")
    g.add_argument(
        "--no-locust-stats",
        action="store_true",
        help="do not feed phases to Locust's own statistics (console, web UI): a few per cent "
        "less harness CPU; run.json, histograms and reports are unaffected",
    )


def _knobs(options: Any, scenario: Scenario | None) -> Knobs:
    base = scenario.knobs if scenario else Knobs()
    changes: dict[str, Any] = {}
    if options.chats_per_session is not None:
        changes["chats_per_session"] = options.chats_per_session
    if options.message_length is not None:
        changes["message_length"] = options.message_length
    if options.session_duration is not None:
        changes["session_duration_s"] = options.session_duration
    if options.start_spread is not None:
        if options.start_spread < 0:
            raise HarnessError(f"--start-spread {options.start_spread:g}: expected >= 0 seconds")
        changes["start_spread_s"] = options.start_spread
    if options.think_time:
        try:
            low, high = (float(x) for x in str(options.think_time).split(","))
        except ValueError:
            raise HarnessError(f"--think-time {options.think_time!r}: expected LOW,HIGH") from None
        changes["think_time_s"] = (low, high)
    from dataclasses import replace

    return replace(base, **changes)


def _settings_for(options: Any, scenario: Scenario | None, host: str | None) -> Settings:
    cli: dict[str, object] = {}
    if host:
        from urllib.parse import urlsplit

        parts = urlsplit(host)
        cli["ws_url"] = f"{parts.scheme}://{parts.netloc}"
        if parts.path not in ("", "/"):
            cli["endpoint"] = parts.path
    if options.heartbeat_interval is not None:
        cli["heartbeat_interval_ms"] = options.heartbeat_interval * 1000
    env_file = Path(options.env_file) if options.env_file else None
    if env_file is None and Path(".env").is_file():
        env_file = Path(".env")
    return load_settings(
        cli=cli, env_file=env_file, scenario=scenario.settings if scenario else None
    )


def _worker_id(runner: Runner) -> str:
    if isinstance(runner, WorkerRunner):
        return str(runner.client_id)
    return "master" if isinstance(runner, MasterRunner) else "local"


def _fire_request(environment: Environment) -> Any:
    fire = environment.events.request.fire

    def fire_sample(sample: PhaseSample) -> None:
        fire(
            request_type="WS",
            name=sample.phase,
            response_time=sample.duration_us / 1000,
            response_length=0,
            exception=None if sample.ok else PhaseFailed(sample.error),
            context={},
        )

    return fire_sample


def _fail(message: str) -> None:
    sys.stderr.write(f"harness: error: {message}\n")
    sys.stderr.flush()
    sys.exit(2)


@events.init.add_listener
def on_init(environment: Environment, runner: Runner, **_: Any) -> None:
    options = environment.parsed_options
    assert options is not None
    try:
        scenario = load_scenario(options.scenario) if options.scenario else None
        knobs = _knobs(options, scenario)
        coordinator = not isinstance(runner, WorkerRunner)
        if coordinator:
            _run.run_id = rundir.new_run_id()
            _run.run_dir = rundir.create_run_dir(Path(options.reports_dir), _run.run_id)
            if not environment.host:
                _start_embedded(environment, options, scenario)
        settings = _settings_for(options, scenario, environment.host)
    except HarnessError as exc:
        _fail(str(exc))
    worker = _worker_id(runner)
    live = not options.no_locust_stats and not isinstance(runner, MasterRunner)
    fire = _fire_request(environment) if live else None
    max_lag = options.max_loop_lag_ms or (scenario.max_loop_lag_ms if scenario else None)
    monitor = HealthMonitor(users=lambda: runner.user_count if runner else 0)
    ctx = RunContext(settings, knobs, ProcessResults(worker, fire), monitor, scenario)
    ctx.max_loop_lag_ms = max_lag or DEFAULT_MAX_LOOP_LAG_MS
    set_context(ctx)
    _choose_users(environment, scenario)
    if isinstance(runner, WorkerRunner):
        runner.register_message("harness_run", _on_run_message)
        runner.register_message("harness_stop", _on_stop_message, concurrent=True)
    else:
        _start_run(environment, scenario)
        if isinstance(runner, MasterRunner):
            runner.register_message("harness_final", _on_final_message)


def _start_embedded(environment: Environment, options: Any, scenario: Scenario | None) -> None:
    profile = options.platform_profile or (scenario.platform_profile if scenario else "documented")
    args = ["--profile", profile]
    for key, value in (scenario.platform_knobs if scenario else {}).items():
        args += ["--set", f"{key}={value}"]
    if scenario is not None and scenario.platform_seed is not None:
        args += ["--seed", str(scenario.platform_seed)]
    if scenario is not None and scenario.platform_workers > 1:
        args += ["--workers", str(scenario.platform_workers)]
    if options.ground_truth:
        _run.meta["ground_truth"] = "platform/"
        args += ["--ground-truth", str(_run.run_dir / "platform")]
    _run.platform = start_platform(*args, log=_run.run_dir / "platform.log")
    _run.platform_args = args
    environment.host = _run.platform.base
    options.host = environment.host
    print(
        f"harness: no --host given: started the reference platform (profile {profile}) "
        f"at {_run.platform.url}; it stops when the run ends",
        flush=True,
    )


def _choose_users(environment: Environment, scenario: Scenario | None) -> None:
    """A scenario picks its user class and shape; otherwise Locust's -u/-r/-t rule, and with
    no user class named on the command line the lifecycle user runs alone."""
    from harness.load import users

    if scenario is not None:
        user_class = getattr(users, scenario.user_class)
        environment.user_classes = [user_class]
        shape = ScenarioShape(scenario, user_class)
        shape.runner = environment.runner
        environment.shape_class = shape
    elif environment.parsed_options is not None and not environment.parsed_options.user_classes:
        environment.user_classes = [users.LifecycleUser]


def _start_run(environment: Environment, scenario: Scenario | None) -> None:
    _run.target = environment.host or ""
    _run.meta.update(rundir.run_metadata())
    _run.meta["scenario"] = scenario.name if scenario else None
    ctx = context()
    if isinstance(environment.runner, LocalRunner):
        ctx.results.writer = SampleWriter(_run.run_dir / "samples" / "local.csv")
    _run.write_run_json(environment, context(), status="starting")
    print(f"harness: run {_run.run_id} writes to {_run.run_dir}", flush=True)


@events.test_start.add_listener
def on_test_start(environment: Environment, **_: Any) -> None:
    ctx = context()
    # A worker learns the target from the master's spawn message, after init: settle it now.
    try:
        ctx.settings = _settings_for(environment.parsed_options, ctx.scenario, environment.host)
    except HarnessError as exc:
        _fail(str(exc))
    ctx.health.start()
    gevent.spawn(_flush_rows_forever, ctx)
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return
    _run.started_at = rundir.now_iso()
    if isinstance(runner, MasterRunner):
        runner.send_message("harness_run", {"run_id": _run.run_id, "run_dir": str(_run.run_dir)})
    if ctx.scenario is not None and ctx.scenario.drop_at_s is not None:
        gevent.spawn(_drop_all_later, environment, ctx.scenario.drop_at_s)
    _run.write_run_json(environment, ctx, status="running")


def _drop_all_later(environment: Environment, delay: float) -> None:
    """The reconnect storm: ask the (reference) platform to drop every session at once."""
    gevent.sleep(delay)
    base = (environment.host or "").replace("ws://", "http://").replace("wss://", "https://")
    try:
        urllib.request.urlopen(f"{base}/_harness/drop", timeout=5).close()
        _run.meta["dropped_at"] = rundir.now_iso()
        print(f"harness: asked the platform to drop every session ({rundir.now_iso()})", flush=True)
    except OSError as exc:
        log.error("could not trigger the drop at %s/_harness/drop: %s", base, exc)


def _on_run_message(environment: Environment, msg: Any, **_: Any) -> None:
    """Worker: the master says where the run directory is."""
    ctx = context()
    if ctx.results.writer is None:
        run_dir = Path(msg.data["run_dir"])
        name = ctx.results.worker_id.replace("/", "_")
        ctx.results.writer = SampleWriter(run_dir / "samples" / f"{name}.csv")


def _flush_rows_forever(ctx: RunContext) -> None:
    while True:
        gevent.sleep(2.0)
        ctx.results.flush_rows()


@events.report_to_master.add_listener
def on_report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    data["harness"] = context().results.take_delta()


@events.worker_report.add_listener
def on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    if "harness" in data:
        _run.merged.merge(client_id, data["harness"])


def _on_final_message(environment: Environment, msg: Any, **_: Any) -> None:
    _run.merged.merge(msg.data["worker"], msg.data["delta"])


def _final_delta(ctx: RunContext) -> dict[str, Any]:
    ctx.results.flush_rows()
    delta = ctx.results.take_delta()
    ctx.health.stop()  # this process measures no more
    delta["health"] = ctx.health.summary()
    delta["final"] = True
    return delta


@events.test_stopping.add_listener
def on_test_stopping(environment: Environment, **_: Any) -> None:
    """Users are about to be cut off: the measured part of the run is over, and so is the
    health monitor's (stopping thousands of users is the harness's busiest moment)."""
    context().health.stop()


@events.test_stop.add_listener
def on_test_stop(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        _send_final(runner)
    elif isinstance(runner, MasterRunner):
        # Collect every worker's final figures now, while the master still listens: when a
        # shape ends, Locust's quit() fires this, tells workers to quit, waits 0.5 s and stops
        # receiving. Workers still running users are asked to stop and report.
        runner.send_message("harness_stop")
        _wait_for_finals(runner)


def _send_final(runner: WorkerRunner) -> None:
    ctx = context()
    if not ctx.final_sent:
        ctx.final_sent = True
        delta = _final_delta(ctx)
        runner.send_message("harness_final", {"worker": ctx.results.worker_id, "delta": delta})


def _on_stop_message(environment: Environment, msg: Any, **_: Any) -> None:
    """Worker: the master is finishing; stop users (lifecycles in flight: interrupted), report."""
    runner = environment.runner
    assert isinstance(runner, WorkerRunner)
    if runner.state not in ("stopped", "init"):
        runner.stop()  # fires test_stop, which sends the final report
    _send_final(runner)


@events.quitting.add_listener
def on_quitting(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    ctx = context()
    if isinstance(runner, WorkerRunner):
        ctx.results.flush_rows()
        if ctx.results.writer:
            ctx.results.writer.close()
        return
    if _run.finished:
        return
    _run.finished = True
    try:
        if runner is not None and runner.state not in ("stopped", "init"):
            runner.stop()  # users stop (in flight: interrupted); a master collects finals
        if isinstance(runner, MasterRunner):
            _wait_for_finals(runner)  # at once if test_stop already collected them
        else:
            _run.merged.merge("local", _final_delta(ctx))
        ctx.health.stop()
        if ctx.results.writer:
            ctx.results.writer.close()
        _run.finish(environment, ctx)
    finally:
        if _run.platform is not None:
            _run.platform.stop()


def _wait_for_finals(runner: MasterRunner) -> None:
    expected = {str(c.id) for c in runner.clients.all} | set(_run.merged.workers)
    deadline = time.monotonic() + FINAL_WAIT_S
    while not expected <= _run.merged.final and time.monotonic() < deadline:
        gevent.sleep(0.1)
    missing = expected - _run.merged.final
    if missing:
        log.warning("no final report from worker(s) %s; their last figures are missing", missing)
        _run.meta["workers_without_final_report"] = sorted(missing)
