"""Outputs of `harness report`: report.html, junit.xml, summary.md (summary.json is analysis)."""
