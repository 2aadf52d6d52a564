# Raspberry Pi 4: the board's device tree and its SD card / USB stick image;
# included by the top Makefile after mk/aarch64.mk. See docs/hardware.md
# ("Raspberry Pi 4") and boards/rpi4/README.md.
#
#   make rpi4-dtb                                   target/boards/rpi4/bcm2711-rpi-4-b.dtb
#   make image ARCH=aarch64 BOARD=rpi4 [CMDLINE=]   target/image/rpi4[-cmdline]/rpi4.img
#   make usb ARCH=aarch64 BOARD=rpi4 DEV=/dev/sdX   writes it (scripts/usb.sh)
#
# The image holds the default kernel Image of mk/aarch64.mk (outline atomics:
# LL/SC on the Pi 4's ARMv8.0 Cortex-A72, chosen at boot; an inline-LSE
# `LSE=1` build is refused), the board's DTB (mk/boards.mk), the Raspberry Pi firmware
# (start4.elf, fixup4.dat: fetched by `scripts/setup.sh rpi4` from Debian's
# raspi-firmware into target/boards/rpi4/firmware/), config.txt and
# cmdline.txt; the `boot` tool writes it (boot/src/rpi4.rs), no root, no loop
# device.
#
# Uses: CARGO JOBS SCHEME CMDLINE BAKE_CMDLINE (top Makefile), LSE
# A64_IMAGE_DIR A64_IMAGE image-aarch64 (mk/aarch64.mk), RPI4_DTB rpi4-dtb
# (mk/boards.mk), `setup`.

RPI4_FIRMWARE_DIR := target/boards/rpi4/firmware
# target/image/rpi4, rpi4-<scheme> for another refcount layout, -cmdline
# appended when CMDLINE is baked (as the x86 images: never over a plain one).
RPI4_IMAGE_DIR := $(subst /aarch64,/rpi4,$(A64_IMAGE_DIR))$(if $(BAKE_CMDLINE),-cmdline)
RPI4_IMAGE := $(RPI4_IMAGE_DIR)/rpi4.img
.PHONY: image-rpi4

## image-rpi4 the Raspberry Pi 4 SD card / USB stick image (also: make image ARCH=aarch64 BOARD=rpi4 [CMDLINE=...])
image-rpi4: image-aarch64 rpi4-dtb
	@if [ "$(LSE)" = 1 ]; then echo "image-rpi4: the Pi 4 (Cortex-A72) is ARMv8.0, an LSE=1 build stops at boot there; use make image ARCH=aarch64 BOARD=rpi4" >&2; exit 1; fi
	@scripts/setup.sh rpi4
	$(CARGO) build --release -j$(JOBS) -p boot
	@target/release/boot rpi4 $(if $(BAKE_CMDLINE),--cmdline '$(CMDLINE)') $(A64_IMAGE) $(RPI4_DTB) $(RPI4_FIRMWARE_DIR) $(RPI4_IMAGE_DIR)
