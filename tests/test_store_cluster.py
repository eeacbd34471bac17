"""The Redis backend on a real Redis Cluster: one script per node touched, results as on one server.

Starts three ``redis-server --cluster-enabled yes`` on spare loopback ports in
a temporary directory and joins them with ``redis-cli --cluster create``.
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
from test_store_conformance import KEYS, T0, Lives, random_batch

from gateway.settings import State
from gateway.state.memory import MemoryStore
from gateway.state.redis_store import RedisStore
from gateway.state.store import Shared

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None or shutil.which("redis-cli") is None,
    reason="redis-server and redis-cli are needed for a local Redis Cluster",
)

SPREAD = tuple(f"{key}{i}" for key in KEYS for i in range(3))  # entities on every node


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
    """Three primaries on spare ports, all 16384 slots assigned; yields their ports."""
    root = tmp_path_factory.mktemp("cluster")
    ports = free_ports(3)
    servers = []
    try:
        for port in ports:
            work = root / str(port)
            work.mkdir()
            servers.append(subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", "nodes.conf", "--save", "", "--appendonly", "no"],
                cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in ports:
            wait_for(lambda port=port: redis.Redis(port=port).ping())
        subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports],
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        for port in ports:
            wait_for(lambda port=port: redis.Redis(port=port).execute_command("CLUSTER INFO")["cluster_state"] == "ok")
        yield ports
    finally:
        for server in servers:
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


def node_of(ports: list[int], store: RedisStore, key: str) -> int:
    """The port of the node serving ``key``'s slot, from the cluster itself."""
    slot = redis.Redis(port=ports[0]).execute_command("CLUSTER KEYSLOT", store.redis_key(key))
    for start, end, primary, *_ in redis.Redis(port=ports[0]).execute_command("CLUSTER SLOTS"):
        if start <= slot <= end:
            return int(primary[1])
    raise AssertionError(f"slot {slot} is served by no node")


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
    finally:
        await store.close()


async def test_one_round_trip_per_node_touched(cluster):
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
        one_node = next(iter(by_node.values()))
        result = await store.exchange([Shared(key, "b", "s") for key in one_node], T0 + 2)
        assert len(one_node) > 1 and result.values == [(2, 2, 2, 1, None)] + [(1, 1, 1, 1, None)] * (len(one_node) - 1)
        assert store.round_trips - trips == 4
        for key, port in ((keys[0], port) for port, keys in by_node.items()):
            assert redis.Redis(port=port).exists(store.redis_key(key)) == 1  # the record lives on its node
    finally:
        await store.close()


async def test_a_moved_slot_degrades_once_then_the_map_is_refreshed(cluster):
    store = open_store(cluster)
    try:
        key = SPREAD[0]
        source = node_of(cluster, store, key)
        [target] = [p for p in cluster if p != source][:1]
        result = await store.exchange([Shared(key, "a", "s")], T0)
        assert not result.degraded
        move_slot(cluster, store.redis_key(key), source, target)
        assert node_of(cluster, store, key) == target
        moved = await store.exchange([Shared(key, "b", "s")], T0 + 1)
        assert moved.degraded  # the old map sent it to the old node: MOVED
        for _ in range(100):  # the refresh runs beside the requests
            if store._refresh is not None and store._refresh.done():
                break
            await asyncio.sleep(0.02)
        result = await store.exchange([Shared(key, "c", "s")], T0 + 2)
        assert not result.degraded
        assert result.values == [(2, 2, 2, 1, None)]  # "a" went with the slot; "b" was answered locally
    finally:
        await store.close()


def move_slot(ports: list[int], key: str, source: int, target: int) -> None:
    """Migrate ``key``'s slot, keys included, from one primary to another (as a resharding does)."""
    src, dst = redis.Redis(port=source), redis.Redis(port=target)
    slot = src.execute_command("CLUSTER KEYSLOT", key)
    src_id, dst_id = src.execute_command("CLUSTER MYID").decode(), dst.execute_command("CLUSTER MYID").decode()
    dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", src_id)
    src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", dst_id)
    while keys := src.execute_command("CLUSTER GETKEYSINSLOT", slot, 100):
        src.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)
    for port in ports:
        redis.Redis(port=port).execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id)


async def test_a_slot_map_is_checked_and_nodes_it_drops_are_closed():
    """A NULL host (cluster-preferred-endpoint-type unknown-endpoint) is the node asked; ranges outside 0..16383
    are refused (a negative start grew the map); a node the new map no longer names is dropped, not kept forever."""
    from gateway.settings import State
    from gateway.state.redis_store import RedisStore

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


async def test_a_slot_in_migration_degrades_its_request_only():
    """ASK and TRYAGAIN mean keys are moving between live nodes: they once fed the breaker shared by the whole
    cluster and refreshed the map on every one (62% of requests degraded with one slot migrating)."""
    from redis.exceptions import AskError, MovedError, TryAgainError

    from gateway.settings import State
    from gateway.state.redis_store import RedisStore
    from gateway.state.store import Shared

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
