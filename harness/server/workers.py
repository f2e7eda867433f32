"""Running the reference platform: one process, or `--workers N` processes on one port.

A process may hold at most 20,000 open files here, so 20,000 held sessions need more than
one server process. Workers share the port with SO_REUSEPORT (the kernel spreads new
connections across them); the parent reserves the port, forwards SIGTERM/SIGINT/SIGUSR1.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import multiprocessing
import os
import signal
import socket
import sys
from collections.abc import Callable
from multiprocessing.synchronize import Event

import uvloop

from harness.server.app import ReferencePlatform, ServerConfig, quiet_library_logs
from harness.transport import resolve


def _bind_address(config: ServerConfig) -> ServerConfig:
    """Bind exactly the address clients will resolve first, so port 0 means one port."""
    _, (address, _) = resolve(config.host, config.port or 1)
    return dataclasses.replace(config, host=address)


def binds_loopback_only(host: str) -> bool:
    """Whether `serve --host HOST` listens on a loopback address only (what it binds: the
    first address HOST resolves to). An unresolvable HOST counts as loopback: serve fails."""
    if not host:
        return False  # every interface
    try:
        address = _bind_address(ServerConfig(host=host)).host
    except OSError:
        return True
    return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback


def _run_one(config: ServerConfig, announce: Callable[[str], None], debug: bool) -> None:
    quiet_library_logs(debug)
    platform = ReferencePlatform(config).run(on_listening=announce)
    if config.ground_truth_dir is not None:
        asyncio.run(platform)  # its reads can keep kernel arrival times (app.KernelStampedReads)
    else:
        uvloop.run(platform)


def _worker(config: ServerConfig, listening: Event, debug: bool) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    _run_one(config, lambda url: listening.set(), debug)


def serve(
    config: ServerConfig, announce: Callable[[str], None] | None = None, debug: bool = False
) -> None:
    """Serve until SIGTERM/SIGINT; `announce(url)` is called once everything listens."""
    announce = announce or (lambda url: None)
    display_host = config.host
    config = _bind_address(config)

    def show(url: str) -> None:
        announce(url.replace(f"//{config.host}:", f"//{display_host}:", 1))

    if config.workers <= 1:
        _run_one(config, show, debug)
        return
    reserve = socket.socket(socket.AF_INET6 if ":" in config.host else socket.AF_INET)
    reserve.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reserve.bind((config.host, config.port))  # held, never listening: pins the port
    port = reserve.getsockname()[1]
    context = multiprocessing.get_context("fork")
    workers = []
    for index in range(config.workers):
        worker_config = dataclasses.replace(
            config,
            port=port,
            reuse_port=True,
            worker_index=index,
            supervised=True,
            seed=None if config.seed is None else config.seed + index,
        )
        listening = context.Event()
        process = context.Process(target=_worker, args=(worker_config, listening, debug))
        process.start()
        workers.append((process, listening))
    for process, listening in workers:
        while not listening.wait(0.1):
            if not process.is_alive():
                sys.exit(f"harness serve: worker {process.pid} exited with {process.exitcode}")

    def forward(signum: int, _frame: object) -> None:
        if signum != signal.SIGUSR1:
            signum = signal.SIGTERM
        for process, _ in workers:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
        signal.signal(signum, forward)
    show(f"{config.scheme}://{config.host}:{port}{config.endpoints[0]}")
    for process, _ in workers:
        while process.is_alive():
            process.join(0.5)
    reserve.close()
