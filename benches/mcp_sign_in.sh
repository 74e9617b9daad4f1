#!/usr/bin/env bash
# Figures of the MCP sign-in (issue 12), as a user runs it, from outside, beside the same server
# behind a bearer header from the vault:
#   add        `monstrum mcp add` of a server that asks for a sign-in: the 401, discovery,
#              dynamic registration, the browser's round trip (tests/fixtures/mcp/browser.sh, a
#              person who signs in at once) through the loopback listener, the code's exchange,
#              then initialize and tools/list with the token; beside `mcp add --header`.
#   run        `monstrum run` of a one-step workflow calling the server's tool: with a kept token
#              that is still fresh (no token request), with one about to expire (a refresh, and
#              the rotated tokens sealed back into the vault), and with a bearer header.
# The servers: tests/fixtures/mcp/oauth-server.mjs and drifting-server.mjs (the official SDK,
# stateless), on loopback. Best and median of 10.
#
#   benches/mcp_sign_in.sh       uses target/debug/monstrum, or MONSTRUM=path/to/monstrum
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
NPM=$ROOT/target/npm
[ -f "$NPM/node_modules/@modelcontextprotocol/sdk/package.json" ] || { echo "no MCP SDK in $NPM (see .ci/run)" >&2; exit 2; }
ROUNDS=${ROUNDS:-10}
export BROWSER=$ROOT/tests/fixtures/mcp/browser.sh

# Starts a node fixture on a free port and sets variable VAR to its MCP URL (no command
# substitution: the server is a child of this shell, killed on exit).
serve_fixture() {
  local var=$1 name=$2 port script
  shift 2
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  script=$NPM/bench-$name-$$.mjs
  cp "$ROOT/tests/fixtures/mcp/$name.mjs" "$script"
  env PORT="$port" "$@" node "$script" 2>/dev/null &
  PIDS+=($!)
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  printf -v "$var" 'http://127.0.0.1:%s/mcp' "$port"
}
trap 'rm -f "$NPM"/bench-*-$$.mjs; cleanup' EXIT

echo '[{"name":"whoami","description":"Who is calling","inputSchema":{"type":"object"}}]' > "$WORK/tools.json"
serve_fixture FRESH oauth-server EXPIRES_IN=3600
serve_fixture EXPIRING oauth-server EXPIRES_IN=10
serve_fixture HEADER drifting-server TOOLS_FILE="$WORK/tools.json"

# Makes workspace folder $WORK/DIR whose bot binds server NAME's whoami.
workspace() {
  local dir=$WORK/$1
  rm -rf "$dir" && mkdir -p "$dir/bots" "$dir/workflows"
  printf 'name: ops\nresources:\n  - mcp: %s\n    tools: [whoami]\n' "$2" > "$dir/bots/ops.yaml"
  printf 'name: who\nbot: ops\nsteps:\n  - id: who\n    tool: %s.whoami\n' "$2" > "$dir/workflows/who.yaml"
}

# Best and median of ROUNDS runs of CMD (after PREPARE, untimed, before each).
figure() {
  local label=$1 prepare=$2 t
  shift 2
  local times=()
  for _ in $(seq "$ROUNDS"); do
    eval "$prepare"
    t=$(time_cmd "$@")
    times+=("$t")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v l="$label" '{ a[NR] = $1 } END { printf "%-44s best %5d ms   median %5d ms\n", l, a[1], a[int((NR + 1) / 2)] }'
}

echo "# $("$MONSTRUM" --version), $ROUNDS rounds"
workspace add signed; WS=$WORK/add
figure "mcp add, signing in" 'rm -rf "$WS/.monstrum"' \
  "$MONSTRUM" --workspace "$WS" mcp add signed "$FRESH"
workspace add-header plain; WS_H=$WORK/add-header
figure "mcp add, bearer header from the vault" \
  'rm -rf "$WS_H/.monstrum"; echo token | "$MONSTRUM" --workspace "$WS_H" vault set plain-token > /dev/null' \
  "$MONSTRUM" --workspace "$WS_H" mcp add plain "$HEADER" --header Authorization=plain-token

workspace run-fresh signed; WS_F=$WORK/run-fresh
"$MONSTRUM" --workspace "$WS_F" mcp add signed "$FRESH" > /dev/null 2>&1
figure "run, signed in, token fresh" ':' "$MONSTRUM" --workspace "$WS_F" run "$WS_F/workflows/who.yaml"
workspace run-expiring signed; WS_E=$WORK/run-expiring
"$MONSTRUM" --workspace "$WS_E" mcp add signed "$EXPIRING" > /dev/null 2>&1
figure "run, signed in, token refreshed and kept" ':' "$MONSTRUM" --workspace "$WS_E" run "$WS_E/workflows/who.yaml"
workspace run-header plain; WS_P=$WORK/run-header
echo token | "$MONSTRUM" --workspace "$WS_P" vault set plain-token > /dev/null
"$MONSTRUM" --workspace "$WS_P" mcp add plain "$HEADER" --header Authorization=plain-token > /dev/null
figure "run, bearer header from the vault" ':' "$MONSTRUM" --workspace "$WS_P" run "$WS_P/workflows/who.yaml"
