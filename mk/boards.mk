# Board device trees built from the sources under boards/; included by the
# top Makefile. See boards/rpi4/README.md.

RPI4_DTS := boards/rpi4/bcm2711-rpi-4-b.dts
RPI4_DTB := target/boards/rpi4/bcm2711-rpi-4-b.dtb
# The warnings Linux's build turns off for its own device trees (it checks
# them only with W=1); anything else dtc says still shows.
DTC_FLAGS := -Wno-interrupt_provider -Wno-unit_address_vs_reg -Wno-simple_bus_reg \
	-Wno-avoid_unnecessary_addr_size

.PHONY: rpi4-dtb

## rpi4-dtb   the Raspberry Pi 4 device tree: target/boards/rpi4/bcm2711-rpi-4-b.dtb (QEMU raspi4b's -dtb)
rpi4-dtb: $(RPI4_DTB)

$(RPI4_DTB): $(RPI4_DTS) | setup
	@mkdir -p $(dir $@)
	dtc -I dts -O dtb $(DTC_FLAGS) -o $@ $<

# The default aarch64 Image: its outline atomics take LL/SC on the Raspberry
# Pi 4's ARMv8.0 Cortex-A72 (chosen at boot).
RPI4_KERNEL := target/image/aarch64/Image
RPI4_RUNNER_ARGS = --arch aarch64 --machine raspi4b --dtb $(RPI4_DTB) --image $(RPI4_KERNEL) --smp 4 --mem 2G

.PHONY: test-rpi4 run-rpi4

## test-rpi4  QEMU raspi4b with the board DTB: ktest on 4 CPUs, the unattended PASS screen, PL011 + watchdog poweroff, unusable DTBs
test-rpi4: rpi4-dtb
	$(MAKE) --no-print-directory image-aarch64
	RPI4_IMAGE=$(CURDIR)/$(RPI4_KERNEL) RPI4_DTB=$(CURDIR)/$(RPI4_DTB) \
		$(CARGO) test -j$(JOBS) -p qemu-tests --release --test raspi4b -- --test-threads=1

## run-rpi4   boot on QEMU raspi4b, console (the mini UART) on this terminal (CMDLINE=; quit: Ctrl-A X)
run-rpi4: rpi4-dtb runner
	$(MAKE) --no-print-directory image-aarch64
	$(RUNNER) --interactive $(RPI4_RUNNER_ARGS) $(if $(CMDLINE),--cmdline '$(CMDLINE)')
