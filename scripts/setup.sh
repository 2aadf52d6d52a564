#!/usr/bin/env bash
# Installs what the build and the tests need, and nothing when it is all there
# (fast enough to run before every `make run` / `make test`).
#   - QEMU 10 from Debian's bookworm-backports (qemu-system-x86 qemu-system-arm):
#     Debian 12's own QEMU 7.2 cannot emulate x2APIC under TCG, and one emulator
#     for every boot keeps the tests' shapes comparable. The backports source is
#     added to apt's sources if missing (same mirror and keyring as the main ones).
#   - firmware (ovmf, qemu-efi-aarch64) and device-tree-compiler (dtc: the
#     aarch64 device-tree tests edit QEMU's own DTB) from Debian 12
#   - the Rust toolchain pinned in rust-toolchain.toml (with rust-src, llvm-tools,
#     miri, clippy, rustfmt and both bare-metal targets)
set -euo pipefail
cd "$(dirname "$0")/.."

QEMU_MIN_MAJOR=10

qemu_major() {
    "$1" --version 2>/dev/null | sed -n 's/^QEMU emulator version \([0-9]*\)\..*/\1/p'
}

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive

need_qemu=0
for q in qemu-system-x86_64 qemu-system-aarch64; do
    major=$(qemu_major "$q")
    if [ -z "$major" ] || [ "$major" -lt "$QEMU_MIN_MAJOR" ]; then
        need_qemu=1
    fi
done
need_apt=()
[ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || need_apt+=(ovmf)
[ -f /usr/share/qemu-efi-aarch64/QEMU_EFI.fd ] || need_apt+=(qemu-efi-aarch64)
command -v dtc >/dev/null || need_apt+=(device-tree-compiler)

if [ "$need_qemu" -eq 1 ] || [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$need_qemu" -eq 1 ] && ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
        echo "setup: adding Debian bookworm-backports to apt's sources (for QEMU $QEMU_MIN_MAJOR)"
        $sudo tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
    $sudo apt-get update -qq
    if [ "$need_qemu" -eq 1 ]; then
        echo "setup: installing QEMU $QEMU_MIN_MAJOR from bookworm-backports"
        $sudo apt-get install -y -qq --no-install-recommends -t bookworm-backports \
            qemu-system-x86 qemu-system-arm >/dev/null
    fi
    if [ ${#need_apt[@]} -gt 0 ]; then
        echo "setup: installing ${need_apt[*]} from Debian"
        $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    fi
    for q in qemu-system-x86_64 qemu-system-aarch64; do
        major=$(qemu_major "$q")
        if [ -z "$major" ] || [ "$major" -lt "$QEMU_MIN_MAJOR" ]; then
            echo "setup: $q is version '${major:-missing}', need >= $QEMU_MIN_MAJOR" >&2
            exit 1
        fi
    done
fi

# RUSTUP_AUTO_INSTALL=0 on these machines: cargo will not fetch the pinned
# toolchain by itself. With no arguments, rustup installs exactly what
# rust-toolchain.toml names, and returns at once when it is present.
if ! command -v rustup >/dev/null; then
    echo "setup: rustup not found; install it from https://rustup.rs" >&2
    exit 1
fi
rustup toolchain install >/dev/null 2>&1 || rustup toolchain install
