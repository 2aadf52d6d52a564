//! The Raspberry Pi's VideoCore mailbox (`brcm,bcm2835-mbox`), property
//! channel 8, used once at boot to get a framebuffer for the screen
//! console (`crate::fbcon`), as Linux's `simplefb` setup and U-Boot do.
//!
//! A property message is a 16-byte-aligned buffer of tags in memory the
//! VideoCore reads and rewrites; its address goes into the mailbox as the
//! VideoCore sees it (the mailbox bus's `dma-ranges`: CPU `0..1 GiB` is bus
//! `0xc000_0000..` on the Pi 4), with the channel in the low 4 bits. The
//! answer comes back on the read side of mailbox 0. The framebuffer address
//! in the answer is a bus address too: its low 30 bits are the CPU address
//! (`& 0x3fff_ffff`, as Linux and U-Boot do). Tags: the Raspberry Pi
//! firmware wiki's "Mailbox property interface".

use core::cell::UnsafeCell;

use super::mmio::{read32, write32};
use super::{cpu, mmu};
use crate::bootinfo::{Framebuffer, PixelFormat};

/// Mailbox 0 read (answers to us).
const MBOX0_READ: u64 = 0x00;
/// Mailbox 0 status (bit 30: empty).
const MBOX0_STATUS: u64 = 0x18;
/// Mailbox 1 write (requests to the VideoCore).
const MBOX1_WRITE: u64 = 0x20;
/// Mailbox 1 status (bit 31: full).
const MBOX1_STATUS: u64 = 0x38;
const STATUS_FULL: u32 = 1 << 31;
const STATUS_EMPTY: u32 = 1 << 30;
/// The property channel (ARM to VideoCore).
const CHANNEL_PROPERTY: u32 = 8;

const REQUEST: u32 = 0;
const RESPONSE_OK: u32 = 0x8000_0000;
const TAG_GET_PHYSICAL_SIZE: u32 = 0x0004_0003;
const TAG_SET_PHYSICAL_SIZE: u32 = 0x0004_8003;
const TAG_SET_VIRTUAL_SIZE: u32 = 0x0004_8004;
const TAG_SET_DEPTH: u32 = 0x0004_8005;
const TAG_SET_PIXEL_ORDER: u32 = 0x0004_8006;
const TAG_ALLOCATE_BUFFER: u32 = 0x0004_0001;
const TAG_GET_PITCH: u32 = 0x0004_0008;
/// Pixel order 1: RGB (byte 0 of a 32-bit pixel is red).
const PIXEL_ORDER_RGB: u32 = 1;
/// The screen asked for when the firmware reports no display size.
const DEFAULT_SIZE: (u32, u32) = (1024, 768);
/// How long the VideoCore may take to answer, in microseconds.
const TIMEOUT_US: u64 = 1_000_000;

/// A property message: 16-byte aligned (the low 4 bits carry the channel).
#[repr(C, align(16))]
struct Message([u32; 36]);

/// The one message buffer. Used only by the boot CPU before any other CPU
/// runs (the only caller is [`framebuffer`], from boot.rs): no lock.
struct MessageCell(UnsafeCell<Message>);

// SAFETY: see the type's comment: one user, never concurrent.
unsafe impl Sync for MessageCell {}

static MESSAGE: MessageCell = MessageCell(UnsafeCell::new(Message([0; 36])));

/// Sends `words` (a whole message, header included) on the property channel
/// and copies the answer back into `words`. `dma`: the bus's view of CPU
/// memory, `(cpu_start, cpu_end, bus_start)`.
fn call(base: u64, dma: (u64, u64, u64), words: &mut [u32]) -> Result<(), &'static str> {
    // SAFETY: boot CPU only, before other CPUs start (the only caller is
    // `framebuffer`, from boot.rs), so nothing else touches the buffer.
    let msg = unsafe { &mut *MESSAGE.0.get() };
    let len = words.len().min(msg.0.len());
    msg.0[..len].copy_from_slice(&words[..len]);
    msg.0[0] = (len * 4) as u32;
    let va = msg.0.as_ptr() as u64;
    let pa = mmu::image_virt_to_phys(va);
    let (cpu_start, cpu_end, bus_start) = dma;
    if pa < cpu_start || pa + (len as u64) * 4 > cpu_end {
        return Err("the message buffer lies outside the mailbox's dma-ranges");
    }
    let bus = bus_start + (pa - cpu_start);
    let bus =
        u32::try_from(bus).map_err(|_| "the message's bus address needs more than 32 bits")?;
    // The VideoCore reads memory, not our cache: write the message out.
    mmu::clean_dcache_range(va, (len * 4) as u64);
    let deadline = cpu::read_cycles() + TIMEOUT_US * cpu::cycles_per_us();
    while read32(base + MBOX1_STATUS) & STATUS_FULL != 0 {
        if cpu::read_cycles() > deadline {
            return Err("the mailbox stayed full");
        }
    }
    write32(base + MBOX1_WRITE, bus | CHANNEL_PROPERTY);
    loop {
        while read32(base + MBOX0_STATUS) & STATUS_EMPTY != 0 {
            if cpu::read_cycles() > deadline {
                return Err("no answer from the VideoCore");
            }
        }
        if read32(base + MBOX0_READ) == bus | CHANNEL_PROPERTY {
            break;
        }
    }
    // Drop lines a speculative read may have filled while the VideoCore wrote.
    mmu::clean_dcache_range(va, (len * 4) as u64);
    // SAFETY: a plain read of the buffer the VideoCore has finished with.
    let answer = unsafe { core::ptr::read_volatile(MESSAGE.0.get()) };
    words[..len].copy_from_slice(&answer.0[..len]);
    if words[1] != RESPONSE_OK {
        return Err("the VideoCore refused the request");
    }
    Ok(())
}

/// Asks the firmware for a 32-bit framebuffer at the display's size (or
/// 1024x768 when it reports none) and maps it into the window. `base`: the
/// mailbox registers' virtual address.
///
/// # Errors
/// What went wrong, for the boot log: no answer, a refused tag, a buffer
/// the kernel cannot map.
pub fn framebuffer(base: u64, dma: (u64, u64, u64)) -> Result<Framebuffer, &'static str> {
    // Each tag: id, value buffer size, request/response code, values.
    let mut get = [0, REQUEST, TAG_GET_PHYSICAL_SIZE, 8, 0, 0, 0, 0];
    call(base, dma, &mut get)?;
    let (w, h) = match (get[5], get[6]) {
        (0, _) | (_, 0) => DEFAULT_SIZE,
        size => size,
    };
    #[rustfmt::skip]
    let mut set = [
        0, REQUEST,
        TAG_SET_PHYSICAL_SIZE, 8, 0, w, h,
        TAG_SET_VIRTUAL_SIZE, 8, 0, w, h,
        TAG_SET_DEPTH, 4, 0, 32,
        TAG_SET_PIXEL_ORDER, 4, 0, PIXEL_ORDER_RGB,
        TAG_ALLOCATE_BUFFER, 8, 0, 4096, 0,
        TAG_GET_PITCH, 4, 0, 0,
        0,
    ];
    call(base, dma, &mut set)?;
    let (width, height, depth, order) = (set[5], set[6], set[15], set[19]);
    let (fb_bus, fb_len, pitch) = (set[23], set[24], set[28]);
    if depth != 32 || width == 0 || height == 0 || fb_bus == 0 {
        return Err("the firmware gave no 32-bit framebuffer");
    }
    let (width, height, pitch) = (width as usize, height as usize, pitch as usize);
    if pitch < width * 4 || (fb_len as usize) < pitch * height {
        return Err("the framebuffer's pitch or size does not fit its width and height");
    }
    let fb_phys = u64::from(fb_bus & 0x3fff_ffff);
    let fb_end = fb_phys + u64::from(fb_len);
    // SAFETY: boot CPU, after the switch to the final tables and before any
    // other CPU starts (boot.rs); the firmware gave this memory to us.
    if !unsafe { mmu::map_late(fb_phys, fb_end, mmu::Kind::Video) }
        && mmu::virt_to_phys(mmu::PHYS_OFFSET + fb_phys).is_none()
    {
        return Err("the framebuffer lies beyond the kernel's physical window");
    }
    Ok(Framebuffer {
        base: (mmu::PHYS_OFFSET + fb_phys) as usize,
        byte_len: fb_len as usize,
        width,
        height,
        stride: pitch / 4,
        bytes_per_line: pitch,
        bytes_per_pixel: 4,
        format: if order == PIXEL_ORDER_RGB { PixelFormat::Rgb } else { PixelFormat::Bgr },
        caching: "Normal non-cacheable (VideoCore mailbox framebuffer)",
    })
}
