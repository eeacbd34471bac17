"""The Redis backend on a real Redis Cluster: one script per slot, one round trip per node, results as on one server.

Starts three primaries (``redis-server --cluster-enabled yes``) on spare
loopback ports and joins them itself (slots assigned, nodes met), so the only
thing it needs is redis-server. The script declares every key it touches and
runs without ``allow-cross-slot-keys``, so the cluster itself refuses any call
that would reach a key of another slot: every passing test here is a proof.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio as aioredis
from redis.crc import key_slot
from redis_support import free_port, start_redis
from test_store_conformance import KEYS, T0, Lives, random_batch

from gateway.settings import State
from gateway.state.memory import MemoryStore
from gateway.state.redis_store import _PROGRAM, RedisStore
from gateway.state.store import Shared

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="redis-server is not installed (a local Redis Cluster needs it)")

SPREAD = tuple(f"{key}{i}" for key in KEYS for i in range(3))  # entities on every node
SLOTS = 16384


def free_ports(n: int) -> list[int]:
    """Ports free together with their cluster bus port (port + 10000)."""
    rng = random.Random()
    found: list[int] = []
    while len(found) < n:
        port = rng.randrange(20000, 50000)
        if port in found:
            continue
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        found.append(port)
    return found


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[list[int]]:
    """Three primaries on spare ports, a third of the slots each; yields their ports."""
    root = tmp_path_factory.mktemp("cluster")
    ports = free_ports(3)
    servers: list[subprocess.Popen] = []
    try:
        for port in ports:
            (root / str(port)).mkdir()
            servers.append(start_redis(port, "--cluster-enabled", "yes", "--dir", str(root / str(port))))
        nodes = [redis.Redis(port=port) for port in ports]
        for i, node in enumerate(nodes):  # what redis-cli --cluster create does
            node.execute_command("CLUSTER SET-CONFIG-EPOCH", i + 1)
            node.execute_command("CLUSTER ADDSLOTSRANGE", i * SLOTS // 3, (i + 1) * SLOTS // 3 - 1)
        for port in ports[1:]:
            nodes[0].execute_command("CLUSTER MEET", "127.0.0.1", port)
        for node in nodes:  # every node knows every owner
            wait_for(lambda node=node: node.execute_command("CLUSTER INFO")["cluster_state"] == "ok"
                     and len(node.execute_command("CLUSTER SLOTS")) == 3)
        yield ports
    finally:
        for server in servers:
            server.kill()
            server.wait()


@pytest.fixture
def standalone() -> Iterator[str]:
    """A private single redis-server: the reference the cluster must answer like."""
    port = free_port()
    server = start_redis(port)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.kill()
        server.wait()


def wait_for(check, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the local Redis Cluster did not come up")
        time.sleep(0.05)


def open_store(ports: list[int], **settings) -> RedisStore:
    state = State(backend="redis", url=f"redis://127.0.0.1:{ports[0]}", cluster=True, timeout_ms=2000.0,
                  prefix=f"gwc{random.getrandbits(32):x}", **settings)
    return RedisStore(state)


def owner(ports: list[int], slot: int) -> int:
    """The port of the node serving ``slot``, from the cluster itself."""
    for start, end, primary, *_ in redis.Redis(port=ports[0]).execute_command("CLUSTER SLOTS"):
        if start <= slot <= end:
            return int(primary[1])
    raise AssertionError(f"slot {slot} is served by no node")


def node_of(ports: list[int], store: RedisStore, key: str) -> int:
    """The port of the node serving ``key``'s slot."""
    return owner(ports, redis.Redis(port=ports[0]).execute_command("CLUSTER KEYSLOT", store.redis_key(key)))


def scripts_run(port: int) -> int:
    return int(redis.Redis(port=port).info("commandstats").get("cmdstat_fcall", {}).get("calls", 0))


def test_the_script_may_touch_the_keys_of_one_slot_only():
    library = _PROGRAM.load[-1].decode()
    assert "allow-cross-slot-keys" not in library and "flags" not in library


async def test_random_traffic_on_a_cluster_matches_the_memory_backend(cluster):
    store = open_store(cluster)
    reference = MemoryStore()
    rng = random.Random(11)
    lives = Lives()
    now = T0
    try:
        assert len({node_of(cluster, store, key) for key in SPREAD}) == 3
        for step in range(400):
            now += rng.choice([0.0, 0.25, 3.0, 61.0, 599.5, 1800.0, -40.0, 0.1 + 1 / 7])
            batch = random_batch(rng, now, lives, SPREAD)
            expected = (await reference.exchange(batch, now)).values
            result = await store.exchange(batch, now)
            assert result.degraded is False
            assert result.values == expected, f"step {step}: {batch}"
        assert store.redirects == {"moved": 0, "ask": 0, "tryagain": 0}
    finally:
        await store.close()


async def test_one_round_trip_per_node_touched_one_script_per_slot(cluster):
    store = open_store(cluster)
    try:
        by_node: dict[int, list[str]] = {}
        for key in SPREAD:
            if key.startswith(("ip:", "pfx:")):
                by_node.setdefault(node_of(cluster, store, key), []).append(key)
        assert len(by_node) == 3
        everywhere = [Shared(keys[0], "a", "s") for keys in by_node.values()]
        await store.exchange(everywhere, T0)  # maps the slots, loads the script on each node
        trips = store.round_trips
        result = await store.exchange(everywhere + everywhere, T0 + 1)
        assert result.values == [(1, 1, 1, 1, None)] * 6 and not result.degraded
        assert store.round_trips - trips == 3
        port, one_node = next(iter(by_node.items()))
        ran = scripts_run(port)
        result = await store.exchange([Shared(key, "b", "s") for key in one_node], T0 + 2)
        assert len(one_node) > 1 and result.values == [(2, 2, 2, 1, None)] + [(1, 1, 1, 1, None)] * (len(one_node) - 1)
        assert store.round_trips - trips == 4  # one round trip to that node ...
        slots = {key_slot(store.redis_key(key).encode()) for key in one_node}
        assert scripts_run(port) - ran == len(slots) > 1  # ... carrying one script per slot
        for key, port in ((keys[0], port) for port, keys in by_node.items()):
            assert redis.Redis(port=port).exists(store.redis_key(key)) == 1  # the record lives on its node
    finally:
        await store.close()


async def test_a_moved_slot_is_followed_and_its_new_owner_noted(cluster):
    store = open_store(cluster)
    try:
        key = SPREAD[0]
        source = node_of(cluster, store, key)
        [target] = [p for p in cluster if p != source][:1]
        await store.exchange([Shared(k, "a", "s") for k in SPREAD], T0)  # every node has loaded the script
        await move_slot(cluster, key_slot(store.redis_key(key).encode()), source, target)
        assert node_of(cluster, store, key) == target
        moved = await store.exchange([Shared(key, "b", "s")], T0 + 1)
        assert not moved.degraded and moved.values == [(2, 2, 2, 1, None)]  # "a" went with the slot
        assert store.redirects["moved"] == 1 and store._refresh is not None
        await store._refresh  # the whole map is read again beside the requests
        trips = store.round_trips
        result = await store.exchange([Shared(key, "c", "s")], T0 + 2)
        assert not result.degraded and result.values == [(3, 3, 3, 1, None)]
        assert store.redirects["moved"] == 1 and store.round_trips - trips == 1  # straight to the new owner
        assert store.breaker.state == "closed"
    finally:
        await store.close()


async def move_slot(ports: list[int], slot: int, source: int, target: int, between=None) -> None:
    """Migrate ``slot``, its keys one at a time, from one primary to another (as a resharding does);
    ``between`` is awaited after each step."""
    async def step() -> None:
        if between is not None:
            await between()

    src, dst = aioredis.Redis(port=source), aioredis.Redis(port=target)
    try:
        src_id, dst_id = (await src.execute_command("CLUSTER MYID")).decode(), (await dst.execute_command("CLUSTER MYID")).decode()
        await dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", src_id)
        await src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", dst_id)
        await step()
        while keys := await src.execute_command("CLUSTER GETKEYSINSLOT", slot, 1):
            await src.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)
            await step()
        for port in (target, source, *(p for p in ports if p not in (source, target))):
            node = aioredis.Redis(port=port)
            await node.execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id)
            await node.aclose()
            await step()
    finally:
        await src.aclose()
        await dst.aclose()


def keys_in_slot(store: RedisStore, slot: int, kinds: tuple[str, ...], tag: str) -> tuple[str, ...]:
    """One entity key per kind (``s:``, ``ip:`` ...) whose Redis key lands in ``slot``."""
    found = []
    for kind in kinds:
        i = 0
        while key_slot(store.redis_key(f"{kind}{tag}-{i}").encode()) != slot:
            i += 1
        found.append(f"{kind}{tag}-{i}")
    return tuple(found)


async def test_a_slot_migrating_under_traffic_fails_no_request_and_loses_no_state(cluster, standalone):
    """Three streams of requests flow while a slot holding their live entities moves between primaries, key by
    key: calls reaching moved keys are sent on (ASK), calls whose keys are half moved are split (TRYAGAIN), and
    once the slot changed hands the old owner's MOVED is followed. Every answer is the one a single server gives
    for the same traffic, and nothing is answered from the local fallback."""
    store = open_store(cluster)
    single = RedisStore(State(backend="redis", url=standalone, prefix=store.prefix, timeout_ms=2000.0))
    slot = key_slot(store.redis_key("ip:hot").encode())
    source = owner(cluster, slot)
    target = next(p for p in cluster if p != source)
    done = [0]  # exchanges answered so far, all streams
    stop = asyncio.Event()

    async def stream(n: int) -> None:
        rng = random.Random(n)
        hot = keys_in_slot(store, slot, ("s:", "a:", "ip:", "pfx:", "t:", "c:"), f"x{n}")  # several per call
        elsewhere = tuple(f"{key}-{n}" for key in SPREAD)
        lives, now = Lives(), T0
        while not stop.is_set():
            now += rng.choice([0.0, 0.25, 3.0, 61.0, 0.1 + 1 / 7])
            batch = random_batch(rng, now, lives, hot) + random_batch(rng, now, lives, elsewhere)
            expected = await single.exchange(batch, now)
            result = await store.exchange(batch, now)
            assert not expected.degraded and not result.degraded, f"stream {n}, exchange {done[0]}: degraded"
            assert result.values == expected.values, f"stream {n}: {batch}"
            done[0] += 1

    async def traffic_moves_on(by: int = 6) -> None:
        mark = done[0]
        while done[0] < mark + by and not any(task.done() for task in streams):
            await asyncio.sleep(0.001)

    streams = [asyncio.create_task(stream(n)) for n in range(3)]
    try:
        async with asyncio.timeout(40):
            await traffic_moves_on(30)
            await move_slot(cluster, slot, source, target, between=traffic_moves_on)
            await traffic_moves_on(30)
            stop.set()
            await asyncio.gather(*streams)
        assert owner(cluster, slot) == target
        assert redis.Redis(port=source).execute_command("CLUSTER COUNTKEYSINSLOT", slot) == 0
        # the slot's records on their new owner are, byte for byte, the single server's
        moved = redis.Redis(port=target)
        reference = redis.Redis.from_url(standalone)
        held = {k.encode() if isinstance(k, str) else k for k in moved.execute_command("CLUSTER GETKEYSINSLOT", slot, 1000)}
        assert len(held) > 6 and held == {k for k in reference.scan_iter(match=f"{store.prefix}:*", count=1000)
                                           if key_slot(k) == slot}
        assert all(moved.get(k) == reference.get(k) for k in held)
        assert store.redirects["ask"] > 0 and store.redirects["moved"] > 0 and store.redirects["tryagain"] > 0
        assert store.degraded_exchanges == 0 and store.breaker.state == "closed"
    finally:
        stop.set()
        for task in streams:
            task.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
        await store.close()
        await single.close()


async def test_a_slot_map_is_checked_and_nodes_it_drops_are_closed():
    """A NULL host (cluster-preferred-endpoint-type unknown-endpoint) is the node asked; ranges outside 0..16383
    are refused (a negative start grew the map); a node the new map no longer names is dropped, not kept forever."""
    store = RedisStore(State(backend="redis", url="redis://10.0.0.1:7000/0", cluster=True, prefix="gw"))
    try:
        seed = store._seed
        slots = store._map(seed, [[0, 8191, [None, 7000]], [8192, 16383, [b"10.0.0.2", 7001]]])
        assert {n.client.connection_pool.connection_kwargs["host"] for n in set(slots)} == {"10.0.0.1", "10.0.0.2"}
        for bad in ([[0, 16383, [b"h", 1]], [-5, 10, [b"g", 2]]], [[0, 30000, [b"h", 1]]]):
            with pytest.raises(RuntimeError, match="CLUSTER SLOTS answered the range"):
                store._map(seed, bad)
        store._map(seed, [[0, 16383, [b"10.0.0.3", 7002]]])
        assert list(store._nodes) == [("10.0.0.3", 7002)]
    finally:
        await store.close()


async def test_a_migration_that_outlasts_the_redirections_degrades_its_request_only():
    """ASK and TRYAGAIN mean keys are moving between live nodes: past the redirections an exchange follows they
    degrade that request, but feed neither the breaker shared by the whole cluster nor a map refresh."""
    from redis.exceptions import AskError, MovedError, TryAgainError

    store = RedisStore(State(backend="redis", url="redis://10.0.0.1:7000/0", cluster=True, prefix="gw",
                             breaker_failures=2))
    try:
        ops = [Shared("ip:1", "a", "s")]
        for error in (AskError("3999 10.0.0.2:7001"), TryAgainError("Multiple keys request during rehashing")) * 3:
            assert store.breaker.allow()
            assert store._failed(error, ops, 1.7e9).degraded is True
        assert store.breaker.state == "closed" and store._refresh is None
        for _ in range(2):
            store.breaker.allow()
            store._failed(MovedError("3999 10.0.0.2:7001"), ops, 1.7e9)
        assert store.breaker.state == "open" and store._refresh is not None
    finally:
        await store.close()
