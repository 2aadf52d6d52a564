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
