#!/usr/bin/env bash
# Installs what the build and the tests need, and nothing when it is all there
# (fast enough to run before every `make run` / `make test`).
#   - QEMU and firmware from Debian: qemu-system-x86 qemu-system-arm ovmf qemu-efi-aarch64
#   - the Rust toolchain pinned in rust-toolchain.toml (with rust-src, llvm-tools,
#     miri, clippy, rustfmt and both bare-metal targets)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v qemu-system-x86_64 >/dev/null || need_apt+=(qemu-system-x86)
command -v qemu-system-aarch64 >/dev/null || need_apt+=(qemu-system-arm)
[ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || need_apt+=(ovmf)
[ -f /usr/share/qemu-efi-aarch64/QEMU_EFI.fd ] || need_apt+=(qemu-efi-aarch64)

if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing ${need_apt[*]} from Debian"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# RUSTUP_AUTO_INSTALL=0 on these machines: cargo will not fetch the pinned
# toolchain by itself. With no arguments, rustup installs exactly what
# rust-toolchain.toml names, and returns at once when it is present.
if ! command -v rustup >/dev/null; then
    echo "setup: rustup not found; install it from https://rustup.rs" >&2
    exit 1
fi
rustup toolchain install >/dev/null 2>&1 || rustup toolchain install
