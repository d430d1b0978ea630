#!/bin/sh
# The kernel steps of a loop volume, straight from the shell: the baselines
# of B3 and B4 (bench/README.md). mkfs gets the engine's own options
# (src/os/fs.c osfs_format), so both sides make the same filesystem.
#
#   shell_mount.sh first IMG MOUNTPOINT LABEL   new 1 GiB image, attach, mkfs.ext4,
#                                               mount, mkdir data (0700); prints the device
#   shell_mount.sh remount IMG MOUNTPOINT       attach + mount; prints the device
#   shell_mount.sh unmount MOUNTPOINT DEVICE    umount + detach
set -eu
case "${1:-}" in
first)
	img=$2 mp=$3 label=$4
	truncate -s 1G "$img"
	dev=$(losetup -f --show "$img")
	mkfs.ext4 -q -F -m 0 -E lazy_itable_init=1,lazy_journal_init=1 -L "$label" "$dev"
	mkdir -p "$mp"
	mount "$dev" "$mp"
	mkdir -m 0700 "$mp/data"
	echo "$dev"
	;;
remount)
	dev=$(losetup -f --show "$2")
	mount "$dev" "$3"
	echo "$dev"
	;;
unmount)
	umount "$2"
	losetup -d "$3"
	;;
*)
	echo "usage: shell_mount.sh first IMG MP LABEL | remount IMG MP | unmount MP DEV" >&2
	exit 2
	;;
esac
