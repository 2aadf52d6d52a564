# aarch64 (QEMU virt) build and run rules; included by the top Makefile.
#
# With ARCH=aarch64 this file provides `kernel`, `image`, `run`, `debug` and
# `bench`, so the top Makefile must only define its x86_64 versions of those
# when ARCH is not aarch64. `test-aarch64` is always available (scripts/test.sh
# runs it from an x86_64 `make test`).
#
# The image is an arm64 Linux Image (64-byte header, `ARM\x64` magic): the
# kernel ELF, linked by kernel/src/arch/aarch64/linker.ld with the header at
# its start, flattened by llvm-objcopy. QEMU -kernel and U-Boot `booti` load
# it. It is built with outline atomics (.cargo/config.toml): it runs on
# ARMv8.0 and ARMv8.1+ CPUs alike and uses LSE where the CPU has it, chosen
# at boot. See docs/aarch64.md.
#
# Uses from the top Makefile: CARGO JOBS SMP MEM SCHEME SCHEME_FEATURES CMDLINE, `setup`,
# `runner`, RUNNER and RUNNER_KNOBS (the QEMU command line is built by
# qemu-tests' launcher, see the top Makefile).
# Own knobs: LSE=1 / LSE=0 (comparison builds: inline LSE, ARMv8.1+ only /
# inline LL/SC), A64_CPU=max (QEMU -cpu), BENCH_FILTER= (bench.filter=),
# BOARD=rpi4 (`image` makes the Raspberry Pi 4 card image of mk/rpi4.mk).

A64_TARGET := aarch64-unknown-none
# LSE unset: the default image, outline atomics, LSE or LL/SC chosen at boot.
# LSE=1: inline LSE instructions (ARMv8.1+ only; refused at boot elsewhere).
# LSE=0: inline LL/SC loops (any ARMv8 CPU, never LSE).
LSE ?=
ifneq ($(filter-out rpi4,$(BOARD)),)
  $(error BOARD=$(BOARD): the only board is rpi4 (with ARCH=aarch64))
endif
ifeq ($(BOARD),rpi4)
  ifneq ($(ARCH),aarch64)
    $(error BOARD=rpi4 needs ARCH=aarch64, e.g. make image ARCH=aarch64 BOARD=rpi4)
  endif
endif
A64_CPU ?= max
# SCHEME's feature and folders as in the top Makefile (SCHEME_FEATURES).
A64_FEATURES := $(SCHEME_FEATURES)
ifeq ($(SCHEME),frozen)
  A64_TARGET_DIR := target
  A64_IMAGE_DIR := target/image/aarch64
else
  A64_TARGET_DIR := $(KTARGET_DIR)
  A64_IMAGE_DIR := target/image/aarch64-$(SCHEME)
endif
# Appended after .cargo/config.toml's +outline-atomics, so they win.
ifeq ($(LSE),0)
  A64_ENV := CARGO_TARGET_AARCH64_UNKNOWN_NONE_RUSTFLAGS='-C target-feature=-outline-atomics'
  A64_TARGET_DIR := $(A64_TARGET_DIR)/nolse
  A64_IMAGE_DIR := $(A64_IMAGE_DIR)-nolse
else ifeq ($(LSE),1)
  A64_ENV := CARGO_TARGET_AARCH64_UNKNOWN_NONE_RUSTFLAGS='-C target-feature=+lse'
  A64_TARGET_DIR := $(A64_TARGET_DIR)/inline-lse
  A64_IMAGE_DIR := $(A64_IMAGE_DIR)-inline-lse
else ifneq ($(LSE),)
  $(error LSE=$(LSE): leave it unset (LSE chosen at boot), or 1 (inline LSE) or 0 (inline LL/SC))
else
  A64_ENV :=
endif
A64_ELF := $(A64_TARGET_DIR)/$(A64_TARGET)/release/kernel
A64_IMAGE := $(A64_IMAGE_DIR)/Image
# llvm-objcopy from the pinned toolchain (LLVM_OBJCOPY, top Makefile).
A64_OBJCOPY = $(LLVM_OBJCOPY)
A64_RUNNER = $(CARGO) run -q --release -j$(JOBS) -p qemu-tests --bin qemu-runner --
# The arguments of every aarch64 boot: the Image on QEMU virt with this CPU
# model (TCG on an x86_64 host: KVM runs only the host's own architecture).
A64_RUNNER_ARGS = --arch aarch64 --image $(A64_IMAGE) --cpu $(A64_CPU)

.PHONY: kernel-aarch64 image-aarch64 run-aarch64 test-aarch64 test-aarch64-dtb bench-aarch64 debug-aarch64

kernel-aarch64: setup
	$(A64_ENV) $(CARGO) build --release -j$(JOBS) -p kernel --target $(A64_TARGET) --target-dir $(A64_TARGET_DIR) $(A64_FEATURES)

## image-aarch64  arm64 Image for QEMU virt / U-Boot booti (also: make image ARCH=aarch64)
image-aarch64: kernel-aarch64
	@mkdir -p $(A64_IMAGE_DIR)
	$(A64_OBJCOPY) -O binary $(A64_ELF) $(A64_IMAGE)
	@echo "arm64 Image: $(A64_IMAGE) ($$(stat -c %s $(A64_IMAGE)) bytes)"

## run-aarch64    boot the Image in QEMU virt, console on this terminal (quit: Ctrl-A X)
run-aarch64: image-aarch64 runner
	$(RUNNER) --interactive $(A64_RUNNER_ARGS) $(RUNNER_KNOBS)

## test-aarch64   boot the Image in ktest mode and judge it (SMP=4, A64_CPU=max by default)
test-aarch64: image-aarch64
	$(A64_RUNNER) $(A64_RUNNER_ARGS) --cmdline ktest --smp $(SMP) --mem $(MEM) \
		--timeout 900 \
		--name aarch64$(if $(filter-out frozen,$(SCHEME)),-$(SCHEME))$(if $(filter-out max,$(A64_CPU)),-$(A64_CPU))$(if $(LSE),-lse$(LSE))-ktest

## test-aarch64-dtb  device-tree shapes: secure=on, many /memory nodes, a -dtb firmware DTB, unaligned no-map
test-aarch64-dtb: image-aarch64
	$(CARGO) test -j$(JOBS) -p qemu-tests --release --test aarch64_dtb -- --test-threads=2

## bench-aarch64  bench mode (-cpu max, A64_CPU= to change; BENCH_FILTER=refcount_shared,refcount_own for fewer); JSON/CSV/SVG in target/bench/aarch64/
bench-aarch64: image-aarch64
	$(CARGO) build --release -j$(JOBS) -p qemu-tests -p bench-host
	$(RUNNER) $(A64_RUNNER_ARGS) --smp $(SMP) --mem $(MEM) \
		--cmdline 'bench$(if $(BENCH_FILTER), bench.filter=$(BENCH_FILTER))' --name aarch64-bench --timeout 1800 -v
	target/release/bench-report target/qemu-logs/aarch64-bench.log target/bench/aarch64 --accel tcg

## debug-aarch64  boot halted with a gdb stub on :1234
debug-aarch64: image-aarch64 runner
	@echo "QEMU waits for gdb: gdb-multiarch $(A64_ELF) -ex 'target remote :1234'"
	$(RUNNER) --interactive --gdb $(A64_RUNNER_ARGS) $(RUNNER_KNOBS)

ifeq ($(ARCH),aarch64)
.PHONY: kernel image run bench debug
kernel: kernel-aarch64
image: $(if $(filter rpi4,$(BOARD)),image-rpi4,image-aarch64)
run: run-aarch64
bench: bench-aarch64
debug: debug-aarch64
endif
