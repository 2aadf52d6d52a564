#!/usr/bin/env bash
# `make test`: every test, host side first (fast feedback), then QEMU boots.
# Each step's result is collected; the run ends with one summary line and
# fails if any step failed. Step output goes to the terminal as it happens.
set -uo pipefail
cd "$(dirname "$0")/.."

JOBS=${JOBS:-2}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# Each QEMU boot writes NAME.log, NAME.json and NAME.xml (JUnit) here; the
# results of earlier runs would confuse the summary, so they go first.
mkdir -p target/qemu-logs && rm -f target/qemu-logs/*.json target/qemu-logs/*.xml
declare -a names results times
failed=0

step() {
    local name=$1
    shift
    echo
    echo "==> $name: $*"
    local start=$SECONDS
    if "$@"; then
        results+=("ok  ")
    else
        results+=("FAIL")
        failed=$((failed + 1))
    fi
    names+=("$name")
    times+=($((SECONDS - start)))
}

# Host tests of the mm crate: unit, proptest and std-thread stress, every scheme.
step "mm unit+proptest+stress" cargo test -j"$JOBS" -p mm
# Exhaustive interleavings of the refcount races (own target dir: --cfg loom
# changes every crate's build).
step "mm loom models" env RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}" \
    cargo test -j"$JOBS" -p mm --release --test loom --target-dir target/loom
# Undefined-behaviour check under Miri, the quick set: the library's unit
# tests, the misuse tests and the misuse regressions (which include the
# per-CPU paths), with the small workloads they select under cfg(miri); why
# this set: docs/decisions/miri-quick-set.md. `make miri` runs every host
# test under Miri.
# Test storage is leaked on purpose ('static memmaps), hence ignore-leaks.
# Two refcount schemes here (the default and legacy, `--cfg mm_two_schemes`):
# Miri costs minutes per scheme; `make miri` runs all of them.
step "mm miri (quick)" env MIRIFLAGS="${MIRIFLAGS:--Zmiri-ignore-leaks}" RUSTFLAGS="--cfg mm_two_schemes" \
    cargo miri test -j"$JOBS" -p mm --target-dir target/miri-quick --lib --test misuse --test misuse_regressions
# The contract between kernel and host (exit codes, markers, the command
# line's parser and baked file, bench records): unit tests and proptests.
step "protocol unit+proptest" cargo test -j"$JOBS" -p protocol
# The parsers and judges of what devices, firmware and CPUs hand the kernel
# (USB descriptors, HID reports, the device tree, MADT flags, TSC
# readings): unit tests and proptests over arbitrary bytes.
step "hwparse unit+proptest" cargo test -j"$JOBS" -p hwparse
# The benchmark workloads (every variant keeps its invariants on std threads)
# and the one report both bench drivers write (tables, ratios, the kernel
# log's records, plots).
step "bench workloads+report" cargo test -j"$JOBS" -p workloads -p bench-host
# The runner's own unit tests (KTAP parser, verdicts), with the QEMU command
# lines its launcher builds for the test boots and for `make run` / `make
# debug` (qemu-tests/src/qemu/tests.rs).
step "runner unit tests" cargo test -j"$JOBS" -p qemu-tests --lib --bins
# Images for the default and the legacy refcount scheme, then the QEMU boots (BIOS + UEFI, injected
# failures, legacy scheme).
step "images (default, frozen-bit-mid)" make --no-print-directory image SCHEME=frozen
step "images (legacy)" make --no-print-directory image SCHEME=legacy
# The aarch64 image too: the platform step boots it (unattended mode on aarch64).
step "image (aarch64)" make --no-print-directory image ARCH=aarch64
step "QEMU boots" cargo test -j"$JOBS" -p qemu-tests --release --test boot -- --test-threads=2
# x86 platform: a command line baked into the image (booted without fw_cfg),
# the unattended mode (PASS banner on serial and screen, FAIL status), x2APIC
# left on by the firmware and switched on by apic=x2apic. First the Makefile:
# `make image CMDLINE=` bakes into its own directory, `make run CMDLINE=` does
# not: it hands the plain image and the line to the launcher (which passes
# the line through fw_cfg; its QEMU lines are the runner unit tests').
image_cmdline_lines() {
    local image run
    image=$(make -s -n image CMDLINE="ktest x=1" | tail -n 1)
    run=$(make -s -n run CMDLINE="ktest x=1" | tail -n 1)
    grep -q -- "--cmdline 'ktest x=1' .* target/image/x86_64-cmdline\$" <<<"$image" &&
        grep -q -- "qemu-runner --interactive --image target/image/x86_64/bios.img .*--cmdline 'ktest x=1'" <<<"$run" &&
        ! grep -q -- "x86_64-cmdline" <<<"$run" ||
        { echo "bad baking lines:"; echo "$image"; echo "$run"; return 1; }
}
step "make image CMDLINE= bakes" image_cmdline_lines
step "QEMU x86 platform" cargo test -j"$JOBS" -p qemu-tests --release --test platform -- --test-threads=2
# The in-kernel benchmarks in bench mode (2 CPUs): not for timings, but their
# own invariants (counters back to their base, page-cache reads see the right
# data, every page back in the allocator) must hold, and the report tool must
# parse the output.
bench_smoke() {
    cargo run -q --release -j"$JOBS" -p qemu-tests --bin qemu-runner -- \
        --image target/image/x86_64/bios.img --boot bios --smp 2 --mem 1G \
        --cmdline bench --name bench-smoke --timeout 300 &&
        cargo run -q --release -j"$JOBS" -p bench-host --bin bench-report -- \
            target/qemu-logs/bench-smoke.log target/bench/smoke --accel tcg >/dev/null
}
step "QEMU bench mode (smoke)" bench_smoke
# The mm and stress suites on every other refcount layout, one boot each.
step "QEMU other refcount layouts" make --no-print-directory test-schemes
# aarch64: the same suites on QEMU virt with 4 CPUs, one image on an LSE CPU
# (-cpu max) and an ARMv8.0 one (-cpu cortex-a72: LL/SC atomics chosen at
# boot), the default and legacy schemes, and the harness catching a stack
# overflow there.
step "QEMU aarch64 ktest" make --no-print-directory test-aarch64
step "QEMU aarch64 ktest (cortex-a72)" make --no-print-directory test-aarch64 A64_CPU=cortex-a72
step "QEMU aarch64 ktest (legacy)" make --no-print-directory test-aarch64 SCHEME=legacy
# A failed verdict, the injection's marker, then the exception report.
step "QEMU aarch64 overflow caught" cargo test -j"$JOBS" -p qemu-tests --release --test aarch64_inject
# aarch64 device-tree shapes: secure=on, 33/40 memory nodes, too many nodes,
# a -dtb firmware DTB, unaligned no-map reserved memory, and unusable DTBs
# that must stop the boot with the reason (13 short boots).
step "QEMU aarch64 DTB shapes" cargo test -j"$JOBS" -p qemu-tests --release --test aarch64_dtb -- --test-threads=2
# Raspberry Pi 4 on QEMU raspi4b with the board's DTB (boards/rpi4/): ktest
# on 4 spin-table CPUs, the unattended PASS screen, PL011 console and watchdog
# power-off. Builds the DTB; the default Image (outline atomics) runs on the
# ARMv8.0 Cortex-A72.
step "QEMU raspi4b (Raspberry Pi 4)" make --no-print-directory test-rpi4
# The Raspberry Pi 4 card image, plain and with a baked command line (the
# default kernel Image, board DTB, Debian's Pi firmware; mk/rpi4.mk), the boot tool's unit
# tests, the card read back (MBR, FAT32, the firmware's files, config.txt,
# cmdline.txt, the kernel = the default Image), its kernel booted on
# cortex-a72, the Pi 4's core, and with the card's DTB on QEMU's raspi4b
# (qemu-tests/tests/rpi4_image.rs); then `make usb`
# for it refusing a device that is not a block device, and without BOARD or
# without ARCH=aarch64 (which would write a PC image).
rpi4_image() {
    make --no-print-directory image ARCH=aarch64 BOARD=rpi4 &&
        make --no-print-directory image ARCH=aarch64 BOARD=rpi4 CMDLINE="unattended stress.secs=600" &&
        cargo test -j"$JOBS" -p boot --release &&
        cargo test -j"$JOBS" -p qemu-tests --release --test rpi4_image || return 1
    local out
    out=$(make --no-print-directory usb ARCH=aarch64 BOARD=rpi4 DEV=/dev/null 2>&1) &&
        { echo "make usb BOARD=rpi4 DEV=/dev/null did not fail"; return 1; }
    grep -q "usb: /dev/null is not a block device" <<<"$out" || { echo "$out"; return 1; }
    out=$(make --no-print-directory usb ARCH=aarch64 DEV=/dev/null 2>&1) &&
        { echo "make usb ARCH=aarch64 without BOARD did not fail"; return 1; }
    grep -q "needs BOARD=rpi4" <<<"$out" || { echo "$out"; return 1; }
    out=$(make --no-print-directory usb BOARD=rpi4 DEV=/dev/null 2>&1) &&
        { echo "make usb BOARD=rpi4 without ARCH=aarch64 did not fail"; return 1; }
    grep -q "BOARD=rpi4 needs ARCH=aarch64" <<<"$out" || { echo "$out"; return 1; }
}
step "Raspberry Pi 4 image" rpi4_image
# Machine shapes a user tries: x86 and aarch64 at the documented minimum RAM
# with 4 CPUs, an x86 CPU without the CPUID hypervisor bit, x86 with 300
# and 520 CPUs (more than the 512 supported; 70-115 s of the step), x86 with
# 80 and aarch64 (GICv3) with 72 CPUs through the smp and mm suites (about
# 80 s), and big-memory guests: x86 1 TiB and aarch64 64 GiB (about 40 s).
step "QEMU machine shapes" cargo test -j"$JOBS" -p qemu-tests --release --test shapes
# The shell over serial, and the screen (framebuffer) driven by the keyboard.
step "QEMU shell+screen" cargo test -j"$JOBS" -p qemu-tests --release --test shell
# PCs without a serial port or a PIT (docs/hardware.md, "Machine shapes").
step "QEMU PC shapes" cargo test -j"$JOBS" -p qemu-tests --release --test pc_shapes
# USB: UEFI boot from the image on a USB stick only (xHCI + usb-storage), and
# the shell typed on a USB keyboard with the PS/2 controller removed.
step "QEMU usb stick+keyboard" cargo test -j"$JOBS" -p qemu-tests --release --test usb

echo
echo "==> summary"
for i in "${!names[@]}"; do
    printf '  %s %-28s %4ss\n' "${results[$i]}" "${names[$i]}" "${times[$i]}"
done
# Every failed case of every QEMU boot, with its boot (from the per-boot
# JSON results; JUnit XML for CI systems lies next to them).
if ls target/qemu-logs/*.json >/dev/null 2>&1; then
    cargo run -q --release -j"$JOBS" -p qemu-tests --bin qemu-results -- target/qemu-logs ||
        true
fi
passed=$(( ${#names[@]} - failed ))
echo "make test: $passed steps passed, $failed failed (${SECONDS}s)"
[ "$failed" -eq 0 ]
