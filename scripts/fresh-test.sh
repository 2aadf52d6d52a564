#!/usr/bin/env bash
# `make fresh-test DISTRO=trixie|bookworm [FRESH_MODE=full|quick] [KEEP=1]`:
# the README's commands, run as a new user would, in a minimal Debian root made
# from nothing. A fresh clone is not a fresh machine: this machine has QEMU,
# the toolchain and caches, and a user's has none, so only a root that starts
# empty shows what `make setup` forgets.
#
#   1. debootstrap a minimal root (--variant=minbase) with only what README.md
#      lists as requirements (make, git; on Debian 12 rustup, installed by the
#      README's own line)
#   2. clone HEAD of this repository into it (committed work only, no target/)
#   3. chroot in with /proc, /sys, /dev bound, the host's CA certificates and
#      proxy variables copied (downloads work wherever the host's do), and run:
#        full:  `make test`, then `make run` driven to its `frozen>` prompt,
#               `meminfo`, `poweroff`
#        quick: `make run` driven to its prompt, `test` (every in-kernel suite,
#               one ktest boot), `meminfo`, `poweroff`
#   4. print how long each phase took; remove every mount on every exit path
#      (and the root unless KEEP=1). The root is deleted only when no mount is
#      left under it, so the host's /dev can never be deleted through it.
#
# Needs root (debootstrap, chroot, mount) on a Debian host; installs
# debootstrap when missing. Work directory: /var/tmp/frozen-kernel-fresh/DISTRO
# (FRESH_DIR= to move it); downloaded .debs are kept in its cache/ between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

distro=${DISTRO:-trixie}
mode=${FRESH_MODE:-full}
mirror=${MIRROR:-http://deb.debian.org/debian}
# Outside the repository: a tree walk (grep -r, cargo clean, rm -rf target)
# must never reach the root's bound /dev, /proc and /sys while it is mounted.
base=$(realpath -m -- "${FRESH_DIR:-/var/tmp/frozen-kernel-fresh}")
work=$base/$distro
root=$work/root
cache=$base/cache/$distro

say() { echo "fresh-test: $*"; }
die() {
    echo "fresh-test: error: $*" >&2
    exit 1
}

# Mounts are found by comparing this path with /proc/mounts, which escapes
# whitespace: a path with any would hide them.
case $base in
*[[:space:]]*) die "FRESH_DIR=$base: choose a directory without spaces" ;;
esac
case $base/ in
"$repo"/*) die "FRESH_DIR=$base is inside the repository; choose one outside it" ;;
esac

case $distro in
trixie | bookworm) ;;
*) die "DISTRO=$distro: choose trixie (Debian 13) or bookworm (Debian 12)" ;;
esac
case $mode in
full | quick) ;;
*) die "FRESH_MODE=$mode: choose full (make test + make run) or quick (make run + test)" ;;
esac
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mount): run it as root or with sudo"
command -v chroot >/dev/null || die "chroot not found (coreutils)"
git rev-parse --verify -q HEAD >/dev/null || die "$repo has no commit to test"

# --- phases and their times --------------------------------------------------

declare -a phase_names phase_times phase_results
failed=0
t_start=$SECONDS
current_phase=
report() {
    # A phase cut short by a signal or an error exit of the script itself.
    if [ -n "$current_phase" ]; then
        phase_names+=("$current_phase (interrupted)")
        phase_times+=($((SECONDS - current_start)))
        phase_results+=("STOP")
        failed=$((failed + 1))
        current_phase=
    fi
    echo
    echo "fresh-test: $distro ($mode), commit ${tested:-$(git rev-parse --short HEAD)}"
    local i
    for i in "${!phase_names[@]}"; do
        printf '  %-4s %6ss  %s\n' "${phase_results[$i]}" "${phase_times[$i]}" "${phase_names[$i]}"
    done
    printf '  total %ss; %s\n' "$((SECONDS - t_start))" \
        "$([ "$failed" -eq 0 ] && echo "all phases passed" || echo "$failed phase(s) FAILED")"
}
phase() {
    local name=$1 start=$SECONDS rc=0
    shift
    echo
    say "==> $name"
    current_phase=$name
    current_start=$start
    "$@" || rc=$?
    current_phase=
    phase_names+=("$name")
    phase_times+=($((SECONDS - start)))
    if [ "$rc" -eq 0 ]; then
        phase_results+=("ok")
    else
        phase_results+=("FAIL")
        failed=$((failed + 1))
        say "$name FAILED (exit $rc)"
    fi
    return "$rc"
}

# --- mounts, and taking them down on every exit ---------------------------------

mounts_under_root() { awk -v r="$root" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/mounts; }
kill_root_processes() {
    local p
    for p in /proc/[0-9]*; do
        if [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ]; then
            kill -9 "${p#/proc/}" 2>/dev/null || true
        fi
    done
    return 0
}
unmount_all() {
    kill_root_processes
    local m
    # Deepest first.
    for m in $(mounts_under_root | sort -r); do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "cannot unmount $m"
    done
    }
remove_root() {
    if [ -n "$(mounts_under_root)" ]; then
        say "NOT removing $root: still mounted: $(mounts_under_root | tr '\n' ' ')"
        return 1
    fi
    rm -rf --one-file-system "$root"
}
cleanup() {
    local rc=$?
    # Every step below must run whatever the one before it returned.
    set +e
    trap - EXIT INT TERM
    { [ ${#phase_names[@]} -gt 0 ] || [ -n "$current_phase" ]; } && report
    if [ -n "${run_pid:-}" ]; then
        kill "$run_pid" 2>/dev/null
    fi
    unmount_all
    if [ "${KEEP:-0}" = 1 ]; then
        say "root kept (KEEP=1): $root"
    elif [ -d "$root" ]; then
        remove_root || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Phase functions run as `f || rc=$?`, where bash ignores `set -e`: each
# step is chained so that its first failure is the function's status.
mount_root() {
    mount -t proc proc "$root/proc" &&
        mount -t sysfs sysfs "$root/sys" &&
        mount --bind /dev "$root/dev" &&
        # Where the host's /dev is a shared mount (systemd), mounts under
        # the bind must not propagate back into the host's /dev.
        mount --make-rslave "$root/dev" &&
        mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts" &&
        mount -t tmpfs tmpfs "$root/dev/shm"
}

# Environment inside: a login shell of a new user (HOME, PATH of a fresh
# Debian root; ~/.profile adds rustup's PATH once rustup-init has run), plus the
# host's proxy variables so downloads go where the host's go.
in_root() {
    local envs=(HOME=/root LANG=C.UTF-8 TERM=dumb
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
    local v
    for v in http_proxy https_proxy no_proxy all_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY ALL_PROXY; do
        [ -n "${!v:-}" ] && envs+=("$v=${!v}")
    done
    chroot "$root" /usr/bin/env -i "${envs[@]}" /bin/bash -lc "$1"
}

# --- phases --------------------------------------------------------------------

host_tools() {
    command -v debootstrap >/dev/null && return 0
    command -v apt-get >/dev/null || die "debootstrap not found and this host has no apt-get: install debootstrap"
    say "installing debootstrap (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
}

make_root() {
    if [ -e "$root" ]; then
        unmount_all
        remove_root || die "an earlier root at $root is still mounted"
    fi
    mkdir -p "$root" "$cache" || return 1
    # What README.md lists as requirements; everything else is setup's job.
    debootstrap --variant=minbase --include=make,git --cache-dir="$cache" \
        "$distro" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
        { tail -n 20 "$work/debootstrap.log"; return 1; }
    # This machine's HTTPS goes through a proxy with its own CA: the root
    # trusts what the host trusts (update-ca-certificates picks these up when
    # ca-certificates is installed in the root).
    if [ -d /usr/local/share/ca-certificates ]; then
        mkdir -p "$root/usr/local/share/ca-certificates"
        cp -a /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
    fi
    # Names resolve as on the host (some hosts reach a server only through an
    # /etc/hosts entry).
    cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    cp -L /etc/hosts "$root/etc/hosts" 2>/dev/null || true
    mount_root
}

clone_tree() {
    git clone -q --no-hardlinks "$repo" "$root/root/frozen-kernel" || return 1
    tested=$(git -C "$root/root/frozen-kernel" rev-parse --short HEAD)
    say "cloned $(git -C "$root/root/frozen-kernel" log -1 --format='%h %s')"
}

# README.md, "Debian 12": rustup from the Rust toolchain server (Debian 12
# has no rustup package). The commands are README's own two lines, read from
# it, so the two cannot drift apart.
rustup_bookworm() {
    local readme=$root/root/frozen-kernel/README.md apt curl
    apt=$(grep -m1 -E '^apt-get update .*curl' "$readme") ||
        { say "README.md has no 'apt-get update ... curl' line"; return 1; }
    curl=$(grep -m1 -E '^curl .*rustup-init' "$readme") ||
        { say "README.md has no 'curl ... rustup-init' line"; return 1; }
    say "README's lines: $apt; $curl"
    in_root "set -e
        $apt
        $curl"
}

make_test() {
    in_root 'cd /root/frozen-kernel && make test'
}

# `make run` with its console on a pipe; typed into like a terminal (Enter is
# \r) and read from its log.
run_log=$work/make-run.log
wait_for() { # pattern seconds what
    local deadline=$((SECONDS + $2))
    while ! grep -a -q -- "$1" "$run_log" 2>/dev/null; do
        if ! kill -0 "$run_pid" 2>/dev/null; then
            say "make run ended before $3; its last lines:"
            tail -n 30 "$run_log"
            return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            say "no $3 within $2 s; last lines:"
            tail -n 30 "$run_log"
            return 1
        fi
        sleep 1
    done
}
make_run_session() {
    local fifo=$work/make-run.in
    rm -f "$fifo" "$run_log"
    mkfifo "$fifo"
    in_root 'cd /root/frozen-kernel && make run' <"$fifo" >"$run_log" 2>&1 &
    run_pid=$!
    exec 3>"$fifo"
    # A fresh root builds the images first (quick mode) before QEMU starts.
    wait_for 'frozen> ' 1800 "the frozen> prompt" || return 1
    say "prompt reached after $((SECONDS - session_start)) s"
    if [ "$mode" = quick ]; then
        printf 'test\r' >&3
        wait_for '^\(PASS\|FAIL\)\s*$' 900 "the end of the in-kernel tests" || return 1
        grep -a -q '^PASS\s*$' "$run_log" || { say "in-kernel tests FAILED:"; grep -a 'not ok' "$run_log"; return 1; }
        say "in-kernel tests: PASS"
    fi
    printf 'meminfo\r' >&3
    wait_for '^Managed: ' 60 "meminfo's output" || return 1
    grep -a -E '^(UsableRAM|Managed|Free):' "$run_log"
    printf 'poweroff\r' >&3
    local deadline=$((SECONDS + 60))
    while kill -0 "$run_pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 1; done
    exec 3>&-
    if kill -0 "$run_pid" 2>/dev/null; then
        say "QEMU still running 60 s after poweroff"
        return 1
    fi
    local rc=0
    wait "$run_pid" || rc=$?
    run_pid=
    [ "$rc" -eq 0 ] || { say "make run exited $rc after poweroff"; tail -n 10 "$run_log"; return 1; }
    say "poweroff: make run exited 0"
}

say "Debian $distro, $mode mode, in $root"
phase "host tools (debootstrap)" host_tools || exit 1
phase "minimal root (debootstrap $distro)" make_root || exit 1
phase "clone HEAD" clone_tree || exit 1
if [ "$distro" = bookworm ]; then
    phase "rustup per README (Debian 12)" rustup_bookworm || exit 1
fi
if [ "$mode" = full ]; then
    phase "make test" make_test || true
fi
session_start=$SECONDS
phase "make run: prompt$([ "$mode" = quick ] && echo ', test'), meminfo, poweroff" make_run_session || true
[ "$failed" -eq 0 ]
