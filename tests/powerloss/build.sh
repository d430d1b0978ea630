#!/bin/sh
# Build plfs (the power-loss simulating FUSE filesystem) from plfs.c.
# Usage: build.sh [OUTPUT]   (default: ../../build/powerloss/plfs, relative
# to this script's directory). Installs libfuse3-dev and fuse3 with apt-get
# when pkg-config cannot find fuse3 (needs root). Extra compiler flags may
# come in $CFLAGS (e.g. CFLAGS=-fsanitize=address,undefined).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/../../build/powerloss/plfs"}
if ! pkg-config --exists fuse3 2>/dev/null || ! command -v fusermount3 >/dev/null 2>&1; then
	echo "build.sh: installing libfuse3-dev fuse3" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends pkg-config libfuse3-dev fuse3 >/dev/null
fi
mkdir -p "$(dirname "$out")"
# Flag lists are meant to split into words.
# shellcheck disable=SC2046,SC2086
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wshadow ${CFLAGS:-} \
	$(pkg-config --cflags fuse3) -o "$out" "$here/plfs.c" $(pkg-config --libs fuse3)
