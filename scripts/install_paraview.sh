#!/usr/bin/env bash
# Install Debian's ParaView (pvbatch with its Python module) and Xvfb (pvbatch renders only
# with an X display) for tests/test_paraview.py.
#
# Idempotent and quiet: does nothing when pvbatch, python3-paraview and xvfb-run are there;
# otherwise, as root on Debian, runs apt-get update and installs them (output in a log shown
# only on failure).
set -euo pipefail
if command -v pvbatch >/dev/null 2>&1 && dpkg -s python3-paraview >/dev/null 2>&1 \
    && command -v xvfb-run >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install_paraview: pvbatch missing and cannot apt-get install it here (need root on Debian)" >&2
  exit 1
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
echo "install_paraview: installing Debian's paraview (pvbatch) ..."
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends paraview python3-paraview xvfb xauth; } >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
echo "install_paraview: $(pvbatch --version 2>/dev/null | head -n 1)"
