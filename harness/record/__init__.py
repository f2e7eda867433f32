"""The run record: every file of a run directory, written and read only here.

Locust-free. The load run's coordinator writes through it, analysis, reports and the
nightly read through it; each file has a schema version and a format history
(`schema.FORMATS`), JSON files are written atomically (temp file + rename), and run.json
says how many sample rows each process wrote, so a reader knows when data is missing.

    schema.py      phases (from the session's Phase enum), sample fields, versions, history
    files.py       atomic writes, redaction, one line for a full disk or unwritable directory
    rundir.py      run ids, the run directory and reports/latest, run metadata
    histograms.py  per-phase HdrHistograms and the one percentile rule (nearest rank)
    results.py     what a process measured (histograms, accounting) and the merge of them
    samples.py     the raw samples files: writer and reader, with row counts
    runfile.py     run.json, histograms.json and summary.json: write and read
"""
