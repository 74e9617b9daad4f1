#!/usr/bin/env bash
# Figures of a plugin author's loop (issue 18), as an author runs it, from outside:
#   - the lines an author writes for a one-tool HTTP integration (the scaffold's code and
#     manifest, comments, blank lines and unit tests left out);
#   - the time from `plugin new` to the first `plugin test` answered, cold (an empty cargo
#     target directory, as on a first plugin) and warm (a second plugin, dependencies built);
#   - the time of a rebuild after an edit, and of one `plugin test`;
#   - the size of the built .mst and of its component.
#
#   benches/plugin_author.sh            uses target/debug/monstrum (cargo build -p monstrum first)
#   MONSTRUM=path/to/monstrum benches/plugin_author.sh
#
# The plugin calls a local JSON API (python3 -m http.server) with a token from a workspace's
# vault. The crate's dependencies come from crates.io (the registry cache is not cleared: cold
# means nothing compiled, not nothing downloaded).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# The API: GET /books/1 answers a JSON file.
mkdir -p "$WORK/api/books"
echo '{"id": "1", "title": "Dune"}' > "$WORK/api/books/1"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$WORK/api" && exec python3 -m http.server "$PORT" --bind 127.0.0.1 > /dev/null 2>&1) &
PIDS+=($!)
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/books/1" > /dev/null && break; sleep 0.1; done

# A workspace with the token in its vault.
mkdir -p "$WORK/ws/workflows"
printf %s "bench-token" | "$MONSTRUM" --workspace "$WORK/ws" vault set records-token > /dev/null

since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
call() {
    (cd "$1" && "$MONSTRUM" --workspace "$WORK/ws" plugin test get_record \
        --args '{"collection": "books", "id": "1"}' --scope collections=books \
        --config "api_url=http://127.0.0.1:$PORT" --credential token=records-token)
}
# new -> build -> test, in $WORK/$1 with cargo's target directory $2; prints the seconds.
first_test() {
    local dir=$WORK/$1 start
    start=$(now)
    (cd "$WORK" && "$MONSTRUM" plugin new "$1" > /dev/null)
    (cd "$dir" && CARGO_TARGET_DIR=$2 "$MONSTRUM" plugin build > /dev/null 2>&1)
    call "$dir" > "$WORK/$1.out"
    grep -q '"title": "Dune"' "$WORK/$1.out" || { cat "$WORK/$1.out" >&2; echo "the first test failed" >&2; exit 1; }
    since "$start"
}

TARGET=$WORK/target
cold=$(first_test first "$TARGET")
warm=$(first_test second "$TARGET")
touch "$WORK/second/src/lib.rs"
start=$(now)
(cd "$WORK/second" && CARGO_TARGET_DIR=$TARGET "$MONSTRUM" plugin build > /dev/null 2>&1)
rebuild=$(since "$start")
start=$(now)
call "$WORK/second" > /dev/null
one_test=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.0f", (b - a) * 1000 }')

# Lines an author writes: code without comments, blank lines and the unit tests; the manifest
# without comments and blank lines.
code=$(awk '/^#\[cfg\(test\)\]/ { exit } !/^[[:space:]]*(\/\/|$)/' "$WORK/first/src/lib.rs" | wc -l)
manifest=$(grep -cvE '^[[:space:]]*(#|$)' "$WORK/first/manifest.yaml")
mst=$(stat -c %s "$WORK/first/first-0.1.0.mst")
wasm=$(stat -c %s "$WORK/first/first.wasm")

cat <<EOF
binary                               $MONSTRUM
lines an author writes               $code Rust + $manifest manifest = $((code + manifest))
plugin new -> first test, cold       ${cold} s (empty cargo target directory)
plugin new -> first test, warm       ${warm} s (a second plugin, dependencies built)
plugin build after an edit           ${rebuild} s
plugin test, one call                ${one_test} ms
.mst                                 $mst bytes (component $wasm bytes)
EOF
cat "$WORK/first.out"
