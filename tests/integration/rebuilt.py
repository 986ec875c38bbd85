"""Every view's rows, and every view rebuilt from the whole log: what a live view is
compared with after crashes or concurrent writes (services/views_check.py)."""

from __future__ import annotations

from services.views_check import rebuild_all, view_rows

__all__ = ["rebuild_all", "view_rows"]
