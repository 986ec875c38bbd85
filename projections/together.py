"""Read-your-writes for every view at the cost of one: one read of the log, one commit.

After a command, each view must reflect it before the caller hears "done".
Catching the followers up one by one costs each view its own reads and its own
commit; here the new events are read and decoded once, and every view applies
them in one transaction, each in its own savepoint, with its own position. So
each view still writes its rows and its position together, and a view whose
handler fails is left behind (and reported) without holding back the others:
its own thread, or the next command, retries it.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack

from projections.runner import ProjectionFollower


def catch_up_together(
    followers: Sequence[ProjectionFollower], until: int
) -> dict[str, Exception | None]:
    """Bring the followers (sharing one store and log) up to position ``until``.

    Returns the ones left behind: with the error a view's handler raised, or with
    None when another process moved its position meanwhile (the caller lets that
    one ``catch_up`` on its own).
    """
    if not followers:
        return {}
    ordered = sorted(followers, key=lambda f: f.name)  # one lock order for every caller
    first = ordered[0]
    left: dict[str, Exception | None] = {}
    with ExitStack() as locks:
        for follower in ordered:
            locks.enter_context(follower.lock)
        positions = first.store.positions([f.name for f in ordered])
        pending = [f for f in ordered if positions[f.name] < until]
        while pending:
            start = min(positions[f.name] for f in pending)
            notifications = first.recorder.select_notifications(
                start=start, limit=first.batch_size, stop=until, inclusive_of_start=False
            )
            if not notifications:
                break
            events = [(n.id, first.mapper.to_domain_event(n)) for n in notifications]
            last = notifications[-1].id
            with first.store.transaction() as sql:
                for follower in list(pending):
                    own = [(i, e) for i, e in events if i > positions[follower.name]]
                    if not own:
                        continue
                    try:
                        applied = follower.apply_in(sql, positions[follower.name], own)
                    except Exception as error:  # reported; the others go on
                        left[follower.name] = error
                        pending.remove(follower)
                        continue
                    if applied:
                        positions[follower.name] = last
                    else:
                        left[follower.name] = None
                        pending.remove(follower)
            pending = [f for f in pending if positions[f.name] < until]
    return left
