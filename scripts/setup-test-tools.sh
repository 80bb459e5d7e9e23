#!/usr/bin/env bash
# Tools the test suite needs beyond the build: headless Chromium, which loads report.html and the
# Turing-test form exactly as a reader's browser would (a missing browser fails those tests; it is
# never skipped). Installed with apt-get when missing; quiet when present.
set -euo pipefail
for c in chromium chromium-browser google-chrome; do command -v "$c" >/dev/null 2>&1 && exit 0; done
echo "setup: installing chromium (report and Turing-form browser tests)"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
