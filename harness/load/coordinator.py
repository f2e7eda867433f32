"""The harness's side of one Locust process: Locust's events call its methods.

Every process has one Coordinator, holding its RunContext (what its users share). On the
master or a local runner it also holds the RunRecord (harness/record), the only writer of
the run directory. Flow:

  init          validate options, scenario and settings; create the run directory
  test_start    workers learn the run directory (`harness_run`); the master watches for
                lost workers; every process flushes its samples every 2 s
  every 3 s     workers ship deltas in Locust's `report_to_master`; the master merges them
  test_stop     workers ship a final delta (`harness_final`); the master waits for it from
                every worker: FINAL_WAIT_S for one that stopped sending heartbeats, as long
                as it sends them (at most FINAL_WAIT_ALIVE_S) for one still stopping users
  quitting      the master (or local runner) writes histograms.json and run.json

Locust fires the master's `test_stop` and `quitting` before the last regular worker
reports arrive, hence the explicit final message.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import gevent
from gevent.event import Event
from locust.env import Environment
from locust.runners import (
    STATE_RUNNING,
    STATE_SPAWNING,
    LocalRunner,
    MasterRunner,
    Runner,
    WorkerRunner,
)

from harness.analysis.benchmarks import load_benchmarks
from harness.checks import number, whole
from harness.config import Settings, load_settings, split_target
from harness.conversations import bundled, load_conversations
from harness.crash import EXIT_CRASH, report_crash
from harness.embedded import EmbeddedPlatform, admin_post, start_platform
from harness.errors import HarnessError
from harness.load.health import HealthMonitor
from harness.load.lifecycle import RunContext
from harness.load.live import LiveView
from harness.load.scenario import Knobs, Scenario, ScenarioShape, load_scenario
from harness.protocol.session import PhaseSample
from harness.record.files import RecordWriteError
from harness.record.results import ProcessResults
from harness.record.rundir import check_run_id, new_run_id, now_iso, run_metadata
from harness.record.runfile import RunRecord
from harness.record.samples import SampleWriter
from harness.redact import MASK, mask_file
from harness.report.summary_text import checks_table, summary_text
from harness.server.profiles import PROFILES

log = logging.getLogger("harness")
DEFAULT_MAX_LOOP_LAG_MS = 10.0
FINAL_WAIT_S = 10.0  # after the stop, for a worker Locust has marked missing (dead: ~4 s)
FINAL_WAIT_ALIVE_S = 120.0  # for a worker still sending heartbeats: stopping 12,500 users
FINAL_WAIT_SAY_S = 5.0  # on two shared cores took four workers over 10 s
FLUSH_EVERY_S = 2.0
FLUSH_SLICE_ROWS = 250
WATCH_EVERY_S = 0.5
SECOND_SHUTDOWN_WAIT_S = 60.0
STOP_WAIT_S = 10.0  # for the users of a stop under way to end
MEASURING = (STATE_SPAWNING, STATE_RUNNING)


class PhaseFailed(Exception):
    """A failed phase as Locust shows it: the message is the error class."""


def say_error(message: str) -> None:
    """The one form of the harness's error line, which scripts look for."""
    sys.stderr.write(f"harness: error: {message}\n")
    sys.stderr.flush()


def say_warning(message: str) -> None:
    sys.stderr.write(f"harness: warning: {message}\n")
    sys.stderr.flush()


def fail(message: str) -> None:
    """Bad input or an unusable reports directory: one line, exit 2."""
    say_error(message)
    sys.exit(2)


class Coordinator:
    def __init__(self, environment: Environment) -> None:
        options = environment.parsed_options
        assert options is not None and environment.runner is not None
        self.environment = environment
        self.options = options
        self.runner: Runner = environment.runner
        self.scenario: Scenario | None = (
            load_scenario(options.scenario) if options.scenario else None
        )
        self.knobs = _knobs(options, self.scenario)
        self.is_worker = isinstance(self.runner, WorkerRunner)
        self.is_master = isinstance(self.runner, MasterRunner)
        self.worker_id = (
            str(self.runner.client_id)
            if isinstance(self.runner, WorkerRunner)
            else ("master" if self.is_master else "local")
        )
        self.record: RunRecord | None = None
        self.platform: EmbeddedPlatform | None = None
        self.final_sent = False
        self.finished = Event()
        self.finishing = False
        self.exiting = False  # finishing from atexit: Locust ended without `quitting`
        self.cut_short = False  # a second signal while waiting for the workers
        self.told: set[str] = set()  # workers that know the run directory
        self.tests = 0  # tests this process ran (the web UI can start one after another)
        self.aborted: str | None = None
        max_lag = options.max_loop_lag_ms or (
            self.scenario.max_loop_lag_ms if self.scenario else None
        )
        self.max_loop_lag_ms = max_lag or DEFAULT_MAX_LOOP_LAG_MS
        if options.run_id:
            check_run_id(options.run_id)
        # Validated before anything is created; settled again at test_start, when every
        # process knows the target (an embedded platform's, the master's for a worker).
        settings = _settings_for(options, self.scenario, environment.host)
        conversations = (
            load_conversations(Path(self.knobs.conversations), settings.max_message_length)
            if self.knobs.conversations
            else bundled(settings.max_message_length)
        )
        self.live: LiveView | None = None
        if not self.is_worker:  # the live view's table, refused now if it is bad input
            self.benchmarks = Path(options.benchmarks) if options.benchmarks else None
            self.bench = load_benchmarks(self.benchmarks)
            if not settings.tls_verify and settings.ws_url.startswith("wss:"):
                say_warning(
                    f"TLS certificate verification is OFF (tls_verify from "
                    f"{settings.sources['tls_verify']}): the platform's identity is not "
                    "checked; run.json and the report say so"
                )
            self._create_record()
        live = not options.no_locust_stats and not self.is_master
        monitor = HealthMonitor(users=lambda: self.runner.user_count)
        self.ctx = RunContext(
            settings,
            self.knobs,
            ProcessResults(self.worker_id, _fire_request(environment) if live else None),
            monitor,
            self.scenario,
            self.max_loop_lag_ms,
            conversations=conversations,
        )
        environment.harness_context = self.ctx  # type: ignore[attr-defined]
        if self.record is not None:
            self.live = LiveView(
                environment, self.record, self.bench, self.max_loop_lag_ms, self._merge_local
            )
            self.live.add_to_web_ui()
        self._choose_users()

    # -- set-up ------------------------------------------------------------------------------

    def _create_record(self) -> None:
        options = self.options
        run_id = options.run_id or new_run_id()
        meta: dict[str, Any] = {
            "scenario": self.scenario.name if self.scenario else None,
            "benchmarks": self.bench.source,
            "target": self.environment.host or "",
            "embedded_platform": None,
            **run_metadata(),
        }
        self.record = RunRecord.create(Path(options.reports_dir), run_id, meta)
        atexit.register(self.record.discard)  # Locust may still refuse the command
        if getattr(options, "html_file", None):  # Locust's own report shows --host as given
            atexit.register(mask_file, Path(options.html_file))
        if not self.environment.host:
            self._start_embedded()
            meta = self.record.meta
            meta["target"] = self.environment.host
            assert self.platform is not None
            meta["embedded_platform"] = {"url": self.platform.url, "args": self._platform_args}
        print(f"harness: run {run_id} writes to {self.record.run_dir}", flush=True)

    def _start_embedded(self) -> None:
        assert self.record is not None
        scenario, options = self.scenario, self.options
        profile = options.platform_profile or (
            scenario.platform_profile if scenario else "documented"
        )
        args = ["--profile", profile]
        for key, value in (scenario.platform_knobs if scenario else {}).items():
            args += ["--set", f"{key}={value}"]
        if scenario is not None and scenario.platform_seed is not None:
            args += ["--seed", str(scenario.platform_seed)]
        if scenario is not None and scenario.platform_workers > 1:
            args += ["--workers", str(scenario.platform_workers)]
        if options.ground_truth:
            self.record.meta["ground_truth"] = "platform/"
            args += ["--ground-truth", str(self.record.run_dir / "platform")]
        self.platform = start_platform(*args, log=self.record.run_dir / "platform.log")
        self._platform_args = args
        self.environment.host = options.host = self.platform.base
        print(
            f"harness: no --host given: started the reference platform (profile {profile}) "
            f"at {self.platform.url}; it stops when the run ends",
            flush=True,
        )

    def _choose_users(self) -> None:
        """A locustfile of the team's own users (MIPTechUser subclasses) runs them, in the
        scenario's stages if one is named. The bundled locustfile runs the scenario's user
        class; with no scenario and no class named on the command line, the lifecycle user
        alone. Without a scenario, Locust's -u/-r/-t rule."""
        from harness.load import users

        environment = self.environment
        bundled = (users.LifecycleUser, users.HeldSessionUser, users.ArrivalUser)
        own = [c for c in environment.user_classes if c not in bundled]
        if self.scenario is not None:
            classes = own or [getattr(users, self.scenario.user_class)]
            environment.user_classes = classes
            shape = ScenarioShape(self.scenario, classes)
            shape.runner = self.runner
            environment.shape_class = shape
        elif not self.options.user_classes and not own:
            environment.user_classes = [users.LifecycleUser]

    def wire(self) -> None:
        """Listen to this process's Locust events (bound methods: no module state), and take
        Ctrl-C in the main greenlet, where Locust's shutdown expects it: by default it lands
        in whatever greenlet runs, often a user's, and escapes it with a traceback."""
        if self.is_worker and getattr(self.options, "processes", None):
            # Forked by --processes: Ctrl-C reaches it with its master, which stops it and
            # collects its figures; a second SIGINT (the master exiting) still ends it.
            gevent.signal_handler(signal.SIGINT, _interrupt_main_second_time, gevent.getcurrent())
        else:
            gevent.signal_handler(signal.SIGINT, _interrupt_main, gevent.getcurrent())
        events = self.environment.events
        events.test_start.add_listener(self._guarded(self.on_test_start))
        events.test_stopping.add_listener(self._guarded(self.on_test_stopping))
        events.test_stop.add_listener(self._guarded(self.on_test_stop))
        events.quitting.add_listener(self._guarded(self.on_quitting))
        runner = self.runner
        if isinstance(runner, WorkerRunner):
            events.report_to_master.add_listener(self._guarded(self.on_report_to_master))
            runner.register_message("harness_run", self._guarded(self.on_run_message))
            runner.register_message(
                "harness_stop", self._guarded(self.on_stop_message), concurrent=True
            )
        elif isinstance(runner, MasterRunner):
            events.worker_report.add_listener(self._guarded(self.on_worker_report))
            runner.register_message("harness_final", self._guarded(self.on_final_message))
        if not self.is_worker:
            atexit.register(self._exit_without_quitting)

    def _exit_without_quitting(self) -> None:
        """Locust can end a process without `quitting` (a master that gave up waiting for
        its --expect-workers exits from a greenlet): finish the run as quitting would, so the
        run record is written, or it is said that nothing was recorded."""
        if not self.finishing:
            self.exiting = True  # Locust's loop is gone: no stop to ask for, no finals to wait
            self.cut_short = True
            self._guarded(self.on_quitting)(self.environment)

    def _guarded(self, handler: Callable[..., None]) -> Callable[..., None]:
        """A listener whose unexpected exception is one line and a traceback in a file (not
        Locust's traceback on the console); the run stops at once (lifecycles that nobody
        records or ships are no measurement) and the process exits with EXIT_CRASH."""

        @functools.wraps(handler)
        def call(*args: Any, **kwargs: Any) -> None:
            try:
                handler(*args, **kwargs)
            except Exception as exc:
                if self.environment.process_exit_code != EXIT_CRASH:  # the first one says it
                    report_crash("harness", exc)
                self._stop_run(
                    f"an internal error of the harness ({type(exc).__name__})", EXIT_CRASH
                )

        return call

    # -- the run -----------------------------------------------------------------------------

    def on_test_start(self, environment: Environment, **_: Any) -> None:
        ctx = self.ctx
        try:  # a worker learns the target from the master's spawn message, after init
            ctx.settings = _settings_for(self.options, self.scenario, environment.host)
        except HarnessError as exc:
            fail(str(exc))
        ctx.health.start()
        self.tests += 1
        if self.tests > 1:  # the web UI's next test: the same run goes on, nothing is reset
            self._next_test()
            return
        gevent.spawn(self._flush_forever)
        if self.record is None:
            return
        every = self.options.live_every
        if self.live is not None and every > 0 and not self.options.only_summary:
            gevent.spawn(self.live.print_forever, every)
        if isinstance(self.runner, LocalRunner):
            ctx.results.writer = SampleWriter(self.record.run_dir, self.worker_id)
        self.record.meta.update(self._run_description())
        try:
            self.record.start(self._planned_s())
        except RecordWriteError as exc:
            self.abort(str(exc))
        if isinstance(self.runner, MasterRunner):
            self.runner.send_message("harness_run", self._run_message())
            self.told |= {str(c.id) for c in self.runner.clients.all}
            gevent.spawn(self._watch_workers)
        if self.scenario is not None and self.scenario.drop_at_s is not None:
            gevent.spawn(self._drop_all_later, self.scenario.drop_at_s)

    def _next_test(self) -> None:
        """One more test in this process (started again from the web UI): its figures join
        the run's, its samples are appended, and every worker owes a final report again."""
        writer = self.ctx.results.writer
        if writer is not None:
            writer.resume()
        self.final_sent = False
        if self.record is not None:
            for worker in self.record.merged.workers.values():
                worker.final = False
            if isinstance(self.runner, MasterRunner):
                self.runner.send_message("harness_run", self._run_message())

    def _planned_s(self) -> float | None:
        if self.scenario is not None and self.scenario.duration_s > 0:
            return self.scenario.duration_s  # its shape rules: Locust ignores -t then
        run_time = getattr(self.options, "run_time", None)
        if run_time:
            if isinstance(run_time, str):
                from locust.util.timespan import parse_timespan

                run_time = parse_timespan(run_time)
            return float(run_time)
        return None

    def _run_description(self) -> dict[str, Any]:
        options, s = self.options, self.ctx.settings
        settings = {k: v for k, v in s.__dict__.items() if k != "sources"}
        settings["headers"] = [[name, MASK] for name, _ in s.headers]  # names only, all
        return {
            "tls_verify": s.tls_verify if s.ws_url.startswith("wss:") else None,  # ws://: none
            "locust": {
                "users": getattr(options, "num_users", None),
                "spawn_rate": getattr(options, "spawn_rate", None),
                "run_time": getattr(options, "run_time", None),
                "processes": getattr(options, "processes", None),
                "user_classes": [c.__name__ for c in self.environment.user_classes],
                "html_file": getattr(options, "html_file", None),
            },
            "knobs": self.knobs.__dict__,
            "settings": settings,
        }

    def _run_message(self) -> dict[str, Any]:
        assert self.record is not None
        return {
            "run_id": self.record.run_id,
            "run_dir": str(self.record.run_dir),
            "token": _run_token(),
        }

    def _flush_forever(self) -> None:
        """Samples reach the disk at least every FLUSH_EVERY_S, from every process, a slice
        at a time: formatting 4,000 rows at once (a 5,000-user ramp) held the loop 12-17 ms."""
        while True:
            gevent.sleep(FLUSH_EVERY_S)
            while self.ctx.results.flush_rows(FLUSH_SLICE_ROWS):
                gevent.sleep(0)  # let the users' greenlets read their frames meanwhile
            writer = self.ctx.results.writer
            if writer is not None and writer.error and self.record is not None:
                self.abort(writer.error)

    def abort(self, why: str) -> None:
        """The run cannot go on (the disk is full): one line, stop, exit code 2."""
        if not self.aborted:
            say_error(f"{why}; stopping the run (what was written stays)")
            self._stop_run(why, 2)

    def _stop_run(self, why: str, exit_code: int) -> None:
        """Stop now (once), recording why: what follows could not be trusted or kept."""
        if self.aborted:
            return
        self.aborted = why
        self.environment.process_exit_code = exit_code
        if self.record is not None:
            self.record.stopping(why)
        if not self.finishing:
            gevent.spawn(self.runner.quit)

    def _watch_workers(self) -> None:
        """Master: a worker whose heartbeats stopped (Locust marks it missing after about
        4 s) is recorded as lost, with what it last shipped."""
        while not self.finished.is_set():
            self._note_missing()
            gevent.sleep(WATCH_EVERY_S)

    def _note_missing(self) -> None:
        """Record as lost every worker Locust marks missing."""
        assert isinstance(self.runner, MasterRunner)
        for client in self.runner.clients.all:
            if client.state == "missing":
                self._lost(str(client.id))

    def _unfinished_workers(self) -> set[str]:
        """Workers Locust knows or that reported, with no final report yet."""
        assert isinstance(self.runner, MasterRunner) and self.record is not None
        known = {str(c.id) for c in self.runner.clients.all} | set(self.record.merged.workers)
        return known - self.record.merged.final

    def _lost(self, worker: str) -> None:
        assert self.record is not None
        if worker in self.record.lost or worker in self.record.merged.final:
            return
        self.record.worker_lost(worker)
        print(
            f"harness: worker {worker} lost (no heartbeat); its figures up to its last "
            "report are kept and the run is marked partial",
            flush=True,
        )

    def _drop_all_later(self, delay: float) -> None:
        """The reconnect storm: ask the (reference) platform to drop every session at once,
        with its admin token (an external one's from MIPTECH_ADMIN_TOKEN)."""
        gevent.sleep(delay)
        base = self.environment.host or ""
        token = self.platform.admin_token if self.platform else os.environ.get(ADMIN_TOKEN_ENV)
        if not token:
            log.error(
                "cannot trigger the drop at %s: set %s to the admin token the platform "
                "printed when it started",
                base,
                ADMIN_TOKEN_ENV,
            )
            return
        try:
            admin_post(base, "drop", token)
        except HarnessError as exc:
            log.error("could not trigger the drop: %s", exc)
            return
        assert self.record is not None
        self.record.meta["dropped_at"] = now_iso()
        print(f"harness: asked the platform to drop every session ({now_iso()})", flush=True)

    # -- worker side -------------------------------------------------------------------------

    def on_run_message(self, environment: Environment, msg: Any, **_: Any) -> None:
        """Worker: the master says which run this is and where its directory is."""
        token = _run_token(create=False)
        if token and msg.data.get("token") != token:
            say_error(
                f"worker {self.worker_id} belongs to another run than the master's "
                f"({msg.data.get('run_id')}); it quits"
            )
            self.environment.process_exit_code = 2
            gevent.spawn(self.runner.quit)
            return
        if self.ctx.results.writer is None:
            self.ctx.results.writer = SampleWriter(Path(msg.data["run_dir"]), self.worker_id)

    def on_report_to_master(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        delta = self.ctx.results.take_delta()
        delta["health"] = self.ctx.health.summary(timelines=False)  # judged even if it dies
        delta["sent_at"] = time.time()  # this host's clock, for the master's offset of it
        data["harness"] = delta

    def on_stop_message(self, environment: Environment, msg: Any, **_: Any) -> None:
        """Worker: the master is finishing; stop users (in flight: interrupted), report."""
        self._stop_users()  # its test_stop sends the final report
        self._send_final()

    def _stop_users(self) -> None:
        """Stop this process's users unless a stop is under way already."""
        if self.runner.state in MEASURING:
            self.runner.stop()

    def _send_final(self) -> None:
        runner = self.runner
        assert isinstance(runner, WorkerRunner)
        if not self.final_sent:
            self.final_sent = True
            runner.send_message(
                "harness_final", {"worker": self.worker_id, "delta": self._final_delta()}
            )

    def _final_delta(self) -> dict[str, Any]:
        """This process's last figures, taken once every lifecycle it started has ended: two
        stops can run at once (a Ctrl-C's and the master's), and the one that fires test_stop
        first did so while the other's users were still ending their lifecycles."""
        ctx = self.ctx
        deadline = time.monotonic() + STOP_WAIT_S
        while ctx.results.accounting.as_dict()["in_flight"] and time.monotonic() < deadline:
            gevent.sleep(0.02)
        ctx.health.stop()  # this process measures no more
        ctx.results.flush_rows()
        if ctx.results.writer is not None:
            ctx.results.writer.close()
        delta = ctx.results.take_delta()
        delta["health"] = ctx.health.summary()
        delta["final"] = True
        return delta

    # -- master side -------------------------------------------------------------------------

    def on_worker_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        if "harness" in data:
            self._merge(client_id, data["harness"])
        if client_id not in self.told and isinstance(self.runner, MasterRunner):
            self.told.add(client_id)  # joined after the start
            self.runner.send_message("harness_run", self._run_message(), client_id)

    def on_final_message(self, environment: Environment, msg: Any, **_: Any) -> None:
        worker = msg.data["worker"]
        self._merge(worker, msg.data["delta"])
        assert self.record is not None
        if self.record.worker_found(worker):  # late, not dead: its figures are whole
            print(f"harness: worker {worker} sent its final figures after all", flush=True)

    def _merge_local(self) -> None:
        """A local runner's figures so far into the record (a worker's come every 3 s)."""
        if self.record is not None and self.record.status == "running":
            delta = self.ctx.results.take_delta()
            delta["health"] = self.ctx.health.summary(timelines=False)
            self._merge(self.worker_id, delta)

    def _merge(self, worker: str, delta: dict[str, Any]) -> None:
        """A process's figures; one whose samples could not be written stops the run."""
        assert self.record is not None
        self.record.merge(worker, delta)
        error = (delta.get("samples") or {}).get("error")
        if error:
            self.abort(error if worker == self.worker_id else f"worker {worker}: {error}")

    def _wait_for_finals(self) -> None:
        """Until every worker not already lost has sent its final figures: as long as it
        sends heartbeats (stopping thousands of users takes a while), at most
        FINAL_WAIT_ALIVE_S; one that stops sending them, FINAL_WAIT_S; not at all once a
        second signal asked to hurry. Those that never send are lost; one whose final comes
        after all is found again (on_final_message)."""
        assert self.record is not None and isinstance(self.runner, MasterRunner)
        lost_before = set(self.record.lost)  # died during the run: nothing to wait for
        started = time.monotonic()
        said = started + FINAL_WAIT_SAY_S
        while not self.cut_short:
            waiting = self._unfinished_workers() - lost_before
            alive = waiting & {str(c.id) for c in self.runner.clients.all if c.state != "missing"}
            now = time.monotonic()
            if not waiting or now - started > (FINAL_WAIT_ALIVE_S if alive else FINAL_WAIT_S):
                break
            if now >= said and alive:
                said = now + FINAL_WAIT_SAY_S
                print(
                    f"harness: waiting for the final figures of {len(alive)} worker(s) still "
                    f"stopping their users ({now - started:.0f} s)",
                    flush=True,
                )
            gevent.sleep(0.1)
        for worker in sorted(self._unfinished_workers()):
            self._lost(worker)

    # -- the end -----------------------------------------------------------------------------

    def on_test_stopping(self, environment: Environment, **_: Any) -> None:
        """Users are about to be cut off: the measured part of the run is over, and so is the
        health monitor's (stopping thousands of users is the harness's busiest moment)."""
        self.ctx.health.stop()
        if self.record is not None:
            self.record.stopping()

    def on_test_stop(self, environment: Environment, **_: Any) -> None:
        if self.is_worker:
            self._send_final()
        elif isinstance(self.runner, MasterRunner):
            # Collect every worker's final figures now, while the master still listens: when
            # a shape ends, Locust's quit() fires this, tells workers to quit, waits 0.5 s
            # and stops receiving. Workers still running users are asked to stop and report.
            self.runner.send_message("harness_stop")
            self._wait_for_finals()

    def on_quitting(self, environment: Environment, **_: Any) -> None:
        if self.is_worker:  # Ctrl-C reaches the workers too: stop, and report before quitting
            self._stop_users()
            self._send_final()
            return
        if self.finishing:  # a second signal: stop waiting, let the first finish the files
            self.cut_short = True
            self.finished.wait(30)
            # Locust's shutdown would go on here too: its tables twice, and an exit from inside
            # the first one's (a traceback). The first one ends the process: wait for it.
            gevent.sleep(SECOND_SHUTDOWN_WAIT_S)
            return
        self.finishing = True
        try:
            self._finish()
        finally:
            self.finished.set()
            if self.platform is not None:
                self.platform.stop()

    def _finish(self) -> None:
        runner, record, ctx = self.runner, self.record, self.ctx
        assert record is not None
        if self.tests == 0:  # the web UI closed before any test, or test_start failed
            if self.platform is not None:
                self.platform.stop()
            record.discard()
            why = "the run stopped before it measured" if self.aborted else "no test ran"
            print(f"harness: {why}; nothing was recorded", flush=True)
            return
        if runner.state in MEASURING:  # not the planned end: a signal, the web UI
            record.stopping("stopped by a signal or the web UI before its planned end")
        if isinstance(runner, MasterRunner):
            if runner.state in MEASURING and not self.exiting:
                runner.stop()  # workers are told to stop; their finals are collected below
            self._wait_for_finals()  # at once if test_stop already collected them
        else:
            self._stop_users()
            self._merge(self.worker_id, self._final_delta())
        ctx.health.stop()
        try:
            body = record.finish(self.max_loop_lag_ms)
        except RecordWriteError as exc:
            self.environment.process_exit_code = 2
            if not self.aborted:  # else the one line has been said
                say_error(f"{exc}; run.json keeps its last version")
            return
        print(summary_text(body), flush=True)
        # Locust prints its own tables after `quitting`: the checks and where the results
        # are come last, after them.
        if self.exiting:  # atexit runs no handler registered while it runs
            print(self._end_block(), flush=True)
        else:
            atexit.register(print, self._end_block(), flush=True)

    def _end_block(self) -> str:
        """The benchmark checks, error budgets, lifecycles and verdict: of the report (built
        now with --report, from the raw samples), else of the merged histograms."""
        record = self.record
        assert record is not None and self.live is not None
        where = f"harness: results in {record.run_dir} (reports/latest points there)"
        if self.options.report:
            from harness.analysis.verdict import EXIT_CODES
            from harness.report.build import write_report

            try:
                summary, written = write_report(record.run_dir, self.benchmarks)
            except HarnessError as exc:
                self.environment.process_exit_code = 2
                return f"harness: error: no report: {exc}\n{where}"
            self.environment.process_exit_code = EXIT_CODES[summary["verdict"]]
            lines = ["harness: benchmark checks (the report's, from the raw samples)"]
            lines += [checks_table(summary), f"verdict: {summary['verdict'].upper()}"]
            lines += [f"  - {reason}" for reason in summary["reasons"]]
            if written:
                lines.append(f"report: {record.run_dir / 'report.html'}")
            return "\n".join([*lines, where])
        live = self.live.snapshot(fresh=True)
        return "\n".join(
            [
                "harness: benchmark checks (on the merged histograms, 3 significant figures)",
                checks_table(live),
                f"harness: verdict on the merged histograms: "
                f"{str(live['verdict_if_ended_now']).upper()}; `python -m harness report "
                f"{record.run_dir}` judges the raw samples and draws the report",
                where,
            ]
        )


# -- options to settings ----------------------------------------------------------------------


# Numeric command-line options: (attribute, flag, knob it sets or None, lowest, exclusive, whole)
_NUMBER_OPTIONS: tuple[tuple[str, str, str | None, float, bool, bool], ...] = (
    ("chats_per_session", "--chats-per-session", "chats_per_session", 0, False, True),
    ("message_length", "--message-length", "message_length", 1, False, True),
    ("session_duration", "--session-duration", "session_duration_s", 0, False, False),
    ("start_spread", "--start-spread", "start_spread_s", 0, False, False),
    ("heartbeat_interval", "--heartbeat-interval", None, 0, True, False),  # a setting
    ("max_loop_lag_ms", "--max-loop-lag-ms", None, 0, True, False),  # the health tolerance
    ("live_every", "--live-every", None, 0, False, False),  # 0: no live console block
)


def _think_time(text: str) -> tuple[float, float]:
    """--think-time LOW,HIGH: two finite numbers >= 0, LOW <= HIGH."""
    try:
        low, high = (float(x) for x in text.split(","))
    except ValueError:
        raise HarnessError(f"--think-time {text!r}: expected LOW,HIGH in seconds") from None
    low, high = number(low, "--think-time LOW", 0), number(high, "--think-time HIGH", 0)
    if low > high:
        raise HarnessError(f"--think-time {text!r}: LOW must be <= HIGH")
    return low, high


def _knobs(options: Any, scenario: Scenario | None) -> Knobs:
    """The users' knobs: the scenario's, overridden by the command line; every numeric option
    (knob or not) is checked here, before anything is created."""
    base = scenario.knobs if scenario else Knobs()
    changes: dict[str, Any] = {}
    for attribute, flag, knob, low, above, is_whole in _NUMBER_OPTIONS:
        value = getattr(options, attribute, None)
        if value is None:
            continue
        checked = whole(value, flag, low) if is_whole else number(value, flag, low, above=above)
        if knob:
            changes[knob] = checked
    if options.think_time:
        changes["think_time_s"] = _think_time(str(options.think_time))
    if options.conversations:
        changes["conversations"] = options.conversations
    if options.platform_profile is not None and options.platform_profile not in PROFILES:
        # refused now, not once a run directory exists and the platform refuses it
        raise HarnessError(
            f"--platform-profile {options.platform_profile!r}: choose from {', '.join(PROFILES)}"
        )
    return replace(base, **changes)


def _settings_for(options: Any, scenario: Scenario | None, host: str | None) -> Settings:
    cli: dict[str, object] = {**split_target(host)} if host else {}
    if options.headers:
        cli["headers"] = options.headers
    if options.ca_bundle:
        cli["ca_bundle"] = options.ca_bundle
    if options.insecure:
        cli["tls_verify"] = False
    if options.heartbeat_interval is not None:
        cli["heartbeat_interval_ms"] = options.heartbeat_interval * 1000
    if options.tenants is not None:
        cli["tenants"] = options.tenants
    if options.source_addresses is not None:
        cli["source_addresses"] = options.source_addresses
    env_file = Path(options.env_file) if options.env_file else None
    if env_file is None and Path(".env").is_file():
        env_file = Path(".env")
    return load_settings(
        cli=cli,
        env_file=env_file,
        scenario=scenario.settings if scenario else None,
        scenario_file=f"{scenario.name}.toml" if scenario else None,
    )


def _fire_request(environment: Environment) -> Callable[[PhaseSample], None]:
    """Each phase sample as a Locust request (its statistics, the web UI's tables). While
    Locust's own statistics are the request event's only listener, a sample goes straight to
    them: the event's dispatch (a handler list copied, keyword arguments, an exception
    object) was a third of this path's cost, several per cent of a lifecycle's CPU. Any
    other listener (a plugin's, a locustfile's) gets every sample through the event."""
    event = environment.events.request
    locusts_own = next((h for h in event._handlers if _is_locusts_own(h)), None)
    stats = environment.stats

    def fire_sample(sample: PhaseSample) -> None:
        name, ms = sample.phase, sample.duration_us / 1000
        handlers = event._handlers
        if len(handlers) == 1 and handlers[0] is locusts_own:
            stats.log_request("WS", name, ms, 0)  # type: ignore[arg-type]  # as the event passes it
            if not sample.ok:
                stats.log_error("WS", name, PhaseFailed(sample.error))
            return
        event.fire(
            request_type="WS",
            name=name,
            response_time=ms,
            response_length=0,
            exception=None if sample.ok else PhaseFailed(sample.error),
            context={},
        )

    return fire_sample


def _is_locusts_own(handler: Any) -> bool:
    """The request listener Locust's runner adds to keep its statistics (a locustfile's or a
    plugin's, registered before the harness wires itself, is not)."""
    return getattr(handler, "__module__", None) == "locust.runners" and getattr(
        handler, "__qualname__", ""
    ).endswith("Runner.__init__.<locals>.on_request")


def _interrupt_main(main: Any) -> None:
    main.throw(KeyboardInterrupt())


_SIGINTS: list[float] = []


def _interrupt_main_second_time(main: Any) -> None:
    _SIGINTS.append(time.monotonic())
    if len(_SIGINTS) > 1:
        _interrupt_main(main)


RUN_TOKEN_ENV = "HARNESS_RUN_TOKEN"
ADMIN_TOKEN_ENV = "MIPTECH_ADMIN_TOKEN"  # an external reference platform's, for the storm


def new_run_token() -> str:
    """A new token for this run, in the environment: the workers `--processes` forks
    inherit it, so a worker joins only the master of its own run."""
    token = os.environ[RUN_TOKEN_ENV] = secrets.token_hex(8)
    return token


def _run_token(create: bool = True) -> str | None:
    """This run's token (a master that forked no workers makes one)."""
    token = os.environ.get(RUN_TOKEN_ENV)
    return new_run_token() if token is None and create else token
