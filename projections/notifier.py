"""Wake the followers when PostgreSQL says the log grew (LISTEN/NOTIFY).

The library's ``PostgresApplicationRecorder`` sends ``NOTIFY`` in every
transaction that appends events, and its ``subscribe`` listens on that channel.
Here the subscription is only a doorbell: every notification it delivers wakes
the followers, which then read from their own tracked positions as always. So
exactly-once stays where it was (rows and position in one transaction), and a
follower that a rebuild's switch moved on does not follow a second cursor.

A notification can be lost (the listening connection drops, the server
restarts): the subscription then fails, is opened again after ``retry_seconds``
and rings once on reopening; meanwhile the followers' periodic poll catches up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import structlog
from eventsourcing.persistence import Subscription
from eventsourcing.postgres import PostgresApplicationRecorder

log = structlog.get_logger(__name__)


class LogNotifier:
    """Calls ``wake`` whenever the log grows, from a thread of its own, with the new
    notification's id (None: something may have been missed, look anyway)."""

    def __init__(
        self,
        recorder: PostgresApplicationRecorder,
        wake: Callable[[int | None], None],
        *,
        retry_seconds: float = 5.0,
    ) -> None:
        self.recorder = recorder
        self.wake = wake
        self.retry_seconds = retry_seconds
        #: Set while a subscription is listening (tests and health checks read it).
        self.listening = threading.Event()
        self._stop = threading.Event()
        self._subscription: Subscription[Any] | None = None
        self._thread = threading.Thread(target=self._run, name="log-notifier", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        subscription = self._subscription
        if subscription is not None:
            subscription.stop()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception as error:  # the poll covers the gap until we listen again
                log.warning("projection.notifications_lost", error=str(error))
            self.listening.clear()
            self._stop.wait(self.retry_seconds)

    def _listen(self) -> None:
        head = self.recorder.max_notification_id() or 0
        with self.recorder.subscribe(gt=head) as subscription:
            self._subscription = subscription
            self.listening.set()
            self.wake(None)  # whatever was appended while nobody listened
            for notification in subscription:
                if self._stop.is_set():
                    break
                self.wake(notification.id)
