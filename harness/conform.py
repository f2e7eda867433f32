"""`harness conform`: the platform rules of PROTOCOL.md, probed one at a time over real
connections.

Each rule is a row of RULES: its stable name, what a conforming platform does, and a check
that opens its own connection, sends a handful of frames and says what it observed. Nothing
here is load: rules run one after another, one connection at a time, and the most any rule
sends is `rate_limit_requests + 1` chats. Every wait has a deadline, so a silent platform
fails a rule ("no answer in N s") and never hangs the command:

- an answer to a chat: the chat timeout (`chat_timeout_ms`, 30 s by default);
- `connection_ready` after auth: the ready timeout (`ready_timeout_ms`, 10 s);
- the close for want of auth: the platform's auth timeout (as the user says) + the answer
  timeout;
- any other answer: the answer timeout (`conform --timeout-ms`, 5 s).

What the document's client does (reach ready, see a reply to its end) goes through the
client state machine (`Client`: ClientSession over transport.Connection), so the rule holds
for the harness's own client; frames that client never sends (no auth, another tenant's
auth, non-JSON, an unknown type, an over-long chat, a chat before ready) go through `Peer`,
a raw websocket-client connection.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import websocket
from websocket import ABNF

from harness.config import Settings
from harness.discovery import discover
from harness.errors import ErrorClass, HarnessError
from harness.protocol import messages as m
from harness.protocol.clock import MonotonicClock
from harness.protocol.messages import ErrorCode
from harness.protocol.session import ClientSession, Phase, PhaseSample, State
from harness.redact import mask_data
from harness.report.ci import junit_document
from harness.transport import Connection, TlsOptions, describe

POLICY_VIOLATION = 1008
MAX_RATE_CHATS = 50  # reaching a rate limit past this many chats is load, not a check


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"  # could not be checked (the observed text says why): not a pass


@dataclass(frozen=True)
class Finding:
    status: Status
    observed: str


def passed(observed: str) -> Finding:
    return Finding(Status.PASS, observed)


def failed(observed: str) -> Finding:
    return Finding(Status.FAIL, observed)


class Skip(Exception):
    """The rule cannot be checked (its connection never became ready): the reason."""


class NoConnection(Exception):
    """A rule's connection did not open: what happened."""


# -- the target ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    settings: Settings
    endpoint: str
    answer_timeout_s: float = 5.0
    auth_timeout_s: float = 10.0  # the platform's, as the user says it is

    @property
    def tls(self) -> TlsOptions:
        return TlsOptions(self.settings.tls_verify, self.settings.ca_bundle)

    @property
    def ready_timeout_s(self) -> float:
        return self.settings.ready_timeout_ms / 1000

    @property
    def chat_timeout_s(self) -> float:
        return self.settings.chat_timeout_ms / 1000

    def url(self, session_id: str, without: str | None = None) -> str:
        """The document's session URL; `without`: that query key left out."""
        url = self.settings.session_url(session_id, self.endpoint)
        if without is None:
            return url
        head, _, query = url.partition("?")
        items = [item for item in query.split("&") if item.partition("=")[0] != without]
        return f"{head}?{'&'.join(items)}"

    def facts(self) -> dict[str, str]:
        """What a rule's expected text names."""
        s = self.settings
        return {
            "max_length": str(s.max_message_length),
            "rate": str(s.rate_limit_requests),
            "rate_past": str(s.rate_limit_requests + 1),
            "auth_timeout": f"{self.auth_timeout_s:g}",
        }


def make_target(settings: Settings, answer_timeout_s: float, auth_timeout_s: float) -> Target:
    endpoint = discover(settings).chosen if settings.endpoint_discovery else settings.endpoint
    return Target(settings, endpoint, answer_timeout_s, auth_timeout_s)


# -- what came: events, and saying them in words ---------------------------------------------


@dataclass(frozen=True)
class Closed:
    code: int | None  # None: the connection was lost without a close frame
    reason: str
    after_s: float  # since the connection opened


@dataclass(frozen=True)
class Garbled:
    """A platform frame that is not a message the harness can read."""

    problem: str


Event = m.ServerEvent | Closed | Garbled


def ms(seconds: float) -> str:
    millis = seconds * 1000
    return f"{millis:.1f} ms" if millis < 10 else f"{millis:.0f} ms"


def said(event: object, waited_s: float) -> str:
    """What an answer (or its absence after `waited_s`) was, in a few words."""
    if event is None:
        return f"no answer in {waited_s:g} s"
    if isinstance(event, Closed):
        if event.code is None:
            return f"connection lost without a close frame after {ms(event.after_s)}"
        reason = f" ({event.reason[:80]})" if event.reason else ""
        return f"closed {event.code}{reason} after {ms(event.after_s)}"
    if isinstance(event, m.PlatformError):
        return f"error {event.code or '(no code)'}"
    if isinstance(event, m.AssistantChunk):
        return "a reply (assistant chat_message)"
    if isinstance(event, m.ConnectionReady):
        return "connection_ready"
    if isinstance(event, m.Pong):
        return f"pong {event.timestamp!r}"
    if isinstance(event, m.ConnectionEstablished):
        return "connection_established"
    if isinstance(event, m.Typing):
        return "typing" if event.active else "stop_typing"
    if isinstance(event, m.UnknownMessage):
        return f"a {event.type!r} message"
    if isinstance(event, Garbled):
        return f"a frame that is not a message ({event.problem[:80]})"
    return type(event).__name__


def answers(message_id: str) -> Callable[[Event], bool]:
    """An answer to our chat: an assistant chunk naming it, or an error naming it or none."""

    def check(event: Event) -> bool:
        if isinstance(event, m.PlatformError):
            return event.in_reply_to in (None, message_id)
        return isinstance(event, m.AssistantChunk) and event.in_reply_to == message_id

    return check


def is_error(event: Event) -> bool:
    return isinstance(event, m.PlatformError)


def nothing(event: Event) -> bool:
    """For waits that only the close (or the deadline) ends."""
    return False


# -- two ways to talk to the platform --------------------------------------------------------


class Peer:
    """One raw connection, for frames the document's client never sends. Reads typed events
    with a deadline and remembers every one (`seen`)."""

    def __init__(self, target: Target, without: str | None = None) -> None:
        self.target = target
        self.session_id = str(uuid.uuid4())
        self.seen: list[Event] = []
        self.closed: Closed | None = None
        self._expired = False
        s = target.settings
        url = target.url(self.session_id, without)
        parts = urlsplit(url)
        host, secure = parts.hostname or "", parts.scheme == "wss"
        timeout = s.connection_timeout_ms / 1000
        self._ws = websocket.WebSocket(skip_utf8_validation=True)
        sock: socket.socket | None = None
        try:
            # Our own socket, as transport.Connection opens one: no proxy from the environment.
            sock = socket.create_connection((host, parts.port or (443 if secure else 80)), timeout)
            if secure:
                sock = target.tls.context().wrap_socket(sock, server_hostname=host)
            self._ws.connect(
                url,
                socket=sock,
                timeout=timeout,
                header=list(s.handshake_headers()),
                suppress_origin=True,  # the Origin is among the settings' headers
                redirect_limit=0,
            )
        except Exception as exc:  # refused, timed out, TLS, an HTTP status instead of 101
            if sock is not None:
                sock.close()
            raise NoConnection(describe(exc)) from None
        self.opened_at = time.monotonic()

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, text: str) -> None:
        if self.closed is not None:
            return
        self._ws.settimeout(self.target.answer_timeout_s)
        try:
            self._ws.send(text)
        except (OSError, websocket.WebSocketException):
            self._ended(None, "")

    def chat(self, content: str) -> str:
        """Send a chat_message; its message_id."""
        message_id = str(uuid.uuid4())
        self.send(m.chat_frame(content, message_id, self.session_id, time.time()))
        return message_id

    def auth(self, tenant_id: str | None = None) -> None:
        """The document's auth, 100 ms (auth_delay_ms) after open, as its client sends it."""
        s = self.target.settings
        time.sleep(max(0.0, self.opened_at + s.auth_delay_ms / 1000 - time.monotonic()))
        tenant = tenant_id or s.tenant_id
        self.send(m.auth_frame(tenant, self.session_id, s.user_agent, s.page_url, time.time()))

    def ready(self) -> None:
        """Authenticate and wait for connection_ready; Skip if it does not come."""
        self.auth()
        got = self.wait(lambda e: isinstance(e, m.ConnectionReady), self.target.ready_timeout_s)
        if got is None:
            wait = self.target.ready_timeout_s
            raise Skip(f"needs connection_ready, but none came in {wait:g} s after auth")
        if not isinstance(got, m.ConnectionReady):
            raise Skip(f"needs connection_ready, but after auth: {said(got, 0)}")

    def wait(self, wanted: Callable[[Event], bool], timeout: float) -> Event | None:
        """Read until an event `wanted` accepts, the close, or `timeout` seconds: that event,
        the Closed, or None."""
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            event = self._next(left)
            if event is None:
                return None
            if isinstance(event, Closed) or wanted(event):
                return event
        return None

    def close(self) -> None:
        if self.closed is None:
            self.closed = Closed(1000, "closed by the harness", time.monotonic() - self.opened_at)
            with contextlib.suppress(OSError, websocket.WebSocketException):
                self._ws.close(timeout=1)
        self._ws.shutdown()

    def _next(self, timeout: float) -> Event | None:
        """The next data frame within `timeout`, however the platform trickles its bytes or
        pings meanwhile (websocket-client answers a ping and reads on, restarting its socket
        timeout on every read): at the deadline a timer shuts the socket for reading."""
        if self.closed is not None:
            return self.closed
        if self._expired:  # a deadline passed and shut the socket: nothing more to read
            return None
        self._ws.settimeout(timeout)
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            sock = self._ws.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RD)

        timer = threading.Timer(timeout, expire)
        timer.start()
        try:
            opcode, frame = self._ws.recv_data_frame()
        except (TimeoutError, websocket.WebSocketTimeoutException):
            return None
        except (OSError, websocket.WebSocketException):
            if expired.is_set():  # our deadline, not the platform's close: no answer
                self._expired = True
                return None
            return self._ended(None, "")
        finally:
            timer.cancel()
        if expired.is_set():
            self._expired = True
            return None
        data = frame.data
        if opcode == ABNF.OPCODE_CLOSE:  # websocket-client has answered it already
            code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
            return self._ended(code, data[2:].decode("utf-8", "replace"))
        try:
            event: Event = m.parse_server_frame(data)
        except m.MalformedFrame as exc:
            event = Garbled(str(exc))
        self.seen.append(event)
        return event

    def _ended(self, code: int | None, reason: str) -> Closed:
        self.closed = Closed(code, reason, time.monotonic() - self.opened_at)
        self.seen.append(self.closed)
        self._ws.shutdown()
        return self.closed


class Client:
    """The document's client: ClientSession over transport.Connection, with every event it
    heard and every phase it timed."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.heard: list[m.ServerEvent | str | None] = []
        self.samples: list[PhaseSample] = []
        self.session = ClientSession(
            target.settings.session_settings(), MonotonicClock(), self.samples.append
        )
        self.conn = Connection(self.session, target.tls, self._hook)
        if not self.conn.open(target.url(self.session.session_id)):
            raise NoConnection(self.conn.detail or str(self.session.failure))

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.conn.close(timeout=1)

    def _hook(self, direction: str, item: m.ServerEvent | str | None, at: float) -> None:
        if direction == "recv":
            self.heard.append(item)

    def wait_ready(self) -> bool:
        """Until the session is READY or has given up (its own ready timeout) or was closed."""
        s = self.session
        limit = self.target.settings.auth_delay_ms / 1000 + self.target.ready_timeout_s + 1
        self.conn.run_until(lambda: s.state is not State.CONNECTED, limit)
        return s.state is State.READY

    def why_not_ready(self) -> str:
        s = self.session
        if s.state is State.CONNECTED or s.failure is ErrorClass.READY_TIMEOUT:
            return f"no connection_ready in {self.target.ready_timeout_s:g} s after auth"
        if s.close_code is not None:
            reason = f" ({s.close_reason[:80]})" if s.close_reason else ""
            return f"closed {s.close_code}{reason}"
        if s.failure is None:
            return f"none came ({s.state.value.lower()})"
        return f"{s.failure} {self.conn.detail}".strip()

    def sample(self, phase: Phase) -> PhaseSample | None:
        return next((p for p in self.samples if p.phase == phase), None)


# -- the rules -------------------------------------------------------------------------------


def _policy_close(peer: Peer, got: Event | None, t: Target) -> Finding:
    """Closed with 1008 for the rule's own reason: not only at the auth timeout."""
    errors = [e.code for e in peer.seen if isinstance(e, m.PlatformError)]
    if not isinstance(got, Closed):
        came = f" ({', '.join(said(e, 0) for e in peer.seen[:3])} came)" if peer.seen else ""
        return failed(f"not closed in {t.answer_timeout_s:g} s{came}")
    if got.code != POLICY_VIOLATION:
        return failed(said(got, 0))
    if ErrorCode.AUTH_TIMEOUT in errors or got.after_s >= t.auth_timeout_s:
        return failed(f"closed 1008 only at the auth timeout, after {ms(got.after_s)}")
    first = f"error {errors[0]}, then " if errors else ""
    return passed(f"{first}closed 1008 after {ms(got.after_s)}")


def _error_answer(got: Event | None, code: ErrorCode, waited_s: float) -> Finding:
    if isinstance(got, m.PlatformError) and got.code == code:
        return passed(f"error {code}")
    return failed(said(got, waited_s))


def _still_answers(peer: Peer, t: Target, first: str) -> Finding:
    """After a frame the platform refused: the connection is open and still answers a chat."""
    message_id = peer.chat("conformance check: still there?")
    # only an answer naming this chat: a second error to the refused frame is not one
    got = peer.wait(
        lambda e: isinstance(e, m.AssistantChunk | m.PlatformError) and e.in_reply_to == message_id,
        t.chat_timeout_s,
    )
    if isinstance(got, m.AssistantChunk | m.PlatformError):
        return passed(f"{first}; a chat after it was answered (the connection stayed open)")
    if isinstance(got, Closed):
        return failed(f"{first}, then {said(got, 0)}")
    return failed(f"{first}, then {said(got, t.chat_timeout_s)} to a chat sent after it")


def check_missing_tenant(t: Target) -> Finding:
    findings = []
    for key in ("tenant_id", "session_id"):
        try:
            with Peer(t, without=key) as peer:
                finding = _policy_close(peer, peer.wait(nothing, t.answer_timeout_s), t)
        except NoConnection as why:  # e.g. an HTTP 400 instead of the upgrade
            finding = failed(f"the connection did not open ({why}), so no close 1008")
        findings.append((key, finding))
    status = Status.PASS if all(f.status is Status.PASS for _, f in findings) else Status.FAIL
    return Finding(status, "; ".join(f"no {key}: {f.observed}" for key, f in findings))


def check_tenant_mismatch(t: Target) -> Finding:
    other = f"{t.settings.tenant_id}-other"
    with Peer(t) as peer:
        peer.auth(other)
        got = peer.wait(lambda e: isinstance(e, m.ConnectionReady), t.answer_timeout_s)
    if isinstance(got, m.ConnectionReady):
        return failed(f"an auth as tenant {other!r} was accepted: connection_ready")
    return _policy_close(peer, got, t)


def check_ready_after_auth(t: Target) -> Finding:
    with Client(t) as client:
        ready = client.wait_ready()
    came = any(isinstance(e, m.ConnectionEstablished) for e in client.heard)
    note = "connection_established came" if came else "no connection_established (optional)"
    init = client.sample(Phase.PLATFORM_INIT)
    if ready and init is not None:
        return passed(f"connection_ready {ms(init.duration_us / 1e6)} after auth; {note}")
    return failed(f"{client.why_not_ready()}; {note}")


def check_not_ready(t: Target) -> Finding:
    with Peer(t) as peer:
        message_id = peer.chat("conformance check: a chat before auth")
        got = peer.wait(answers(message_id), t.chat_timeout_s)
    return _error_answer(got, ErrorCode.NOT_READY, t.chat_timeout_s)


def check_reply_end(t: Target) -> Finding:
    with Client(t) as client:
        if not client.wait_ready():
            raise Skip(f"needs connection_ready, but {client.why_not_ready()}")
        message_id = client.conn.chat("conformance check: a short reply, please")
        client.conn.run_until(lambda: client.session.chats_in_flight == 0, t.chat_timeout_s + 1)
    chunks = [e for e in client.heard if isinstance(e, m.AssistantChunk)]
    ours = [c for c in chunks if c.in_reply_to == message_id]
    stray = len(chunks) - len(ours)
    other = f"; {stray} chunk(s) naming another message" if stray else ""
    complete = client.sample(Phase.CHAT_COMPLETE)
    if complete is not None and complete.ok and ours:
        ending = "the last with done: true" if ours[-1].done else "then stop_typing (no done)"
        return passed(f"{len(ours)} chunk(s) in reply to ours, {ending}{other}")
    if complete is not None and complete.error == "rejected":
        error = next(e for e in client.heard if isinstance(e, m.PlatformError))
        return failed(f"the chat was answered with {said(error, 0)}")
    if complete is not None and complete.error == "chat_timeout":
        return failed(
            f"{len(ours)} chunk(s) in reply to ours, and no done: true or stop_typing after "
            f"them in {t.chat_timeout_s:g} s{other}"
        )
    return failed(f"{client.why_not_ready()} before the reply ended{other}")


def check_message_too_long(t: Target) -> Finding:
    length = t.settings.max_message_length + 1
    with Peer(t) as peer:
        peer.ready()
        got = peer.wait(answers(peer.chat("x" * length)), t.chat_timeout_s)
    finding = _error_answer(got, ErrorCode.MESSAGE_TOO_LONG, t.chat_timeout_s)
    return Finding(finding.status, f"{finding.observed} to a chat of {length} characters")


def check_rate_limited(t: Target) -> Finding:
    limit = t.settings.rate_limit_requests
    if limit + 1 > MAX_RATE_CHATS:
        raise Skip(
            f"rate_limit_requests is {limit}: reaching it takes {limit + 1} chats, which is "
            f"load (at most {MAX_RATE_CHATS})"
        )
    with Peer(t) as peer:
        peer.ready()
        for n in range(1, limit + 2):
            got = peer.wait(answers(peer.chat(f"conformance check: chat {n}")), t.chat_timeout_s)
            limited = isinstance(got, m.PlatformError) and got.code == ErrorCode.RATE_LIMITED
            if n <= limit and limited:
                return failed(f"rate_limited already at chat {n}; expected only past {limit}")
            if n <= limit and not isinstance(got, m.AssistantChunk):
                return failed(f"chat {n} of {limit + 1}: {said(got, t.chat_timeout_s)}")
    if limited:
        return passed(f"{limit} chats answered, chat {limit + 1}: error rate_limited")
    return failed(f"{limit} chats answered, chat {limit + 1}: {said(got, t.chat_timeout_s)}")


def _error_and_open(t: Target, frame: str, code: ErrorCode) -> Finding:
    """Once ready, `frame` is answered with error `code`, and the connection still works."""
    with Peer(t) as peer:
        peer.ready()
        peer.send(frame)
        got = peer.wait(is_error, t.answer_timeout_s)
        if not (isinstance(got, m.PlatformError) and got.code == code):
            return failed(said(got, t.answer_timeout_s))
        return _still_answers(peer, t, f"error {code}")


def check_bad_message(t: Target) -> Finding:
    return _error_and_open(t, "this is not JSON {", ErrorCode.BAD_MESSAGE)


def check_unknown_type(t: Target) -> Finding:
    return _error_and_open(t, m.encode("harness_conformance_probe", {}), ErrorCode.UNKNOWN_TYPE)


def check_ping(t: Target) -> Finding:
    with Peer(t) as peer:
        peer.ready()
        epoch = time.time()
        stamp = m.iso_timestamp(epoch)
        peer.send(m.ping_frame(epoch))
        got = peer.wait(lambda e: isinstance(e, m.Pong), t.answer_timeout_s)
    if isinstance(got, m.Pong) and got.timestamp == stamp:
        return passed(f"pong echoing {stamp}")
    if isinstance(got, m.Pong):
        return failed(f"pong with timestamp {got.timestamp!r}; the ping's was {stamp!r}")
    return failed(said(got, t.answer_timeout_s))


EARLY_TOLERANCE = 0.9
"""A close for want of auth may come this share of the auth timeout early (timers differ),
not earlier."""


def check_auth_timeout(t: Target) -> Finding:
    limit = t.auth_timeout_s + t.answer_timeout_s
    with Peer(t) as peer:
        got = peer.wait(nothing, limit)
    if not isinstance(got, Closed):
        return failed(f"still open {limit:g} s after it opened without auth")
    if got.code != POLICY_VIOLATION:
        return failed(f"{said(got, 0)} without auth")
    early = t.auth_timeout_s * EARLY_TOLERANCE
    if got.after_s < early:  # a client whose auth is merely slow would be dropped
        return failed(
            f"closed 1008 after {got.after_s:.2f} s without auth: before the "
            f"{t.auth_timeout_s:g} s auth timeout"
        )
    error = any(
        isinstance(e, m.PlatformError) and e.code == ErrorCode.AUTH_TIMEOUT for e in peer.seen
    )
    first = "error auth_timeout, then " if error else ""
    return passed(f"{first}closed 1008 after {got.after_s:.2f} s without auth")


@dataclass(frozen=True)
class Rule:
    name: str  # stable: scripts, --only and --skip, JUnit test names
    expected: str  # str.format'ed with Target.facts()
    check: Callable[[Target], Finding]


RULES = (
    Rule(
        "missing_tenant",
        "close 1008 when the URL lacks tenant_id or session_id",
        check_missing_tenant,
    ),
    Rule(
        "tenant_mismatch",
        "close 1008 when auth names another tenant than the URL",
        check_tenant_mismatch,
    ),
    Rule(
        "ready_after_auth",
        "connection_ready after auth; connection_established optional",
        check_ready_after_auth,
    ),
    Rule("not_ready", "error not_ready to a chat before connection_ready", check_not_ready),
    Rule(
        "reply_end",
        "reply chunks in_reply_to the chat, then done: true or stop_typing",
        check_reply_end,
    ),
    Rule(
        "message_too_long",
        "error message_too_long to a chat over {max_length} characters",
        check_message_too_long,
    ),
    Rule(
        "rate_limited",
        "error rate_limited to chat {rate_past} ({rate} per window allowed)",
        check_rate_limited,
    ),
    Rule("bad_message", "error bad_message to non-JSON, connection kept open", check_bad_message),
    Rule(
        "unknown_type",
        "error unknown_type to an unknown type, connection kept open",
        check_unknown_type,
    ),
    Rule("ping", "pong echoing the ping's timestamp", check_ping),
    Rule("auth_timeout", "close 1008 when no auth arrives in {auth_timeout} s", check_auth_timeout),
)
RULE_NAMES = tuple(rule.name for rule in RULES)


def select(only: str | None = None, skip: str | None = None) -> list[Rule]:
    """The rules `--only` and `--skip` (comma-separated names) leave, in RULES order."""

    def names(flag: str, text: str) -> set[str]:
        given = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in given if name not in RULE_NAMES]
        if unknown or not given:
            what = f"unknown rule {', '.join(map(repr, unknown))}" if unknown else "no rule named"
            raise HarnessError(f"{flag}: {what}; rules: {', '.join(RULE_NAMES)}")
        return set(given)

    chosen = names("--only", only) if only is not None else set(RULE_NAMES)
    if skip is not None:
        chosen -= names("--skip", skip)
    if not chosen:
        raise HarnessError("--only and --skip leave no rule to run")
    return [rule for rule in RULES if rule.name in chosen]


# -- running ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    name: str
    expected: str
    status: Status
    observed: str
    seconds: float


def reachable(t: Target) -> None:
    """HarnessError (one line, exit 2) unless a connection to the target opens: a refused
    or unreachable platform is bad input, not a rule it broke."""
    session = ClientSession(t.settings.session_settings(), MonotonicClock())
    conn = Connection(session, t.tls)
    url = t.url(session.session_id)
    if not conn.open(url):
        detail = f" ({conn.detail})" if conn.detail else ""
        raise HarnessError(f"cannot connect to {url}: {session.failure}{detail}")
    conn.close(timeout=1)


def run_rule(rule: Rule, t: Target) -> Result:
    start = time.monotonic()
    try:
        finding = rule.check(t)
    except Skip as why:
        finding = Finding(Status.SKIP, str(why))
    except NoConnection as why:
        finding = failed(f"the connection did not open: {why}")
    expected = rule.expected.format(**t.facts())
    return Result(rule.name, expected, finding.status, finding.observed, time.monotonic() - start)


def run(
    t: Target, rules: Iterable[Rule], on_result: Callable[[Result], None] | None = None
) -> list[Result]:
    """Every rule in turn (call `reachable` first: a rule's failed connection is a fail)."""
    results = []
    for rule in rules:
        results.append(run_rule(rule, t))
        if on_result is not None:
            on_result(results[-1])
    return results


def exit_code(results: list[Result]) -> int:
    """0 only when every rule that ran passed; 1 when one failed or could not be checked."""
    return 0 if all(r.status is Status.PASS for r in results) else 1


def counts(results: list[Result]) -> str:
    tally = {status: sum(r.status is status for r in results) for status in Status}
    return f"{len(results)} rules: " + ", ".join(f"{n} {status}" for status, n in tally.items())


# -- output ----------------------------------------------------------------------------------


class Table:
    """The console table, a row as each rule ends (the auth-timeout rule takes its time)."""

    def __init__(self, rules: list[Rule], t: Target) -> None:
        self.name_width = max(len("rule"), *(len(r.name) for r in rules))
        self.expected_width = max(len(r.expected.format(**t.facts())) for r in rules)

    def row(self, name: str, status: str, expected: str, observed: str) -> str:
        return (
            f"{name:<{self.name_width}}  {status:<6}  {expected:<{self.expected_width}}  {observed}"
        )

    def header(self) -> str:
        return self.row("rule", "status", "expected", "observed")

    def line(self, r: Result) -> str:
        return self.row(r.name, str(r.status), r.expected, r.observed)


def _masked(results: list[Result]) -> list[dict[str, Any]]:
    """The results as data, secrets masked (a close reason may quote what we sent)."""
    rows = [
        {"name": r.name, "expected": r.expected, "status": str(r.status), "observed": r.observed}
        for r in results
    ]
    return list(mask_data(rows))


def junit_xml(results: list[Result], target: str) -> str:
    """One test case per rule that ran (report.ci's document: the same shape as junit.xml)."""
    rows = _masked(results)
    suite = ET.Element(
        "testsuite",
        name=f"miptech-conformance {mask_data(target)}",
        tests=str(len(results)),
        failures=str(sum(r.status is Status.FAIL for r in results)),
        skipped=str(sum(r.status is Status.SKIP for r in results)),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for row, r in zip(rows, results, strict=True):
        case = ET.SubElement(
            suite, "testcase", classname="conform", name=row["name"], time=f"{r.seconds:.3f}"
        )
        if r.status is Status.FAIL:
            ET.SubElement(case, "failure", message=row["observed"])
        elif r.status is Status.SKIP:
            ET.SubElement(case, "skipped", message=row["observed"])
        ET.SubElement(
            case, "system-out"
        ).text = f"expected: {row['expected']}\nobserved: {row['observed']}"
    return junit_document(suite, [], "conformance")


def markdown(results: list[Result], target: str) -> str:
    icon = {"pass": "✅", "fail": "❌", "skip": "❔"}

    def cell(text: str) -> str:
        return " ".join(text.split()).replace("|", "\\|")

    verdict = "PASS" if exit_code(results) == 0 else "FAIL"
    lines = [
        f"## MIPTech platform conformance: **{verdict}**",
        "",
        f"Target `{mask_data(target)}`: {counts(results)}.",
        "",
        "| rule | expected | observed | status |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{row['name']}` | {cell(row['expected'])} | {cell(row['observed'])} | "
        f"{icon[row['status']]} {row['status']} |"
        for row in _masked(results)
    ]
    return "\n".join(lines) + "\n"
