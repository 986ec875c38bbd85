"""The server's collector settings (in a fresh interpreter: they are process-wide)."""

from __future__ import annotations

import subprocess
import sys

from services.gc_pause import SERVING_THRESHOLD


def test_serving_raises_the_young_threshold_and_freezes_what_startup_built() -> None:
    script = (
        "import gc\n"
        "from services.gc_pause import tune_for_serving\n"
        "before = gc.get_threshold()\n"
        "tune_for_serving()\n"
        "after = gc.get_threshold()\n"
        "print(after[0], after[1:] == before[1:], gc.get_freeze_count() > 0)\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert shown == [str(SERVING_THRESHOLD), "True", "True"]
