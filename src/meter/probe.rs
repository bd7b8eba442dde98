//! `chargegate meter probe`: read a meter once through a profile and print every quantity
//! with its unit, the electrician's commissioning tool.
//!
//! When a batched read fails with a Modbus exception, each register is read on its own so
//! the report says exactly which address the device refused; a timeout or transport error
//! says what was tried and what to check. Returns text; must never print or exit (main
//! does).

use std::fmt::Write;
use std::time::Duration;

use super::decode::{RegisterImage, decode_register, plausible};
use super::modbus::{Connection, ReadError, connect, describe};
use super::plan::{Block, plan};
use super::{MeterReading, Values};
use crate::config::MeterTransport;
use crate::profiles::meter::{Profile, Quantity};

/// The outcome: the report text, and whether every mapped quantity was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeReport {
    pub text: String,
    pub complete: bool,
}

/// What to check for a failure, in the electrician's words.
fn hint(e: &ReadError) -> &'static str {
    match e {
        ReadError::Timeout(_) => {
            "no answer: check the unit id, the wiring (RS-485 A/B swapped?), baud rate and parity, or the IP address"
        }
        ReadError::Connect { .. } => {
            "check the address/port (Modbus TCP is usually 502) or the serial device path"
        }
        ReadError::Exception { code_num: 0x02, .. } => {
            "the device has no such register: probably the wrong profile for this meter model"
        }
        ReadError::Exception { code_num: 0x01, .. } => {
            "the device does not support this function code: wrong profile (input vs holding registers)?"
        }
        ReadError::Exception { .. } => {
            "the device refused the request; see its manual for the exception code"
        }
        ReadError::Transport(_) => {
            "the connection broke; is another master polling the bus, or the gateway busy?"
        }
        ReadError::Decode(_) => "the values make no sense: wrong profile, word order or scale?",
        ReadError::SunSpec(_) => "not a SunSpec device, or its meter model is not 201-204",
    }
}

/// Connects, reads once and describes every quantity of `profile`.
pub async fn probe(
    profile_name: &str,
    profile: &Profile,
    transport: &MeterTransport,
    unit: u8,
    limit: Duration,
) -> ProbeReport {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "profile {profile_name} ({} {}), {} unit {unit}",
        profile.vendor,
        profile.model,
        describe(transport)
    );
    let mut conn = match connect(transport, limit).await {
        Ok(c) => c,
        Err(e) => return fail(out, &e, "connecting"),
    };
    let base = match &profile.sunspec {
        Some(spec) => match conn.find_sunspec(unit, spec, limit).await {
            Ok(base) => {
                let _ = writeln!(out, "SunSpec meter model found at holding register {base}");
                base
            }
            Err(e) => return fail(out, &e, "looking for the SunS marker (FC 0x03)"),
        },
        None => 0,
    };
    let (image, refused) = match read_image(&mut conn, profile, unit, base, limit, &mut out).await {
        Ok(read) => read,
        Err((e, what)) => return fail(out, &e, &what),
    };
    let (values, complete) = decode_all(profile, &image, base, &mut out);
    let complete = verdict(&values, complete, refused.as_ref(), &mut out);
    ProbeReport {
        text: out,
        complete,
    }
}

/// Reads the profile's register blocks; a block the meter refuses is read register by
/// register. Returns the image and the first refusal, or the error (and what was being
/// read) that needs a new connection.
async fn read_image(
    conn: &mut Connection,
    profile: &Profile,
    unit: u8,
    base: u16,
    limit: Duration,
    out: &mut String,
) -> Result<(RegisterImage, Option<ReadError>), (ReadError, String)> {
    let blocks = plan(profile, base);
    let mut image = RegisterImage::default();
    let mut refused: Option<ReadError> = None;
    for block in &blocks {
        match conn.read_block(unit, *block, limit).await {
            Ok(words) => image.insert(block.kind, block.start, &words),
            Err(e) if e.needs_reconnect() => {
                return Err((e, block_text(block)));
            }
            Err(e) => {
                let _ = writeln!(
                    out,
                    "{}: {e}; reading its registers one by one",
                    block_text(block)
                );
                single_reads(conn, profile, unit, base, *block, limit, &mut image).await;
                refused.get_or_insert(e);
            }
        }
    }
    Ok((image, refused))
}

/// Decodes every mapped quantity, one report line each; `true` when all decoded.
fn decode_all(
    profile: &Profile,
    image: &RegisterImage,
    base: u16,
    out: &mut String,
) -> (Values, bool) {
    let mut complete = true;
    let mut values = Values::default();
    for q in Quantity::ALL {
        let Some(reg) = profile.register(q) else {
            continue;
        };
        let place = format!(
            "{:?} register {} (FC {:#04x}), {:?}",
            reg.kind,
            base.wrapping_add(reg.address),
            reg.kind.function_code(),
            reg.value_type
        )
        .to_lowercase();
        match decode_register(profile, reg, image, base) {
            Ok(v) => {
                values.0.insert(q, v);
                let _ = writeln!(
                    out,
                    "  {:<14} {:>14.3} {:<3} {place}",
                    q.name(),
                    v,
                    reg.unit.base_symbol()
                );
            }
            Err(e) => {
                complete = false;
                let _ = writeln!(out, "  {:<14} {:>18} {place}: {e}", q.name(), "-");
            }
        }
    }
    (values, complete)
}

/// The closing line: INCOMPLETE, IMPLAUSIBLE or OK with the per-phase currents; `true`
/// when the values are complete and plausible.
fn verdict(
    values: &Values,
    mut complete: bool,
    refused: Option<&ReadError>,
    out: &mut String,
) -> bool {
    if let (false, Some(e)) = (complete, refused) {
        let _ = writeln!(out, "INCOMPLETE\n  hint: {}", hint(e));
    }
    if let Err(e) = plausible(values) {
        complete = false;
        let _ = writeln!(
            out,
            "IMPLAUSIBLE: {e}\n  hint: {}",
            hint(&ReadError::Decode(e.clone()))
        );
    } else if complete {
        let r = MeterReading::from_values(values, tokio::time::Instant::now(), false);
        let amps: Vec<String> = r
            .current
            .iter()
            .map(|a| a.map(|a| format!("{:.1}", a.0)).unwrap_or("-".into()))
            .collect();
        let _ = writeln!(out, "OK: per-phase current {} A", amps.join(" / "));
    }
    complete
}

fn block_text(b: &Block) -> String {
    format!(
        "reading {} {:?} register(s) from {} (FC {:#04x})",
        b.count,
        b.kind,
        b.start,
        b.kind.function_code()
    )
    .to_lowercase()
}

fn fail(mut out: String, e: &ReadError, what: &str) -> ProbeReport {
    let _ = writeln!(out, "FAILED {what}: {e}\n  hint: {}", hint(e));
    ProbeReport {
        text: out,
        complete: false,
    }
}

/// After a refused block: each register of the profile inside it on its own.
async fn single_reads(
    conn: &mut Connection,
    profile: &Profile,
    unit: u8,
    base: u16,
    block: Block,
    limit: Duration,
    image: &mut RegisterImage,
) {
    let end = u32::from(block.start) + u32::from(block.count);
    for reg in &profile.registers {
        let start = base.wrapping_add(reg.address);
        if reg.kind != block.kind || start < block.start || u32::from(start) >= end {
            continue;
        }
        let single = Block {
            kind: reg.kind,
            start,
            count: reg.value_type.words(),
        };
        if let Ok(words) = conn.read_block(unit, single, limit).await {
            image.insert(single.kind, single.start, &words);
        }
        if let Some(sf) = reg.scale_register {
            let sf = Block {
                kind: reg.kind,
                start: base.wrapping_add(sf),
                count: 1,
            };
            if let Ok(words) = conn.read_block(unit, sf, limit).await {
                image.insert(sf.kind, sf.start, &words);
            }
        }
    }
}
