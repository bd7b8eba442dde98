//! A simulated grid meter: a Modbus TCP server that answers like an Eastron SDM630 and
//! reads the sum of the building load and every vehicle's draw, per site phase.
//!
//! The register image is built here from the vendor's map (SDM630 Modbus protocol V1.8:
//! input registers, FC 0x04, IEEE 754 float32, high word first), independent of
//! chargegate's profile decoder, so that a test through it checks the decoder against the
//! device and not against itself. Like a live meter its voltages jitter, so consecutive
//! images differ (chargegate treats an identical image as a frozen meter). A `silent`
//! meter keeps its connections open and never answers, which is how a meter behind a dead
//! RS-485 gateway looks to a poller.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_modbus::prelude::{ExceptionCode, Request, Response, SlaveRequest};
use tokio_modbus::server::Service;

/// Line-to-neutral voltage the meter reports, in V.
const NOMINAL_V: f64 = 230.0;

/// SDM630 input register addresses (30001 = 0x0000), float32 each.
mod reg {
    pub const VOLTAGE: [u16; 3] = [0x0000, 0x0002, 0x0004];
    pub const CURRENT: [u16; 3] = [0x0006, 0x0008, 0x000A];
    pub const POWER: [u16; 3] = [0x000C, 0x000E, 0x0010];
    pub const POWER_TOTAL: u16 = 0x0034;
    pub const FREQUENCY: u16 = 0x0046;
    pub const IMPORT_KWH: u16 = 0x0048;
    pub const EXPORT_KWH: u16 = 0x004A;
    /// The highest register the image covers (export energy's low word).
    pub const LAST: u16 = 0x004B;
}

#[derive(Debug, Default)]
struct State {
    /// Non-charger load per site phase, A.
    building_a: [f64; 3],
    /// Each consumer's draw per site phase, A (a vehicle through its charger's rotation).
    draws: BTreeMap<String, [f64; 3]>,
    silent: bool,
    reads: u64,
    import_kwh: f64,
    last_read: Option<tokio::time::Instant>,
}

/// A handle to a running simulated meter; cheap to clone.
#[derive(Debug, Clone)]
pub struct SimMeter {
    state: Arc<Mutex<State>>,
    unit_id: u8,
    addr: SocketAddr,
}

/// The running server; dropping it does not stop it, `stop` does.
#[derive(Debug)]
pub struct SimMeterServer {
    pub meter: SimMeter,
    task: JoinHandle<()>,
}

impl SimMeterServer {
    /// Binds `listen` (use port 0 for a free one) and serves unit `unit_id`.
    pub async fn start(listen: SocketAddr, unit_id: u8) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let meter = SimMeter {
            state: Arc::new(Mutex::new(State::default())),
            unit_id,
            addr,
        };
        let server = tokio_modbus::server::tcp::Server::new(listener);
        let service = meter.clone();
        let task = tokio::spawn(async move {
            let on_connected = move |stream, _peer| {
                let service = service.clone();
                async move { Ok(Some((service, stream))) }
            };
            // A client's broken frame ends that client's connection only.
            let _ = server.serve(&on_connected, |_err| {}).await;
        });
        Ok(Self { meter, task })
    }

    /// Stops listening and closes every connection.
    pub fn stop(self) {
        self.task.abort();
    }
}

impl SimMeter {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where the meter listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sets the non-charger load per site phase, in A.
    pub fn set_building(&self, amps: [f64; 3]) {
        self.lock().building_a = amps;
    }

    /// Sets what consumer `name` draws per site phase, in A.
    pub fn set_draw(&self, name: &str, amps: [f64; 3]) {
        self.lock().draws.insert(name.to_string(), amps);
    }

    /// A silent meter answers nothing until it is made to speak again.
    pub fn set_silent(&self, silent: bool) {
        self.lock().silent = silent;
    }

    /// The current per site phase the meter measures now, in A.
    pub fn currents(&self) -> [f64; 3] {
        Self::sum(&self.lock())
    }

    /// How many register reads the meter has answered.
    pub fn reads(&self) -> u64 {
        self.lock().reads
    }

    fn sum(state: &State) -> [f64; 3] {
        let mut out = state.building_a;
        for draw in state.draws.values() {
            for (total, d) in out.iter_mut().zip(draw) {
                *total += d;
            }
        }
        out
    }

    /// The register image now: 0x0000..=0x004B, input registers.
    fn image(state: &mut State) -> Vec<u16> {
        let now = tokio::time::Instant::now();
        let currents = Self::sum(state);
        // The voltage wanders by a few tenths of a volt, as on a live network.
        let jitter = (state.reads % 7) as f64 * 0.05;
        let volts: [f64; 3] = [NOMINAL_V + jitter, NOMINAL_V - jitter, NOMINAL_V + 0.1];
        let powers: [f64; 3] = [0, 1, 2].map(|p| volts[p] * currents[p]);
        let total_w: f64 = powers.iter().sum();
        if let Some(last) = state.last_read {
            let hours = now.duration_since(last).as_secs_f64() / 3600.0;
            state.import_kwh += total_w.max(0.0) * hours / 1000.0;
        }
        state.last_read = Some(now);
        state.reads += 1;
        let mut image = vec![0u16; usize::from(reg::LAST) + 1];
        let mut put = |addr: u16, value: f64| {
            let bits = (value as f32).to_bits();
            image[usize::from(addr)] = (bits >> 16) as u16;
            image[usize::from(addr) + 1] = bits as u16;
        };
        for p in 0..3 {
            put(reg::VOLTAGE[p], volts[p]);
            put(reg::CURRENT[p], currents[p]);
            put(reg::POWER[p], powers[p]);
        }
        put(reg::POWER_TOTAL, total_w);
        put(reg::FREQUENCY, 50.0);
        put(reg::IMPORT_KWH, state.import_kwh);
        put(reg::EXPORT_KWH, 0.0);
        image
    }

    fn answer(&self, req: SlaveRequest<'static>) -> Option<Result<Response, ExceptionCode>> {
        let mut state = self.lock();
        if state.silent {
            return None;
        }
        if req.slave != self.unit_id {
            // A TCP gateway without that device behind it (Modbus exception 0x0B).
            return Some(Err(ExceptionCode::GatewayTargetDevice));
        }
        let Request::ReadInputRegisters(start, count) = req.request else {
            return Some(Err(ExceptionCode::IllegalFunction));
        };
        let end = usize::from(start) + usize::from(count);
        if count == 0 || end > usize::from(reg::LAST) + 1 {
            // Modbus Application Protocol V1.1b3 §6.4: exception 0x02 outside the map.
            return Some(Err(ExceptionCode::IllegalDataAddress));
        }
        let image = Self::image(&mut state);
        Some(Ok(Response::ReadInputRegisters(
            image[usize::from(start)..end].to_vec(),
        )))
    }
}

type Answer = Pin<Box<dyn Future<Output = Result<Response, ExceptionCode>> + Send>>;

impl Service for SimMeter {
    type Request = SlaveRequest<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Answer;

    fn call(&self, req: Self::Request) -> Self::Future {
        match self.answer(req) {
            Some(answer) => Box::pin(std::future::ready(answer)),
            None => Box::pin(std::future::pending()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_modbus::client::{Reader, tcp};

    fn f32_at(words: &[u16], offset: usize) -> f32 {
        f32::from_bits(u32::from(words[offset]) << 16 | u32::from(words[offset + 1]))
    }

    #[tokio::test]
    async fn sums_building_load_and_draws_per_phase_on_the_wire() {
        let server = SimMeterServer::start("127.0.0.1:0".parse().unwrap(), 1)
            .await
            .unwrap();
        let meter = server.meter.clone();
        meter.set_building([10.0, 20.0, 30.0]);
        meter.set_draw("CP-1", [16.0, 16.0, 16.0]);
        meter.set_draw("CP-2", [0.0, 8.0, 0.0]);
        let mut client = tcp::connect_slave(meter.addr(), tokio_modbus::Slave(1))
            .await
            .unwrap();
        let words = client.read_input_registers(0, 0x12).await.unwrap().unwrap();
        assert_eq!(f32_at(&words, 6), 26.0);
        assert_eq!(f32_at(&words, 8), 44.0);
        assert_eq!(f32_at(&words, 10), 46.0);
        let first_voltage = f32_at(&words, 0);
        let again = client.read_input_registers(0, 2).await.unwrap().unwrap();
        assert_ne!(f32_at(&again, 0), first_voltage, "the voltage jitters");
        // Outside the map: exception 0x02.
        let outside = client.read_input_registers(0x004A, 4).await.unwrap();
        assert_eq!(outside, Err(ExceptionCode::IllegalDataAddress));
        assert_eq!(meter.currents(), [26.0, 44.0, 46.0]);
        server.stop();
    }

    #[tokio::test]
    async fn a_silent_meter_does_not_answer() {
        let server = SimMeterServer::start("127.0.0.1:0".parse().unwrap(), 1)
            .await
            .unwrap();
        let meter = server.meter.clone();
        let mut client = tcp::connect_slave(meter.addr(), tokio_modbus::Slave(1))
            .await
            .unwrap();
        meter.set_silent(true);
        let read = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            client.read_input_registers(0, 2),
        )
        .await;
        assert!(read.is_err(), "answered while silent: {read:?}");
        assert_eq!(meter.reads(), 0);
        server.stop();
    }
}
