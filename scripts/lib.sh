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
