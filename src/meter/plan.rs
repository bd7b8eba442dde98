//! Pure read planning: which requests fetch a profile's registers in as few reads as the
//! device allows.
//!
//! Registers of the same table are merged into one block while the block stays within
//! `max-block-registers` and the unmapped gap between two neighbours within
//! `max-gap-registers`. Scale-factor registers are part of the plan. Must never do IO.

use crate::profiles::meter::{Profile, RegisterKind};

/// One read request: function code 0x04 (input) or 0x03 (holding), `count` registers
/// from `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub kind: RegisterKind,
    pub start: u16,
    pub count: u16,
}

/// The blocks that read every register of `profile`, addresses offset by `base`.
pub fn plan(profile: &Profile, base: u16) -> Vec<Block> {
    let mut spans: Vec<(RegisterKind, u32, u32)> = Vec::new();
    for r in &profile.registers {
        let start = u32::from(base) + u32::from(r.address);
        spans.push((r.kind, start, start + u32::from(r.value_type.words())));
        if let Some(sf) = r.scale_register {
            let sf = u32::from(base) + u32::from(sf);
            spans.push((r.kind, sf, sf + 1));
        }
    }
    spans.sort();
    let max = u32::from(profile.max_block_registers);
    let gap = u32::from(profile.max_gap_registers);
    let mut blocks: Vec<(RegisterKind, u32, u32)> = Vec::new();
    for (kind, start, end) in spans {
        if let Some(last) = blocks.last_mut()
            && last.0 == kind
            && start <= last.2 + gap
            && end.max(last.2) - last.1 <= max
        {
            last.2 = last.2.max(end);
            continue;
        }
        blocks.push((kind, start, end));
    }
    blocks
        .into_iter()
        // Addresses above 0xFFFF cannot be expressed in a Modbus PDU; such a register
        // will be reported as missing by decoding.
        .filter(|(_, start, end)| *end <= 0x1_0000 && *start < *end)
        .map(|(kind, start, end)| Block {
            kind,
            start: start as u16,
            count: (end - start) as u16,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn profile(max: u16, gap: u16, regs: &[(&str, &str, u16, &str)]) -> Profile {
        let mut text = format!(
            "vendor='t'\nmodel='t'\nsource='t'\nmax-block-registers={max}\nmax-gap-registers={gap}\n"
        );
        for (q, kind, addr, ty) in regs {
            let unit = if q.starts_with("current") { "A" } else { "V" };
            text.push_str(&format!(
                "[[register]]\nquantity='{q}'\nkind='{kind}'\naddress={addr}\ntype='{ty}'\nunit='{unit}'\n"
            ));
        }
        Profile::parse(&text, Path::new("t.toml")).unwrap()
    }

    #[test]
    fn contiguous_registers_share_a_block_up_to_the_limit() {
        let p = profile(
            4,
            0,
            &[
                ("current-l1", "input", 0, "f32"),
                ("current-l2", "input", 2, "f32"),
                ("current-l3", "input", 4, "f32"),
                ("voltage-l1", "holding", 4, "u16"),
            ],
        );
        let b = plan(&p, 0);
        assert_eq!(
            b,
            vec![
                Block {
                    kind: RegisterKind::Input,
                    start: 0,
                    count: 4
                },
                Block {
                    kind: RegisterKind::Input,
                    start: 4,
                    count: 2
                },
                Block {
                    kind: RegisterKind::Holding,
                    start: 4,
                    count: 1
                },
            ]
        );
    }

    #[test]
    fn gaps_are_bridged_only_when_allowed() {
        let regs = [
            ("current-l1", "input", 0, "u16"),
            ("current-l2", "input", 5, "u16"),
        ];
        assert_eq!(plan(&profile(100, 0, &regs), 0).len(), 2);
        let one = plan(&profile(100, 4, &regs), 10);
        assert_eq!(
            one,
            vec![Block {
                kind: RegisterKind::Input,
                start: 10,
                count: 6
            }]
        );
    }
}
