"""Benchmarks: per-frame latency and fidelity (frames), clips (video), several cameras (streams), the machine (env), reports (report)."""
