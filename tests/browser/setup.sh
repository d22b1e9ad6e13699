#!/usr/bin/env bash
# Installs what the browser tests need from Debian: Chromium and fonts for CJK and emoji.
# Playwright's own browser download cannot work offline, so the tests drive /usr/bin/chromium.
# When the install is impossible this says so loudly and exits 0: the tests then skip, each
# with the reason, instead of failing the whole run.
set -u

if [ -x /usr/bin/chromium ]; then
  exit 0
fi

shout() {
  echo "************************************************************************" >&2
  echo "*** BROWSER TESTS WILL BE SKIPPED: $*" >&2
  echo "************************************************************************" >&2
}

if ! command -v apt-get >/dev/null 2>&1; then
  shout "/usr/bin/chromium is missing and apt-get is not available to install it."
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    shout "/usr/bin/chromium is missing and installing it needs root (or passwordless sudo)."
    exit 0
  fi
fi

export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get update -qq; then
  shout "apt-get update failed, so Chromium could not be installed."
  exit 0
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk fonts-noto-color-emoji >/dev/null; then
  shout "apt-get install chromium fonts-noto-cjk fonts-noto-color-emoji failed."
  exit 0
fi
if [ ! -x /usr/bin/chromium ]; then
  shout "the chromium package installed but /usr/bin/chromium is still missing."
  exit 0
fi
echo "Installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
