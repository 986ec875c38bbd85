"""Free loopback ports and waiting for a server to accept connections (shared with
the benchmarks, which start the same servers)."""

from bench.tansu import free_port, wait_for_port

__all__ = ["free_port", "wait_for_port"]
