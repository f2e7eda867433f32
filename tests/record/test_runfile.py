"""run.json and histograms.json: atomic writes, status, lost workers, readers."""

import json
import os
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.record.files import RecordWriteError, write_json
from harness.record.results import ProcessResults
from harness.record.runfile import RunRecord, read_run_json


def test_atomic_write_leaves_no_temporary_file_and_fails_in_one_line(tmp_path: Path) -> None:
    write_json(tmp_path / "x.json", {"a": 1})
    assert os.listdir(tmp_path) == ["x.json"]
    with pytest.raises(RecordWriteError, match=r"cannot write .*: no such directory"):
        write_json(tmp_path / "nowhere" / "x.json", {"a": 1})
    (tmp_path / "file").write_text("")
    with pytest.raises(RecordWriteError, match="not a directory"):
        write_json(tmp_path / "file" / "x.json", {})


def test_a_run_stopped_before_its_plan_says_stopped(tmp_path: Path) -> None:
    record = RunRecord.create(tmp_path, "r1", {"scenario": None})
    assert read_run_json(record.run_dir)["status"] == "starting"
    assert not (tmp_path / "latest").exists()  # not before the run measures
    record.start(planned_s=25.0)
    assert read_run_json(record.run_dir)["status"] == "running"
    assert (tmp_path / "latest").resolve() == record.run_dir.resolve()
    record.stopping("SIGTERM")
    body = record.finish(10.0)
    assert body["status"] == "stopped" and body["planned_s"] == 25.0 and body["actual_s"] < 1
    assert body["stop_reason"] == "SIGTERM"
    assert json.loads((record.run_dir / "run.json").read_text()) == json.loads(json.dumps(body))


def test_a_run_that_ran_its_plan_is_complete(tmp_path: Path) -> None:
    record = RunRecord.create(tmp_path, "r2", {})
    record.start(planned_s=0.5)
    assert record.finish(10.0)["status"] == "complete"


def test_a_lost_workers_lifecycles_in_flight_are_lost_not_unaccounted(tmp_path: Path) -> None:
    record = RunRecord.create(tmp_path, "r3", {})
    record.start(None)
    a, b = ProcessResults("a"), ProcessResults("b")
    for p, started, done in ((a, 10, 10), (b, 8, 5)):
        p.accounting.started += started
        p.accounting.completed += done
        record.merge(p.worker_id, p.take_delta())
    record.merge("a", {**a.take_delta(), "final": True})
    record.worker_lost("b")
    record.worker_lost("a")  # final already: not lost
    body = record.finish(10.0)
    assert [w["worker"] for w in body["workers_lost"]] == ["b"]
    total = body["accounting"]["total"]
    assert (total["lost"], total["in_flight"], body["accounting"]["identity_holds"]) == (3, 0, True)


def test_readers_refuse_unknown_versions_and_non_runs(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="no such run directory"):
        read_run_json(tmp_path / "nope")
    with pytest.raises(HarnessError, match=r"no run\.json"):
        read_run_json(tmp_path)
    (tmp_path / "run.json").write_text('{"schema_version": 7}')
    with pytest.raises(HarnessError, match="schema_version 7; this harness reads versions 1 to 3"):
        read_run_json(tmp_path)
    (tmp_path / "run.json").write_text("{half")
    with pytest.raises(HarnessError, match="not valid JSON"):
        read_run_json(tmp_path)


def test_a_run_id_that_exists_is_refused(tmp_path: Path) -> None:
    RunRecord.create(tmp_path, "same", {})
    with pytest.raises(HarnessError, match="exists already"):
        RunRecord.create(tmp_path, "same", {})
    (tmp_path / "runs" / "bare").mkdir()  # a run directory with no samples/ yet
    (tmp_path / "runs" / "bare" / "run.json").write_text("{}")
    with pytest.raises(HarnessError, match="exists already"):
        RunRecord.create(tmp_path, "bare", {})
    assert (tmp_path / "runs" / "bare" / "run.json").read_text() == "{}"  # untouched


def test_secrets_are_masked_in_string_values_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MIPTECH_AUTH_DELAY_MS=1000 names a 'secret' (AUTH): its value must not turn the number
    10000.0 into ****0.0, nor `true` into ****, nor touch encoded histograms."""
    monkeypatch.setenv("MIPTECH_AUTH_DELAY_MS", "1000")
    monkeypatch.setenv("SSO_AUTH_ENABLED", "true")
    monkeypatch.setenv("API_TOKEN", "s3cr3t-value")
    body = {
        "ready_timeout_ms": 10000.0,
        "tls_verify": True,
        "rows": 21000,
        "target": "wss://u:pw@host/x?token=s3cr3t-value",
        "note": "uses s3cr3t-value",
        "phases": {"ready": {"hdr": "HISTFAAAAC1000eJyTaWC"}},
    }
    write_json(tmp_path / "r.json", body)
    back = json.loads((tmp_path / "r.json").read_text())
    assert back["ready_timeout_ms"] == 10000.0 and back["tls_verify"] is True
    assert back["rows"] == 21000 and back["phases"]["ready"]["hdr"] == "HISTFAAAAC1000eJyTaWC"
    assert "s3cr3t-value" not in (tmp_path / "r.json").read_text()
    assert back["target"] == "wss://u:****@host/x?token=****"


def test_a_lost_workers_last_health_counts_and_silence_is_not_health(tmp_path: Path) -> None:
    record = RunRecord.create(tmp_path, "h", {})
    record.start(None)
    saturated, silent = ProcessResults("saturated"), ProcessResults("silent")
    for p in (saturated, silent):
        p.accounting.started += 5
    record.merge("saturated", {**saturated.take_delta(), "health": {"loop_lag_p99_ms": 80.0}})
    record.merge("silent", silent.take_delta())  # died before its first health figures
    record.worker_lost("saturated")
    record.worker_lost("silent")
    health = record.finish(10.0)["health"]
    assert health["valid"] is False
    assert health["reasons"] == [
        "process saturated: event-loop lag p99 80.0 ms > tolerance 10 ms",
        "process silent: ran 5 lifecycles but sent no health figures (lost before its first report)",
    ]


@pytest.mark.parametrize(
    "samples",
    [[], {"w": "x"}, {"w": {"rows": 3}}, {"w": {"file": "samples/w.csv", "rows": "many"}}],
)
def test_a_mangled_samples_table_is_one_clear_error(tmp_path: Path, samples: object) -> None:
    from harness.record.runfile import sample_files

    run = {"schema_version": 2, "status": "complete", "samples": samples}
    with pytest.raises(HarnessError, match=r"run\.json: .*samples"):
        sample_files(tmp_path, run)


def test_a_samples_entry_cannot_point_outside_samples(tmp_path: Path) -> None:
    from harness.record.runfile import sample_files

    run = {"schema_version": 2, "status": "complete",
           "samples": {"w": {"file": "../../../etc/passwd", "rows": 1, "closed": True}}}  # fmt: skip
    [f] = sample_files(tmp_path, run)
    assert f.path == tmp_path / "samples" / "passwd"


def test_a_run_directory_whose_first_write_fails_is_not_left_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.record import runfile

    def full_disk(path: Path, body: object) -> None:
        raise RecordWriteError(f"cannot write {path}: no space left on the device")

    monkeypatch.setattr(runfile, "write_json", full_disk)
    with pytest.raises(RecordWriteError, match="no space left"):
        RunRecord.create(tmp_path, "full", {})
    assert list((tmp_path / "runs").iterdir()) == []


def test_a_latest_that_is_not_our_link_is_refused_before_anything_is_created(
    tmp_path: Path,
) -> None:
    (tmp_path / "latest").mkdir()
    with pytest.raises(HarnessError, match="latest is not the symbolic link"):
        RunRecord.create(tmp_path, "r", {})
    assert not (tmp_path / "runs" / "r").exists()


def test_only_a_run_that_never_started_is_discarded(tmp_path: Path) -> None:
    never = RunRecord.create(tmp_path, "never", {})
    assert never.discard() and not never.run_dir.exists()
    ran = RunRecord.create(tmp_path, "ran", {})
    ran.start(None)
    assert not ran.discard() and ran.run_dir.exists()
