"""Samples files: rows reach the OS at every flush, are counted, and read back whole."""

import csv
import io
import json
import socket
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.protocol.session import PhaseSample
from harness.record.runfile import SampleFile, sample_problems
from harness.record.samples import SampleWriter, _row, read_chunks
from harness.record.schema import SAMPLE_FIELDS, SAMPLES_CSV


def samples(n: int) -> list[PhaseSample]:
    return [PhaseSample(f"s{i}", "ready", 1.5 + i, 100 + i, True) for i in range(n)]


def rows_in(path: Path) -> int:
    return sum(len(chunk) for chunk in read_chunks(path))


def test_rows_are_on_disk_after_each_write_and_counted(tmp_path: Path) -> None:
    writer = SampleWriter(tmp_path, "w/1")
    writer.write(samples(3), "w/1")
    assert writer.path == tmp_path / "samples" / "w_1.csv"
    assert rows_in(writer.path) == 3  # readable by another process before close
    writer.write(samples(2), "w/1")
    writer.close()
    status = writer.status()
    assert (
        status.pop("host") == socket.gethostname() and status.pop("schema_version") == SAMPLES_CSV
    )
    assert status == {"file": "samples/w_1.csv", "rows": 5, "closed": True, "error": None}
    assert rows_in(writer.path) == 5


def test_a_half_written_last_line_is_left_out(tmp_path: Path) -> None:
    writer = SampleWriter(tmp_path, "w")
    writer.write(samples(4), "w")
    writer.close()
    with writer.path.open("a") as f:
        f.write("s9,ready,9.0,12")  # a killed process's last, unfinished row
    assert rows_in(writer.path) == 4
    assert [c["session_id"].tolist() for c in read_chunks(writer.path)] == [
        ["s0", "s1", "s2", "s3"]
    ]


def test_an_empty_file_has_no_rows(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("")
    assert rows_in(tmp_path / "x.csv") == 0


def test_a_corrupt_file_is_a_value_error(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(
        "session_id,phase,start,duration_us,ok,error,attempt,worker\na,ready,notanumber,1,1,,0,w\n"
    )
    with pytest.raises(ValueError):
        rows_in(path)


def test_a_full_disk_stops_the_writer_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "w.csv").symlink_to("/dev/full")  # every write: no space left
    writer = SampleWriter(tmp_path, "w")
    writer.write(samples(5000), "w")  # no exception
    assert writer.rows == 0 and writer.error and "no space left" in writer.error
    writer.close()
    assert writer.status()["closed"] is False


def test_row_checks_name_the_file_and_both_counts(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    files = [
        SampleFile(a, "a", 10, True),
        SampleFile(b, "b", 10, False),  # lost worker: at least its reported rows
        SampleFile(c, "c", 5, True),
    ]
    assert sample_problems(files, {a: 10, b: 14, c: 5}) == []
    problems = sample_problems(files, {a: 9, b: 7})
    assert problems == [
        "a.csv: holds 9 rows, run.json says 10 (truncated or altered)",
        "b.csv: holds 7 rows, fewer than the 10 its process had written (truncated)",
        "c.csv: missing, run.json says it holds 5 rows",
    ]


def test_a_closed_writer_resumes_appending_for_the_next_test(tmp_path: Path) -> None:
    writer = SampleWriter(tmp_path, "w")
    writer.write(samples(2), "w")
    writer.close()
    writer.resume()
    writer.write(samples(3), "w")
    writer.close()
    assert writer.status()["rows"] == 5 and rows_in(writer.path) == 5


def test_a_version_1_file_without_reply_columns_still_reads(tmp_path: Path) -> None:
    from harness.analysis.rundata import load_run
    from tests.rundirs import T0, run_body

    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps(run_body(rows=3)))
    (run / "samples" / "local.csv").write_text(
        "session_id,phase,start,duration_us,ok,error,attempt,worker\n"
        + "".join(f"s{i},chat_complete,{T0 + i},{1000 + i},1,,0,local\n" for i in range(3))
    )
    data = load_run(run)
    assert data.phases["chat_complete"].count == 3
    assert len(data.reply_chunks) == 0 and data.chatted == 3


# any text, and often what CSV must quote: commas, quotes, line breaks
TEXT = st.text(max_size=12) | st.text(st.sampled_from(',"\r\n a\u2028é'), max_size=6)


@given(
    st.lists(
        st.builds(
            PhaseSample,
            TEXT,
            st.sampled_from(["connect", "chat_gap"]),
            st.floats(min_value=0, max_value=4e9, allow_nan=False),
            st.integers(-(10**9), 10**12),
            st.booleans(),
            st.none() | TEXT,
            st.integers(0, 99),
            st.none() | st.integers(0, 10**6),
            st.none() | st.floats(min_value=0, max_value=1e9, allow_nan=False),
            st.none() | TEXT,
            st.none() | TEXT,
        ),
        max_size=8,
    ),
    TEXT,
)
@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_file_is_byte_for_byte_what_csv_writer_writes(
    tmp_path: Path, rows: list[PhaseSample], worker: str
) -> None:
    """Rows are formatted without csv.writer unless a field needs quoting: either way the
    file is what csv.writer alone would have written."""
    writer = SampleWriter(tmp_path, "w")
    writer.write(rows, worker)
    writer.close()
    expected = io.StringIO(newline="")
    plain = csv.writer(expected)
    plain.writerow(SAMPLE_FIELDS)
    plain.writerows(_row(s, worker) for s in rows)
    assert writer.path.read_bytes() == expected.getvalue().encode()
    assert writer.rows == len(rows)
