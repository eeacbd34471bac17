#!/usr/bin/env bash
# The test suite on a fresh machine: a virtualenv with the test extras, the
# services the tests talk to (Redis on 127.0.0.1:6379, nginx for the
# forward-auth test), then pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test,train]'  # train: the model's training and scoring tests

have() { command -v "$1" >/dev/null 2>&1; }
apt_install() {
  if have apt-get; then
    [ -n "${APT_UPDATED:-}" ] || { apt-get update -qq >/dev/null && APT_UPDATED=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  fi
}

have redis-cli || apt_install redis-tools || true
if ! (have redis-cli && redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG); then
  have redis-server || apt_install redis-server redis-tools
  mkdir -p /tmp/gateway-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp/gateway-redis --logfile /tmp/gateway-redis/redis.log
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG \
    || echo "warning: no Redis answers on 127.0.0.1:6379; the Redis tests will skip" >&2
fi
have nginx || [ -x /usr/sbin/nginx ] || apt_install nginx-light || apt_install nginx || true

.venv/bin/ruff check gateway tests bench scripts geoip
exec .venv/bin/pytest "$@"
