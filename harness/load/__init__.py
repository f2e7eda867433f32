"""Load runs: Locust users through the full lifecycle, per-phase timing, merged results."""
