#!/usr/bin/env bash
# Installs Graphviz's `dot` when it is missing and we are root; otherwise says how.
# Rendering to .dot works without it, so a missing `dot` is never fatal here.
set -u
if command -v dot >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Graphviz (dot) with apt-get ..."
    if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz) >/dev/null 2>&1; then
        exit 0
    fi
fi
echo "note: Graphviz's 'dot' is not installed; --render to .svg/.png/.pdf needs it" >&2
echo "      (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz)." >&2
exit 0
