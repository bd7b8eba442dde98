//! Pure register decoding: a register image in, typed quantities in base units out.
//!
//! A `RegisterImage` is what one poll read (address -> 16-bit word per register table).
//! `decode` turns it into `Values` through a profile: word and byte order, type, fixed
//! scale or a SunSpec scale-factor register, unit. `plausible` rejects what no meter on a
//! low-voltage connection can report (NaN, 1e9 A), so such a reading is never used.
//! Must never do IO or read the clock.

use std::collections::{BTreeMap, HashMap};

use crate::profiles::meter::{Order, Profile, Quantity, Register, RegisterKind, ValueType};

/// Register words read in one poll, by table and 0-based address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RegisterImage {
    words: BTreeMap<(RegisterKind, u16), u16>,
}

impl RegisterImage {
    /// Stores `words` read from `kind` starting at `start`.
    pub fn insert(&mut self, kind: RegisterKind, start: u16, words: &[u16]) {
        for (i, w) in words.iter().enumerate() {
            if let Some(addr) = start.checked_add(i as u16) {
                self.words.insert((kind, addr), *w);
            }
        }
    }

    pub fn get(&self, kind: RegisterKind, addr: u16) -> Option<u16> {
        self.words.get(&(kind, addr)).copied()
    }

    fn span(&self, kind: RegisterKind, start: u16, len: u16) -> Option<Vec<u16>> {
        (0..len)
            .map(|i| self.get(kind, start.checked_add(i)?))
            .collect()
    }
}

/// Decoded quantities in base units (V, A, W, Wh, Hz).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Values(pub HashMap<Quantity, f64>);

impl Values {
    pub fn get(&self, q: Quantity) -> Option<f64> {
        self.0.get(&q).copied()
    }
}

/// Why a quantity could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("{quantity}: register {kind:?} {address} was not read")]
    Missing {
        quantity: &'static str,
        kind: RegisterKind,
        address: u16,
    },
    #[error("{quantity}: the device reports it as not available (raw {raw:#06x})")]
    NotAvailable { quantity: &'static str, raw: u16 },
    #[error("{quantity}: {value} is not a number a meter can report")]
    Implausible { quantity: &'static str, value: f64 },
}

/// Assembles the raw number from `words` (as read, lowest address first).
pub fn raw_number(words: &[u16], ty: ValueType, word_order: Order, byte_order: Order) -> f64 {
    let mut ordered: Vec<u16> = words
        .iter()
        .map(|w| match byte_order {
            Order::Big => *w,
            Order::Little => w.swap_bytes(),
        })
        .collect();
    if word_order == Order::Little {
        ordered.reverse();
    }
    let bits = ordered
        .iter()
        .fold(0u64, |acc, w| (acc << 16) | u64::from(*w));
    match ty {
        ValueType::U16 => bits as u16 as f64,
        ValueType::I16 => bits as u16 as i16 as f64,
        ValueType::U32 => bits as u32 as f64,
        ValueType::I32 => bits as u32 as i32 as f64,
        ValueType::U64 => bits as f64,
        ValueType::F32 => f64::from(f32::from_bits(bits as u32)),
        ValueType::F64 => f64::from_bits(bits),
    }
}

/// SunSpec "not implemented" markers (SunSpec Information Model Specification: int16
/// 0x8000, uint16 0xFFFF, int32 0x80000000). An acc32 of 0 also means "not implemented"
/// there, but it is read as 0 Wh: a new meter's counter is 0 too, and energy is not used
/// for limits.
fn sunspec_not_implemented(words: &[u16], ty: ValueType) -> bool {
    match ty {
        ValueType::I16 => words == [0x8000],
        ValueType::U16 => words == [0xFFFF],
        ValueType::I32 => words == [0x8000, 0x0000],
        _ => false,
    }
}

/// Decodes one register of `profile` from `image`. `base` is added to every address
/// (the SunSpec model start; 0 for plain maps).
pub fn decode_register(
    profile: &Profile,
    reg: &Register,
    image: &RegisterImage,
    base: u16,
) -> Result<f64, DecodeError> {
    let quantity = reg.quantity.name();
    let address = base.wrapping_add(reg.address);
    let words = image
        .span(reg.kind, address, reg.value_type.words())
        .ok_or(DecodeError::Missing {
            quantity,
            kind: reg.kind,
            address,
        })?;
    if profile.sunspec.is_some() && sunspec_not_implemented(&words, reg.value_type) {
        return Err(DecodeError::NotAvailable {
            quantity,
            raw: words[0],
        });
    }
    let word_order = reg.word_order.unwrap_or(profile.word_order);
    let mut value = raw_number(&words, reg.value_type, word_order, profile.byte_order);
    if let Some(sf_addr) = reg.scale_register {
        let sf_addr = base.wrapping_add(sf_addr);
        let sf = image.get(reg.kind, sf_addr).ok_or(DecodeError::Missing {
            quantity,
            kind: reg.kind,
            address: sf_addr,
        })?;
        // SunSpec sunssf: int16 exponent of ten, valid -10..=10; 0x8000 = not implemented.
        let sf = sf as i16;
        if !(-10..=10).contains(&sf) {
            return Err(DecodeError::NotAvailable {
                quantity,
                raw: sf as u16,
            });
        }
        value *= 10f64.powi(i32::from(sf));
    }
    Ok(value * reg.scale * reg.unit.to_base())
}

/// Decodes every mapped quantity; the first failure is returned with its quantity.
pub fn decode(profile: &Profile, image: &RegisterImage, base: u16) -> Result<Values, DecodeError> {
    let mut values = Values::default();
    for reg in &profile.registers {
        let v = decode_register(profile, reg, image, base)?;
        values.0.insert(reg.quantity, v);
    }
    plausible(&values)?;
    Ok(values)
}

/// Upper bounds no meter on a low-voltage grid connection reports. A 1e9 A reading is a
/// decoding or device fault, not a load, and is never used.
const MAX_CURRENT_A: f64 = 10_000.0;
const MAX_VOLTAGE_V: f64 = 1_000.0;
const MAX_POWER_W: f64 = 10_000_000.0;

/// Rejects NaN, infinities and physically absurd values.
pub fn plausible(values: &Values) -> Result<(), DecodeError> {
    for (q, v) in &values.0 {
        let ok = v.is_finite()
            && match q {
                Quantity::CurrentL1 | Quantity::CurrentL2 | Quantity::CurrentL3 => {
                    v.abs() <= MAX_CURRENT_A
                }
                Quantity::VoltageL1 | Quantity::VoltageL2 | Quantity::VoltageL3 => {
                    (0.0..=MAX_VOLTAGE_V).contains(v)
                }
                Quantity::PowerL1
                | Quantity::PowerL2
                | Quantity::PowerL3
                | Quantity::PowerTotal => v.abs() <= MAX_POWER_W,
                // Energy registers only count up; 1e15 Wh is beyond any meter's display.
                Quantity::EnergyImport | Quantity::EnergyExport => (0.0..1e15).contains(v),
                // Grid frequency; 0 is accepted because some meters report 0 while
                // measuring the first cycles.
                Quantity::Frequency => *v == 0.0 || (40.0..=70.0).contains(v),
            };
        if !ok {
            return Err(DecodeError::Implausible {
                quantity: q.name(),
                value: *v,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_words(v: f32) -> [u16; 2] {
        let b = v.to_bits();
        [(b >> 16) as u16, b as u16]
    }

    #[test]
    fn types_and_orders() {
        let w = f32_words(230.5);
        assert_eq!(
            raw_number(&w, ValueType::F32, Order::Big, Order::Big),
            230.5
        );
        let swapped = [w[1], w[0]];
        assert_eq!(
            raw_number(&swapped, ValueType::F32, Order::Little, Order::Big),
            230.5
        );
        let bytes = [w[0].swap_bytes(), w[1].swap_bytes()];
        assert_eq!(
            raw_number(&bytes, ValueType::F32, Order::Big, Order::Little),
            230.5
        );
        assert_eq!(
            raw_number(&[0xFFFF], ValueType::I16, Order::Big, Order::Big),
            -1.0
        );
        assert_eq!(
            raw_number(&[0xFFFF], ValueType::U16, Order::Big, Order::Big),
            65535.0
        );
        assert_eq!(
            raw_number(&[0xFFFF, 0xFFFE], ValueType::I32, Order::Big, Order::Big),
            -2.0
        );
        assert_eq!(
            raw_number(&[0x0001, 0x0000], ValueType::U32, Order::Big, Order::Big),
            65536.0
        );
        assert_eq!(
            raw_number(
                &[0, 0, 0x0001, 0x0000],
                ValueType::U64,
                Order::Big,
                Order::Big
            ),
            65536.0
        );
        let b = 50.01f64.to_bits();
        let w64 = [
            (b >> 48) as u16,
            (b >> 32) as u16,
            (b >> 16) as u16,
            b as u16,
        ];
        assert_eq!(
            raw_number(&w64, ValueType::F64, Order::Big, Order::Big),
            50.01
        );
    }

    fn profile(extra: &str) -> Profile {
        let text = format!(
            "vendor='t'\nmodel='t'\nsource='t'\nmax-block-registers=20\n{extra}\n\
             [[register]]\nquantity='current-l1'\nkind='holding'\naddress=2\ntype='i16'\nunit='A'\nscale-register=3\n"
        );
        Profile::parse(&text, std::path::Path::new("t.toml")).unwrap()
    }

    #[test]
    fn sunspec_scale_factor_and_not_implemented() {
        let p = profile("");
        let mut image = RegisterImage::default();
        image.insert(RegisterKind::Holding, 100, &[0, 0, 1234, (-2i16) as u16]);
        let v = decode(&p, &image, 100).unwrap();
        assert!((v.get(Quantity::CurrentL1).unwrap() - 12.34).abs() < 1e-9);
        let sun = profile("sunspec = { base-addresses = [40000], models = [203] }");
        image.insert(RegisterKind::Holding, 102, &[0x8000]);
        assert!(matches!(
            decode(&sun, &image, 100),
            Err(DecodeError::NotAvailable { .. })
        ));
        assert!(matches!(
            decode(&p, &RegisterImage::default(), 0),
            Err(DecodeError::Missing { address: 2, .. })
        ));
    }

    #[test]
    fn absurd_values_are_rejected() {
        let mut v = Values::default();
        v.0.insert(Quantity::CurrentL1, 1e9);
        assert!(plausible(&v).is_err());
        v.0.insert(Quantity::CurrentL1, f64::NAN);
        assert!(plausible(&v).is_err());
        v.0.insert(Quantity::CurrentL1, -12.0);
        v.0.insert(Quantity::Frequency, 49.98);
        assert!(plausible(&v).is_ok());
        v.0.insert(Quantity::VoltageL1, -5.0);
        assert!(plausible(&v).is_err());
    }

    /// Issue 17: a float register that is infinite as read, or whose value overflows to
    /// infinity in base units (f64::MAX kWh), is refused like NaN and never becomes a reading.
    #[test]
    fn a_float_that_is_or_becomes_infinite_is_refused() {
        let text = "vendor='t'\nmodel='t'\nsource='t'\nmax-block-registers=20\n\
             [[register]]\nquantity='current-l1'\nkind='input'\naddress=0\ntype='f32'\nunit='A'\n\
             [[register]]\nquantity='energy-import'\nkind='input'\naddress=2\ntype='f64'\nunit='kWh'\n";
        let p = Profile::parse(text, std::path::Path::new("t.toml")).unwrap();
        let max = f64::MAX.to_bits();
        let energy = [
            (max >> 48) as u16,
            (max >> 32) as u16,
            (max >> 16) as u16,
            max as u16,
        ];
        let image = |current: [u16; 2], energy: [u16; 4]| {
            let mut image = RegisterImage::default();
            image.insert(RegisterKind::Input, 0, &current);
            image.insert(RegisterKind::Input, 2, &energy);
            image
        };
        let fine = image(f32_words(16.0), [0; 4]);
        assert_eq!(
            decode(&p, &fine, 0).unwrap().get(Quantity::CurrentL1),
            Some(16.0)
        );
        for (current, energy, quantity) in [
            (f32_words(f32::INFINITY), [0; 4], "current-l1"),
            (f32_words(f32::NEG_INFINITY), [0; 4], "current-l1"),
            (f32_words(16.0), energy, "energy-import"),
        ] {
            match decode(&p, &image(current, energy), 0) {
                Err(DecodeError::Implausible { quantity: q, value }) => {
                    assert_eq!(q, quantity);
                    assert!(value.is_infinite(), "{value}");
                }
                other => panic!("{quantity}: an infinite value is refused, got {other:?}"),
            }
        }
    }
}
