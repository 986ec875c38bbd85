"""A TCP proxy in front of PostgreSQL that loses connections on cue: the faults a
network or a restarted database deal a service, made exact enough to test.

- ``cut_after(marker)``: on the connection whose client next sends ``marker`` (e.g.
  the event store's second trip), the next ``COMMIT`` is passed on, the server is
  given a moment to act on it, and the connection is then closed without its answer
  reaching the client: a commit whose acknowledgement is lost.
- ``cut_before(marker)``: that ``COMMIT`` is dropped and the connection closed: the
  commit never reaches the server.
- ``down()`` / ``up()``: every connection closed and new ones refused, until up.
"""

from __future__ import annotations

import socket
import threading
import time
from contextlib import suppress
from dataclasses import dataclass

from tests.support.ports import free_port

#: How long the server is given to act on the message before the connection is cut.
SETTLE = 0.3
COMMIT = b"COMMIT"


@dataclass
class _Cue:
    marker: bytes
    deliver: bool
    stay_down: bool


class CuttingProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._lock = threading.Lock()
        self._cue: _Cue | None = None
        self._down = False
        self._sockets: set[socket.socket] = set()
        #: How many cues fired (a test asserts its fault really happened).
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_after(self, marker: bytes, *, stay_down: bool = False) -> None:
        with self._lock:
            self._cue = _Cue(marker, deliver=True, stay_down=stay_down)

    def cut_before(self, marker: bytes) -> None:
        with self._lock:
            self._cue = _Cue(marker, deliver=False, stay_down=False)

    def down(self) -> None:
        with self._lock:
            self._down = True
            sockets = list(self._sockets)
        for sock in sockets:
            _close(sock)

    def up(self) -> None:
        with self._lock:
            self._down = False

    def close(self) -> None:
        self.down()
        _close(self._listener)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                refused = self._down
            if refused:
                _close(client)
                continue
            try:
                server = socket.create_connection(self.target)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._sockets |= {client, server}
            muted = threading.Event()  # set: the server's answers are no longer passed on
            for args in ((client, server, muted, True), (server, client, muted, False)):
                threading.Thread(target=self._pipe, args=args, daemon=True).start()

    def _pipe(
        self, source: socket.socket, sink: socket.socket, muted: threading.Event, from_client: bool
    ) -> None:
        armed: _Cue | None = None
        try:
            while data := source.recv(65536):
                if not from_client and muted.is_set():
                    continue
                if from_client and armed is None:
                    armed = self._take_cue(data)
                if armed is None or COMMIT not in data:
                    sink.sendall(data)
                    continue
                cue = armed
                muted.set()
                if cue.deliver:
                    sink.sendall(data)
                    time.sleep(SETTLE)  # the server commits; its answer is never passed on
                if cue.stay_down:
                    self.down()
                break
        except OSError:
            pass
        finally:
            _close(source)
            _close(sink)
            with self._lock:
                self._sockets -= {source, sink}

    def _take_cue(self, data: bytes) -> _Cue | None:
        with self._lock:
            cue = self._cue
            if cue is None or cue.marker not in data:
                return None
            self._cue = None
            self.cuts += 1
            return cue


def _close(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with suppress(OSError):
        sock.close()
