#!/usr/bin/env bash
# `make setup`: installs what the build and the tests need, and nothing when it
# is all there (no network, well under a second: every make target that needs
# tools runs it first).
#
# What it needs, and where it comes from:
#   - QEMU >= 10 (qemu-system-x86, qemu-system-arm): Debian 12's own QEMU 7.2
#     cannot emulate x2APIC under TCG, and one emulator version for every boot
#     keeps the tests' machine shapes comparable. Debian 13 and later: the
#     release's own QEMU. Debian 12: bookworm-backports (added to apt's sources
#     when missing). Never a suite of another release.
#   - firmware (ovmf, qemu-efi-aarch64) and device-tree-compiler (dtc: the
#     aarch64 device-tree tests edit QEMU's own DTB), from the running release
#   - a C compiler and linker (gcc, libc6-dev): cargo links build scripts and
#     proc macros for the host with `cc`
#   - ca-certificates: rustup and cargo download over HTTPS
#   - the Rust toolchain pinned in rust-toolchain.toml, installed with explicit
#     arguments read from that file, so rustup 1.27 (Debian 13's package, which
#     needs them) and 1.28+ behave the same. rustup itself: Debian 13's package
#     when missing there; elsewhere the message says how to get it.
# On a distribution this script does not know it installs nothing: it goes on
# when everything is present and otherwise lists what is missing.
#
# `scripts/setup.sh rpi4` (run by `make image ARCH=aarch64 BOARD=rpi4` only)
# does one thing instead: it fetches the Raspberry Pi 4 boot firmware; see
# setup_rpi4 below.
#
# Every failure ends with one line starting "setup: error:" that names what is
# missing and what to run.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
did=0

QEMU_MIN_MAJOR=10

say() { echo "setup: $*"; }
die() {
    echo "setup: error: $*" >&2
    exit 1
}
# Any command that fails without a message of ours still names itself.
trap 'rc=$?; echo "setup: error: \`$BASH_COMMAND\` failed (exit $rc) at scripts/setup.sh:$LINENO" >&2' ERR

# Major version of a QEMU binary, or nothing when it is not installed.
qemu_major() {
    command -v "$1" >/dev/null || return 0
    "$1" --version 2>/dev/null | sed -n 's/^QEMU emulator version \([0-9]*\)\..*/\1/p' || true
}

# Major version of apt's candidate for a package ("1:10.0.2+ds-2" -> 10), or
# nothing when apt has none.
apt_candidate_major() {
    apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: \([0-9]*:\)\{0,1\}\([0-9]*\)\..*/\2/p' || true
}

# --- what is missing -------------------------------------------------------

missing_qemu=()
for q in qemu-system-x86_64:qemu-system-x86 qemu-system-aarch64:qemu-system-arm; do
    bin=${q%%:*}
    major=$(qemu_major "$bin")
    if [ -z "$major" ] || [ "$major" -lt "$QEMU_MIN_MAJOR" ]; then
        missing_qemu+=("${q#*:}")
    fi
done
# Package name : a file or command that shows it is installed.
missing_pkgs=()
for p in ovmf:/usr/share/OVMF/OVMF_CODE_4M.fd \
    qemu-efi-aarch64:/usr/share/qemu-efi-aarch64/QEMU_EFI.fd \
    device-tree-compiler:dtc gcc:cc libc6-dev:/usr/include/stdio.h \
    ca-certificates:/etc/ssl/certs/ca-certificates.crt; do
    what=${p#*:}
    case $what in
    /*) [ -e "$what" ] || missing_pkgs+=("${p%%:*}") ;;
    *) command -v "$what" >/dev/null || missing_pkgs+=("${p%%:*}") ;;
    esac
done
need_rustup=0
command -v rustup >/dev/null || need_rustup=1

# --- the running system ----------------------------------------------------

os_id=unknown os_version="" os_codename="" os_name="an unknown system"
if [ -r /etc/os-release ]; then
    # shellcheck disable=SC1091
    os_id=$(. /etc/os-release && echo "${ID:-unknown}")
    os_version=$(. /etc/os-release && echo "${VERSION_ID:-}")
    os_codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    os_name=$(. /etc/os-release && echo "${PRETTY_NAME:-$ID}")
fi
# debian12: Debian 12 (QEMU from bookworm-backports). debian: Debian 13 and
# later, and testing/sid (no VERSION_ID): the release's own QEMU.
# other: anything else, where this script installs nothing.
distro=other
if [ "$os_id" = debian ]; then
    if [ "$os_version" = 12 ] || [ "$os_codename" = bookworm ]; then
        distro=debian12
    elif [ -z "$os_version" ] || [ "$os_version" -ge 13 ] 2>/dev/null; then
        distro=debian
    fi
fi

# --- `scripts/setup.sh rpi4`: the Raspberry Pi 4 boot firmware --------------
#
# The Pi 4 image (mk/rpi4.mk) needs start4.elf and fixup4.dat, the GPU
# firmware that the board's EEPROM bootloader loads from the card, and their
# licence, which must travel with them. They come from Debian's
# `raspi-firmware` package (component non-free-firmware; Architecture: all),
# fetched and unpacked into target/boards/rpi4/firmware/, never installed:
#   - installing it on a PC would add kernel hooks (/etc/kernel/postinst.d/
#     z50-raspi-firmware) that copy every new kernel to /boot/firmware and
#     fail the kernel upgrade when that is not a mount point;
#   - adding non-free-firmware to the system's apt sources (deb822 or
#     sources.list, Debian 12 or 13) would change what every later apt run
#     offers. Instead apt runs with a private configuration under
#     target/boards/rpi4/apt/: its own one-line source (the Debian mirror,
#     this release's suite, non-free-firmware only), lists, cache and an empty
#     dpkg status. The system's apt.conf.d (proxies) still applies, and apt
#     still checks the release's signature (Debian's archive keyring) and the
#     package's hash, so what is fetched is what Debian published.
# No root needed, nothing outside target/ changes. The package's version is
# written to VERSION there (and printed); `make clean` forgets it, and the
# next image build fetches the release's current one. DEBIAN_MIRROR=
# picks another mirror.
# Elsewhere (no apt, no Debian keyring) it says which files to put there.
#
# The mirror: DEBIAN_MIRROR, else the one the system's own sources use for
# this suite (deb822 .sources or a classic sources.list line), else
# deb.debian.org.
system_mirror() {
    local suite=$1
    {
        awk -v s="$suite" 'BEGIN { RS = "" } {
            u = ""; ok = 0
            n = split($0, l, "\n")
            for (i = 1; i <= n; i++) {
                if (l[i] ~ /^URIs:/) { split(l[i], f, " "); u = f[2] }
                if (l[i] ~ /^Suites:/) { m = split(l[i], f, " "); for (j = 2; j <= m; j++) if (f[j] == s) ok = 1 }
                if (l[i] ~ /^Enabled: *no/) ok = 0
            }
            if (ok && u != "") print u
        }' /etc/apt/sources.list.d/*.sources 2>/dev/null
        sed -e 's/\[[^]]*\]//' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
            awk -v s="$suite" '$1 == "deb" && $3 == s { print $2 }'
    } | grep -m1 '^https\?://' || true
}

setup_rpi4() {
    local dir=target/boards/rpi4/firmware
    local files=(start4.elf fixup4.dat LICENCE.broadcom VERSION)
    local f missing=0
    for f in "${files[@]}"; do [ -s "$dir/$f" ] || missing=1; done
    [ "$missing" -eq 1 ] || return 0
    local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null || [ ! -r "$keyring" ]; then
        die "the Raspberry Pi 4 image needs the Pi's boot firmware: on Debian it is fetched with apt-get and dpkg-deb (Debian's archive keyring, $keyring); here put start4.elf and fixup4.dat from https://github.com/raspberrypi/firmware/tree/master/boot, its LICENCE.broadcom, and a VERSION file naming the release into $dir/, then run make again"
    fi
    local suite=stable
    [ "$os_id" = debian ] && [ -n "$os_codename" ] && suite=$os_codename
    local mirror=${DEBIAN_MIRROR:-$(system_mirror "$suite")}
    mirror=${mirror:-http://deb.debian.org/debian}
    local apt=target/boards/rpi4/apt
    rm -rf "$apt" && mkdir -p "$apt/etc/sources.list.d" "$apt/etc/preferences.d" "$apt/state/lists/partial" \
        "$apt/cache/archives/partial" "$apt/deb"
    : >"$apt/state/status"
    echo "deb [signed-by=$keyring] $mirror $suite non-free-firmware" >"$apt/etc/sources.list"
    local abs
    abs=$(cd "$apt" && pwd)
    local opts=(-o "Dir::Etc::SourceList=$abs/etc/sources.list" -o "Dir::Etc::SourceParts=$abs/etc/sources.list.d"
        -o "Dir::Etc::Preferences=/dev/null" -o "Dir::Etc::PreferencesParts=$abs/etc/preferences.d"
        -o "Dir::State=$abs/state" -o "Dir::State::status=$abs/state/status" -o "Dir::Cache=$abs/cache"
        -o "APT::Sandbox::User=$(id -un)" -o "Debug::NoLocking=1")
    say "fetching Debian's raspi-firmware ($suite, non-free-firmware) into $dir (not installed; see scripts/setup.sh)"
    apt-get -qq "${opts[@]}" update ||
        die "apt-get could not read $mirror $suite non-free-firmware; check the network (DEBIAN_MIRROR= picks another mirror), then run make again"
    (cd "$apt/deb" && apt-get -qq "${opts[@]}" download raspi-firmware) ||
        die "apt-get could not download raspi-firmware from $mirror $suite non-free-firmware"
    local deb
    deb=$(ls "$apt"/deb/raspi-firmware_*.deb)
    rm -rf "$apt/x" && dpkg-deb -x "$deb" "$apt/x"
    mkdir -p "$dir"
    for f in start4.elf fixup4.dat; do
        [ -s "$apt/x/usr/lib/raspi-firmware/$f" ] || die "$deb has no usr/lib/raspi-firmware/$f"
        cp "$apt/x/usr/lib/raspi-firmware/$f" "$dir/$f"
    done
    # The firmware's licence: the "Files: boot/*" paragraph of the package's
    # copyright file (Broadcom's redistribution terms), as plain text.
    awk '/^Files: boot\/\*/ { p = 1 } p && /^$/ { exit } p' "$apt/x/usr/share/doc/raspi-firmware/copyright" |
        sed -e 's/^ \.$//' -e 's/^ //' >"$dir/LICENCE.broadcom"
    grep -q 'Redistribution' "$dir/LICENCE.broadcom" || die "no licence paragraph for boot/* in $deb's copyright file"
    echo "raspi-firmware $(dpkg-deb -f "$deb" Version) (Debian $suite, non-free-firmware, $mirror)" >"$dir/VERSION"
    rm -rf "$apt/x"
    say "Raspberry Pi firmware: $(cat "$dir/VERSION")"
}

if [ "${1:-}" = rpi4 ]; then
    setup_rpi4
    exit 0
fi

apt_pkgs=("${missing_pkgs[@]}")
[ "$need_rustup" -eq 1 ] && [ "$distro" = debian ] && apt_pkgs+=(rustup)

if [ ${#missing_qemu[@]} -gt 0 ] || [ ${#apt_pkgs[@]} -gt 0 ]; then
    if [ "$distro" = other ]; then
        need=()
        [ ${#missing_qemu[@]} -gt 0 ] && need+=("QEMU >= $QEMU_MIN_MAJOR (${missing_qemu[*]})")
        [ ${#missing_pkgs[@]} -gt 0 ] && need+=("${missing_pkgs[*]} (Debian package names)")
        [ "$need_rustup" -eq 1 ] && need+=("rustup (https://rustup.rs)")
        die "$os_name is not a system this script installs on; install: ${need[*]}; then run make again"
    fi
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null ||
            die "installing ${missing_qemu[*]} ${apt_pkgs[*]} needs root: run 'make setup' as root, or install sudo"
        sudo="sudo"
        $sudo true || die "sudo refused $(id -un): run 'make setup' as root, or add $(id -un) to the sudo group"
    fi
    export DEBIAN_FRONTEND=noninteractive
    # apt_install [-t SUITE] PACKAGE...
    apt_install() {
        local from=()
        [ "$1" = -t ] && from=(-t "$2") && shift 2
        say "installing $*${from[1]:+ from ${from[1]}} (apt-get; minutes on a fresh machine)"
        $sudo apt-get install -y -qq --no-install-recommends "${from[@]}" "$@" >/dev/null ||
            die "apt-get could not install $*; see apt's messages above, then run: ${sudo:+$sudo }apt-get install ${from[*]} $*"
    }
    if [ ${#missing_qemu[@]} -gt 0 ] && [ "$distro" = debian12 ] &&
        ! grep -rqs '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        say "adding Debian bookworm-backports to apt's sources (Debian 12's QEMU is 7.2; need >= $QEMU_MIN_MAJOR)"
        $sudo tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
    did=1
    say "apt-get update"
    $sudo apt-get update -qq || die "apt-get update failed; check the network and apt's sources, then run make again"
    if [ ${#missing_qemu[@]} -gt 0 ]; then
        if [ "$distro" = debian12 ]; then
            apt_install -t bookworm-backports "${missing_qemu[@]}"
        else
            cand=$(apt_candidate_major qemu-system-x86)
            if [ -z "$cand" ] || [ "$cand" -lt "$QEMU_MIN_MAJOR" ]; then
                die "$os_name offers QEMU '${cand:-none}' and this project needs >= $QEMU_MIN_MAJOR; install a newer qemu-system-x86 and qemu-system-arm, then run make again"
            fi
            apt_install "${missing_qemu[@]}"
        fi
    fi
    [ ${#apt_pkgs[@]} -gt 0 ] && apt_install "${apt_pkgs[@]}"
    for q in qemu-system-x86_64 qemu-system-aarch64; do
        major=$(qemu_major "$q")
        if [ -z "$major" ] || [ "$major" -lt "$QEMU_MIN_MAJOR" ]; then
            die "$q is ${major:+version }${major:-missing} after installing, need >= $QEMU_MIN_MAJOR; install it by hand"
        fi
    done
fi

# --- the pinned Rust toolchain ---------------------------------------------

if ! command -v rustup >/dev/null; then
    # Debian's packaged rustup (13 and later) puts it in /usr/bin; rustup.rs
    # puts it in ~/.cargo/bin, which a new shell may not have on PATH yet.
    if [ -x "$HOME/.cargo/bin/rustup" ]; then
        die "rustup is in ~/.cargo/bin but not on PATH: run '. \"\$HOME/.cargo/env\"' (or open a new shell), then make again"
    fi
    # rustup-init straight from the Rust toolchain server (what sh.rustup.rs
    # downloads too), so it works where only that server is reachable.
    get_curl=""
    command -v curl >/dev/null || get_curl="apt-get update && apt-get install -y curl ca-certificates && "
    die "rustup not found; install it as README.md says: ${get_curl}curl -sSfo /tmp/rustup-init https://static.rust-lang.org/rustup/dist/$(uname -m)-unknown-linux-gnu/rustup-init && chmod +x /tmp/rustup-init && /tmp/rustup-init -y --default-toolchain none && . ~/.cargo/env"
fi

# rust-toolchain.toml's fields (one-line values, as the file is written).
toml_string() { sed -n "s/^$1 *= *\"\(.*\)\".*/\1/p" rust-toolchain.toml; }
toml_list() { sed -n "s/^$1 *= *\[\(.*\)\].*/\1/p" rust-toolchain.toml | tr -d '" ' | tr ',' ' '; }
channel=$(toml_string channel)
profile=$(toml_string profile)
read -r -a components <<<"$(toml_list components)"
read -r -a targets <<<"$(toml_list targets)"
[ -n "$channel" ] || die "rust-toolchain.toml names no channel"

# A component is listed by rustup as "name" or "name-<host triple>".
installed() { grep -Eq "^$1(-(x86_64|aarch64|i686|riscv64gc|powerpc64le|s390x|loongarch64)-.*)?\$"; }
missing_components=() missing_targets=() have_toolchain=0
toolchains=$(rustup toolchain list 2>/dev/null || true)
if grep -q "^$channel-" <<<"$toolchains"; then
    have_toolchain=1
    comps=$(rustup component list --toolchain "$channel" --installed 2>/dev/null)
    for c in "${components[@]}"; do installed "$c" <<<"$comps" || missing_components+=("$c"); done
    tgts=$(rustup target list --toolchain "$channel" --installed 2>/dev/null)
    for t in "${targets[@]}"; do grep -qx "$t" <<<"$tgts" || missing_targets+=("$t"); done
fi
[ "$have_toolchain" -eq 0 ] || [ ${#missing_components[@]} -gt 0 ] || [ ${#missing_targets[@]} -gt 0 ] && did=1
if [ "$have_toolchain" -eq 0 ]; then
    say "installing Rust $channel with ${components[*]} and targets ${targets[*]} (rustup; a few minutes on a fresh machine)"
    args=()
    [ -n "$profile" ] && args+=(--profile "$profile")
    for c in "${components[@]}"; do args+=(--component "$c"); done
    for t in "${targets[@]}"; do args+=(--target "$t"); done
    rustup toolchain install "$channel" "${args[@]}" ||
        die "rustup could not install $channel; see its messages above, then run make again"
else
    if [ ${#missing_components[@]} -gt 0 ]; then
        say "adding ${missing_components[*]} to Rust $channel"
        rustup component add --toolchain "$channel" "${missing_components[@]}" ||
            die "rustup could not add ${missing_components[*]} to $channel"
    fi
    if [ ${#missing_targets[@]} -gt 0 ]; then
        say "adding targets ${missing_targets[*]} to Rust $channel"
        rustup target add --toolchain "$channel" "${missing_targets[@]}" ||
            die "rustup could not add targets ${missing_targets[*]} to $channel"
    fi
fi

# The cargo that make calls must be rustup's proxy, which reads
# rust-toolchain.toml; a distribution's own cargo would build with its release.
if ! command -v cargo >/dev/null; then
    die "cargo is not on PATH although rustup is; add rustup's proxies (~/.cargo/bin, or /usr/lib/rustup/bin with Debian's rustup) to PATH"
fi
version=$(cargo --version 2>/dev/null || true)
case $version in
*nightly*) ;;
*) die "'cargo' on PATH ($(command -v cargo): ${version:-does not run}) is not rustup's proxy for $channel; remove the distribution's cargo/rustc packages or put rustup's proxies first on PATH" ;;
esac
[ "$did" -eq 0 ] || say "ready after $((SECONDS - started)) s"
