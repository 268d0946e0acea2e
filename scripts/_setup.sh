# Sourced by scripts/warcache and scripts/test: set up whatever is missing, quietly when nothing is.
#   - a Python >= 3.11 virtualenv in .venv with warcache and its dependencies (re-installed when
#     pyproject.toml changes)
#   - a Chromium: Playwright's own, or a system one; on Debian/Ubuntu with apt, `chromium` is
#     installed when none is found. Elsewhere the script says the one command that fixes it.
#   - redis-server (the capture queue's tests start one on loopback): Debian's package, installed
#     with apt when missing; never started here.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${WARCACHE_VENV:-$REPO/.venv}"

say() { printf 'setup: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

find_python() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  return 1
}

if [ ! -x "$VENV/bin/python" ]; then
  PY="$(find_python)" || { say "Python 3.11 or newer is needed (Debian/Ubuntu: sudo apt-get install python3)"; exit 1; }
  say "creating virtualenv $VENV with $PY"
  if ! "$PY" -m venv "$VENV" 2>/dev/null; then
    rm -rf "$VENV"
    if command -v apt-get >/dev/null && as_root true 2>/dev/null; then
      say "installing python3-venv with apt-get"
      as_root apt-get update -qq && as_root apt-get install -y -qq python3-venv >/dev/null
      "$PY" -m venv "$VENV"
    else
      say "cannot create a virtualenv: install the venv module (Debian/Ubuntu: sudo apt-get install python3-venv)"; exit 1
    fi
  fi
fi

STAMP="$VENV/.warcache-installed"
WANT="$(cat "$REPO/pyproject.toml" | cksum)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  say "installing warcache and its dependencies into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$REPO[dev]" 2>&1 \
    | grep -v -e "^WARNING: Location" >&2 || true
  "$VENV/bin/python" -c 'import warcache, playwright, warcio, whoosh, bs4, xdist' \
    || { say "installing dependencies failed"; exit 1; }
  echo "$WANT" > "$STAMP"
fi

if ! "$VENV/bin/python" -c 'from warcache.chromium import find_browser; find_browser()' 2>/dev/null; then
  if command -v apt-get >/dev/null && as_root true 2>/dev/null; then
    say "no Chromium found: installing Debian's chromium with apt-get (about a minute)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null
  else
    say "no Chromium found: run '$VENV/bin/warcache install' (Playwright's Chromium) or install chromium"
    exit 1
  fi
fi
if ! command -v redis-server >/dev/null 2>&1 && [ ! -x /usr/bin/redis-server ]; then
  if command -v apt-get >/dev/null && as_root true 2>/dev/null; then
    say "no redis-server found: installing Debian's redis-server with apt-get (the queue tests start it)"
    as_root apt-get update -qq
    # The tests start their own on a free loopback port: the service is not wanted, and the
    # package's postinst fails the install when it cannot start it (a container without init,
    # port 6379 taken). Where no policy-rc.d exists, one that forbids starting services is put
    # in place for the install only.
    POLICY=/usr/sbin/policy-rc.d; OWN_POLICY=""
    if [ ! -e "$POLICY" ] && printf '#!/bin/sh\nexit 101\n' | as_root tee "$POLICY" >/dev/null \
       && as_root chmod 755 "$POLICY"; then OWN_POLICY=1; fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq redis-server >/dev/null \
      || say "installing redis-server failed: the queue tests will fail until it is installed"
    if [ -n "$OWN_POLICY" ]; then as_root rm -f "$POLICY"; fi
  else
    say "no redis-server found: install it (Debian/Ubuntu: sudo apt-get install redis-server); the queue tests need it"
  fi
fi
export PATH="$VENV/bin:$PATH"
