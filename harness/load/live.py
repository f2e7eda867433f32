"""The live view of a run, on the master or a local runner: the Benchmarks tab in Locust's
web UI, its JSON at `/harness/live`, the console block every `--live-every` seconds, and the
checks table at the end. All of them show one snapshot (harness.analysis.live), made from
the merged histograms the coordinator keeps anyway, at most once a second.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import LocalRunner

from harness.analysis.benchmarks import Benchmarks
from harness.analysis.live import live_summary
from harness.record.runfile import RunRecord
from harness.redact import mask_data
from harness.report.summary_text import live_block, live_rows

LIVE_PATH = "/harness/live"
TAB_KEY = "harness-benchmarks"
SNAPSHOT_EVERY_S = 1.0
# The tab's table: one row per check, phase, lifecycle count and process (Locust's web UI
# shows one table per extra tab; rows of each kind fill the columns that apply to them).
TAB_COLUMNS = (
    ("section", "section"),
    ("name", "name"),
    ("value", "current"),
    ("limit", "limit"),
    ("status", "status"),
    ("count", "count"),
    ("errors", "errors"),
    ("p50", "p50 ms"),
    ("p90", "p90 ms"),
    ("p95", "p95 ms"),
    ("p99", "p99 ms"),
    ("max", "max ms"),
)


class LiveView:
    """Snapshots of the run for people and scripts, while it goes."""

    def __init__(
        self,
        environment: Environment,
        record: RunRecord,
        bench: Benchmarks,
        tolerance_ms: float,
        merge_local: Callable[[], None],
    ) -> None:
        self.environment = environment
        self.record = record
        self.bench = bench
        self.tolerance_ms = tolerance_ms
        self.merge_local = merge_local  # a local runner merges its own figures on demand
        self._snapshot: dict[str, Any] | None = None
        self._taken_at = 0.0

    def snapshot(self, fresh: bool = False) -> dict[str, Any]:
        """The run now (at most SNAPSHOT_EVERY_S old unless `fresh`), masked."""
        now = time.monotonic()
        if self._snapshot is not None and not fresh and now - self._taken_at < SNAPSHOT_EVERY_S:
            return self._snapshot
        runner = self.environment.runner
        if isinstance(runner, LocalRunner):
            self.merge_local()
        record = self.record
        body = live_summary(
            record.merged,
            self.bench,
            health=record.health(self.tolerance_ms),
            elapsed_s=record.actual_s or 0.0,
            planned_s=record.planned_s,
            users=runner.user_count if runner is not None else 0,
            lost_workers=sorted(record.lost),
        )
        body = {
            "run_id": record.run_id,
            "state": runner.state if runner is not None else None,
            "benchmarks": self.bench.source,
            **body,
        }
        self._snapshot, self._taken_at = mask_data(body), now
        return self._snapshot

    # -- Locust's web UI ------------------------------------------------------------------

    def add_to_web_ui(self) -> None:
        """The Benchmarks tab (an extra tab of Locust's web UI, filled from the stats it
        polls every 2 s) and the JSON path; both behind the web UI's login when it has one."""
        web_ui = self.environment.web_ui
        if web_ui is None:
            return
        web_ui.template_args["extended_tabs"] = [{"title": "Benchmarks", "key": TAB_KEY}]
        web_ui.template_args["extended_tables"] = [
            {
                "key": TAB_KEY,
                "structure": [{"key": key, "title": title} for key, title in TAB_COLUMNS],
            }
        ]
        app = web_ui.app
        if app is None:
            return

        @app.route(LIVE_PATH)
        @web_ui.auth_required_if_enabled
        def harness_live() -> Any:
            return app.response_class(
                json.dumps(self.snapshot(), allow_nan=False), mimetype="application/json"
            )

        @app.after_request
        def add_benchmarks_rows(response: Any) -> Any:
            from flask import request

            if request.path != "/stats/requests" or response.status_code != 200:
                return response
            if self.record.status == "starting":
                return response  # nothing measured yet
            body = response.get_json(silent=True)
            if isinstance(body, dict):
                rows = live_rows(self.snapshot())
                body["extended_stats"] = [{"key": TAB_KEY, "data": rows}]
                response.set_data(json.dumps(body))
            return response

    # -- the console ------------------------------------------------------------------------

    def print_forever(self, every_s: float) -> None:
        """One block every `every_s` seconds while the run measures."""
        while True:
            gevent.sleep(every_s)
            if self.record.status == "running":
                print(live_block(self.snapshot(fresh=True)), flush=True)
