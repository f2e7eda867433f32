"""One simulated client's lifecycle: the `Session` a user's script holds (see harness/api.py)
and the bundled users' conversation on it.

connect -> the 100 ms auth delay -> auth -> connection_ready -> chats (typing indicator, the
client's own rate limit and length limit respected) -> heartbeats -> close. Held sessions
reconnect with the document's backoff and circuit breaker when dropped.

Every lifecycle started ends in exactly one class: completed, failed (its error class;
`harness_error` for an exception of ours or of the user's script) or interrupted (cut off by a
stop, and nothing else).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import random
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import gevent
from gevent import GreenletExit
from locust.exception import InterruptTaskSet, RescheduleTask, StopUser

from harness.config import Settings, source_address_list
from harness.conversations import Conversation, TenantMix, Turn, bundled, parse_tenants
from harness.errors import ErrorClass
from harness.load.health import HealthMonitor
from harness.load.scenario import Knobs, Scenario
from harness.policies import Backoff, CircuitBreaker, RateLimiter
from harness.protocol.clock import MonotonicClock
from harness.protocol.session import (
    Chat,
    CircuitOpen,
    ClientSession,
    PhaseSample,
    SessionSettings,
    State,
)
from harness.record.results import ProcessResults
from harness.record.schema import label_problem
from harness.transport import Connection, TlsOptions

log = logging.getLogger("harness")

WORDS = [
    "hello",
    "could",
    "you",
    "tell",
    "me",
    "about",
    "pricing",
    "support",
    "and",
    "the",
    "platform",
    "please",
]
"""Filler for `message_length`: messages of a fixed size instead of the conversations."""

LOCUST_FLOW = (StopUser, RescheduleTask, InterruptTaskSet)
"""Locust's own control flow, raised by a script inside a session: not an error."""


@dataclass
class RunContext:
    """What every user of one process shares: settings, knobs, the timing sink, health, what
    users say."""

    settings: Settings
    knobs: Knobs
    results: ProcessResults
    health: HealthMonitor
    scenario: Scenario | None = None
    max_loop_lag_ms: float = 10.0  # the run is invalid when this process's lag p99 exceeds it
    clock: MonotonicClock = field(default_factory=MonotonicClock)
    rng: random.Random = field(default_factory=random.Random)
    conversations: tuple[Conversation, ...] = field(default_factory=bundled)
    _mixes: dict[str, TenantMix] = field(default_factory=dict, repr=False)
    _sources: tuple[str, Iterator[str]] | None = field(default=None, repr=False)
    _filler: tuple[str, list[int]] = field(default=("", []), repr=False)  # text, word starts
    _made: dict[object, tuple[Settings, Any]] = field(default_factory=dict, repr=False)

    @property
    def tls(self) -> TlsOptions:
        """The run's TLS options (one, shared by its connections)."""
        tls: TlsOptions = self._of_settings("tls", lambda s: TlsOptions(s.tls_verify, s.ca_bundle))
        return tls

    @property
    def tenants(self) -> TenantMix | None:
        """The run's tenant mix (settings.tenants), None when every session is tenant_id's."""
        text = self.settings.tenants
        if not text:
            return None
        mix = self._mixes.get(text)
        if mix is None:  # parsed once per text (the settings are settled again at test_start)
            mix = self._mixes[text] = parse_tenants(text, "tenants")
        return mix

    def session_settings(self, held: bool) -> SessionSettings:
        """What every session of the run is given (one, shared, for the current settings)."""
        made: SessionSettings = self._of_settings(
            ("session", held), lambda s: s.session_settings(reconnect=held)
        )
        return made

    def _of_settings(self, key: object, make: Callable[[Settings], Any]) -> Any:
        """What `make` derives from the current settings, made once per settings object (they
        are settled again at test_start) and shared by every session of the process."""
        made = self._made.get(key)
        if made is None or made[0] is not self.settings:
            made = self._made[key] = (self.settings, make(self.settings))
        return made[1]

    def source(self) -> str | None:
        """The local address the next connection comes from: settings.source_addresses in
        turn, None when unset."""
        text = self.settings.source_addresses
        if not text:
            return None
        if self._sources is None or self._sources[0] != text:
            self._sources = (text, itertools.cycle(source_address_list(text)))
        return next(self._sources[1])

    def tenant(self, conversation: Conversation | None = None) -> str | None:
        """The tenant of a new session: the conversation's, else drawn from the run's mix,
        else None (tenant_id, unlabelled)."""
        if conversation is not None and conversation.tenant:
            return conversation.tenant
        mix = self.tenants
        return mix.pick(self.rng) if mix is not None else None

    def conversation(self) -> Conversation:
        """What the next lifecycle says: one of the conversations, or (message_length set)
        `chats_per_session` messages of that many characters."""
        k = self.knobs
        if k.message_length is not None:
            turns = max(k.chats_per_session if k.chats_per_session is not None else 1, 1)
            return Conversation(tuple(Turn(self.filler(k.message_length)) for _ in range(turns)))
        return self.rng.choice(self.conversations)

    def turns(self, conversation: Conversation) -> list[Turn]:
        """The turns a short lifecycle sends, each with its step: the conversation's, or
        `chats_per_session` of them (from further conversations when it has fewer)."""
        wanted = self.knobs.chats_per_session
        turns = stepped(conversation)
        if wanted is None:
            return turns
        while len(turns) < wanted:
            turns += stepped(self.conversation())
        return turns[:wanted]

    def filler(self, length: int) -> str:
        """`length` characters of the words, from a word at a random place in a text of them
        made once (drawing each word anew cost a tenth of a short lifecycle's CPU)."""
        length = max(1, min(length, self.settings.max_message_length))
        text, starts = self._filler
        if len(text) < 2 * length:
            words = self.rng.choices(WORDS, k=max(4096, 2 * length) // 3 + 1)
            text = " ".join(words)
            starts = [0, *(i + 1 for i, c in enumerate(text) if c == " ")]
            starts = [i for i in starts if i <= len(text) // 2]
            self._filler = text, starts
        start = starts[int(self.rng.random() * len(starts))]
        return text[start : start + length]

    def harness_error(self, name: str, message: str, where: str = "") -> None:
        """Count one of our own failures by name; the first of each is logged, in one line."""
        seen = self.results.accounting.harness_errors  # this process's, since it started
        seen[name] += 1
        if seen[name] == 1:
            log.error(
                "harness_error: %s: %s%s (a fault of the harness or of the locustfile; the "
                "lifecycle counts as failed with harness_error, and further %s are only "
                "counted in run.json)",
                name,
                message,
                where,
                name,
            )

    def users_stopped(self, lifecycles: int = 1) -> None:
        """A stopped user could have cut off this many lifecycles: the bound on interrupted."""
        self.results.accounting.interrupted_explained += lifecycles


def stepped(conversation: Conversation) -> list[Turn]:
    """Its turns, each naming its step (its own, else the conversation's)."""
    return [
        turn if turn.step or not conversation.step else replace(turn, step=conversation.step)
        for turn in conversation.turns
    ]


def run_context(environment: Any) -> RunContext:
    """The RunContext of the process that runs `environment` (set by the coordinator)."""
    ctx = getattr(environment, "harness_context", None)
    if ctx is None:
        raise RuntimeError("the harness plugin was not initialised (import it in the locustfile)")
    return ctx


@dataclass(frozen=True)
class Outcome:
    failure: str | None  # the error class it failed with, None if it completed
    ready: bool  # it reached connection_ready


@dataclass(frozen=True)
class Reply:
    """What `Session.chat` returns: the platform's reply to one message, timed by the same
    state machine that records the phases (so these are the run record's own figures)."""

    ok: bool  # the reply came whole
    error: str | None  # its error class when not ok ("not_sent": the session was not ready)
    text: str  # the chunks' content, joined
    chunks: tuple[str, ...]
    step: str | None
    first_ms: float | None  # send -> first chunk (chat_first)
    gaps_ms: tuple[float, ...]  # between consecutive chunks (chat_gap)
    complete_ms: float | None  # send -> the reply's end (chat_complete), None if not ok

    @classmethod
    def of(cls, chat: Chat) -> Reply:
        arrivals = chat.arrivals
        sent = chat.sent_at
        complete = chat.ended_at if chat.complete else None
        if not chat.ended:
            error: str | None = "not_answered"
        elif chat.complete:
            error = None
        else:
            error = chat.error or "interrupted"
        return cls(
            chat.complete,
            error,
            "".join(chat.parts),
            tuple(chat.parts),
            chat.step,
            (arrivals[0] - sent) * 1000 if arrivals else None,
            tuple([(b - a) * 1000 for a, b in itertools.pairwise(arrivals)]),
            (complete - sent) * 1000 if complete is not None else None,
        )

    @classmethod
    def not_sent(cls, step: str | None) -> Reply:
        return cls(False, "not_sent", "", (), step, None, (), None)


class Session:
    """One lifecycle of one simulated browser client, as a context manager:

        with Session(ctx) as s:          # connect, auth after the document's delay, ready
            reply = s.chat("hi", name="smalltalk")
            s.wait(2.0)                  # think: heartbeats (and, held, reconnects) go on
        # closed, and counted once: completed, failed or interrupted

    A user's script gets one from `MIPTechUser.client.session()` (harness/api.py). Nothing
    the platform does raises: a failed phase is recorded and shows in `ready` and in each
    Reply. An exception in the `with` body (the script's or ours) fails the lifecycle with
    `harness_error`, logged once per kind, and is not raised further; Locust's StopUser and
    RescheduleTask pass through. `held`: reconnect with the document's backoff when dropped
    (a held session fails only when it cannot come back)."""

    def __init__(
        self,
        ctx: RunContext,
        *,
        held: bool = False,
        at: float | None = None,
        tenant: str | None = None,
        retry: RetryPolicy | None = None,
        owner: MIPTechClient | None = None,
    ) -> None:
        self.ctx = ctx
        self.held = held
        self.tenant = tenant
        self._owner = owner  # the client that opened it: counts its sessions open
        self._entered = False
        self._misuse: ValueError | None = None  # raised at the start, said where it was made
        if tenant is not None and (problem := label_problem(tenant)):
            self._misuse = ValueError(f"session(tenant=...): {problem}")
            self._misuse.add_note(_where_stack())
        self.outcome: Outcome | None = None
        self.conn: Connection | None = None
        self._at = at  # an open-model arrival's scheduled start: phases measured from then
        self._retry = retry
        self._errors: list[str] = []
        self._ready = False
        self._url = ""
        self._limiter = RateLimiter(
            ctx.settings.rate_limit_requests, ctx.settings.rate_limit_window_ms / 1000
        )

    # -- what a script does -------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """The connection is READY now (chats can go)."""
        return self.conn is not None and self.conn.session.state is State.READY

    @property
    def client(self) -> ClientSession | None:
        """The protocol state machine (the document's getMetrics() is `client.metrics()`)."""
        return self.conn.session if self.conn is not None else None

    def chat(self, text: str, name: str | None = None, *, typing: bool = True) -> Reply:
        """Send a message (after a `typing` indicator) and wait for its whole reply, or its
        failure; `name` labels its phases as a step (`chat_complete{step:NAME}`). Waits first
        when the document's client-side rate limit says so; a held session that is
        reconnecting comes back first. Not ready: nothing is sent (Reply error `not_sent`)."""
        if name is not None and (problem := label_problem(name)):
            raise ValueError(f"chat(name=...): {problem}")
        conn = self.conn
        if conn is None or not self._come_back():
            return Reply.not_sent(name)
        s, clock = conn.session, self.ctx.clock
        wait = self._limiter.wait(clock.now())
        while wait > 0:  # heartbeats go on meanwhile
            conn.run_until(self._not_ready, wait)
            if not self._come_back():
                return Reply.not_sent(name)
            wait = self._limiter.wait(clock.now())
        self._limiter.record(clock.now())
        chat = Chat(step=name)
        conn.chat(text, typing=typing, chat=chat)
        ready = State.READY  # the check runs after every frame: plain attribute reads
        conn.run_until(
            lambda: chat.ended_at is not None or s.state is not ready,
            s.settings.chat_timeout_s + 1,
        )
        return Reply.of(chat)

    def wait(self, seconds: float) -> bool:
        """Keep the session for `seconds`: frames read, heartbeats sent, a held session
        reconnected. True if it is still READY at the end."""
        if not isinstance(seconds, int | float) or math.isnan(seconds) or seconds < 0:
            raise ValueError(f"wait({seconds!r:.40}): seconds must be a number >= 0")
        conn = self.conn
        clock = self.ctx.clock
        end = clock.now() + seconds
        while conn is not None and self._come_back():
            left = end - clock.now()
            if left <= 0:
                return True
            conn.run_until(self._not_ready, left)
        return False

    def heartbeat(self) -> float | None:
        """Send a `ping` now and wait for its `pong`: the round trip in ms (None: none came
        within the connection timeout, or the session is not ready)."""
        conn = self.conn
        if conn is None or not self.ready:
            return None
        s = conn.session
        before = s.counters.latency_count
        conn.ping()
        answered = conn.run_until(
            lambda: s.counters.latency_count > before or self._not_ready(),
            s.settings.connection_timeout_s,
        )
        return s.counters.current_latency_ms if answered and self.ready else None

    def typing(self, active: bool = True) -> None:
        """Send `typing` (or, False, `stop_typing`)."""
        if self.conn is not None and self.ready:
            self.conn.typing(active)

    def close(self) -> None:
        """Close now (the close handshake); the end of the `with` does it otherwise."""
        if self.conn is not None:
            self.conn.close()

    # -- the lifecycle around it ----------------------------------------------------------------

    def __enter__(self) -> Session:
        if self._entered:
            raise RuntimeError(
                "a Session is one lifecycle and opens once; open another with self.client.session()"
            )
        self._entered = True
        ctx = self.ctx
        ctx.results.accounting.started += 1
        if self._owner is not None:
            self._owner.opened()
        try:
            if self._misuse is not None:
                raise self._misuse
            settings = ctx.session_settings(self.held)
            if self.tenant is not None:
                settings = replace(settings, tenant_id=self.tenant, label_tenant=True)
            session = ClientSession(settings, ctx.clock, self._sink)
            source = ctx.source() if ctx.settings.source_addresses else None
            self.conn = Connection(session, ctx.tls, source=source)
            self._url = ctx.settings.session_url(session.session_id, tenant_id=self.tenant)
            if self.conn.open(self._url, at=self._at):
                self.conn.wait_ready()
        except (GreenletExit, KeyboardInterrupt) as stop:
            self._stopped(stop)
            raise
        except (Exception, gevent.Timeout) as exc:
            self._crashed(exc)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if self.outcome is not None:  # __enter__ failed: counted already
            return self._after(exc)
        if isinstance(exc, GreenletExit | KeyboardInterrupt):
            self._stopped(exc)
            return False
        if exc is not None and not isinstance(exc, LOCUST_FLOW):
            self._crashed(exc)
            return self._after(exc)
        try:
            if self.conn is not None:
                self.conn.close()
        except (GreenletExit, KeyboardInterrupt) as stop:
            self._stopped(stop)
            raise
        except (Exception, gevent.Timeout) as error:
            self._crashed(error)
            return self._after(exc)
        self._ended()
        return self._after(exc)

    def _sink(self, sample: PhaseSample) -> None:
        ctx = self.ctx
        ctx.results.record(sample)
        if not sample.ok and sample.error:
            self._errors.append(sample.error)
        elif sample.phase == "ready":
            self._ready = True
            if sample.attempt == 0:
                ctx.results.accounting.ready += 1

    def _not_ready(self) -> bool:
        return self.conn is None or self.conn.session.state is not State.READY

    def _come_back(self) -> bool:
        """READY, after reconnecting first if a held session is reconnecting."""
        conn = self.conn
        if conn is None:
            return False
        while conn.session.state is State.RECONNECTING:
            _reconnect(conn, self._url)
        return conn.session.state is State.READY

    # Each of these counts the lifecycle before anything that can yield (closing the socket,
    # logging): a second kill arriving there must not leave it uncounted.

    def _stopped(self, stop: BaseException) -> None:
        """Cut short by a stop (Locust kills a user; Ctrl-C): interrupted, unless it had
        already failed."""
        acct = self.ctx.results.accounting
        failure = _failure(self.client, self._errors, self.held)
        if failure:
            acct.failed[failure] += 1
        else:
            acct.interrupted += 1
        if isinstance(stop, KeyboardInterrupt):  # no user stop to explain this one
            acct.interrupted_explained += 1
        self._settle(failure)
        _abort_quietly(self.conn)

    def _crashed(self, exc: BaseException) -> None:
        """An exception of ours, or of the script in the `with` body."""
        ctx = self.ctx
        ctx.results.accounting.failed[ErrorClass.HARNESS_ERROR] += 1
        self._settle(str(ErrorClass.HARNESS_ERROR))
        _abort_quietly(self.conn)
        ctx.harness_error(type(exc).__name__, str(exc), _where(exc))

    def _ended(self) -> None:
        acct = self.ctx.results.accounting
        failure = _failure(self.client, self._errors, self.held)
        if failure == ErrorClass.HARNESS_ERROR:  # the transport's, e.g. out of descriptors
            assert self.conn is not None
            self.ctx.harness_error("transport", self.conn.detail or "a connection attempt failed")
        if failure:
            acct.failed[failure] += 1
        else:
            acct.completed += 1
        self._settle(failure)

    def _settle(self, failure: str | None) -> None:
        self.outcome = Outcome(failure, self._ready)
        if self._owner is not None:
            self._owner.closed()
        session = self.client
        if session is not None:
            acct = self.ctx.results.accounting
            acct.reconnects += session.counters.reconnect_count
            acct.protocol_violations.update(
                {k: n for k, n in session.counters.violations().items() if n}
            )

    def _after(self, exc: BaseException | None) -> bool:
        """Once counted: wait as the document's client does after a lifecycle that never got
        ready (a looping user's retry policy); swallow the script's exception (counted and
        logged), let Locust's control flow through."""
        if self._retry is not None and self.outcome is not None:
            wait = self._retry.wait_after(self.outcome, self.ctx.clock.now())
            if wait > 0:
                gevent.sleep(wait)
        return exc is not None and not isinstance(exc, LOCUST_FLOW)


class MIPTechClient:
    """`self.client` of a MIPTechUser: opens sessions as the document's browser client does."""

    def __init__(self, ctx: RunContext, retry: RetryPolicy | None) -> None:
        self.ctx = ctx
        self.retry = retry
        self.open = 0  # its sessions entered and not yet counted
        self.most_open = 1  # the most at once: what a stop of its user can cut off

    def opened(self) -> None:
        self.open += 1
        self.most_open = max(self.most_open, self.open)

    def closed(self) -> None:
        self.open -= 1

    def session(
        self, tenant: str | None = None, *, held: bool = False, at: float | None = None
    ) -> Session:
        """A new lifecycle: `with self.client.session() as s:` connects, sends auth after the
        document's delay and waits for `connection_ready` (check `s.ready`).

        tenant: this session's tenant (default: drawn from the run's --tenants mix, else the
        configured tenant_id; "": the configured tenant_id, unlabelled, whatever the mix).
        held: reconnect with the document's backoff when dropped. at: when it was due
        (monotonic, `self.ctx.clock.now()`), for an open-model arrival whose phases count
        from its scheduled start. A session that never got ready makes
        the user wait as the document's client does (backoff, circuit breaker) at its end."""
        ctx = self.ctx
        return Session(
            ctx,
            held=held,
            at=at,
            tenant=(tenant if tenant is not None else ctx.tenant()) or None,  # "": none
            retry=self.retry,
            owner=self,
        )


def run_lifecycle(
    ctx: RunContext,
    *,
    held: bool = False,
    scheduled_at: float | None = None,
    retry: RetryPolicy | None = None,
) -> Outcome:
    """One lifecycle of the bundled users, through the same client a script uses: a
    conversation (or, held, a chat every `chat_interval_s`), counted exactly once."""
    conversation = ctx.conversation()
    client = MIPTechClient(ctx, retry)
    tenant = conversation.tenant or ctx.tenant()  # drawn once
    with client.session(tenant or "", held=held, at=scheduled_at) as session:
        if session.ready:
            converse(session, ctx, conversation)
    assert session.outcome is not None
    return session.outcome


def converse(session: Session, ctx: RunContext, conversation: Conversation) -> None:
    """The bundled users' conversation. Short: the turns, with think times between them.
    Held: a turn every `chat_interval_s` until `session_duration_s` (0: the run's end)."""
    k, clock = ctx.knobs, ctx.clock
    if session.held:
        end = clock.now() + k.session_duration_s if k.session_duration_s > 0 else float("inf")
        turns = stepped(conversation)
        while session.wait(min(k.chat_interval_s, end - clock.now())) and clock.now() < end:
            if not turns:
                turns = stepped(ctx.conversation())
            turn = turns.pop(0)
            session.chat(turn.text, turn.step)
        return
    for i, turn in enumerate(ctx.turns(conversation)):
        if i:
            if k.think_time_s is not None:  # set for the run: it replaces the turns' own
                think = ctx.rng.uniform(*k.think_time_s)
            else:
                think = turn.think_s if turn.think_s is not None else ctx.rng.uniform(1.0, 3.0)
            if not session.wait(think):
                return
        session.chat(turn.text, turn.step)


ALWAYS_FAIL = frozenset({ErrorClass.CHAT_TIMEOUT, ErrorClass.REJECTED, ErrorClass.HARNESS_ERROR})
"""Failed phases that fail even a held session, which survives lost connections."""


def _failure(session: ClientSession | None, errors: list[str], held: bool) -> str | None:
    """How a lifecycle failed, if it did. A short one: by its first failed phase, or a
    connection lost with nothing in flight (a 1011 close between chats). A held session
    survives lost connections it comes back from; it fails when it could not come back,
    when the platform broke the protocol, or when a chat was not answered."""
    if session is None:
        return None
    if held:
        if session.counters.protocol_errors:
            return str(ErrorClass.PROTOCOL_ERROR)
        answered_wrong = next((e for e in errors if e in ALWAYS_FAIL), None)
        if answered_wrong:
            return answered_wrong
        return str(session.failure) if session.state is State.FAILED else None
    if errors:
        return errors[0]
    return str(session.failure) if session.failure is not None else None


HARNESS_DIR = str(Path(__file__).resolve().parents[1])


def _where(exc: BaseException) -> str:
    """Where it was raised: the last frame in a locustfile (a script calling the API wrong),
    else the last frame; for a misuse found before, where it was made (its note)."""
    notes = getattr(exc, "__notes__", None)
    if notes and notes[-1].startswith(" at "):
        return str(notes[-1])
    return _at(traceback.extract_tb(exc.__traceback__))


def _where_stack() -> str:
    return _at(traceback.extract_stack()[:-2])


def _at(frames: traceback.StackSummary | list[traceback.FrameSummary]) -> str:
    theirs = [f for f in frames if not f.filename.startswith(HARNESS_DIR)]
    frame = (theirs or list(frames))[-1:]
    return f" at {frame[0].filename}:{frame[0].lineno}" if frame else ""


def _abort_quietly(conn: Connection | None) -> None:
    if conn is not None:
        with contextlib.suppress(Exception):  # the socket is dropped either way
            conn.abort()


class RetryPolicy:
    """When a looping user's lifecycle could not get ready, it waits as the document's client
    does before trying again: `reconnectDelay` doubling up to `maxReconnectDelay`, and the
    circuit breaker (`circuitBreakerThreshold` failures in a row open it for
    `circuitBreakerTimeout`). Without this, 20 users made 99,284 attempts in 8 s against a
    dead platform."""

    def __init__(self, settings: Settings, rng: random.Random) -> None:
        self.backoff = Backoff(
            settings.reconnect_delay_ms / 1000,
            settings.max_reconnect_delay_ms / 1000,
            jitter=settings.reconnect_jitter,
            rng=rng,
        )
        self.breaker = CircuitBreaker(
            settings.circuit_breaker_threshold, settings.circuit_breaker_timeout_ms / 1000
        )
        self.failures = 0

    def wait_after(self, outcome: Outcome, now: float) -> float:
        """Seconds to wait before the next lifecycle."""
        if outcome.ready or outcome.failure is None:
            self.failures = 0
            self.breaker.record_success()
            return 0.0
        self.failures += 1
        self.breaker.record_failure(now)
        delay = self.backoff.delay(min(self.failures - 1, 30))
        return max(delay, self.breaker.retry_at(now) - now)


def _reconnect(conn: Connection, url: str) -> None:
    """One reconnect attempt when its backoff (and the circuit breaker) allow."""
    s = conn.session
    delay = (s.reconnect_at or 0.0) - s.clock.now()
    if delay > 0:
        time.sleep(delay)
    try:
        if conn.open(url):
            conn.wait_ready()
    except CircuitOpen as exc:
        time.sleep(max(0.0, exc.retry_at - s.clock.now()))
