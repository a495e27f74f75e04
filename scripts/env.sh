#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv.
#
# Finds a Python >= 3.12 by itself: $LIDEP_PYTHON, then python3.x on PATH, then pyenv's
# installed versions (the lowest >= 3.12 first: 3.12 is the version the stack is tested on). Re-installs only when pyproject.toml changed (hash stamp in .venv).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.lidep-stamp"

is_ok() {  # is_ok PYTHON -> true when it runs and is >= 3.12
  "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1
}

find_python() {
  local c
  for c in "${LIDEP_PYTHON:-}" python3.12 python3.13 python3.14 python3 python; do
    [ -n "$c" ] || continue
    if command -v "$c" >/dev/null 2>&1 && is_ok "$(command -v "$c")"; then command -v "$c"; return 0; fi
  done
  local proot=""
  if command -v pyenv >/dev/null 2>&1; then proot="$(pyenv root)"; elif [ -d "$HOME/.pyenv" ]; then proot="$HOME/.pyenv"; fi
  if [ -n "$proot" ] && [ -d "$proot/versions" ]; then
    for c in $(ls -1 "$proot/versions" | sort -V); do  # oldest >= 3.12 first: 3.12 is the tested one
      for exe in "$proot/versions/$c/bin/python3" "$proot/versions/$c/bin/python"; do
        if [ -x "$exe" ] && is_ok "$exe"; then echo "$exe"; return 0; fi
      done
    done
  fi
  return 1
}

want="$(sha256sum "$root/pyproject.toml" | cut -c1-16)"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
  if ! py="$(find_python)"; then
    echo "error: lidep needs Python >= 3.12 (DOLFINx wheels require it) and none was found." >&2
    echo "       Looked at \$LIDEP_PYTHON, python3.x on PATH and pyenv versions." >&2
    echo "       Install one (e.g. 'pyenv install 3.12') or set LIDEP_PYTHON=/path/to/python3.12." >&2
    exit 1
  fi
  echo "[env] creating .venv with $py ($("$py" --version 2>&1))"
  "$py" -m venv "$venv"
fi
echo "[env] installing lidep and dependencies into .venv (first time: about a minute)"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e "$root[test]"
echo "$want" > "$stamp"
