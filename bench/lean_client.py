"""A lean asyncio client (python-websockets): the yardstick the harness is measured against.

It runs the document's lifecycle with nothing else: connect, 100 ms, auth, wait for
connection_ready, optionally one chat to its end, close. No state machine, no hooks.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field

from websockets.asyncio.client import connect

from harness.protocol.messages import auth_frame, chat_frame, ping_frame


@dataclass
class Tally:
    started: int = 0
    completed: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    ready_ms: list[float] = field(default_factory=list)
    late_starts: int = 0  # lifecycles started over 10 ms behind schedule

    def fail(self, exc: BaseException) -> None:
        name = type(exc).__name__
        self.failed[name] = self.failed.get(name, 0) + 1


def session_url(base: str, session_id: str) -> str:
    return f"{base}/api/v1/ws/chat?tenant_id=miptech-company&session_id={session_id}"


async def open_ready(base: str, auth_delay: float = 0.1):  # type: ignore[no-untyped-def]
    """Connect and wait for connection_ready; returns (connection, ready ms, session id)."""
    sid = str(uuid.uuid4())
    started = time.perf_counter()
    ws = await connect(
        session_url(base, sid),
        compression=None,
        ping_interval=None,
        open_timeout=10,
        close_timeout=5,
    )
    await asyncio.sleep(auth_delay)
    await ws.send(auth_frame("miptech-company", sid, "lean", "http://localhost/", time.time()))
    async with asyncio.timeout(10):
        while '"connection_ready"' not in str(await ws.recv()):
            pass
    return ws, (time.perf_counter() - started) * 1000, sid


async def lifecycle(base: str, tally: Tally, chat: bool) -> None:
    try:
        ws, ready_ms, sid = await open_ready(base)
        tally.ready_ms.append(ready_ms)
        if chat:
            await ws.send(chat_frame("hello", str(uuid.uuid4()), sid, time.time()))
            async with asyncio.timeout(30):
                while '"stop_typing"' not in str(await ws.recv()):
                    pass
        await ws.close()
        tally.completed += 1
    except Exception as exc:
        tally.fail(exc)


async def run_rate(base: str, rate: float, duration: float, chat: bool) -> Tally:
    """Open model: lifecycles start on schedule whatever completes."""
    tally = Tally()
    tasks = set()
    start = time.perf_counter()
    n = int(rate * duration)
    for i in range(n):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.010:
            tally.late_starts += 1
        tally.started += 1
        task = asyncio.create_task(lifecycle(base, tally, chat))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=60)
    return tally


async def run_closed(base: str, users: int, duration: float, chat: bool) -> Tally:
    """Closed model: `users` loops of lifecycles back to back, for `duration` seconds."""
    tally = Tally()
    end = time.perf_counter() + duration

    async def user() -> None:
        while time.perf_counter() < end:
            tally.started += 1
            await lifecycle(base, tally, chat)

    await asyncio.gather(*(user() for _ in range(users)))
    return tally


async def run_hold(
    base: str, sessions: int, rate: float, hold_s: float, heartbeat_s: float
) -> tuple[Tally, int]:
    """Open `sessions` ready sessions at `rate`/s, hold them with heartbeats, close them."""
    tally = Tally()
    held = []

    async def one() -> None:
        try:
            ws, ready_ms, _ = await open_ready(base)
            tally.ready_ms.append(ready_ms)
            held.append(ws)
        except Exception as exc:
            tally.fail(exc)

    start = time.perf_counter()
    tasks = []
    for i in range(sessions):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tally.started += 1
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    peak = len(held)

    async def heartbeat(ws) -> None:  # type: ignore[no-untyped-def]
        end = time.perf_counter() + hold_s
        while time.perf_counter() < end:
            await asyncio.sleep(heartbeat_s)
            await ws.send(ping_frame(time.time()))
            while '"pong"' not in str(await ws.recv()):
                pass

    results = await asyncio.gather(*(heartbeat(ws) for ws in held), return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            tally.fail(r)
    await asyncio.gather(*(ws.close() for ws in held), return_exceptions=True)
    tally.completed = peak - sum(isinstance(r, BaseException) for r in results)
    return tally, peak


def tally_json(tally: Tally, **extra: object) -> str:
    return json.dumps({**tally.__dict__, **extra})
