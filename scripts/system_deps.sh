#!/usr/bin/env bash
# The Debian packages the test suite needs besides Python and npm: chromium (the wallet's
# browser tests drive it) and a CJK font (the Chinese UI in their screenshots). `make test`
# runs this first: as root with apt-get it installs what is missing; otherwise it stops at
# once with the one command to run, instead of two browser tests failing minutes later.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=zh 2>/dev/null)" ]; then
    missing+=(fonts-wqy-microhei)
fi
[ "${#missing[@]}" -eq 0 ] && exit 0

command="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "make test: installing ${missing[*]} (Debian packages the browser tests need)" >&2
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
    exit 0
fi
echo "make test needs ${missing[*]}; install them with:" >&2
echo "    sudo $command" >&2
exit 1
