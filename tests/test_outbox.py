from __future__ import annotations

import asyncio
import os
from datetime import UTC, date, datetime, timedelta

import pytest

from digestbot.outbox import Outbox, delivery_key
from digestbot.ports import Target
from digestbot.store import Store
from digestbot.store.outbox import GroupCommit
from digestbot.store.records import StateChange
from tests.raw_sqlite import raw_connection

# Tests taking ``any_store`` run on both backends (SQLite file, throwaway PostgreSQL database);
# those taking ``store`` test the SQLite store's own mechanisms (run lock files, group commit).

DAY = date(2024, 10, 11)
CHANNEL = Target(platform="discord", kind="channel", id="c1")


@pytest.fixture
async def store(tmp_path):
    async with await Store.open(tmp_path / "db.sqlite3") as s:
        yield s


def test_delivery_key_is_deterministic():
    assert delivery_key("digest", DAY, 2, 3) == "digest:2024-10-11:part2/3"
    assert delivery_key("matches", DAY) == "matches:2024-10-11"


async def test_plan_is_written_once_and_an_earlier_plan_wins(any_store):
    store = any_store  # SQLite and PostgreSQL alike
    outbox = Outbox(store)
    rows, created = await outbox.plan(CHANNEL, slot="post", day=DAY, kind="digest", payloads=["a", "b"])
    assert created and [r.key for r in rows] == ["digest:2024-10-11:part1/2", "digest:2024-10-11:part2/2"]
    assert {r.state for r in rows} == {"pending"}
    again, created = await outbox.plan(CHANNEL, slot="post", day=DAY, kind="notice", payloads=["x", "y", "z"])
    assert not created
    assert [r.payload for r in again] == ["a", "b"]  # the same date never gets a second, different post
    await outbox.close()


async def test_state_machine_claim_sent_release_failed(any_store):
    store = any_store  # SQLite and PostgreSQL alike
    outbox = Outbox(store)
    (row,), _ = await outbox.plan(CHANNEL, slot="post", day=DAY, kind="digest", payloads=[{"t": 1}])
    assert await outbox.claim(row)
    assert not await outbox.claim(row)  # a claimed row cannot be claimed twice
    await outbox.release(row, "timeout")
    (row,) = await outbox.rows(CHANNEL, slot="post", day=DAY)
    assert row.state == "pending" and row.error == "timeout" and row.attempts == 1
    assert await outbox.claim(row)
    await outbox.mark_sent(row, "m1")
    (row,) = await outbox.rows(CHANNEL, slot="post", day=DAY)
    assert (row.state, row.message_id, row.attempts) == ("sent", "m1", 2)
    assert not await outbox.claim(row)
    user = Target(platform="discord", kind="user", id="u1")
    (dm,), _ = await outbox.plan(user, slot="matches", day=DAY, kind="matches", payloads=["hi"])
    assert await outbox.claim(dm)
    await outbox.mark_failed(dm, "cannot DM")
    assert await outbox.counts() == {"sent": 1, "failed": 1}
    await outbox.close()


async def test_concurrent_claims_have_one_winner(any_store):
    store = any_store  # SQLite and PostgreSQL alike
    outbox, other = Outbox(store), Outbox(store)
    (row,), _ = await outbox.plan(CHANNEL, slot="post", day=DAY, kind="digest", payloads=["a"])
    wins = await asyncio.gather(*(o.claim(row) for o in [outbox, other] * 10))
    assert wins.count(True) == 1
    await outbox.close()
    await other.close()


async def test_stale_claims_are_those_of_expired_leases_or_free_run_locks(store):
    outbox = Outbox(store)
    rows, _ = await outbox.plan(CHANNEL, slot="post", day=DAY, kind="digest", payloads=["a", "b", "c"])
    for row in rows:
        assert await outbox.claim(row)
    assert await outbox.stale_claims() == []  # our own claims are in flight, not stale
    other = Outbox(store)
    assert await other.stale_claims() == []  # that run holds its lock and its lease: not stale
    await raw_connection(store).execute("UPDATE deliveries SET claimed_by = 'another-host:1:abc'")
    assert await other.stale_claims() == []  # another host: only the lease can tell
    later = datetime.now(UTC) + other.lease + timedelta(seconds=1)
    assert len(await other.stale_claims(now=later)) == 3
    await outbox.close()
    await other.close()


async def test_a_claim_whose_owner_looks_alive_is_recovered_once_its_lease_expires(store):
    # After a container restart the new process is pid 1 (or 2) again on the same host name, so a
    # crashed run's host:pid names a live process: ours. Only the lease may decide.
    outbox = Outbox(store)
    (row,), _ = await outbox.plan(CHANNEL, slot="post", day=DAY, kind="digest", payloads=["a"])
    assert await outbox.claim(row)
    host = outbox.owner.split(":")[0]
    await raw_connection(store).execute("UPDATE deliveries SET claimed_by = ?", (f"{host}:{os.getpid()}:feedface",))
    assert await outbox.stale_claims() == []  # within its lease
    later = datetime.now(UTC) + outbox.lease + timedelta(seconds=1)
    assert [r.id for r in await outbox.stale_claims(now=later)] == [row.id]
    await outbox.close()


async def test_a_dead_runs_claims_are_stale_at_once_through_its_free_run_lock(store):
    crashed, survivor = Outbox(store), Outbox(store)
    (row,), _ = await crashed.plan(CHANNEL, slot="post", day=DAY, kind="digest", payloads=["a"])
    assert await crashed.claim(row)
    assert await survivor.stale_claims() == []
    os.close(crashed._rows._lock._fd)  # what the kernel does when the process dies: the file stays, unlocked
    crashed._rows._lock._fd = None
    assert [r.id for r in await survivor.stale_claims()] == [row.id]
    await crashed.close()
    await survivor.close()


async def test_renew_extends_only_our_own_claim(store):
    outbox, other = Outbox(store), Outbox(store)
    (row,), _ = await outbox.plan(CHANNEL, slot="post", day=DAY, kind="digest", payloads=["a"])
    assert await outbox.claim(row)
    await raw_connection(store).execute("UPDATE deliveries SET claimed_at = '2000-01-01T00:00:00+00:00'")
    assert not await other.renew(row)
    assert await outbox.renew(row)
    (fresh,) = await outbox.rows(CHANNEL, slot="post", day=DAY)
    assert fresh.claimed_at is not None and datetime.now(UTC) - fresh.claimed_at < timedelta(minutes=1)
    assert await other.stale_claims() == []
    await outbox.close()
    await other.close()


async def test_group_commit_isolates_a_failing_write(store):
    writer = GroupCommit(store.path)

    def bad(conn):
        conn.execute("INSERT INTO schedule_state(platform, channel_id, last_seen) VALUES ('p', 'bad', 'x')")
        raise ValueError("boom")

    def good(conn):
        conn.execute("INSERT INTO schedule_state(platform, channel_id, last_seen) VALUES ('p', 'good', 'x')")
        return "done"

    results = await asyncio.gather(writer.run(bad), writer.run(good), return_exceptions=True)
    assert isinstance(results[0], ValueError) and results[1] == "done"
    await writer.close()
    async with raw_connection(store).execute("SELECT channel_id FROM schedule_state") as cur:
        assert [r[0] for r in await cur.fetchall()] == ["good"]


async def test_a_stale_claim_is_taken_over_by_one_run_only(any_store):
    store = any_store  # SQLite and PostgreSQL alike
    crashed, first, second = Outbox(store), Outbox(store), Outbox(store)
    (row,), _ = await crashed.plan(CHANNEL, slot="post", day=DAY, kind="digest", payloads=["a"])
    assert await crashed.claim(row)
    later = datetime.now(UTC) + first.lease + timedelta(seconds=1)
    (seen1,), (seen2,) = await first.stale_claims(now=later), await second.stale_claims(now=later)
    taken = await asyncio.gather(first.take_over(seen1), second.take_over(seen2))
    winners = [t for t in taken if t is not None]
    assert len(winners) == 1
    (fresh,) = await first.rows(CHANNEL, slot="post", day=DAY)
    assert fresh.state == "claimed" and fresh.claimed_by == winners[0].claimed_by
    winner = first if winners[0].claimed_by == first.owner else second
    assert [r.id for r in await winner.stale_claims()] == [row.id]  # taken over, not resolved yet: still to do
    await winner.release(winners[0], "not on the platform")
    assert await winner.stale_claims() == []
    for o in (crashed, first, second):
        await o.close()


async def test_one_rows_stale_claim_agrees_with_the_stale_claims(any_store):
    store = any_store  # SQLite and PostgreSQL alike: a late copy asks about its one row at every poll
    holder, crashed, watcher = Outbox(store), Outbox(store), Outbox(store)
    (held,), _ = await holder.plan(CHANNEL, slot="post", day=DAY, kind="digest", payloads=["a"])
    other = Target(platform="discord", kind="channel", id="c2")
    (dead, waiting), _ = await crashed.plan(other, slot="post", day=DAY, kind="digest", payloads=["b", "c"])
    assert await holder.claim(held) and await crashed.claim(dead)
    assert await watcher.stale_claim(held) is None  # alive, within its lease
    assert await holder.stale_claim(held) is None  # our own claim is never stale to us
    assert await watcher.stale_claim(waiting) is None  # pending: nobody's claim
    later = datetime.now(UTC) + watcher.lease + timedelta(seconds=1)
    expired = await watcher.stale_claim(held, now=later)
    assert expired is not None and (expired.id, expired.claimed_by) == (held.id, holder.owner)
    assert await holder.stale_claim(held, now=later) is None
    await crashed.close()  # its run lock is gone, as when the process is killed: stale at once
    gone = await watcher.stale_claim(dead)
    assert gone is not None and (gone.id, gone.state, gone.claimed_by) == (dead.id, "claimed", crashed.owner)
    assert [d.id for d in await watcher.stale_claims()] == [dead.id]  # the same answer as the whole scan
    taken = await watcher.take_over(gone)
    assert taken is not None and await watcher.stale_claim(dead) is None  # ours now
    assert await holder.stale_claim(dead) is None  # the taker is alive, within its lease
    for o in (holder, watcher):
        await o.close()


async def test_a_plan_can_claim_its_next_part_in_the_same_write(any_store):
    store = any_store  # SQLite and PostgreSQL alike
    outbox, other = Outbox(store), Outbox(store)
    rows, created = await outbox.plan(
        CHANNEL, slot="post", day=DAY, kind="digest", payloads=["a", "b"], claim_first=True
    )
    assert created and [(r.state, r.claimed_by) for r in rows] == [("claimed", outbox.owner), ("pending", None)]
    assert outbox.claimed_by_plan(rows[0]) and await outbox.claim(rows[0])  # ours already: no second write
    assert not outbox.claimed_by_plan(rows[0])
    again, created = await other.plan(CHANNEL, slot="post", day=DAY, kind="digest", payloads=["x"], claim_first=True)
    assert not created and not other.claimed_by_plan(again[0])  # another run's claim is left alone
    await outbox.mark_sent(rows[0], "m1")
    again, _ = await other.plan(CHANNEL, slot="post", day=DAY, kind="digest", payloads=["x"], claim_first=True)
    assert [(r.state, r.claimed_by) for r in again] == [("sent", None), ("claimed", other.owner)]  # the next part
    assert other.claimed_by_plan(again[1]) and not outbox.claimed_by_plan(again[1])
    assert await outbox.counts() == {"sent": 1, "claimed": 1}
    await outbox.close()
    await other.close()


async def test_claims_asked_together_go_in_one_batch_and_a_row_asked_twice_is_won_once(any_store):
    store = any_store  # SQLite and PostgreSQL alike
    outbox = Outbox(store)
    targets = [Target(platform="discord", kind="channel", id=f"c{i}") for i in range(20)]
    rows = [(await outbox.plan(t, slot="post", day=DAY, kind="digest", payloads=["a"]))[0][0] for t in targets]
    calls: list[int] = []
    claim = outbox._rows.claim

    async def counting(ids):
        calls.append(len(ids))
        return await claim(ids)

    outbox._rows.claim = counting  # type: ignore[method-assign]
    wins = await asyncio.gather(*(outbox.claim(r) for r in [*rows, rows[0]]))
    assert calls == [21] and wins == [True] * 20 + [False]
    assert await outbox.counts() == {"claimed": 20}
    await outbox.close()


async def test_plans_asked_together_are_one_write_and_the_first_plan_of_a_slot_wins(store):
    outbox = Outbox(store)
    targets = [Target(platform="discord", kind="user", id=f"u{i}") for i in range(20)]
    batches: list[int] = []
    plan_batch = outbox._rows._plan_batch  # type: ignore[attr-defined]

    def counting(conn, requests):
        batches.append(len(requests))
        return plan_batch(conn, requests)

    outbox._rows._plan_batch = counting  # type: ignore[attr-defined]
    asked = [*targets, targets[0]]
    results = await asyncio.gather(
        *(
            outbox.plan(t, slot="matches", day=DAY, kind="matches", payloads=[{"n": i}, {"n": i}], claim_first=True)
            for i, t in enumerate(asked)
        )
    )
    assert batches == [21]
    assert [created for _, created in results] == [True] * 20 + [False]
    assert results[20][0][0].id == results[0][0][0].id and results[20][0][0].payload == {"n": 0}  # the first wins
    assert [[(d.state, d.part) for d in rows] for rows, _ in results[:20]] == [[("claimed", 1), ("pending", 2)]] * 20
    assert sum(outbox.claimed_by_plan(rows[0]) for rows, _ in results[:20]) == 20
    assert not outbox.claimed_by_plan(results[20][0][1])
    for (rows, _), t in zip(results[:20], targets, strict=True):  # what was returned is what was written
        assert await outbox.rows(t, slot="matches", day=DAY) == rows
    # A batch mixing existing plans (one with its next part pending) and new ones: one write again.
    await outbox.mark_sent(results[1][0][0], "m1")
    again = await asyncio.gather(
        outbox.plan(targets[1], slot="matches", day=DAY, kind="matches", payloads=["x"], claim_first=True),
        outbox.plan(Target(platform="discord", kind="user", id="new"), slot="matches", day=DAY, kind="matches",
                    payloads=["y"], claim_first=True),
    )  # fmt: skip
    assert batches == [21, 2]
    (rows, created), (new_rows, new_created) = again
    assert not created and [(d.state, d.claimed_by) for d in rows] == [("sent", None), ("claimed", outbox.owner)]
    assert new_created and [d.payload for d in new_rows] == ["y"]
    await outbox.close()


async def test_results_written_together_keep_the_first_change_of_a_row(store):
    outbox = Outbox(store)
    targets = [Target(platform="discord", kind="user", id=f"u{i}") for i in range(3)]
    rows = [(await outbox.plan(t, slot="matches", day=DAY, kind="matches", payloads=["a"]))[0][0] for t in targets]
    for r in rows:
        assert await outbox.claim(r)
    storage = outbox._rows
    won = await storage.set_states(
        [
            StateChange(rows[0].id, "sent", message_id="m0"),
            StateChange(rows[0].id, "failed", error="second change"),  # the row is no longer claimed by then
            StateChange(rows[1].id, "pending", error="timeout"),
        ]
    )
    assert won == {rows[0].id, rows[1].id}
    (r0,), (r1,), (r2,) = [await outbox.rows(t, slot="matches", day=DAY) for t in targets]
    assert (r0.state, r0.message_id, r0.error, r0.claimed_by) == ("sent", "m0", None, None)
    assert (r1.state, r1.error, r1.claimed_by) == ("pending", "timeout", None)
    assert r2.state == "claimed"
    assert await Outbox(store)._rows.set_states([StateChange(rows[2].id, "sent", message_id="x")]) == set()  # not ours
    await outbox.close()


async def test_group_commits_are_spaced_only_under_a_stream_of_concurrent_writes(store, monkeypatch):
    import digestbot.store.outbox as module

    writer = GroupCommit(store.path)
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def recording(delay, *args):
        waits.append(delay)
        return await real_sleep(delay, *args)

    monkeypatch.setattr(module.asyncio, "sleep", recording)

    def write(conn):
        return conn.execute("SELECT 1").fetchone()[0]

    for _ in range(3):  # one writer after another: no batch is shared, none waits
        assert await writer.run(write) == 1
    assert waits == [0, 0, 0]
    waits.clear()
    assert await asyncio.gather(writer.run(write), writer.run(write)) == [1, 1]  # shared: the next one is spaced
    assert await writer.run(write) == 1
    assert waits[0] == 0 and 0 < waits[1] <= module.COMMIT_SPACING
    await writer.close()


def test_a_payload_object_is_encoded_once_and_a_new_object_afresh():
    from digestbot.store.outbox import PayloadTexts

    texts = PayloadTexts()
    shared = {"b": 1, "a": "é"}
    assert texts.encode(shared) == '{"a": "é", "b": 1}'
    assert texts.encode(shared) is texts.encode(shared)  # the same object: its text once
    assert texts.encode({"a": 2}) == '{"a": 2}'
    for i in range(PayloadTexts.LIMIT + 10):  # bounded: a long-lived process plans many distinct payloads
        texts.encode([i])
    assert len(texts._texts) <= PayloadTexts.LIMIT
