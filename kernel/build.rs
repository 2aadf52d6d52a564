//! Build script: on aarch64 the kernel is linked with its own linker script
//! (layout and arm64 Image header, see kernel/src/arch/aarch64/linker.ld).
//! x86_64 needs nothing: the bootloader loads the plain ELF.

fn main() {
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if arch == "aarch64" {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        let script = format!("{dir}/src/arch/aarch64/linker.ld");
        println!("cargo:rustc-link-arg-bins=-T{script}");
        println!("cargo:rerun-if-changed={script}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
