#!/usr/bin/env bash
# `make memmap-scaling`: the memmap set-up's cost against RAM and CPUs, for
# docs/mm.md ("Memmap set-up"). Boots the x86_64 image (BIOS, q35) and the
# aarch64 Image (virt) in ktest mode with only the bootinfo suite, at each
# RAM size and CPU count, and prints one Markdown row per boot: the kernel's
# own figures (early part, deferred part, time from kernel entry to the mode)
# and the host's wall time from QEMU's start to its exit.
#
# Guest RAM is not reserved on the host (memory-backend-ram reserve=off):
# the guest touches only its memmap (16 bytes per 4 KiB page: 4 GiB for a
# 1 TiB guest), which the host must have free. Under TCG the figures are
# ratios only (docs/benchmarks.md).
#
# Knobs: SIZES="1G 16G 64G 1T" CPUS="1 2" ARCHES="x86_64 aarch64".
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-1G 16G 64G 1T}
CPUS=${CPUS:-1 2}
ARCHES=${ARCHES:-x86_64 aarch64}
RUNNER=target/release/qemu-runner
cargo build -q --release -p qemu-tests --bin qemu-runner

echo "| arch | RAM | CPUs | early | deferred | per CPU | memmap total | per GiB | kernel entry to mode | QEMU wall |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for arch in $ARCHES; do
    for size in $SIZES; do
        # aarch64 virt places RAM at 1 GiB and its legacy memory map ends
        # below 256 GiB: 1 TiB is an x86_64 shape here.
        if [ "$arch" = aarch64 ] && [ "$size" = 1T ]; then continue; fi
        for cpus in $CPUS; do
            name="memmap-$arch-$size-$cpus"
            args=(--cmdline "ktest ktest.filter=bootinfo" --smp "$cpus" --mem "$size"
                --timeout 1200 --name "$name")
            if [ "$arch" = x86_64 ]; then
                args+=(--image target/image/x86_64/bios.img --cpu max,phys-bits=46)
                extra=(-M q35)
            else
                args+=(--arch aarch64 --image target/image/aarch64/Image)
                extra=()
            fi
            start=$(date +%s.%N)
            if ! "$RUNNER" "${args[@]}" -- "${extra[@]}" \
                -object "memory-backend-ram,id=r0,size=$size,reserve=off" \
                -machine memory-backend=r0 >/dev/null 2>&1; then
                echo "| $arch | $size | $cpus | boot failed: target/qemu-logs/$name.log |"
                continue
            fi
            wall=$(echo "$(date +%s.%N) - $start" | bc)
            log=target/qemu-logs/$name.log
            # mm: memmap of N MiB RAM: E MiB early in A ms, D MiB on C CPUs in B ms
            # (X ms/GiB; MIN..MAX MiB per CPU)
            line=$(grep -m1 '^mm: memmap of' "$log")
            early=$(sed -E 's/.*: ([0-9]+) MiB early in ([0-9]+) ms.*/\1 MiB, \2 ms/' <<<"$line")
            deferred=$(sed -E 's/.*, ([0-9]+) MiB on ([0-9]+) CPUs in ([0-9]+) ms.*/\1 MiB, \3 ms on \2/' <<<"$line")
            total_ms=$(sed -E 's/.*early in ([0-9]+) ms.* in ([0-9]+) ms \(.*/\1 + \2/' <<<"$line" | bc)
            per_gib=$(sed -E 's/.*\(([0-9.]+) ms\/GiB.*/\1/' <<<"$line")
            share=$(sed -E 's/.*; ([0-9]+\.\.[0-9]+) MiB per CPU\).*/\1 MiB/' <<<"$line")
            to_mode=$(sed -nE 's/^boot: ([0-9]+) ms from kernel entry.*/\1/p' "$log" | head -1)
            printf '| %s | %s | %s | %s | %s | %s | %s ms | %s ms | %s ms | %.1f s |\n' \
                "$arch" "$size" "$cpus" "$early" "$deferred" "$share" "$total_ms" "$per_gib" "$to_mode" "$wall"
        done
    done
done
