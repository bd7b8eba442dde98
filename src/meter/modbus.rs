//! The Modbus IO: connect (TCP or RTU), read blocks, find a SunSpec model; every call
//! time-limited (tokio-modbus has no timeouts of its own, CRATES.md).
//!
//! tokio-modbus answers `Result<Result<T, ExceptionCode>, Error>`: the outer error is the
//! transport's fault (socket, framing), the inner one the device's (a Modbus exception,
//! e.g. 0x02 Illegal Data Address for a wrong profile). `ReadError` keeps them apart so
//! that a transport failure reconnects and an exception does not. Must never decide what
//! the values mean.

use std::fmt;
use std::time::Duration;

use tokio::time::timeout;
use tokio_modbus::client::{Context, Reader};
use tokio_modbus::prelude::{ExceptionCode, Slave, SlaveContext};

use super::decode::{DecodeError, RegisterImage};
use super::plan::Block;
use crate::config::{MeterTransport, Parity, RtuSettings};
use crate::profiles::meter::{RegisterKind, SunSpec};

/// Why a read failed, and whose fault it is.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    #[error("no answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("cannot connect to {target}: {message}")]
    Connect { target: String, message: String },
    #[error("transport error: {0}")]
    Transport(String),
    #[error(
        "the device answered exception {code} ({code_num:#04x}) to function {function:#04x} for {count} register(s) at address {start}"
    )]
    Exception {
        function: u8,
        start: u16,
        count: u16,
        code: ExceptionCode,
        code_num: u8,
    },
    #[error("{0}")]
    Decode(#[from] DecodeError),
    #[error("no SunSpec model found: {0}")]
    SunSpec(String),
}

impl ReadError {
    /// Transport failures and timeouts leave the connection in an unknown state (a late
    /// answer would be taken for the next request's): reconnect. An exception does not.
    pub fn needs_reconnect(&self) -> bool {
        matches!(
            self,
            ReadError::Timeout(_) | ReadError::Connect { .. } | ReadError::Transport(_)
        )
    }
}

/// A connected Modbus client (TCP socket or serial port).
pub struct Connection {
    ctx: Context,
    target: String,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("target", &self.target)
            .finish()
    }
}

/// Where a poller connects: a TCP meter or gateway, or a serial RS-485 bus.
pub fn describe(transport: &MeterTransport) -> String {
    match transport {
        MeterTransport::Tcp(addr) => format!("tcp://{addr}"),
        MeterTransport::Rtu(rtu) => format!("rtu:{}@{}", rtu.device, rtu.baud),
    }
}

/// Opens the transport within `limit`.
pub async fn connect(transport: &MeterTransport, limit: Duration) -> Result<Connection, ReadError> {
    let target = describe(transport);
    let fail = |message: String| ReadError::Connect {
        target: target.clone(),
        message,
    };
    let ctx = match transport {
        MeterTransport::Tcp(addr) => {
            let stream = timeout(limit, tokio::net::TcpStream::connect(addr.as_str()))
                .await
                .map_err(|_| fail(format!("no connection within {} ms", limit.as_millis())))?
                .map_err(|e| fail(e.to_string()))?;
            // Nagle would hold back the 12-byte requests of Modbus TCP.
            let _ = stream.set_nodelay(true);
            tokio_modbus::client::tcp::attach_slave(stream, Slave(1))
        }
        MeterTransport::Rtu(rtu) => {
            let stream = open_serial(rtu).map_err(|e| fail(e.to_string()))?;
            tokio_modbus::client::rtu::attach_slave(stream, Slave(1))
        }
    };
    Ok(Connection { ctx, target })
}

fn open_serial(rtu: &RtuSettings) -> tokio_serial::Result<tokio_serial::SerialStream> {
    use tokio_serial::{DataBits, SerialPortBuilderExt, StopBits};
    tokio_serial::new(&rtu.device, rtu.baud)
        .parity(match rtu.parity {
            Parity::None => tokio_serial::Parity::None,
            Parity::Even => tokio_serial::Parity::Even,
            Parity::Odd => tokio_serial::Parity::Odd,
        })
        .data_bits(if rtu.data_bits == 7 {
            DataBits::Seven
        } else {
            DataBits::Eight
        })
        .stop_bits(if rtu.stop_bits == 2 {
            StopBits::Two
        } else {
            StopBits::One
        })
        .open_native_async()
}

impl Connection {
    /// Wraps an already open stream (tests: a pseudo-terminal or an in-memory pipe).
    pub fn attach_rtu<T>(stream: T, target: String) -> Self
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + fmt::Debug + 'static,
    {
        Self {
            ctx: tokio_modbus::client::rtu::attach_slave(stream, Slave(1)),
            target,
        }
    }

    pub fn target(&self) -> &str {
        &self.target
    }

    /// Reads one block from unit `unit` with function code 0x04 or 0x03.
    pub async fn read_block(
        &mut self,
        unit: u8,
        block: Block,
        limit: Duration,
    ) -> Result<Vec<u16>, ReadError> {
        self.ctx.set_slave(Slave(unit));
        let call = async {
            match block.kind {
                RegisterKind::Input => {
                    self.ctx
                        .read_input_registers(block.start, block.count)
                        .await
                }
                RegisterKind::Holding => {
                    self.ctx
                        .read_holding_registers(block.start, block.count)
                        .await
                }
            }
        };
        match timeout(limit, call).await {
            Err(_) => Err(ReadError::Timeout(limit)),
            Ok(Err(e)) => Err(ReadError::Transport(e.to_string())),
            Ok(Ok(Err(code))) => Err(ReadError::Exception {
                function: block.kind.function_code(),
                start: block.start,
                count: block.count,
                code,
                code_num: u8::from(code),
            }),
            Ok(Ok(Ok(words))) if words.len() == usize::from(block.count) => Ok(words),
            Ok(Ok(Ok(words))) => Err(ReadError::Transport(format!(
                "asked for {} registers, got {}",
                block.count,
                words.len()
            ))),
        }
    }

    /// Reads every block into one image.
    pub async fn read_image(
        &mut self,
        unit: u8,
        blocks: &[Block],
        limit: Duration,
    ) -> Result<RegisterImage, ReadError> {
        let mut image = RegisterImage::default();
        for block in blocks {
            let words = self.read_block(unit, *block, limit).await?;
            image.insert(block.kind, block.start, &words);
        }
        Ok(image)
    }

    /// SunSpec discovery (SunSpec Modbus spec §4): "SunS" (0x5375 0x6E53) at a base
    /// address in holding registers (FC 0x03), then models as (ID, L) headers each
    /// followed by L registers, ending with ID 0xFFFF. Returns the address of the first
    /// model whose ID is in `spec.models`.
    pub async fn find_sunspec(
        &mut self,
        unit: u8,
        spec: &SunSpec,
        limit: Duration,
    ) -> Result<u16, ReadError> {
        let mut tried = Vec::new();
        for &base in &spec.base_addresses {
            let marker = self.read_block(unit, holding(base, 2), limit).await;
            match marker {
                Ok(w) if w == [0x5375, 0x6E53] => {}
                Ok(w) => {
                    tried.push(format!("{base}: {:#06x} {:#06x}", w[0], w[1]));
                    continue;
                }
                Err(e) if e.needs_reconnect() => return Err(e),
                Err(e) => {
                    tried.push(format!("{base}: {e}"));
                    continue;
                }
            }
            let mut addr = u32::from(base) + 2;
            let mut seen = Vec::new();
            // A device has a handful of models; 64 bounds a corrupt chain.
            for _ in 0..64 {
                let Ok(at) = u16::try_from(addr) else { break };
                let header = self.read_block(unit, holding(at, 2), limit).await?;
                let (id, len) = (header[0], header[1]);
                if id == 0xFFFF {
                    break;
                }
                if spec.models.contains(&id) {
                    return Ok(at);
                }
                seen.push(id.to_string());
                addr += 2 + u32::from(len);
            }
            return Err(ReadError::SunSpec(format!(
                "SunS at {base}, models present: [{}], wanted one of {:?}",
                seen.join(", "),
                spec.models
            )));
        }
        Err(ReadError::SunSpec(format!(
            "no SunS marker; tried {}",
            tried.join("; ")
        )))
    }
}

fn holding(start: u16, count: u16) -> Block {
    Block {
        kind: RegisterKind::Holding,
        start,
        count,
    }
}
