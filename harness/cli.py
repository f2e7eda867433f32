"""`python -m harness ...`: thin commands over the package. Bad input: one line, exit 2."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from harness import __version__
from harness.checks import range_problem, range_text
from harness.config import Settings, load_settings, setting_problem, split_target
from harness.crash import report_crash
from harness.errors import HarnessError
from harness.protocol.messages import ENDPOINT
from harness.redact import mask_console


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and still exit 2)."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments: "):
            # argparse quotes every word, and a mistyped --header's value is a secret
            words = message.removeprefix("unrecognized arguments: ").split()
            options = [w.split("=", 1)[0] for w in words if w.startswith("-")]
            message = f"unrecognized arguments: {' '.join(options) or f'{len(words)} word(s)'}"
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _number(
    low: float, high: float | None = None, *, above: bool = False, whole: bool = False
) -> Callable[[str], float]:
    """An argparse type: a finite number (whole if asked) in range, else one usage line."""

    def parse(text: str) -> float:
        allowed = range_text(low, high, above=above, whole=whole)
        try:
            value = int(text) if whole else float(text)
        except ValueError:
            value = None
        if value is None or range_problem(value, low, high, above=above):
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed; expected {allowed}")
        return value

    return parse


PERCENT = _number(0, 1000, above=True)  # --min-change: above 0, at most a tenfold change
SECONDS = _number(0)  # --warmup
MAX_MS = 3_600_000.0  # a timeout of an hour or more is a typing mistake


def _settings(args: argparse.Namespace) -> Settings:
    """Settings from the command line over environment, .env and defaults."""
    cli: dict[str, object] = {**split_target(args.url)} if getattr(args, "url", None) else {}
    for name in ("tenant_id", "endpoint", "ca_bundle", "headers"):
        if getattr(args, name, None):
            cli[name] = getattr(args, name)
    if getattr(args, "insecure", False):
        cli["tls_verify"] = False
    if getattr(args, "debug", False):
        cli["debug"] = True
    env_file = args.env_file or (Path(".env") if Path(".env").is_file() else None)
    return load_settings(cli=cli, env_file=env_file)


def _target_options(p: argparse.ArgumentParser, url_help: str) -> None:
    p.add_argument("--url", help=url_help)
    p.add_argument("--tenant", dest="tenant_id", help="tenant id (default miptech-company)")
    p.add_argument("--env-file", type=Path, help="a .env file to read (default ./.env if present)")
    p.add_argument("--ca-bundle", help="CA certificates (PEM) to verify a wss:// platform with")
    p.add_argument(
        "--insecure",
        action="store_true",
        help="do not verify the platform's TLS certificate (recorded and warned about)",
    )
    p.add_argument(
        "--header",
        dest="headers",
        action="append",
        metavar="'NAME: VALUE'",
        help="send this header with the WebSocket upgrade (repeatable): Authorization, an API "
        "key, a Cookie; its value is masked in every output",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m harness",
        description="Load and latency harness for the MIPTech chat platform's WebSocket API.",
        epilog="Settings also come from MIPTECH_* or the document's REACT_APP_* environment "
        "variables and a .env file; see README.md.",
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    serve = commands.add_parser(
        "serve",
        help="run the reference platform",
        description="Run the reference platform: PROTOCOL.md over real sockets.",
    )
    serve.add_argument("--host", default="localhost", help="address to bind (default localhost)")
    serve.add_argument(
        "--port",
        type=_number(0, 65535, whole=True),
        default=8000,
        help="port (default 8000; 0 = any free)",
    )
    serve.add_argument(
        "--profile",
        default="documented",
        help="timing profile: documented (default), fast, degraded",
    )
    serve.add_argument(
        "--set",
        dest="knobs",
        action="append",
        default=[],
        metavar="KNOB=VALUE",
        help="override a profile knob, e.g. --set init_ms=250 --set ready_timeout_rate=0.1",
    )
    serve.add_argument(
        "--tenant", dest="tenant_id", help="accept only this tenant (default: any tenant)"
    )
    serve.add_argument(
        "--endpoint",
        dest="endpoints",
        action="append",
        help=f"serve WebSocket on this path (repeatable; default {ENDPOINT})",
    )
    serve.add_argument("--auth-timeout-ms", type=_number(0, MAX_MS, above=True), default=10_000.0)
    serve.add_argument(
        "--ground-truth",
        type=Path,
        help="write per-session events to this directory (auth stamped by the kernel on "
        "arrival; runs on asyncio's own loop instead of uvloop)",
    )
    serve.add_argument(
        "--seed", type=_number(0, whole=True), help="seed the profile's random draws"
    )
    serve.add_argument(
        "--workers", type=_number(1, 64, whole=True), default=1, help="server processes on one port"
    )
    serve.add_argument("--certfile", type=Path, help="serve wss:// with this certificate (PEM)")
    serve.add_argument("--keyfile", type=Path, help="... and this private key (PEM)")
    serve.add_argument("--debug", action="store_true", help="log the server library's details")
    serve.add_argument(
        "--admin-token",
        help="the token admin requests (/_harness/*) must carry in X-Harness-Token (default: "
        "env MIPTECH_ADMIN_TOKEN, else a random one, printed when the platform starts)",
    )

    probe = commands.add_parser(
        "probe",
        help="one lifecycle and its timings (the document's ConnectionTest)",
        description="Connect, wait 100 ms, authenticate, wait for connection_ready, send one "
        "chat and one heartbeat, close; print the ConnectionTest figures. Exit 0 only when "
        "the platform became READY, else 1 naming the error class.",
    )
    _target_options(probe, "platform URL, e.g. ws://localhost:8000 (default from settings)")
    probe.add_argument("--endpoint", help=f"endpoint path (default {ENDPOINT})")
    probe.add_argument("--message", default="Hello from the MIPTech harness probe")
    probe.add_argument("--no-chat", action="store_true", help="skip the chat round trip")
    probe.add_argument("--json", action="store_true", help="print the result as JSON")
    probe.add_argument(
        "--embedded",
        metavar="PROFILE",
        help="start the reference platform with this profile on a free port, probe it, stop it",
    )
    probe.add_argument(
        "--debug", action="store_true", help="print the document's console log sequence"
    )

    conform = commands.add_parser(
        "conform",
        help="check the platform rules of PROTOCOL.md, one at a time",
        description="Probe each platform rule of PROTOCOL.md over its own connection, one "
        "rule after another (a handful of frames each, never load: safe against production) "
        "and print rule, expected, observed, status. Exit 0 only when every rule run passed, "
        "1 when one failed or could not be checked (skip), 2 for bad input or a platform that "
        "cannot be reached.",
    )
    _target_options(conform, "platform URL, e.g. ws://localhost:8000 (default from settings)")
    conform.add_argument("--endpoint", help=f"endpoint path (default {ENDPOINT})")
    conform.add_argument("--only", metavar="RULE[,RULE]", help="run only these rules")
    conform.add_argument("--skip", metavar="RULE[,RULE]", help="run every rule but these")
    conform.add_argument(
        "--timeout-ms",
        type=_number(0, MAX_MS, above=True),
        default=5000.0,
        help="wait this long for an answer that is not to a chat (default 5000; chats wait "
        "chat_timeout_ms, connection_ready ready_timeout_ms)",
    )
    conform.add_argument(
        "--auth-timeout-ms",
        type=_number(0, MAX_MS, above=True),
        default=10_000.0,
        help="the platform's auth timeout (default 10000, as PROTOCOL.md says)",
    )
    conform.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML here")
    conform.add_argument("--markdown", type=Path, metavar="FILE", help="write Markdown here")

    disc = commands.add_parser(
        "discover",
        help="the document's endpoint discovery",
        description="Try /api/v1/ws/chat, /api/v1/ws, /ws and /api/ws at once (5 s each) and "
        "choose the first that opens, in that order. Exit 0 if one did, 1 if none did.",
    )
    _target_options(disc, "platform base URL, e.g. ws://localhost:8000")
    disc.add_argument(
        "--timeout-ms",
        type=_number(0, MAX_MS, above=True),
        default=5000.0,
        help="per endpoint (default 5000)",
    )

    report = commands.add_parser(
        "report",
        help="analyse a run: summary.json, report.html, junit.xml, summary.md",
        description="Check a run's per-phase percentiles (exact, on the raw samples) against the "
        "benchmark table and write summary.json, report.html, junit.xml and summary.md into the "
        "run directory. Exit 0 pass, 1 fail, 2 bad input or an invalid run.",
    )
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="e.g. reports/latest")
    report.add_argument(
        "--benchmarks", type=Path, help="benchmark table (default scenarios/benchmarks.toml)"
    )
    report.add_argument("--warmup", type=SECONDS, help="seconds left out at the start of the run")

    night = commands.add_parser(
        "nightly",
        help="trials of the nightly scenario compared with the baseline",
        description="Run the nightly scenario as independent trials, report each, compare the "
        "night with the baseline (reports/baseline/baseline.json), append it to the history and "
        "redraw the trends. Exit 0 no regression, 1 regression, 2 bad input or invalid night.",
    )
    night.add_argument(
        "--trials",
        type=_number(1, 1000, whole=True),
        default=5,
        help="independent trials (default 5)",
    )
    night.add_argument("--scenario", default="nightly", help="scenario (default nightly)")
    night.add_argument("--host", help="target (default: the built-in reference platform)")
    night.add_argument("--platform-profile", help="profile of the built-in platform")
    night.add_argument("--reports-dir", type=Path, default=Path("reports"))
    night.add_argument("--warmup", type=SECONDS, default=5.0, help="s left out of each trial")
    night.add_argument("--min-change", type=PERCENT, default=10.0, help="percent (default 10)")

    comp = commands.add_parser(
        "compare",
        help="compare runs with a baseline, per phase and statistic",
        description="Compare CURRENT runs with BASELINE (a baseline file, or run directories): "
        "ratio of p50/p95/p99 with an interval drawn from trials (or time blocks), a regression "
        "only when larger than --min-change and significant. Exit 0, 1 regression, 2 bad input.",
    )
    comp.add_argument("baseline", type=Path, metavar="BASELINE", help="baseline.json or a run dir")
    comp.add_argument("current", type=Path, nargs="+", metavar="CURRENT", help="run directories")
    comp.add_argument("--min-change", type=PERCENT, default=10.0, help="percent (default 10)")
    comp.add_argument("--warmup", type=SECONDS, default=0.0)

    base = commands.add_parser("baseline", help="set or show the nightly baseline")
    base_commands = base.add_subparsers(dest="baseline_command", required=True, parser_class=Parser)
    base_set = base_commands.add_parser("set", help="make these runs the baseline")
    base_set.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR")
    base_set.add_argument("--reports-dir", type=Path, default=Path("reports"))
    base_set.add_argument("--warmup", type=SECONDS, default=5.0)
    base_show = base_commands.add_parser("show", help="print the current baseline")
    base_show.add_argument("--reports-dir", type=Path, default=Path("reports"))

    trends = commands.add_parser("trends", help="render reports/history/trends.html")
    trends.add_argument("--reports-dir", type=Path, default=Path("reports"))
    return parser


def cmd_serve(args: argparse.Namespace) -> int:
    import os
    import secrets

    from harness.server.app import ServerConfig
    from harness.server.profiles import build_profile, platform_rules
    from harness.server.workers import binds_loopback_only, serve

    knobs = {}
    for item in args.knobs:
        key, sep, value = item.partition("=")
        if not sep:
            raise HarnessError(f"--set {item!r}: expected KNOB=VALUE")
        knobs[key.strip()] = value.strip()
    for name, flag, values in (
        ("endpoint", "--endpoint", args.endpoints or ()),
        ("tenant_id", "--tenant", [args.tenant_id] if args.tenant_id is not None else []),
    ):
        for value in values:
            problem = setting_problem(name, value)
            if problem:
                raise HarnessError(f"{flag} {value!r}: {problem}")
    if args.ground_truth and args.ground_truth.exists() and not args.ground_truth.is_dir():
        raise HarnessError(f"--ground-truth {args.ground_truth}: exists and is not a directory")
    if bool(args.certfile) != bool(args.keyfile):
        raise HarnessError("--certfile and --keyfile go together")
    for path in (args.certfile, args.keyfile):
        if path and not path.is_file():
            raise HarnessError(f"no such file: {path}")
    token = args.admin_token or os.environ.get("MIPTECH_ADMIN_TOKEN") or secrets.token_urlsafe(32)
    if len(token) < 16 or not all("!" <= c <= "~" for c in token):
        named = "--admin-token" if args.admin_token else "MIPTECH_ADMIN_TOKEN"
        raise HarnessError(f"{named}: needs 16 or more printable ASCII characters, no spaces")
    profile = build_profile(args.profile, knobs)
    config = ServerConfig(
        host=args.host,
        port=args.port,
        profile=profile,
        rules=platform_rules(profile, args.tenant_id, args.auth_timeout_ms / 1000),
        endpoints=tuple(args.endpoints or (ENDPOINT,)),
        ground_truth_dir=args.ground_truth,
        seed=args.seed,
        certfile=args.certfile,
        keyfile=args.keyfile,
        workers=args.workers,
        admin_token=token,
    )
    p = config.profile
    if not binds_loopback_only(args.host):
        print(
            f"harness serve: warning: {args.host or 'every address'} is reachable from the "
            "network; the admin endpoints (/_harness/*) are protected only by the admin token",
            file=sys.stderr,
            flush=True,
        )

    def announce(url: str) -> None:
        print(
            f"reference platform listening on {url} (profile {p.name}, "
            f"{config.workers} worker{'s' if config.workers > 1 else ''}); "
            f"admin token {token}; Ctrl-C stops it",
            flush=True,
        )

    try:
        serve(config, announce, debug=args.debug)
    except OSError as exc:
        raise HarnessError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from harness.probe import format_result, run_probe

    if args.embedded:
        from harness.embedded import embedded_platform
        from harness.server.profiles import PROFILES

        if args.embedded not in PROFILES:  # bad input stops here, before a platform starts
            raise HarnessError(f"--embedded {args.embedded!r}: choose from {', '.join(PROFILES)}")
        _settings(args)
        with embedded_platform("--profile", args.embedded) as platform:
            print(f"started the reference platform (profile {args.embedded}) at {platform.url}")
            args.url, args.embedded = platform.base, None
            return cmd_probe(args)
    settings = _settings(args)
    if not args.no_chat and not 0 < len(args.message) <= settings.max_message_length:
        raise HarnessError(
            f"--message: {len(args.message)} characters; 1 to max_message_length "
            f"({settings.max_message_length}) allowed"
        )
    log = (lambda line: print(line, flush=True)) if settings.debug else None
    result = run_probe(settings, chat=None if args.no_chat else args.message, log=log)
    if args.json:
        body = {
            "url": result.url,
            "ready": result.ready,
            "error": result.error,
            "detail": result.detail,
            "connectionTime": result.connection_time_ms,
            "readyTime": result.ready_time_ms,
            "authDelay": result.auth_delay_ms,
            "phases_ms": result.phases_ms,
            "metrics": result.metrics,
        }
        print(json.dumps(body, indent=2))
    else:
        print(format_result(result, settings))
    return 0 if result.ready else 1


def cmd_conform(args: argparse.Namespace) -> int:
    from harness import conform
    from harness.record.files import write_text

    rules = conform.select(args.only, args.skip)
    for flag, path in (("--junit", args.junit), ("--markdown", args.markdown)):
        if path is not None and (path.is_dir() or not path.parent.is_dir()):
            problem = "is a directory" if path.is_dir() else "its directory does not exist"
            raise HarnessError(f"{flag} {path}: {problem}")
    settings = _settings(args)
    target = conform.make_target(settings, args.timeout_ms / 1000, args.auth_timeout_ms / 1000)
    conform.reachable(target)
    shown = target.url("SESSION").partition("?")[0]
    print(
        f"conformance of {shown} (tenant {settings.tenant_id}): {len(rules)} rules, one at a time"
    )
    table = conform.Table(rules, target)
    print(table.header(), flush=True)
    results = conform.run(target, rules, lambda r: print(table.line(r), flush=True))
    print(conform.counts(results))
    if args.junit:
        write_text(args.junit, conform.junit_xml(results, shown))
    if args.markdown:
        write_text(args.markdown, conform.markdown(results, shown))
    return conform.exit_code(results)


def cmd_discover(args: argparse.Namespace) -> int:
    from harness.discovery import discover

    settings = _settings(args)
    timeout = args.timeout_ms / 1000
    print(
        f"endpoint discovery on {settings.ws_url} (tenant {settings.tenant_id}, {timeout:g} s each)"
    )
    found = discover(settings, timeout)
    for r in found.results:
        print(f"  {r.endpoint:<16} {'available' if r.success else 'failed':<10} {r.detail}")
    if found.found:
        print(f"chosen: {found.chosen}")
        return 0
    print(f"no endpoint answered; falling back to the default {found.chosen}")
    return 1


def cmd_report(args: argparse.Namespace) -> int:
    from harness.analysis.verdict import EXIT_CODES
    from harness.report.build import write_report
    from harness.report.summary_text import checks_table

    summary, written = write_report(args.run_dir, args.benchmarks, args.warmup, _progress())
    run_dir = args.run_dir
    failing = [c for c in summary["checks"] if c.get("point") == "fail"]
    print(checks_table(summary))
    print(f"verdict: {summary['verdict'].upper()}")
    for reason in summary["reasons"]:
        print(f"  - {reason}")
    for c in failing:
        print(f"  - {c['phase']} {c['stat']} = {c['value_ms']} ms, limit {c['limit_ms']:g} ms")
    for b in summary["error_budgets"]:
        if b["status"] == "fail":
            print(f"  - {b['error_class']}: {100 * b['rate']:.2f}% > {100 * b['limit_rate']:g}%")
    if written:
        print(f"report: {run_dir / 'report.html'}")
    return EXIT_CODES[summary["verdict"]]


def _progress(every_s: float = 3.0) -> Callable[[str], None]:
    """Say how a long step goes, on stderr, once it has taken `every_s` and then at most
    that often (a quick one says nothing)."""
    import time

    start = time.monotonic()
    said = [start]

    def say(what: str) -> None:
        now = time.monotonic()
        if now - said[0] >= every_s or (said[0] > start and what.startswith("drawing")):
            said[0] = now
            print(f"harness report: {what} ({now - start:.0f} s)", file=sys.stderr, flush=True)

    return say


def _reports_dir(path: Path) -> Path:
    if path.exists() and not path.is_dir():
        raise HarnessError(f"--reports-dir {path}: exists and is not a directory")
    return path


def cmd_nightly(args: argparse.Namespace) -> int:
    from harness.load.scenario import load_scenario
    from harness.nightly.run import Settings, nightly
    from harness.server.profiles import PROFILES

    # Everything a trial would refuse is refused before the first trial starts.
    load_scenario(args.scenario)
    if args.host is not None and (problem := setting_problem("ws_url", args.host)):
        raise HarnessError(f"--host {args.host!r}: {problem}")
    if args.platform_profile is not None and args.platform_profile not in PROFILES:
        raise HarnessError(
            f"--platform-profile {args.platform_profile!r}: choose from {', '.join(PROFILES)}"
        )
    _reports_dir(args.reports_dir)
    extra = ("--platform-profile", args.platform_profile) if args.platform_profile else ()
    return nightly(
        Settings(
            trials=args.trials,
            scenario=args.scenario,
            host=args.host,
            reports=args.reports_dir,
            warmup_s=args.warmup,
            min_change=args.min_change / 100,
            extra_locust_args=extra,
        )
    )


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.nightly.baseline import load_baseline
    from harness.nightly.compare import overall
    from harness.nightly.replicates import side_from_runs
    from harness.nightly.run import Settings, compare_sides

    if args.baseline.suffix == ".json":
        baseline, _ = load_baseline(args.baseline)
    else:
        baseline = side_from_runs([args.baseline], args.warmup)
    current = side_from_runs(args.current, args.warmup)
    kind, changes = compare_sides(baseline, current, Settings(min_change=args.min_change / 100))
    head = f"{'phase':<14}{'stat':<6}{'baseline':>10}{'current':>10}{'ratio':>8}"
    print(f"{head}  {'interval':<15} verdict")
    for c in changes:
        interval = f"{c.low}-{c.high}" if c.low is not None else "-"
        print(
            f"{c.phase:<14}{c.stat:<6}{c.baseline_ms or '-':>10}{c.current_ms or '-':>10}"
            f"{c.ratio or '-':>8}  {interval:<15} {c.verdict}"
        )
    verdict = overall(changes)
    print(f"{verdict.upper() if verdict == 'regression' else verdict} ({kind} as replicates)")
    return 1 if verdict == "regression" else 0


def cmd_baseline(args: argparse.Namespace) -> int:
    from harness.nightly.baseline import baseline_dir, load_baseline, set_baseline

    if args.baseline_command == "set":
        path = set_baseline(args.runs, _reports_dir(args.reports_dir), args.warmup)
        print(f"baseline set from {len(args.runs)} run(s): {path}")
        return 0
    side, body = load_baseline(baseline_dir(_reports_dir(args.reports_dir)) / "baseline.json")
    print(
        f"baseline version {body['version']} ({body['created']}): scenario {side.scenario} "
        f"against {side.target}, {len(side.runs)} runs"
    )
    for run in side.runs:
        print(f"  {run['run_id']}  commit {run.get('git_commit') or '-'}")
    for phase, stats in side.trials.items():
        figures = ", ".join(f"{k} {sum(v) / len(v):.1f}" for k, v in stats.items())
        print(f"  {phase:<14} {figures} ms")
    return 0


def cmd_trends(args: argparse.Namespace) -> int:
    from harness.nightly.run import write_trends

    print(f"trends: {write_trends(_reports_dir(args.reports_dir))}")
    return 0


COMMANDS = {
    "serve": cmd_serve,
    "probe": cmd_probe,
    "conform": cmd_conform,
    "discover": cmd_discover,
    "report": cmd_report,
    "nightly": cmd_nightly,
    "compare": cmd_compare,
    "baseline": cmd_baseline,
    "trends": cmd_trends,
}


def main(argv: list[str] | None = None) -> int:
    """Exit codes (README "Exit codes"): 0 pass, 1 fail or regression, 2 bad input or an
    invalid run, 3 an internal error of the harness, 130 interrupted."""
    mask_console()  # no password or token reaches the console, whoever prints it
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except HarnessError as exc:
        print(f"harness {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `| head`: the reader has gone; nothing more to say
        with contextlib.suppress(OSError, ValueError):  # no error at exit's flush either
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:
        return report_crash(f"harness {args.command}", exc)
