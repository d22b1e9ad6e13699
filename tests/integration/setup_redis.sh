#!/usr/bin/env bash
# Installs Debian's redis-server for the resume tests (tests/integration/redis_server.py starts it
# on a free loopback port). When the install is impossible this says so loudly and exits 1: the
# fixture then skips the Redis tests with that reason instead of failing the whole run.
set -u

if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi

shout() {
  echo "************************************************************************" >&2
  echo "*** REDIS RESUME TESTS WILL BE SKIPPED: $*" >&2
  echo "************************************************************************" >&2
  exit 1
}

command -v apt-get >/dev/null 2>&1 || shout "redis-server is missing and apt-get is not available to install it."
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    shout "redis-server is missing and installing it needs root (or passwordless sudo)."
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null 2>&1 \
  || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null; } \
  || shout "apt-get install redis-server failed."
command -v redis-server >/dev/null 2>&1 || shout "the redis-server package installed but redis-server is not on PATH."
echo "Installed $(redis-server --version)"
