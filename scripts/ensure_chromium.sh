#!/usr/bin/env bash
# Installs Debian's `chromium` when it is missing and we are root; otherwise says how.
# Only the playground's browser tests need it (they skip without it), so this is never fatal.
set -u
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Chromium with apt-get (a few minutes) ..."
    export DEBIAN_FRONTEND=noninteractive
    install_chromium() {
        apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1
    }
    # A fresh container has no package lists at all: fetch them before the first try. Lists that
    # are present may still be stale (their .deb versions gone from the mirror, so the download
    # 404s): then the first try fails, and a second one after `apt-get update` succeeds.
    if ! compgen -G "/var/lib/apt/lists/*_Packages*" >/dev/null; then
        apt-get update -qq >/dev/null 2>&1
    fi
    if install_chromium || (apt-get update -qq >/dev/null 2>&1 && install_chromium); then
        exit 0
    fi
fi
echo "note: Chromium is not installed; the playground's browser tests (tests/playground) will be skipped" >&2
echo "      (Debian/Ubuntu: sudo apt-get install chromium; or set SURVAE_CHROMIUM=/path/to/chrome)." >&2
exit 0
