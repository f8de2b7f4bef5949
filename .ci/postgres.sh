#!/usr/bin/env bash
# Make sure the PostgreSQL server programs (initdb, pg_ctl) are on this machine.
# The tests start their own throwaway server from them (tests/support/pgserver.py);
# nothing is started here.  Safe to run again: does nothing when they exist.
set -euo pipefail

have_postgres() {
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        return 0
    fi
    local initdb
    for initdb in /usr/lib/postgresql/*/bin/initdb; do
        [ -x "$initdb" ] && [ -x "$(dirname "$initdb")/pg_ctl" ] && return 0
    done
    return 1
}

if have_postgres; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "postgres.sh: PostgreSQL not found and not root; install the 'postgresql' package" >&2
    exit 1
fi

echo "postgres.sh: installing PostgreSQL from Debian packages" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "postgres.sh: apt-get install postgresql failed" >&2
    exit 1
fi
rm -f "$log"

if ! have_postgres; then
    echo "postgres.sh: postgresql installed but initdb/pg_ctl still not found" >&2
    exit 1
fi
