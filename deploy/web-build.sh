#!/usr/bin/env bash
# Builds the web front end (web/) into api/assets/web, which the binary
# embeds and which is committed, so go build needs no npm.
#   deploy/web-build.sh          install web/'s pinned npm packages when
#                                needed, type-check, build
#   deploy/web-build.sh --check  type-check and fail when the committed
#                                bundle is not what the sources build
#   deploy/web-build.sh --deps   only install the packages
# The packages go into web/node_modules, from web/package-lock.json (npm ci),
# never from global installs. Node.js and npm come from Debian when missing
# and we are root (CI on a clean machine).
set -euo pipefail
cd "$(dirname "$0")/../web"

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "web: installing Node.js and npm (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >/dev/null ||
      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >/dev/null; }
  else
    echo "web: npm is missing; install Node.js 18 or newer (Debian: apt-get install nodejs npm)" >&2
    exit 1
  fi
fi
# The pinned esbuild and playwright-core need Node.js 18 (Debian 12's).
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 18 ]; then
  echo "web: Node.js $(node --version) is too old; 18 or newer is needed" >&2
  exit 1
fi

# npm ci again only when the lock file changed since the last install.
stamp=node_modules/.evently-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "web: npm ci (web/package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi

case "${1:-}" in
  --deps) ;;
  --check)
    node_modules/.bin/tsc --noEmit -p .
    node build.mjs --check
    ;;
  "")
    node_modules/.bin/tsc --noEmit -p .
    node build.mjs
    ;;
  *) echo "usage: $0 [--check|--deps]" >&2; exit 2 ;;
esac
