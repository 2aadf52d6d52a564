# frozen-kernel: see README.md. Every target that needs tools runs `setup` first.
#
# Knobs: ARCH=x86_64|aarch64  BOOT=bios|uefi  SMP=4  MEM=1G
#        SCHEME=frozen|legacy (refcount scheme of the image)  KVM=1 (opt-in)

ARCH    ?= x86_64
BOOT    ?= bios
SMP     ?= 4
MEM     ?= 1G
SCHEME  ?= frozen
CMDLINE ?=

CARGO   ?= cargo
JOBS    ?= 2

KTARGET := x86_64-unknown-none
ifeq ($(SCHEME),legacy)
  KFEATURES := --features legacy-refcount
  KTARGET_DIR := target/legacy
  IMAGE_DIR := target/image/$(ARCH)-legacy
else
  KFEATURES :=
  KTARGET_DIR := target
  IMAGE_DIR := target/image/$(ARCH)
endif
KERNEL_ELF := $(KTARGET_DIR)/$(KTARGET)/release/kernel

ifeq ($(KVM),1)
  ACCEL := -accel kvm -cpu host
else
  ACCEL := -accel tcg,thread=multi
endif

OVMF_CODE := /usr/share/OVMF/OVMF_CODE_4M.fd
OVMF_VARS := /usr/share/OVMF/OVMF_VARS_4M.fd

# UEFI boots need the OVMF firmware as pflash (a snapshot of the VARS, so the
# shared file is never written).
ifeq ($(BOOT),uefi)
  QEMU_FIRMWARE := -drive if=pflash,format=raw,readonly=on,file=$(OVMF_CODE) \
	-drive if=pflash,format=raw,snapshot=on,file=$(OVMF_VARS)
else
  QEMU_FIRMWARE :=
endif

QEMU_X86 = qemu-system-x86_64 $(ACCEL) -smp $(SMP) -m $(MEM) \
	-drive format=raw,file=$(IMAGE_DIR)/$(BOOT).img,snapshot=on $(QEMU_FIRMWARE) \
	-no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	$(if $(CMDLINE),-fw_cfg 'name=opt/cmdline$(comma)string=$(CMDLINE)')
comma := ,

include mk/aarch64.mk

.PHONY: all setup build kernel image run test bench usb debug lint fmt clean help miri mutants

all: image

help:
	@sed -n 's/^## //p' Makefile mk/aarch64.mk

## setup      install QEMU, firmware and the pinned Rust toolchain if missing
setup:
	@scripts/setup.sh

## build      build the kernel ELF and the host tools
build: setup kernel
	$(CARGO) build --release -j$(JOBS) -p boot -p qemu-tests

ifneq ($(ARCH),aarch64)
kernel: setup
	$(CARGO) build --release -j$(JOBS) -p kernel --target $(KTARGET) --target-dir $(KTARGET_DIR) $(KFEATURES)

## image      build bios.img and uefi.img (SCHEME=legacy for the CAS-loop refcount)
image: kernel
	$(CARGO) build --release -j$(JOBS) -p boot
	@target/release/boot $(KERNEL_ELF) $(IMAGE_DIR)

## run        boot in QEMU with the console on this terminal (BOOT=uefi, SMP=, MEM=)
run: image
	@echo "QEMU: $(BOOT) boot, $(SMP) CPUs, $(MEM); quit with Ctrl-A X"
	$(QEMU_X86) -serial mon:stdio -display none
endif

## test       every test: host (unit, proptest, loom, Miri) and QEMU boots
test: setup
	@scripts/test.sh

ifneq ($(ARCH),aarch64)
## bench      run the benchmarks in QEMU; tables on the terminal, JSON/CSV/SVG in target/bench/
bench: image
	$(CARGO) build --release -j$(JOBS) -p qemu-tests
	target/release/qemu-runner --image $(IMAGE_DIR)/$(BOOT).img --boot $(BOOT) --smp $(SMP) --mem $(MEM) \
		--cmdline bench --name bench --timeout 1800 -v
	target/release/bench-report target/qemu-logs/bench.log target/bench --accel $(if $(filter 1,$(KVM)),kvm,tcg)
endif

# `make usb` is UEFI unless BOOT is given (the global BOOT default, bios, is for `make run`).
USB_BOOT := $(if $(filter command line environment,$(origin BOOT)),$(BOOT),uefi)
ifneq ($(filter usb,$(MAKECMDGOALS)),)
  ifeq ($(DEV),)
    $(error usage: make usb DEV=/dev/sdX [BOOT=uefi|bios]; see docs/hardware.md)
  endif
endif

## usb        write an image to a USB stick: make usb DEV=/dev/sdX [BOOT=bios] (UEFI by default; asks first)
usb: image
	@DEV="$(DEV)" BOOT="$(USB_BOOT)" IMAGE_DIR="$(IMAGE_DIR)" YES="$(YES)" scripts/usb.sh

ifneq ($(ARCH),aarch64)
## debug      boot halted with a gdb stub on :1234 (see docs/debugging.md)
debug: image
	@echo "QEMU waits for gdb: gdb $(KERNEL_ELF) -ex 'target remote :1234'"
	$(QEMU_X86) -serial mon:stdio -display none -s -S
endif

## miri       every mm host test under Miri (20+ min; make test runs a quick subset)
miri: setup
	MIRIFLAGS="$${MIRIFLAGS:--Zmiri-ignore-leaks}" $(CARGO) miri test -j$(JOBS) -p mm --target-dir target/miri

## mutants    weaken each refcount ordering (loom must catch it), then cargo-mutants on mm
mutants: setup
	@scripts/mutants-orderings.sh
	@scripts/mutants-cargo.sh

## lint       rustfmt check and clippy -D warnings (kernel for its target, host crates)
lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy -j$(JOBS) --all-targets -- -D warnings
	$(CARGO) clippy -j$(JOBS) -p kernel --target $(KTARGET) -- -D warnings
	$(CARGO) clippy -j$(JOBS) -p kernel --target $(KTARGET) --target-dir target/legacy --features legacy-refcount -- -D warnings
	$(CARGO) clippy -j$(JOBS) -p kernel --target aarch64-unknown-none -- -D warnings

## fmt        format all code
fmt:
	$(CARGO) fmt --all

## clean      remove build output
clean:
	$(CARGO) clean
