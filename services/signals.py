"""Run a worker loop until SIGINT or SIGTERM, without touching locks in a signal handler.

Setting a ``threading.Event`` from a signal handler can deadlock when the main
thread is itself inside ``Event.wait`` (the handler runs while the main thread
holds the event's lock). So the loop runs in a worker thread, the signals are
blocked and *waited for* in the main thread, and the event is set from there.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def run_until_signalled(work: Callable[[threading.Event], T], poll_seconds: float = 0.2) -> T:
    """Call ``work(stop)`` in a thread; set ``stop`` on SIGINT/SIGTERM; return its result."""
    stop = threading.Event()
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["result"] = work(stop)
        except BaseException as error:  # re-raised in the caller's thread below
            outcome["error"] = error

    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        worker = threading.Thread(target=target, name="careplan-worker")
        worker.start()  # inherits the blocked mask: only sigtimedwait sees the signals
        while worker.is_alive():
            received = signal.sigtimedwait(STOP_SIGNALS, poll_seconds)
            # After SIGSTOP/SIGCONT (a paused container, a debugger) CPython can return
            # a struct of garbage instead of None: only a real stop signal stops.
            if received is not None and received.si_signo in STOP_SIGNALS:
                stop.set()
        worker.join()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]
