#!/usr/bin/env bash
# Rebuilds ui/vendor/codemirror.js (the editor's YAML view) from package-lock.json's exact
# versions. The bundle is committed so that building Monstrum needs no npm; CI rebuilds it and
# fails if the committed file differs.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
