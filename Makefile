# frozen-kernel: see README.md. Every target that needs tools runs `setup` first.
#
# Knobs: ARCH=x86_64|aarch64  BOARD=rpi4 (with ARCH=aarch64: image, usb)  BOOT=bios|uefi  SMP=4  MEM=1G
#        SCHEME=frozen|legacy|frozen-bit|frozen-mid-direct|frozen-low|live|live-low|legacy-optimistic
#          |frozen-bit-direct|frozen-low-direct|live-direct|live-low-direct
#          (refcount scheme of the image; frozen: the default, FROZEN mid-range)  KVM=1 (opt-in)
#        bench-host: THREADS=1,2 (default 1,2,4,.. up to nproc)  TRIALS=15  TRIAL_MS=300

ARCH    ?= x86_64
BOOT    ?= bios
SMP     ?= 4
MEM     ?= 1G
SCHEME  ?= frozen
CMDLINE ?=

CARGO   ?= cargo
JOBS    ?= 2

KTARGET := x86_64-unknown-none
# The mm feature of each SCHEME (docs/refcount.md, "Which layout"). Every
# scheme has its own image folder; the default and legacy their own target
# folders, the other layouts one shared target folder (only mm and the
# kernel rebuild when SCHEME changes there).
# The banner's names (RefcountScheme::NAME) work too.
SCHEME_FEATURE_legacy := legacy-refcount
SCHEME_FEATURE_legacy-optimistic := refcount-legacy-optimistic
SCHEME_FEATURE_frozen-bit := refcount-frozen-bit
SCHEME_FEATURE_frozen-mid-direct := refcount-frozen-mid-direct
SCHEME_FEATURE_frozen-bit-direct := refcount-frozen-bit-direct
SCHEME_FEATURE_frozen-low-direct := refcount-frozen-low-direct
SCHEME_FEATURE_live-direct := refcount-live-bit-direct
SCHEME_FEATURE_live-low-direct := refcount-live-low-direct
SCHEME_FEATURE_frozen-low := refcount-frozen-low
SCHEME_FEATURE_live := refcount-live-bit
SCHEME_FEATURE_live-low := refcount-live-low
SCHEME_FEATURE_frozen-bit-mid-direct := $(SCHEME_FEATURE_frozen-mid-direct)
SCHEME_FEATURE_frozen-bit-low := $(SCHEME_FEATURE_frozen-low)
SCHEME_FEATURE_live-bit := $(SCHEME_FEATURE_live)
SCHEME_FEATURE_live-bit-low := $(SCHEME_FEATURE_live-low)
SCHEME_FEATURE_frozen-bit-low-direct := $(SCHEME_FEATURE_frozen-low-direct)
SCHEME_FEATURE_live-bit-direct := $(SCHEME_FEATURE_live-direct)
SCHEME_FEATURE_live-bit-low-direct := $(SCHEME_FEATURE_live-low-direct)
ifneq ($(filter $(SCHEME),frozen frozen-bit-mid),)
  SCHEME_FEATURES :=
  KTARGET_DIR := target
  IMAGE_DIR := target/image/$(ARCH)
else ifneq ($(SCHEME_FEATURE_$(SCHEME)),)
  SCHEME_FEATURES := --features $(SCHEME_FEATURE_$(SCHEME))
  KTARGET_DIR := target/$(if $(filter legacy,$(SCHEME)),legacy,schemes)
  IMAGE_DIR := target/image/$(ARCH)-$(SCHEME)
else
  $(error SCHEME=$(SCHEME): use frozen (the default, frozen-bit-mid), legacy, frozen-bit, frozen-mid-direct, frozen-low, live, live-low, legacy-optimistic, frozen-bit-direct, frozen-low-direct, live-direct or live-low-direct)
endif
KFEATURES := $(SCHEME_FEATURES)
KERNEL_ELF := $(KTARGET_DIR)/$(KTARGET)/release/kernel
# What goes into the disk images: the kernel ELF without its DWARF sections.
# The bootloader reads the whole kernel file into RAM before it maps memory,
# so ~8 MiB of debug info would raise the smallest machine that boots (a
# 32 MiB BIOS machine ran out of frames with it). gdb uses $(KERNEL_ELF).
KERNEL_IMG_ELF := $(KERNEL_ELF).stripped
# llvm-objcopy from the pinned toolchain's llvm-tools component (rustc here
# is the rustup proxy, which picks the toolchain of rust-toolchain.toml).
LLVM_OBJCOPY = $(shell rustc --print sysroot)/lib/rustlib/$(shell rustc -vV | sed -n 's/^host: //p')/bin/llvm-objcopy

# `make image CMDLINE="..."` / `make usb CMDLINE="..."` bake the command line
# into the images (the bootloader's ramdisk file; fw_cfg still wins, see
# docs/hardware.md). Baked images live in their own directory, `-cmdline`
# appended, with the line in cmdline.txt beside them, so a plain image is
# never silently replaced by a baked one. `make run CMDLINE=...` does not bake:
# it passes the line to the plain image through fw_cfg.
ifneq ($(and $(CMDLINE),$(filter image usb,$(MAKECMDGOALS))),)
  BAKE_CMDLINE := 1
  IMAGE_DIR := $(IMAGE_DIR)-cmdline
endif

# The QEMU command line is built in one place, qemu-tests' launcher
# (qemu-tests/src/qemu.rs, `Config::args`): the test boots use it, and so do
# `make run` / `make debug` (here and in mk/aarch64.mk) through
# `qemu-runner --interactive`, which replaces itself with QEMU, the console on
# this terminal (-serial mon:stdio), so QEMU's exit status is make's. The
# firmware paths (OVMF) are there too. `qemu-runner --print-cmdline` with the
# same arguments prints the command instead.
RUNNER := target/release/qemu-runner
# The knobs every interactive run passes: CPUs, memory, the command line
# (through fw_cfg on x86_64, -append on aarch64; nothing is baked), KVM=1
# (the launcher uses KVM only for a guest of the host's own architecture).
KVM_FLAG = $(if $(filter 1,$(KVM)),--kvm)
RUNNER_KNOBS = --smp $(SMP) --mem $(MEM) $(if $(CMDLINE),--cmdline '$(CMDLINE)') $(KVM_FLAG)

# `make bench` runs as many vCPUs as the host has cores unless SMP is given:
# with more vCPUs than cores, TCG vCPUs are preempted for whole host time
# slices and the timings measure the host scheduler.
HOST_CPUS := $(shell nproc 2>/dev/null || echo 1)
BENCH_SMP := $(if $(filter command line environment,$(origin SMP)),$(SMP),$(HOST_CPUS))

# make bench-host knobs (empty THREADS: 1, 2, 4, ... up to the host's CPUs).
THREADS  ?=
TRIALS   ?= 15
TRIAL_MS ?= 300

include mk/aarch64.mk
include mk/boards.mk
include mk/rpi4.mk

.PHONY: memmap-scaling fresh-test all setup build kernel image runner run test test-schemes bench bench-host asm usb debug lint fmt clean help miri mutants

all: image

help:
	@sed -n 's/^## //p' Makefile mk/aarch64.mk mk/boards.mk mk/rpi4.mk

## setup      install QEMU, firmware and the pinned Rust toolchain if missing
setup:
	@scripts/setup.sh

## build      build the kernel ELF and the host tools
build: setup kernel
	$(CARGO) build --release -j$(JOBS) -p boot -p qemu-tests

ifneq ($(ARCH),aarch64)
kernel: setup
	$(CARGO) build --release -j$(JOBS) -p kernel --target $(KTARGET) --target-dir $(KTARGET_DIR) $(KFEATURES)

## image      build bios.img and uefi.img (SCHEME= another refcount layout, below; CMDLINE= bakes a command line)
##            SCHEME=frozen (default) legacy frozen-bit frozen-mid-direct frozen-low live live-low
##            legacy-optimistic frozen-bit-direct frozen-low-direct live-direct live-low-direct,
##            or the banner's name: docs/refcount.md "Which layout"
image: kernel
	$(CARGO) build --release -j$(JOBS) -p boot
	$(LLVM_OBJCOPY) --strip-debug $(KERNEL_ELF) $(KERNEL_IMG_ELF)
	@target/release/boot $(if $(BAKE_CMDLINE),--cmdline '$(CMDLINE)') $(KERNEL_IMG_ELF) $(IMAGE_DIR)

## run        boot in QEMU with the console on this terminal (BOOT=uefi, SMP=, MEM=, CMDLINE=, KVM=1)
run: image runner
	$(RUNNER) --interactive --image $(IMAGE_DIR)/$(BOOT).img --boot $(BOOT) $(RUNNER_KNOBS)
endif

# The launcher `run`, `debug` and `bench` call (quiet when it is up to date).
runner: setup
	$(CARGO) build --release -j$(JOBS) -p qemu-tests --bin qemu-runner

## test       every test: host (unit, proptest, loom, Miri) and QEMU boots
test: setup
	@scripts/test.sh

# The refcount layouts other than the default and legacy (which make test
# boots in full): docs/refcount.md, "Which layout".
OTHER_SCHEMES := frozen-bit frozen-mid-direct frozen-low live live-low legacy-optimistic \
	frozen-bit-direct frozen-low-direct live-direct live-low-direct
SCHEME_SUITES := mm,stress_scrub,stress_revive,stress_pagecache,stress_freeze,stress_storm,stress_faults
## test-schemes  the mm and stress suites in one x86_64 boot per other refcount layout (4 CPUs)
test-schemes: runner
	@set -e; for s in $(OTHER_SCHEMES); do \
		$(MAKE) --no-print-directory image ARCH=x86_64 SCHEME=$$s CMDLINE= >/dev/null; \
		$(RUNNER) --image target/image/x86_64-$$s/bios.img --boot bios --smp 4 --mem 1G \
			--cmdline "ktest ktest.filter=$(SCHEME_SUITES)" --name ktest-scheme-$$s --timeout 600; \
	done

ifneq ($(ARCH),aarch64)
## bench      run the benchmarks in QEMU (SMP defaults to the host's cores); tables on the terminal, JSON/CSV/SVG in target/bench/
bench: image
	@if [ $(BENCH_SMP) -gt $(HOST_CPUS) ]; then \
		echo "warning: SMP=$(BENCH_SMP) vCPUs on $(HOST_CPUS) host cores: oversubscribed, timings will show host time slices" >&2; fi
	$(CARGO) build --release -j$(JOBS) -p qemu-tests -p bench-host
	$(RUNNER) --image $(IMAGE_DIR)/$(BOOT).img --boot $(BOOT) --smp $(BENCH_SMP) --mem $(MEM) \
		--cmdline bench --name bench --timeout 1800 -v $(KVM_FLAG)
	target/release/bench-report target/qemu-logs/bench.log target/bench --accel $(if $(filter 1,$(KVM)),kvm,tcg)
endif

# The probes' assembly for one target: `make asm` below.
ASM_S = $$(find target/asm/$(1) -name 'asm_probe-*.s' | head -n1)
## asm        the code every refcount scheme compiles to (x86_64, aarch64 LSE, aarch64 v8.0): target/asm/summary.md
asm: setup
	$(CARGO) rustc -q --release -j$(JOBS) -p asm-probe --target x86_64-unknown-none --target-dir target/asm/x86_64 -- --emit=asm -C codegen-units=1
	CARGO_TARGET_AARCH64_UNKNOWN_NONE_RUSTFLAGS='-C target-feature=+lse' \
		$(CARGO) rustc -q --release -j$(JOBS) -p asm-probe --target aarch64-unknown-none --target-dir target/asm/aarch64-lse -- --emit=asm -C codegen-units=1
	CARGO_TARGET_AARCH64_UNKNOWN_NONE_RUSTFLAGS='-C target-feature=-outline-atomics' \
		$(CARGO) rustc -q --release -j$(JOBS) -p asm-probe --target aarch64-unknown-none --target-dir target/asm/aarch64-v8.0 -- --emit=asm -C codegen-units=1
	$(CARGO) build -q --release -j$(JOBS) -p bench-host --bin asm-report
	target/release/asm-report x86_64=$(call ASM_S,x86_64) aarch64-lse=$(call ASM_S,aarch64-lse) \
		aarch64-v8.0=$(call ASM_S,aarch64-v8.0) > target/asm/summary.md
	@cat target/asm/summary.md

## bench-host the workloads on the host's real cores (THREADS=1,2 TRIALS= TRIAL_MS=); results in target/bench/host/
bench-host: setup
	$(CARGO) build --release -j$(JOBS) -p bench-host
	target/release/bench-host --threads "$(THREADS)" --trials $(TRIALS) --trial-ms $(TRIAL_MS) --out target/bench/host

# `make usb` is UEFI unless BOOT is given (the global BOOT default, bios, is for `make run`).
# ARCH=aarch64 BOARD=rpi4: the Raspberry Pi 4 image (mk/rpi4.mk), BOOT=rpi4 for the script.
ifeq ($(ARCH),aarch64)
  USB_BOOT := rpi4
  USB_IMAGE_DIR := $(RPI4_IMAGE_DIR)
else
  USB_BOOT := $(if $(filter command line environment,$(origin BOOT)),$(BOOT),uefi)
  USB_IMAGE_DIR := $(IMAGE_DIR)
endif
ifneq ($(filter usb,$(MAKECMDGOALS)),)
  ifeq ($(DEV),)
    $(error usage: make usb DEV=/dev/sdX [BOOT=uefi|bios], or make usb ARCH=aarch64 BOARD=rpi4 DEV=/dev/sdX; see docs/hardware.md)
  endif
  ifeq ($(ARCH)-$(BOARD),aarch64-)
    $(error make usb ARCH=aarch64 needs BOARD=rpi4 (the only aarch64 board with an image); see docs/hardware.md)
  endif
endif

## usb        write an image to a USB stick: make usb DEV=/dev/sdX [BOOT=bios] [CMDLINE=...] (UEFI by default; asks first)
##            Raspberry Pi 4 (SD card or USB stick): make usb ARCH=aarch64 BOARD=rpi4 DEV=/dev/sdX [CMDLINE=...]
usb: image
	@DEV="$(DEV)" BOOT="$(USB_BOOT)" IMAGE_DIR="$(USB_IMAGE_DIR)" YES="$(YES)" scripts/usb.sh

ifneq ($(ARCH),aarch64)
## debug      boot halted with a gdb stub on :1234 (see docs/debugging.md)
debug: image runner
	@echo "QEMU waits for gdb: gdb $(KERNEL_ELF) -ex 'target remote :1234'"
	$(RUNNER) --interactive --gdb --image $(IMAGE_DIR)/$(BOOT).img --boot $(BOOT) $(RUNNER_KNOBS)
endif

## miri       every mm host test under Miri, every refcount scheme (an hour or more on 2 cores; make test runs a quick subset)
miri: setup
	MIRIFLAGS="$${MIRIFLAGS:--Zmiri-ignore-leaks}" $(CARGO) miri test -j$(JOBS) -p mm --target-dir target/miri

## mutants    weaken each refcount ordering (loom must catch it), then cargo-mutants on mm
mutants: setup
	@scripts/mutants-orderings.sh
	@scripts/mutants-cargo.sh

## lint       rustfmt check and clippy -D warnings (kernel for its target, host crates, mm under loom)
lint: setup
	scripts/check-docs.sh
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy -j$(JOBS) --all-targets -- -D warnings
	RUSTFLAGS="--cfg loom" $(CARGO) clippy -j$(JOBS) -p mm --tests --target-dir target/loom -- -D warnings
	$(CARGO) clippy -j$(JOBS) -p kernel --target $(KTARGET) -- -D warnings
	$(CARGO) clippy -j$(JOBS) -p kernel --target $(KTARGET) --target-dir target/legacy --features legacy-refcount -- -D warnings
	$(foreach s,$(OTHER_SCHEMES),$(CARGO) clippy -q -j$(JOBS) -p kernel --target $(KTARGET) \
		--target-dir target/schemes --features $(SCHEME_FEATURE_$(s)) -- -D warnings &&) true
	$(CARGO) clippy -j$(JOBS) -p kernel --target aarch64-unknown-none -- -D warnings

## memmap-scaling  memmap set-up time against RAM (1 GiB..1 TiB) and CPUs, both arches (docs/mm.md)
memmap-scaling: setup
	$(MAKE) --no-print-directory image
	$(MAKE) --no-print-directory image ARCH=aarch64
	scripts/memmap-scaling.sh

## fresh-test the README's commands in a new minimal Debian root (DISTRO=trixie|bookworm FRESH_MODE=full|quick KEEP=1; root)
fresh-test:
	@DISTRO="$(DISTRO)" FRESH_MODE="$(FRESH_MODE)" KEEP="$(KEEP)" scripts/fresh-test.sh

## fmt        format all code
fmt:
	$(CARGO) fmt --all

## clean      remove build output
# The vendored bootloader builds its stages in its own target directory.
clean:
	$(CARGO) clean
	rm -rf vendor/bootloader/target
