//! USB descriptor parsers on arbitrary bytes (never panic, results keep
//! their promises) and on configurations built by the test (they parse
//! back to what was built). `PROPTEST_CASES=N` runs more cases.

mod common;

use common::{Interface, build_config, expected_keyboard, read_usb_like_the_kernel};
use hwparse::usb::{self, Descriptors, DeviceDescriptor, HubDescriptor, HubDescriptorError};
use proptest::collection::vec;
use proptest::prelude::*;

/// Interfaces that are often keyboards, and sometimes almost.
fn interface() -> impl Strategy<Value = Interface> {
    let class = prop_oneof![
        Just((3, 1, 1)),
        Just((3, 1, 2)),
        Just((3, 0, 0)),
        Just((8, 6, 0x50)),
        any::<(u8, u8, u8)>(),
    ];
    // Class descriptors of types the parser must step over (HID, HID
    // report, class-specific interface, SuperSpeed companion).
    let extra = vec(
        (prop_oneof![Just(0x21), Just(0x22), Just(0x24), Just(0x30)], vec(any::<u8>(), 0..12)),
        0..3,
    );
    let endpoint = (
        prop_oneof![Just(0x81), Just(0x82), Just(0x80), Just(0x01), any::<u8>()],
        prop_oneof![Just(3), Just(2), any::<u8>()],
        prop_oneof![Just(8), Just(0), Just(0x1808), any::<u16>()],
        any::<u8>(),
    );
    (any::<u8>(), 0..3u8, class, extra, vec(endpoint, 0..4)).prop_map(
        |(number, alternate, class, extra, endpoints)| Interface {
            number,
            alternate: alternate.saturating_sub(1),
            class,
            extra,
            endpoints,
        },
    )
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..300)) {
        read_usb_like_the_kernel(&bytes);
    }

    /// A right configuration header in front, so the walk goes on into the
    /// random bytes.
    #[test]
    fn arbitrary_descriptors_never_panic(rest in vec(any::<u8>(), 0..300), total in any::<u16>()) {
        let mut bytes = vec![9, 2, 0, 0, 1, 1, 0, 0x80, 50];
        let total = if total % 2 == 0 { (9 + rest.len()) as u16 } else { total };
        bytes[2..4].copy_from_slice(&total.to_le_bytes());
        bytes.extend_from_slice(&rest);
        read_usb_like_the_kernel(&bytes);
    }

    #[test]
    fn built_configuration_parses_back(value in any::<u8>(), interfaces in vec(interface(), 0..4)) {
        let config = build_config(value, &interfaces);
        let walked: Vec<_> = Descriptors::new(&config).collect::<Result<_, _>>().unwrap();
        let types: Vec<u8> = walked.iter().map(|d| d.descriptor_type).collect();
        let mut built = vec![2u8];
        for i in &interfaces {
            built.push(4);
            built.extend(i.extra.iter().map(|e| e.0));
            built.extend(i.endpoints.iter().map(|_| 5));
        }
        prop_assert_eq!(types, built);
        prop_assert_eq!(usb::find_boot_keyboard(&config), Ok(expected_keyboard(value, &interfaces)));
        read_usb_like_the_kernel(&config);
    }

    /// Cut short (as a short transfer would): never a wrong keyboard, and
    /// a cut only costs what lies after it.
    #[test]
    fn truncated_configuration(value in any::<u8>(), interfaces in vec(interface(), 1..4), cut in any::<prop::sample::Index>()) {
        let config = build_config(value, &interfaces);
        let cut = cut.index(config.len() + 1);
        let expected = expected_keyboard(value, &interfaces);
        match usb::find_boot_keyboard(&config[..cut]) {
            Ok(Some(k)) => prop_assert_eq!(Some(k), expected),
            Ok(None) => prop_assert!(expected.is_none() || cut < config.len()),
            Err(_) => prop_assert!(cut < config.len()),
        }
        read_usb_like_the_kernel(&config[..cut]);
    }

    #[test]
    fn built_device_descriptor_parses_back(mps0 in any::<u8>(), vendor in any::<u16>(), product in any::<u16>(), tail in vec(any::<u8>(), 0..8)) {
        let [v0, v1] = vendor.to_le_bytes();
        let [p0, p1] = product.to_le_bytes();
        let mut d = vec![18, 1, 0, 2, 0, 0, 0, mps0, v0, v1, p0, p1, 0, 1, 1, 2, 3, 1];
        d.extend_from_slice(&tail);
        prop_assert_eq!(
            DeviceDescriptor::parse(&d),
            Ok(DeviceDescriptor { max_packet_size0: mps0, vendor, product, class: 0, protocol: 0 })
        );
        read_usb_like_the_kernel(&d);
    }

    /// Hub descriptors with a right type in front: a hub is accepted
    /// exactly when its port count is 1 to 31 and `bDescLength` and the
    /// bytes read both cover the DeviceRemovable bitmap; it parses back.
    #[test]
    fn hub_descriptor(length in any::<u8>(), ports in prop_oneof![1..=31u8, any::<u8>()], chars in any::<u16>(), good in any::<u8>(), rest in vec(any::<u8>(), 0..70)) {
        let [c0, c1] = chars.to_le_bytes();
        let mut h = vec![length, 0x29, ports, c0, c1, good, 0];
        h.extend_from_slice(&rest);
        let need = 7 + usize::from(ports) / 8 + 1;
        let expected = if ports == 0 || ports > 31 {
            Err(HubDescriptorError::BadPortCount { ports })
        } else if h.len().min(usize::from(length)) < need {
            Err(HubDescriptorError::Short { len: h.len().min(usize::from(length)), need })
        } else {
            Ok(HubDescriptor { ports, characteristics: chars, power_on_to_good: good })
        };
        prop_assert_eq!(HubDescriptor::parse(&h), expected);
        read_usb_like_the_kernel(&h);
    }
}
