"""samples/<worker>.csv: every phase sample of one process, one row each (SAMPLE_FIELDS).

The writer pushes rows through to the operating system on every flush (the coordinator
flushes every 2 s), so a process killed with SIGKILL loses at most its last two seconds, and
it counts the rows it wrote, which run.json records. The reader reads whole rows only (a
killed process can leave half a line) and says how many it found.
"""

from __future__ import annotations

import contextlib
import csv
import io
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from harness.protocol.session import PhaseSample
from harness.record.files import describe_os_error
from harness.record.schema import SAMPLE_FIELDS, SAMPLES_CSV

if TYPE_CHECKING:
    import pandas as pd

CHUNK_ROWS = 1_000_000

_LINE = ",".join(["%s"] * len(SAMPLE_FIELDS)) + "\r\n"  # a row as csv.writer ends it


def _row(s: PhaseSample, worker: str) -> tuple[object, ...]:
    """A sample's fields in SAMPLE_FIELDS order, as csv.writer takes them."""
    return (
        s.session_id,
        s.phase,
        f"{s.start:.6f}",
        s.duration_us,
        int(s.ok),
        s.error or "",
        s.attempt,
        worker,
        "" if s.chunks is None else s.chunks,
        "" if s.chars_per_s is None else s.chars_per_s,
        s.step or "",
        s.tenant or "",
    )


def _plain(text: str, rows: int) -> bool:
    """Whether `rows` lines formatted with _LINE need no CSV quoting: exactly their own
    commas and line ends, and no quote (else csv.writer would quote a field)."""
    return (
        text.count(",") == rows * (len(SAMPLE_FIELDS) - 1)
        and text.count("\n") == rows
        and text.count("\r") == rows
        and '"' not in text
    )


class SampleWriter:
    """Raw samples of one process, appended as CSV. A write error (a full disk) stops the
    writer for good; `error` says why and `rows` counts the rows written before it."""

    def __init__(self, run_dir: Path, worker_id: str) -> None:
        self.name = f"samples/{worker_id.replace('/', '_')}.csv"
        self.path = run_dir / self.name
        self.rows = 0
        self.error: str | None = None
        self.closed = False
        self._file: IO[str] | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", newline="", buffering=1 << 20)
            self._csv = csv.writer(self._file)
            self._csv.writerow(SAMPLE_FIELDS)
            self._file.flush()
        except OSError as exc:
            self._failed(exc)

    def write(self, samples: list[PhaseSample], worker: str) -> None:
        """Append rows and push them to the OS (not fsync: a killed process's writes are
        kept by the kernel; a lost machine is another matter)."""
        if self._file is None:
            return
        rows = [_row(s, worker) for s in samples]
        try:
            text = "".join([_LINE % row for row in rows])
            if _plain(text, len(rows)):
                self._file.write(text)  # as csv.writer writes them, at half the cost
            else:  # a field to quote (a comma, a quote, a line break in a step's name)
                self._csv.writerows(rows)
            self._file.flush()
        except OSError as exc:
            self._failed(exc)
            return
        self.rows += len(samples)

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError as exc:
                self._failed(exc)
                return
            self._file = None
        self.closed = self.error is None

    def resume(self) -> None:
        """Append again after close (the web UI's next test in the same run)."""
        if self._file is None and self.error is None:
            try:
                self._file = self.path.open("a", newline="", buffering=1 << 20)
                self._csv = csv.writer(self._file)
            except OSError as exc:
                self._failed(exc)
                return
            self.closed = False

    def status(self) -> dict[str, Any]:
        """What run.json records of this file."""
        return {
            "file": self.name,
            "schema_version": SAMPLES_CSV,
            "rows": self.rows,
            "closed": self.closed,
            "error": self.error,
            "host": socket.gethostname(),  # a worker on another machine keeps its file there
        }

    def _failed(self, exc: OSError) -> None:
        self.error = describe_os_error(self.path, exc)
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()


class _WholeLines(io.RawIOBase):
    """The first `limit` bytes of a binary file: up to its last newline."""

    def __init__(self, f: IO[bytes], limit: int) -> None:
        self._f, self._left = f, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._left)
        if n <= 0:
            return 0
        data = self._f.read(n)
        buffer[: len(data)] = data
        self._left -= len(data)
        return len(data)


def _complete_length(path: Path) -> int:
    """Bytes up to and including the file's last newline."""
    with path.open("rb") as f:
        f.seek(0, io.SEEK_END)
        end = f.tell()
        step = 1 << 16
        while end > 0:
            start = max(0, end - step)
            f.seek(start)
            block = f.read(end - start)
            newline = block.rfind(b"\n")
            if newline >= 0:
                return start + newline + 1
            end = start
    return 0


DTYPES = {
    "phase": "category",
    "start": "float64",
    "duration_us": "int64",
    "ok": "int8",
    "error": "category",
    "attempt": "int32",
    "chunks": "float64",  # empty (NaN) but on completed replies
    "chars_per_s": "float64",
    "step": "category",  # empty but on labelled samples
    "tenant": "category",
}
READ = frozenset(SAMPLE_FIELDS) - {"worker"}
REQUIRED = frozenset(SAMPLE_FIELDS[:7])  # a version 1 file has no more


def read_chunks(path: Path) -> Iterator[pd.DataFrame]:
    """The file's whole rows, in chunks (every column but worker; a version 1 file has no
    chunks and chars_per_s, version 2 no step and tenant). A half-written last line is left
    out. Raises ValueError for a corrupt file."""
    import pandas as pd  # here: a load run's processes write samples and never read them,
    # and pandas is 40 MB of every process's memory (and 0.14 s of its start)

    length = _complete_length(path)
    if length == 0:
        return
    with path.open("rb") as raw:
        head = io.BufferedReader(_WholeLines(raw, length))
        try:
            reader = pd.read_csv(
                head,
                usecols=lambda column: column in READ,
                dtype=DTYPES,
                keep_default_na=False,
                na_values={"chunks": [""], "chars_per_s": [""]},
                chunksize=CHUNK_ROWS,
            )
            for chunk in reader:
                missing = REQUIRED - set(chunk.columns)
                if missing:
                    raise ValueError(f"no column {', '.join(sorted(missing))}")
                yield chunk
        except pd.errors.EmptyDataError:
            return
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise ValueError(str(exc).splitlines()[0]) from None
