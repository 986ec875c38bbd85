"""Projection lag on both stores: events and seconds behind the log, 0 once caught up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from projections.lag import projection_lag
from services.bootstrap import Careplan
from services.demo import play_course


def test_lag_counts_the_events_not_yet_processed_and_ages_the_oldest(
    careplan: Careplan,
) -> None:
    app = careplan.app
    play_course(app, "pt-lag-1")
    caught_up = app.recorder.max_notification_id()
    app.after_commit = app.views_with_the_events = None  # the views stop following
    play_course(app, "pt-lag-2")
    head = app.recorder.max_notification_id()
    oldest = next(iter(app.recorder.select_notifications(start=caught_up + 1, limit=1)))
    recorded = app.mapper.to_domain_event(oldest).timestamp
    later = recorded + timedelta(seconds=90)

    seen_head, lags = projection_lag(careplan.views, app.recorder, app.mapper, ["worklist"], later)
    assert seen_head == head
    assert (lags["worklist"].position, lags["worklist"].events_behind) == (
        caught_up,
        head - caught_up,
    )
    assert lags["worklist"].seconds_behind == 90.0

    careplan.followers["worklist"].catch_up()
    _, lags = projection_lag(
        careplan.views, app.recorder, app.mapper, careplan.followers, datetime.now(UTC)
    )
    assert (lags["worklist"].events_behind, lags["worklist"].seconds_behind) == (0, 0.0)
    assert lags["outcomes"].events_behind == head - caught_up
