#!/usr/bin/env bash
# The test suite on a fresh machine: a virtualenv with the test extras, the
# services the tests talk to (Redis on 127.0.0.1:6379, nginx for the
# forward-auth test), then ruff and pytest. Arguments other than --deps go to pytest.
#
#   bash scripts/test.sh                  # the versions CI proves (constraints/locked.txt), in .venv
#   bash scripts/test.sh --deps lowest    # every lower bound pyproject.toml declares (constraints/lowest.txt)
#   bash scripts/test.sh --deps newest    # today's newest releases, to see a release that breaks us first
set -euo pipefail
cd "$(dirname "$0")/.."

deps=locked
if [ "${1:-}" = "--deps" ]; then deps="${2:?--deps takes locked, lowest or newest}"; shift 2; fi
case "$deps" in
  locked) venv=.venv;         pins=(-c constraints/locked.txt) ;;
  lowest) venv=.venv-lowest;  pins=(-c constraints/lowest.txt) ;;
  newest) venv=.venv-newest;  pins=(--upgrade --upgrade-strategy eager) ;;
  *) echo "scripts/test.sh: --deps $deps: use locked, lowest or newest" >&2; exit 2 ;;
esac

echo "test.sh: installing the package with its test and train extras into $venv ($deps versions)" >&2
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
# train: the model's training and scoring tests need scikit-learn
"$venv/bin/python" -m pip install -q "${pins[@]}" -e '.[test,train]' 2>&1 | grep -v "^WARNING: Location" || true
"$venv/bin/python" -c "import gateway, sklearn" 2>/dev/null \
  || { echo "test.sh: installing into $venv failed (see pip's output above)" >&2; exit 1; }

have() { command -v "$1" >/dev/null 2>&1; }
apt_install() {  # Debian's packages, when this machine can install them
  have apt-get && [ "$(id -u)" = 0 ] || return 1
  echo "test.sh: installing $* from Debian's packages" >&2
  [ -n "${APT_UPDATED:-}" ] || { apt-get update -qq >/dev/null && APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Redis: the state store's tests (one server, replicas, outages, Redis Cluster) need redis-server and redis-cli.
have redis-cli || apt_install redis-tools || true
if ! (have redis-cli && redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG); then
  have redis-server || apt_install redis-server redis-tools || true
  if have redis-server; then
    echo "test.sh: no Redis answers on 127.0.0.1:6379; starting one (nothing kept on disk)" >&2
    mkdir -p /tmp/gateway-redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /tmp/gateway-redis --logfile /tmp/gateway-redis/redis.log
    for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  fi
  redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG \
    || echo "test.sh: missing: a Redis server on 127.0.0.1:6379 (Debian: apt-get install redis-server); the Redis tests will skip" >&2
fi
# nginx: the forward-auth test runs a real nginx in front of the gateway.
if ! have nginx && [ ! -x /usr/sbin/nginx ]; then
  apt_install nginx-light || apt_install nginx \
    || echo "test.sh: missing: nginx (Debian: apt-get install nginx-light); the nginx forward-auth test will skip" >&2
fi

# Chromium: the admin console's test drives a real headless browser (Playwright, with the distribution's Chromium).
if ! have chromium && [ ! -x /usr/bin/chromium ]; then
  apt_install chromium chromium-driver \
    || echo "test.sh: missing: chromium (Debian: apt-get install chromium chromium-driver); the console's browser test will skip" >&2
fi

"$venv/bin/ruff" check gateway tests bench scripts geoip
exec "$venv/bin/pytest" "$@"
