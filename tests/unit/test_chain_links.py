"""The hash chain's pure rules: a link covers the previous link and the stored event;
a check names each altered, missing, moved or unchained version."""

from __future__ import annotations

from services.chain.links import GENESIS, StoredRow, check_plan, link, seal

PLAN = "4c965fe8-d539-4c3e-8377-ee21dadf7566"


def chain(rows: list[StoredRow]) -> dict[int, str]:
    links, previous = {}, GENESIS
    for row in rows:
        previous = link(previous, PLAN, row.version, row.topic, row.state)
        links[row.version] = previous
    return links


ROWS = [
    StoredRow(v, f"domain.care_plan:CarePlan.E{v}", f'{{"n": {v}}}'.encode()) for v in (1, 2, 3, 4)
]


def whats(findings: list) -> list[tuple[int, str]]:  # type: ignore[type-arg]
    return [(f.version, f.what) for f in findings]


def test_an_intact_chain_has_a_head_and_no_findings() -> None:
    findings, head = check_plan(PLAN, ROWS, chain(ROWS))
    assert (findings, head) == ([], chain(ROWS)[4])


def test_each_link_depends_on_everything_it_covers() -> None:
    base = link(GENESIS, PLAN, 1, "t", b"s")
    assert link("1" * 64, PLAN, 1, "t", b"s") != base
    assert link(GENESIS, PLAN, 2, "t", b"s") != base
    assert link(GENESIS, PLAN, 1, "u", b"s") != base
    assert link(GENESIS, PLAN, 1, "t", b"S") != base
    assert link(GENESIS, PLAN.replace("4", "5"), 1, "t", b"s") != base
    assert link(GENESIS, PLAN, 1, "ts", b"") != link(GENESIS, PLAN, 1, "t", b"s")  # framed


def test_an_altered_event_is_named() -> None:
    links = chain(ROWS)
    altered = [*ROWS[:2], StoredRow(3, ROWS[2].topic, b'{"n": 33}'), ROWS[3]]
    assert whats(check_plan(PLAN, altered, links)[0]) == [(3, "altered")]


def test_deleted_events_are_named_in_the_middle_and_at_the_end() -> None:
    links = chain(ROWS)
    assert whats(check_plan(PLAN, [ROWS[0], ROWS[2], ROWS[3]], links)[0]) == [(2, "missing")]
    assert whats(check_plan(PLAN, ROWS[:3], links)[0]) == [(4, "missing")]


def test_swapped_versions_are_named_as_moved() -> None:
    links = chain(ROWS)
    swapped = [
        ROWS[0],
        StoredRow(2, ROWS[2].topic, ROWS[2].state),
        StoredRow(3, ROWS[1].topic, ROWS[1].state),
        ROWS[3],
    ]
    assert whats(check_plan(PLAN, swapped, links)[0]) == [(2, "reordered"), (3, "reordered")]


def test_an_event_without_its_link_and_an_altered_link_are_named() -> None:
    links = chain(ROWS)
    del links[4]
    assert whats(check_plan(PLAN, ROWS, links)[0]) == [(4, "unchained")]
    links = chain(ROWS)
    links[2] = "f" * 64
    assert (2, "altered") in whats(check_plan(PLAN, ROWS, links)[0])


def test_the_seal_changes_with_any_head_and_not_with_order() -> None:
    heads = [("a", 3, "x" * 64), ("b", 1, "y" * 64)]
    assert seal(heads) == seal(list(reversed(heads)))
    assert seal(heads) != seal([("a", 3, "x" * 64), ("b", 2, "y" * 64)])
    assert seal(heads).startswith("careplan-seal:v1:2:")


KEY = b"a-chain-key-kept-outside-the-database"


def keyed_chain(rows: list[StoredRow], key: bytes = KEY, from_version: int = 1) -> dict[int, str]:
    """Unkeyed links before ``from_version`` (written before the key), keyed after."""
    links, previous = {}, GENESIS
    for row in rows:
        use = key if row.version >= from_version else None
        previous = link(previous, PLAN, row.version, row.topic, row.state, use)
        links[row.version] = previous
    return links


def test_a_keyed_link_differs_from_a_plain_one_and_from_another_keys() -> None:
    row = ROWS[0]
    plain = link(GENESIS, PLAN, 1, row.topic, row.state)
    assert link(GENESIS, PLAN, 1, row.topic, row.state, KEY) != plain
    assert link(GENESIS, PLAN, 1, row.topic, row.state, KEY) != link(
        GENESIS, PLAN, 1, row.topic, row.state, b"another-key"
    )


def test_a_keyed_chain_and_one_keyed_from_the_middle_are_intact() -> None:
    assert check_plan(PLAN, ROWS, keyed_chain(ROWS), KEY)[0] == []
    assert check_plan(PLAN, ROWS, keyed_chain(ROWS, from_version=3), KEY)[0] == []


def test_an_unkeyed_link_after_a_keyed_one_is_a_forgery() -> None:
    links = keyed_chain(ROWS)
    forged = StoredRow(3, ROWS[2].topic, b'{"n": 300}')
    rows = [ROWS[0], ROWS[1], forged, ROWS[3]]
    links[3] = link(links[2], PLAN, 3, forged.topic, forged.state)  # no key to be had
    links[4] = link(links[3], PLAN, 4, ROWS[3].topic, ROWS[3].state)
    assert whats(check_plan(PLAN, rows, links, KEY)[0]) == [(3, "unkeyed"), (4, "unkeyed")]


def test_a_keyed_chain_checked_with_another_key_is_altered_throughout() -> None:
    findings, head = check_plan(PLAN, ROWS, keyed_chain(ROWS), b"the-wrong-key")
    assert head is None
    assert {what for _, what in whats(findings)} == {"altered"}
