"""A large, realistic event log, written in bulk: a few template plans are played
through the application (so every event is one the domain really produces), then
cloned under fresh ids and inserted in large batches through the recorder.

Commands one by one would take hours for a million events; cloning stored events
costs a regular-expression pass over each event's bytes. Every UUID and the
patient id are replaced per clone, so follow-ups, prescriptions and plans stay
unique across the log, as the views expect.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from domain.values import Actor, CommandContext
from services.application import CarePlans
from tests.integration.course import play
from tests.integration.medication_histories import one_plan

NURSE = Actor("rn-bench", "clinician", name="Bench Nurse")
UUIDS = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")
TEMPLATE_PATIENT = "bench-template-{n:03d}"


def template_plans(app: CarePlans, mean_events: int, rng: random.Random) -> list[list[StoredEvent]]:
    """Plans of every shape (a full course with lithium, tapers, corrections and a
    closed plan; simple SSRI histories), padded with between-visit entries
    (scores, adherence, side effects) so that they average ``mean_events`` events."""
    plans: list[UUID] = []
    for n in range(4):
        course = play(app, TEMPLATE_PATIENT.format(n=n))
        plans += [course.plan, course.closed_plan]
    for n in range(4, 16):
        plans.append(one_plan(app, rng, TEMPLATE_PATIENT.format(n=n)))
    # Closed plans take no more entries: the open ones make up the average.
    open_plans = [plan for plan in plans if app.care_plan(plan).status == "open"]
    closed_events = sum(app.care_plan(plan).version for plan in plans if plan not in open_plans)
    wanted = mean_events * len(plans) - closed_events
    mean_open = wanted // len(open_plans)
    now = [app.care_plan(plan).version for plan in open_plans]
    targets = [max(n, rng.randint(mean_open // 2, mean_open * 3 // 2)) for n in now]
    targets = adjusted(targets, now, max(wanted, sum(now)))
    for plan, target in zip(open_plans, targets, strict=True):
        pad(app, plan, target - app.care_plan(plan).version, rng)
    return [[app.mapper.to_stored_event(e) for e in app.history(plan)] for plan in plans]


def adjusted(targets: list[int], floors: list[int], total: int) -> list[int]:
    """``targets`` moved one by one, none below its floor, until they add up to ``total``."""
    targets = list(targets)
    while (gap := total - sum(targets)) != 0:
        for i in range(len(targets)):
            if gap > 0:
                targets[i] += 1
                gap -= 1
            elif gap < 0 and targets[i] > floors[i]:
                targets[i] -= 1
                gap += 1
            if gap == 0:
                break
    return targets


def pad(app: CarePlans, plan: UUID, count: int, rng: random.Random) -> None:
    for _ in range(max(0, count)):
        ctx = CommandContext(NURSE, datetime.now(UTC))
        kind = rng.random()
        if kind < 0.4:
            app.record_measurement(plan, instrument="PHQ-9", total=rng.randint(0, 20), ctx=ctx)
        elif kind < 0.55:
            app.record_measurement(plan, instrument="GAD-7", total=rng.randint(0, 21), ctx=ctx)
        elif kind < 0.85:
            app.record_adherence(plan, adherence="taking_as_prescribed", ctx=ctx)
        else:
            app.report_side_effect(
                plan, description="dry mouth", severity="mild", action="monitor", ctx=ctx
            )


def cloned(template: list[StoredEvent], number: int) -> list[StoredEvent]:
    """The template plan's events under fresh ids and a patient of its own."""
    fresh: dict[bytes, bytes] = {}

    def replace(match: re.Match[bytes]) -> bytes:
        old = match.group(0)
        if old not in fresh:
            new = uuid.uuid4()
            fresh[old] = (str(new) if len(old) == 36 else new.hex).encode()
        return fresh[old]

    plan = uuid.uuid4()
    patient = re.compile(rb"bench-template-\d{3}")
    out = []
    for event in template:
        state = UUIDS.sub(replace, event.state)
        state = patient.sub(f"bench-pt-{number:07d}".encode(), state)
        out.append(StoredEvent(plan, event.originator_version, event.topic, state))
    return out


def generate(templates: list[list[StoredEvent]], plans: int, events: int) -> Iterator[StoredEvent]:
    """``events`` events over ``plans`` plans (the last plans are cut short or left out
    when the templates are larger than asked for; templates repeat round robin)."""
    written = 0
    for number in range(plans):
        for event in cloned(templates[number % len(templates)], number):
            if written == events:
                return
            yield event
            written += 1


def insert_all(
    app: CarePlans,
    stream: Iterator[StoredEvent],
    batch_size: int,
    progress: Callable[[int], None] = lambda written: None,
) -> int:
    """Insert in batches through the recorder (one transaction each); returns the count."""
    batch: list[StoredEvent] = []
    written = 0
    for event in stream:
        batch.append(event)
        if len(batch) >= batch_size:
            app.recorder.insert_events(batch)
            written += len(batch)
            progress(written)
            batch = []
    if batch:
        app.recorder.insert_events(batch)
        written += len(batch)
        progress(written)
    return written
