"""Locust wiring: the harness's command-line options, and one Coordinator per process
(harness/load/coordinator.py) created at `init`, whose methods listen to Locust's events."""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import Runner

from harness.crash import report_crash
from harness.errors import HarnessError
from harness.load import locust_fixes
from harness.load.coordinator import RUN_TOKEN_ENV, Coordinator, fail, new_run_token
from harness.redact import mask_console

locust_fixes.install()  # Locust's worker bookkeeping, without the stalls
# A greenlet need not keep the stack it was spawned from (a debugging aid, on by default):
# with ten thousand held sessions a process, it was memory each for nothing.
gevent.config.track_greenlet_tree = False
mask_console()  # no password, token or header value reaches the console, whoever prints it


@events.init_command_line_parser.add_listener
def add_options(parser: Any) -> None:
    g = parser.add_argument_group("MIPTech harness")
    g.add_argument("--scenario", default="", help="scenario name (scenarios/NAME.toml) or path")
    g.add_argument("--chats-per-session", type=int, default=None, help="chats per lifecycle")
    g.add_argument("--think-time", default=None, help="seconds between chats, LOW,HIGH")
    g.add_argument(
        "--conversations",
        default=None,
        metavar="FILE",
        help="what users say: a JSONL or CSV file of conversations (turns, think times, step "
        "names, tenants; see README 'Write your own users'); default: the bundled support-chat "
        "corpus",
    )
    g.add_argument(
        "--tenants",
        default=None,
        metavar="A:70,B:30",
        help="a tenant mix: each lifecycle's tenant drawn with these weights; every figure is "
        "also broken down by tenant (default: --tenant / MIPTECH_TENANT_ID alone)",
    )
    g.add_argument(
        "--source-addresses",
        default=None,
        metavar="A-B,C",
        help="connect from these local addresses in turn (e.g. 127.0.0.2-127.0.0.9): each has "
        "its own ~28,000 ephemeral ports to the platform (default: the system's choice)",
    )
    g.add_argument(
        "--message-length",
        type=int,
        default=None,
        help="send filler messages of this many characters instead of the conversations",
    )
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
    g.add_argument(
        "--benchmarks",
        default=None,
        metavar="FILE",
        help="the benchmark table the live view checks (and --report; default "
        "scenarios/benchmarks.toml)",
    )
    g.add_argument(
        "--live-every",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="print the harness's live block (checks, errors, health) this often; 0: never "
        "(also off with --only-summary)",
    )
    g.add_argument(
        "--report",
        action="store_true",
        help="at the end, build the report (python -m harness report) and exit with its "
        "verdict: 0 pass, 1 fail, 2 invalid",
    )
    g.add_argument("--reports-dir", default="reports", help="where run directories go")
    g.add_argument(
        "--run-id",
        default=None,
        help="name of the run directory (reports/runs/RUN_ID; default: time and 4 hex digits)",
    )
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
        "--header",
        dest="headers",
        action="append",
        default=None,
        metavar="'NAME: VALUE'",
        help="send this header with every WebSocket upgrade (repeatable): Authorization, an "
        "API key, a Cookie; its value is masked in every output",
    )
    g.add_argument(
        "--ca-bundle", default=None, help="CA certificates (PEM) to verify a wss:// platform with"
    )
    g.add_argument(
        "--insecure",
        action="store_true",
        help="do not verify the platform's TLS certificate (warned at start, shown in the report)",
    )
    g.add_argument(
        "--no-locust-stats",
        action="store_true",
        help="do not feed phases to Locust's own statistics (console, web UI): a few per cent "
        "less harness CPU; run.json, histograms and reports are unaffected",
    )
    _own_master_port(parser)


_FORKER = RUN_TOKEN_ENV + "_FORKER"


def _own_master_port(parser: Any) -> None:
    """`--processes N` forks its workers from this process after parsing: give this run a
    free master port (not Locust's fixed 5557, which a second run on the machine cannot bind,
    leaving its workers to join the first run) and a token its workers check."""
    argv = sys.argv[1:]
    if not any(a == "--processes" or a.startswith("--processes=") for a in argv):
        return
    # set once, by the process that forks (its children parse the options again)
    if "--worker" in argv or os.environ.get(_FORKER) in (str(os.getpid()), str(os.getppid())):
        return
    os.environ[_FORKER] = str(os.getpid())
    new_run_token()
    if any(a.startswith(("--master-port", "--master-bind-port")) for a in argv):
        return
    port = free_master_port()
    parser.set_defaults(master_port=port, master_bind_port=port)


def free_master_port() -> int:
    """A port free on every address, as the master binds it (Locust's `*`). One free on
    127.0.0.1 only could still be held on another address: after 50,000 sessions from
    127.0.0.1-4, a client port in TIME_WAIT on 127.0.0.2 made the master's bind fail, and
    its workers retried for five minutes with nothing to join."""
    with socket.socket() as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


@events.init.add_listener
def on_init(environment: Environment, runner: Runner, **_: Any) -> None:
    try:
        coordinator = Coordinator(environment)
        coordinator.wire()
    except HarnessError as exc:
        fail(str(exc))
    except Exception as exc:  # the last resort: one line, the traceback in a file
        sys.exit(report_crash("harness", exc))
