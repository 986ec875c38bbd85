"""Snapshots of care plans: a cache that makes replay to a version fast, never evidence."""
