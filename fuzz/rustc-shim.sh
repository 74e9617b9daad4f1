#!/bin/sh
# RUSTC_WRAPPER for fuzz builds: monstrum-core's build.rs builds the plugin guests for
# wasm32-wasip2 with a nested cargo that inherits the outer (nightly) toolchain. Where nightly
# has no wasm32-wasip2 standard library, that nested build (its own target dir, `.../guests/`)
# is compiled by stable instead; everything else goes to the compiler cargo chose.
rustc="$1"
shift
for arg in "$@"; do
  case "$arg" in
    *wasm32-wasip2* | */guests/*) exec rustup run stable rustc "$@" ;;
  esac
done
exec "$rustc" "$@"
