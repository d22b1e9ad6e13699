#!/bin/sh
# Prints the path of a Python 3.13+ interpreter (what Flex Consumption runs and what the worker
# runtime azure-functions-runtime needs), or explains on stderr and exits 1.
# Tries, in order: $PYTHON313, python3.13, python3.14, python3, then pyenv's installed 3.13/3.14.
ok() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 13))' 2>/dev/null; }
for candidate in "${PYTHON313:-}" python3.13 python3.14 python3; do
  [ -n "$candidate" ] || continue
  path=$(command -v "$candidate" 2>/dev/null) || continue
  if ok "$path"; then
    "$path" -c 'import sys; print(sys.executable)'
    exit 0
  fi
done
if command -v pyenv >/dev/null 2>&1; then
  for version in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.1[3-9]' | sort -r); do
    path="$(pyenv root)/versions/$version/bin/python3"
    if ok "$path"; then
      echo "$path"
      exit 0
    fi
  done
fi
echo "No Python 3.13 or later found. The app runs on Python 3.13 (Flex Consumption, azure-functions-runtime)." >&2
echo "Install it (python.org, your package manager, or 'pyenv install 3.13'), or set PYTHON=/path/to/python3.13." >&2
exit 1
