#!/usr/bin/env bash
# Builds filecoin-ffi's Rust library (libfilcrypto) from filecoin-ffi's own
# sources, and INSECURE local Groth16 parameters for small test sectors,
# caching both outside the clone. `make filcrypto` and `make params` call it.
#
#   tools/filcrypto/build.sh lib              → prints FFI_DIR (a built copy of filecoin-ffi)
#   tools/filcrypto/build.sh params SIZES CIRCUITS
#                                             → prints FIL_PROOFS_PARAMETER_CACHE
#   tools/filcrypto/build.sh dir | paramdir   → prints where they are (or would be), builds nothing
#
# The library is keyed by (filecoin-ffi version, cargo features, rustc
# version, recipe): a second run with the same key prints the cached copy
# in well under a second. The first takes about 6 minutes on 2 cores, the
# 2KiB parameters of all four circuits about 28 more (PoRep 11 min, Winning
# PoSt 33 s, Window PoSt 13 s, snap update 16 min; measured, see
# plugins/ffi/README.md), each circuit cached once made. The
# sources come from the Go module cache (the filecoin-ffi module zip
# carries its Rust crate and a full Cargo.lock);
# crates come from the Rust registry; nothing is downloaded from GitHub.
#
# Cache root: $SEALHOST_CACHE, default /var/cache/sealhost.
set -euo pipefail

# v1.32.0, not v1.30.0 (the version the project chose): v1.30.0's cgo glue
# defines methods on C types through aliases, which Go 1.24 and later reject
# ("cannot define new methods on non-local type SliceBoxedUint8",
# filecoin-ffi#516), and this machine's only Go is 1.26. v1.32.0 is the
# first release with the fix (newtypes); its Go API is the same function for
# function, and it pins the same rust-fil-proofs (filecoin-proofs-api 18.1,
# filecoin-proofs 18.1.0), so the same circuits and parameters.
FFI_VERSION=${SEALHOST_FFI_VERSION:-v1.32.0}
# The rust-fil-proofs release the parameters belong to; the build checks
# the copy's Cargo.lock pins it.
PROOFS_VERSION=18.1.0
# CPU only: no cuda/opencl on these machines. blst-portable because the
# cache may be reused by another machine of the same kind whose CPU lacks
# an instruction the build machine has (blst otherwise tunes to the build
# CPU); it costs some speed in BLS/pairing code, none in SDR or Poseidon.
FEATURES=multicore-sdr,blst-portable
# Bump when this script changes what it produces (patches, steps).
RECIPE=1
# Crate bumps needed for rustc 1.95, applied to the copy's Cargo.lock with
# `cargo update --precise` (crate@old → new: why). None were needed for
# filecoin-ffi v1.30.0 or v1.32.0 with rustc 1.95.0.
BUMPS=()

CACHE_ROOT=${SEALHOST_CACHE:-/var/cache/sealhost}
HERE=$(cd "$(dirname "$0")" && pwd)
export RUSTUP_TOOLCHAIN=${RUSTUP_TOOLCHAIN:-stable}

say() { echo "filcrypto: $*" >&2; }
die() { say "error: $*"; exit 1; }

rustc_version() { rustc --version | awk '{print $2}'; }
key() { echo "filecoin-ffi-${FFI_VERSION}_${FEATURES//,/+}_rustc-$(rustc_version)_r${RECIPE}"; }
lib_dir() { echo "$CACHE_ROOT/filcrypto/$(key)"; }
# Parameters depend on the circuits only, that is on the rust-fil-proofs
# version filecoin-ffi pins, not on rustc, features or the Go glue.
param_dir() { echo "$CACHE_ROOT/params-INSECURE/filecoin-proofs-${PROOFS_VERSION}"; }
target_dir() { echo "$CACHE_ROOT/filcrypto/target"; }

# Debian packages: hwloc for multicore SDR (the hwloc crate's build script
# probes pkg-config), a C compiler for blst and friends.
ensure_packages() {
	local missing=()
	pkg-config --exists hwloc 2>/dev/null || missing+=(libhwloc-dev)
	command -v pkg-config >/dev/null || missing+=(pkg-config)
	command -v cc >/dev/null || missing+=(gcc)
	[ ${#missing[@]} -eq 0 ] && return
	if [ "$(id -u)" != 0 ]; then
		die "missing Debian packages: ${missing[*]}; run: sudo apt-get install -y ${missing[*]}"
	fi
	say "installing Debian packages: ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	# libhwloc-dev may already have brought pkg-config in.
	command -v pkg-config >/dev/null && pkg-config --exists hwloc || die "hwloc still not found by pkg-config after installing ${missing[*]}"
}

# The lock's (name version) pairs, to prove that adding our generator to
# the workspace changed no pinned crate.
lock_pairs() { awk '/^name = /{n=$3} /^version = / && n != "" {print n, $3}' "$1" | tr -d '"' | sort; }

build_lib() {
	local out; out=$(lib_dir)
	if [ -f "$out/.complete" ]; then
		say "cached: $out"
		echo "$out"
		return
	fi
	command -v cargo >/dev/null || die "cargo not found: install Rust (rustup) first"
	ensure_packages
	local src
	src=$(cd "$HERE/../.." && go mod download -json "github.com/filecoin-project/filecoin-ffi@${FFI_VERSION}" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
	[ -f "$src/rust/Cargo.lock" ] || die "filecoin-ffi ${FFI_VERSION} from the Go module cache has no rust/Cargo.lock (at $src)"
	grep -A1 '^name = "filecoin-proofs"$' "$src/rust/Cargo.lock" | grep -q "^version = \"${PROOFS_VERSION}\"" ||
		die "filecoin-ffi ${FFI_VERSION} does not pin filecoin-proofs ${PROOFS_VERSION}: update PROOFS_VERSION (and the parameters) in $0"

	say "building libfilcrypto from filecoin-ffi ${FFI_VERSION}'s sources (rustc $(rustc_version), features $FEATURES)."
	say "a first build takes about 6 minutes on 2 cores (measured 6m27s) and about 1 GB in $(target_dir); later runs reuse it."
	mkdir -p "$CACHE_ROOT/filcrypto"
	# A writable copy: the module cache is read-only. The copy is the
	# FFI_DIR `make ffi` links against (Go sources + library + header).
	if [ ! -d "$out" ]; then
		rm -rf "$out.tmp"
		cp -r "$src" "$out.tmp"
		chmod -R u+w "$out.tmp"
		mv "$out.tmp" "$out"
	fi
	# The pinned 1.73.0 toolchain cannot be fetched here; the machine's
	# stable rustc builds the same lock.
	rm -f "$out/rust/rust-toolchain.toml"
	# Our parameter generator joins the workspace, so it links the crates
	# libfilcrypto is built from instead of compiling rust-fil-proofs again.
	rm -rf "$out/rust/sealhost-paramgen"
	cp -r "$HERE/paramgen" "$out/rust/sealhost-paramgen"
	grep -q '^\[workspace\]' "$out/rust/Cargo.toml" ||
		printf '\n[workspace]\nmembers = [".", "sealhost-paramgen"]\n' >>"$out/rust/Cargo.toml"
	cd "$out/rust"
	[ -f Cargo.lock.orig ] || cp Cargo.lock Cargo.lock.orig
	for b in "${BUMPS[@]}"; do
		# shellcheck disable=SC2086
		cargo update $b
	done
	cargo metadata --format-version 1 >/dev/null # adds sealhost-paramgen to the lock, resolves nothing else
	local changed
	changed=$(comm -3 <(lock_pairs Cargo.lock.orig) <(lock_pairs Cargo.lock) | tr -s ' \t' ' ' | sed 's/^ //')
	if [ ${#BUMPS[@]} -eq 0 ] && [ "$changed" != "sealhost-paramgen 0.1.0" ]; then
		die "adding the generator changed pinned crates in Cargo.lock: $changed"
	fi

	export CARGO_TARGET_DIR; CARGO_TARGET_DIR=$(target_dir)
	# Every cargo step uses the same RUSTFLAGS, or cargo would rebuild all
	# crates; --print makes rustc tell the native libs the archive needs.
	export RUSTFLAGS="--print native-static-libs"
	local features="filcrypto/${FEATURES//,/,filcrypto/}"
	local log="$CACHE_ROOT/filcrypto/build-$(key).log"
	# The native-libs line is printed only when filcrypto itself compiles.
	touch src/lib.rs
	local t0=$SECONDS
	say "cargo build (log: $log)"
	cargo build --release --locked -p filcrypto -p sealhost-paramgen --no-default-features --features "$features" >"$log" 2>&1 &
	local pid=$! n i=0
	while kill -0 "$pid" 2>/dev/null; do
		sleep 2
		i=$((i + 1)) && [ $((i % 15)) -eq 0 ] || continue
		n=$(grep -c '^ *Compiling' "$log" || true)
		say "[$((SECONDS - t0))s] $n of ~450 crates compiled; now: $(grep '^ *Compiling' "$log" | tail -1 | awk '{print $2, $3}')"
	done
	if ! wait "$pid"; then
		tail -30 "$log" >&2
		die "cargo build failed (full log: $log)"
	fi
	local libs
	libs=$(grep -m1 'native-static-libs:' "$log" | sed 's/.*native-static-libs: *//')
	[ -n "$libs" ] || die "rustc printed no native-static-libs line (log: $log)"
	cp "$CARGO_TARGET_DIR/release/libfilcrypto.a" "$out/libfilcrypto.a"

	say "generating filcrypto.h"
	rm -f "$out/filcrypto.h"
	HEADER_DIR="$out" cargo test --release --locked -p filcrypto --no-default-features \
		--features "${FEATURES},c-headers" build_headers >>"$log" 2>&1 ||
		{ tail -30 "$log" >&2; die "header generation failed (log: $log)"; }
	grep -q 'seal_pre_commit_phase1' "$out/filcrypto.h" 2>/dev/null ||
		die "filcrypto.h is missing or incomplete (safer-ffi's registration did not run; log: $log)"

	sed -e "s;@VERSION@;${FFI_VERSION};" -e "s;@PRIVATE_LIBS@;${libs};" filcrypto.pc.template >"$out/filcrypto.pc"
	{
		echo "filecoin-ffi ${FFI_VERSION}, features ${FEATURES}, rustc $(rustc_version), recipe ${RECIPE}"
		echo "built $(date -u +%FT%TZ) in $((SECONDS - t0)) s"
		echo "native libs: ${libs}"
	} >"$out/.complete"
	say "built in $((SECONDS - t0)) s: $out"
	echo "$out"
}

# What one circuit's generation cost on 2 cores (measured; plugins/ffi/README.md).
param_estimate() {
	case "$1:$2" in
	2048:porep) echo " (about 11 minutes on 2 cores, 1.1 GB)" ;;
	2048:winning-post) echo " (about 35 s on 2 cores, 47 MB)" ;;
	2048:window-post) echo " (about 15 s on 2 cores, 11 MB)" ;;
	2048:update) echo " (about 16 minutes on 2 cores, 656 MB)" ;;
	esac
}

build_params() {
	local sizes=${1:-2048} circuits=${2:-porep}
	local lib; lib=$(build_lib)
	local dir; dir=$(param_dir)
	mkdir -p "$dir"
	cat >"$dir/README-INSECURE.txt" <<-EOF
		INSECURE TEST PARAMETERS, generated on $(hostname) by sealhost's tools/filcrypto/build.sh.
		The setup's randomness was not destroyed: proofs made with these files verify
		only against these same verifying keys, never on chain. Use them for tests only.
	EOF
	local todo=() s c
	for s in ${sizes//,/ }; do
		for c in ${circuits//,/ }; do
			[ -f "$dir/.done-$s-$c" ] || todo+=("$s:$c")
		done
	done
	if [ ${#todo[@]} -eq 0 ]; then
		say "cached INSECURE parameters ($sizes; $circuits): $dir"
		echo "$dir"
		return
	fi
	local gen; gen="$(target_dir)/release/sealhost-paramgen"
	[ -x "$gen" ] || die "$gen is missing: remove $lib/.complete and run again"
	local item
	for item in "${todo[@]}"; do
		s=${item%%:*} c=${item#*:}
		say "generating INSECURE $c parameters for $s-byte sectors$(param_estimate "$s" "$c")"
		FIL_PROOFS_PARAMETER_CACHE="$dir" RUST_LOG=${RUST_LOG:-warn} "$gen" "$s" "$c" >&2
		touch "$dir/.done-$s-$c"
	done
	echo "$dir"
}

case "${1:-}" in
lib) build_lib ;;
params) shift; build_params "$@" ;;
dir) lib_dir ;;
paramdir) param_dir ;;
*) echo "usage: $0 lib | params [SIZES [CIRCUITS]] | dir | paramdir" >&2; exit 2 ;;
esac
