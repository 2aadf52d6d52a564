# Raspberry Pi 4: the board's device tree and its SD card / USB stick image;
# included by the top Makefile after mk/aarch64.mk. See docs/hardware.md
# ("Raspberry Pi 4") and boards/rpi4/README.md.
#
#   make rpi4-dtb                                   target/boards/rpi4/bcm2711-rpi-4-b.dtb
#   make image ARCH=aarch64 BOARD=rpi4 [CMDLINE=]   target/image/rpi4[-cmdline]/rpi4.img
#   make usb ARCH=aarch64 BOARD=rpi4 DEV=/dev/sdX   writes it (scripts/usb.sh)
#
# The image holds the kernel Image of mk/aarch64.mk built with LSE=0 (BOARD=rpi4
# sets that default there: the Pi 4's Cortex-A72 is ARMv8.0, without the LSE
# atomics the default build uses), the board's DTB, the Raspberry Pi firmware
# (start4.elf, fixup4.dat: fetched by `scripts/setup.sh rpi4` from Debian's
# raspi-firmware into target/boards/rpi4/firmware/), config.txt and
# cmdline.txt; the `boot` tool writes it (boot/src/rpi4.rs), no root, no loop
# device.
#
# Uses: CARGO JOBS SCHEME CMDLINE BAKE_CMDLINE (top Makefile), LSE
# A64_IMAGE_DIR A64_IMAGE image-aarch64 (mk/aarch64.mk), `setup`.

RPI4_DTS := boards/rpi4/bcm2711-rpi-4-b.dts
RPI4_DTB := target/boards/rpi4/bcm2711-rpi-4-b.dtb
RPI4_FIRMWARE_DIR := target/boards/rpi4/firmware
# target/image/rpi4, rpi4-<scheme> for another refcount layout, -cmdline
# appended when CMDLINE is baked (as the x86 images: never over a plain one).
RPI4_IMAGE_DIR := $(subst -nolse,,$(subst /aarch64,/rpi4,$(A64_IMAGE_DIR)))$(if $(BAKE_CMDLINE),-cmdline)
RPI4_IMAGE := $(RPI4_IMAGE_DIR)/rpi4.img
# dtc's checks that kbuild turns off for every DTB (scripts/Makefile.dtbs in
# Linux), and interrupt_provider, which Debian 12's dtc 1.6 still warns about
# for two of the SoC's interrupt controllers (newer dtc releases relaxed it).
RPI4_DTC_FLAGS := -Wno-unique_unit_address -Wno-unit_address_vs_reg -Wno-avoid_unnecessary_addr_size \
	-Wno-alias_paths -Wno-graph_child_address -Wno-simple_bus_reg -Wno-interrupt_provider

.PHONY: rpi4-dtb image-rpi4

## rpi4-dtb   the Raspberry Pi 4 Model B device tree: target/boards/rpi4/bcm2711-rpi-4-b.dtb
rpi4-dtb: $(RPI4_DTB)

$(RPI4_DTB): $(RPI4_DTS) | setup
	@mkdir -p $(@D)
	dtc -I dts -O dtb -b 0 $(RPI4_DTC_FLAGS) -o $@ $<

## image-rpi4 the Raspberry Pi 4 SD card / USB stick image (also: make image ARCH=aarch64 BOARD=rpi4 [CMDLINE=...])
image-rpi4: image-aarch64 rpi4-dtb
	@if [ "$(LSE)" != 0 ]; then echo "image-rpi4: the Pi 4 (Cortex-A72, ARMv8.0) needs LSE=0; use make image ARCH=aarch64 BOARD=rpi4" >&2; exit 1; fi
	@scripts/setup.sh rpi4
	$(CARGO) build --release -j$(JOBS) -p boot
	@target/release/boot rpi4 $(if $(BAKE_CMDLINE),--cmdline '$(CMDLINE)') $(A64_IMAGE) $(RPI4_DTB) $(RPI4_FIRMWARE_DIR) $(RPI4_IMAGE_DIR)
