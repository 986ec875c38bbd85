"""Wake the followers when PostgreSQL says the log grew (LISTEN/NOTIFY).

The library's ``PostgresApplicationRecorder`` sends ``NOTIFY`` in every
transaction that appends events. Here a notification is only a doorbell: it wakes
the followers, which then read from their own tracked positions as always. So
exactly-once stays where it was (rows and position in one transaction), and a
follower that a rebuild's switch moved on does not follow a second cursor.

A notification can be lost (the listening connection drops, the server
restarts): the listener then fails, listens again after ``retry_seconds``
and rings once on reopening; meanwhile the followers' periodic poll catches up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import suppress

import psycopg
import structlog
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

log = structlog.get_logger(__name__)

#: How long a wait for a notification lasts before the listener checks for a stop.
POLL_SECONDS = 0.5


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
        self._thread = threading.Thread(target=self._run, name="log-notifier", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
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
        """LISTEN on the recorder's channel; after each notification (and any that
        came with it), ring with the log's head.

        Not the library's subscription: that reads every new event's row (state and
        all) to hand it over, once per notification, where a doorbell needs only the
        head, to tell whether this process has already written it into the views.
        Our recorder names the head in the notification; one without (another
        writer's) costs a query."""
        channel = Identifier(self.recorder.channel_name)
        with self.recorder.datastore.get_connection() as conn:
            conn.execute(SQL("LISTEN {0}").format(channel))
            try:
                self.listening.set()
                self.wake(None)  # whatever was appended while nobody listened
                while not self._stop.is_set():
                    heads = [n.payload for n in conn.notifies(timeout=POLL_SECONDS, stop_after=1)]
                    if heads:
                        heads += [n.payload for n in conn.notifies(timeout=0)]  # came with it
                        self.wake(self._head(heads))
            finally:
                with suppress(psycopg.Error):  # the pool must not hand on a listener
                    conn.execute(SQL("UNLISTEN {0}").format(channel))

    def _head(self, payloads: list[str]) -> int | None:
        if all(payload.isdigit() for payload in payloads):
            return max(int(payload) for payload in payloads)
        return self.recorder.max_notification_id()
