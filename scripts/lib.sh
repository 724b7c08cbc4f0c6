# Common settings for the ramfs_cr scripts. Sourced, not run.
# shellcheck shell=bash

RAMFS_CR_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RAMFS_CR_CACHE=${RAMFS_CR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ramfs_cr}
RAMFS_CR_BUILD=${RAMFS_CR_BUILD:-$RAMFS_CR_REPO/build}
# One kernel (or module) build at a time on this machine: everybody takes this lock.
RAMFS_CR_LOCK=${RAMFS_CR_LOCK:-/tmp/ramfs_cr-kernel-build.lock}

BINDGEN_VERSION=0.73.2
BINDGEN=${BINDGEN:-$RAMFS_CR_CACHE/tools/bin/bindgen}

# Debian's matched Rust toolchain (rust-web), named explicitly: a rustup
# toolchain earlier in PATH has no rust-src for the kernel.
KMAKE_VARS=(LLVM=1 RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
	HOSTRUSTC=/usr/bin/rustc BINDGEN="$BINDGEN"
	CLIPPY_DRIVER=/usr/bin/clippy-driver)

KSRC_TARBALL=${KSRC_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
KSRC_PACKAGE=linux-source-6.12

say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { printf '%s: error: %s\n' "${0##*/}" "$*" >&2; exit 1; }

# ksrc_unpack DIR: the pristine tree of $KSRC_TARBALL at DIR (replaced if it
# exists), unpacked beside it and renamed, so DIR never holds half a tree.
ksrc_unpack() {
	local dir=$1 tmp=$1.unpack top
	rm -rf "$dir" "$tmp"
	mkdir -p "$tmp"
	tar -C "$tmp" -xJf "$KSRC_TARBALL"
	top=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d)
	[ -f "$top/Makefile" ] || die "unexpected layout of $KSRC_TARBALL"
	mv "$top" "$dir"
	rmdir "$tmp"
}

# kconfig_merge SRC B FRAG...: merge the config fragments (paths relative to
# the repository) into B/.config of the O= build dir B of source tree SRC,
# then resolve the result with olddefconfig.
kconfig_merge() {
	local src=$1 b=$2
	shift 2
	(cd "$src" && scripts/kconfig/merge_config.sh -m -O "$b" "$b/.config" \
		"${@/#/$RAMFS_CR_REPO/}") &&
		make -C "$src" O="$b" "${KMAKE_VARS[@]}" olddefconfig
}
