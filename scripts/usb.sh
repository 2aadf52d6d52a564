#!/usr/bin/env bash
# `make usb DEV=/dev/sdX [BOOT=uefi|bios]`: write a boot image to a USB stick
# (Linux); `make usb ARCH=aarch64 BOARD=rpi4 DEV=/dev/sdX` (BOOT=rpi4 here):
# the Raspberry Pi 4 image to an SD card or USB stick, with the same checks.
# Everything on the device is overwritten, so the device is checked
# first: it must be a whole disk (not a partition), nothing on it may be
# mounted or in use, and the image must fit. Then it shows the device's size
# and model and asks to type `yes` (YES=1 skips the question, for scripts).
#
#   DEV=/dev/sdX   target device (or the first argument)
#   BOOT=uefi      uefi (default), bios, or rpi4 (the Raspberry Pi 4 card image)
#   IMAGE_DIR=...  where bios.img/uefi.img are (default target/image/x86_64),
#                  or rpi4.img (target/image/rpi4, from mk/rpi4.mk)
#   YES=1          do not ask
#
# See docs/hardware.md for macOS and Windows, and for booting the stick.
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=${DEV:-${1:-}}
BOOT=${BOOT:-uefi}
IMAGE_DIR=${IMAGE_DIR:-target/image/x86_64}
YES=${YES:-}

die() {
    echo "usb: $*" >&2
    exit 1
}

[ -n "$DEV" ] || die "no device given: make usb DEV=/dev/sdX [BOOT=uefi|bios] (list disks with \`lsblk -d -o NAME,SIZE,MODEL,TRAN\`)"
case $BOOT in
    uefi | bios) MAKE_IMAGE="make image" ;;
    rpi4) MAKE_IMAGE="make image ARCH=aarch64 BOARD=rpi4" ;;
    *) die "BOOT=$BOOT: want uefi, bios or rpi4" ;;
esac
IMG=$IMAGE_DIR/$BOOT.img
[ -f "$IMG" ] || die "$IMG not found: run \`$MAKE_IMAGE\` first"

for tool in lsblk findmnt dd; do
    command -v "$tool" >/dev/null || die "\`$tool\` not found (util-linux / coreutils)"
done

[ -e "$DEV" ] || die "$DEV does not exist"
# /dev/disk/by-id/... names are symlinks: check and write the real node.
REAL=$(readlink -f -- "$DEV")
[ -b "$REAL" ] || die "$DEV is not a block device"

TYPE=$(lsblk -dn -o TYPE -- "$REAL" 2>/dev/null | tr -d ' ') || true
case $TYPE in
    disk) ;;
    loop) echo "usb: note: $REAL is a loop device (fine for testing this script)" ;;
    part) die "$DEV is a partition; give the whole disk (e.g. /dev/sdb, not /dev/sdb1)" ;;
    "") die "lsblk does not know $DEV" ;;
    *) die "$DEV is a $TYPE device, not a whole disk" ;;
esac

# Mounted anywhere (the disk or any partition) or used as swap: refuse.
# lsblk's MOUNTPOINT shows one mount point or [SWAP]; findmnt finds the rest.
MOUNTED=""
while read -r node mnt; do
    [ -z "$mnt" ] || MOUNTED+="  $node on $mnt"$'\n'
done < <(lsblk -nrp -o NAME,MOUNTPOINT -- "$REAL")
for node in $(lsblk -nrp -o NAME -- "$REAL"); do
    while read -r target; do
        case $MOUNTED in *"$node on $target"*) ;; *) MOUNTED+="  $node on $target"$'\n' ;; esac
    done < <(findmnt -rn -o TARGET -S "$node" || true)
done
[ -z "$MOUNTED" ] || die "$DEV is mounted; unmount it first (e.g. \`udisksctl unmount -b /dev/sdX1\`):
${MOUNTED%$'\n'}"
# Held by device-mapper or RAID (LVM, LUKS, md): refuse.
HELD=$(lsblk -nrp -o NAME,TYPE -- "$REAL" | awk '$2 != "disk" && $2 != "part" && $2 != "loop" { print "  " $1 " (" $2 ")" }')
[ -z "$HELD" ] || die "$DEV is in use by:
$HELD"
if [ "$(lsblk -dn -o RO -- "$REAL" | tr -d ' ')" = 1 ]; then
    die "$DEV is read-only (write-protect switch?)"
fi

IMG_BYTES=$(stat -c %s -- "$IMG")
DEV_BYTES=$(lsblk -bdn -o SIZE -- "$REAL" | tr -d ' ')
[ "$DEV_BYTES" -ge "$IMG_BYTES" ] ||
    die "$DEV holds $DEV_BYTES bytes, the image needs $IMG_BYTES"

read -r SIZE MODEL_TRAN < <(lsblk -dn -o SIZE,MODEL,TRAN -- "$REAL") || true
TRAN=$(lsblk -dn -o TRAN -- "$REAL" | tr -d ' ')
if [ "$REAL" = "$DEV" ]; then echo "device: $DEV"; else echo "device: $DEV ($REAL)"; fi
echo "        size ${SIZE:-?}, model/transport: ${MODEL_TRAN:-unknown}"
echo "image:  $IMG ($BOOT, $((IMG_BYTES / 1024)) KiB)"
# A Pi's card may sit in a built-in SD reader (transport mmc) as well.
if [ -n "$TRAN" ] && [ "$TRAN" != usb ] && { [ "$BOOT" != rpi4 ] || [ "$TRAN" != mmc ]; }; then
    echo "usb: WARNING: $DEV is not a USB device (transport: $TRAN). Is this really the stick?"
fi

if [ "$YES" = 1 ]; then
    echo "YES=1: writing without asking"
else
    [ -t 0 ] || die "not asking without a terminal; run with YES=1 to confirm"
    read -r -p "Everything on $DEV will be lost. Type yes to write: " ANSWER
    [ "$ANSWER" = yes ] || die "not confirmed; nothing written"
fi

SUDO=()
if [ ! -w "$REAL" ] && [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "no write permission on $REAL (run as root)"
    echo "usb: $REAL is not writable by $(id -un); using sudo"
    SUDO=(sudo)
fi
"${SUDO[@]}" dd if="$IMG" of="$REAL" bs=4M conv=fsync status=progress
sync
if [ "$BOOT" = rpi4 ]; then
    echo "usb: wrote $IMG to $DEV. Eject it (\`eject $DEV\`), then put it into the Raspberry Pi 4 (SD slot, or a USB port with USB boot in BOOT_ORDER; docs/hardware.md)."
else
    echo "usb: wrote $IMG to $DEV. Eject it (\`eject $DEV\`), then boot the PC from it (docs/hardware.md)."
fi
