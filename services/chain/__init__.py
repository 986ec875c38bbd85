"""Tamper evidence: a hash chain per care plan, written with the events."""
