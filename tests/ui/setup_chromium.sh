#!/bin/sh
# The browser of the UI tests: Debian's chromium package (Playwright drives it; it never downloads one).
set -e
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium
