//! The building meter for the reaction bench: the SDM630 simulator (`sim::SimMeter`, its
//! register image and its load) served through a wrapper that notes, for every answer,
//! when it left and the load it carried. The simulator keeps no such log, and the bench
//! measures from that moment.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chargegate::sim::{SimMeter, SimMeterServer};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_modbus::prelude::{ExceptionCode, Response, SlaveRequest};
use tokio_modbus::server::Service;

/// The Modbus unit the site file names (its default).
const UNIT_ID: u8 = 1;

/// When each answer left and the highest phase current in it.
type Log = Arc<Mutex<Vec<(Instant, f64)>>>;

#[derive(Clone)]
struct Timed {
    meter: SimMeter,
    log: Log,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response, ExceptionCode>> + Send>>;

impl Service for Timed {
    type Request = SlaveRequest<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Answer;

    fn call(&self, req: Self::Request) -> Self::Future {
        // The image is built inside `call`, from the load in force now.
        let carried = self.meter.currents().into_iter().fold(f64::MIN, f64::max);
        let answer = self.meter.call(req);
        let log = self.log.clone();
        Box::pin(async move {
            let result = answer.await;
            if result.is_ok() {
                log.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((Instant::now(), carried));
            }
            result
        })
    }
}

/// A running timed meter.
pub struct TimedMeter {
    pub meter: SimMeter,
    pub addr: SocketAddr,
    log: Log,
    task: JoinHandle<()>,
}

impl TimedMeter {
    pub async fn start() -> Result<Self, String> {
        // The simulator's own server is only where its state comes from; it is stopped
        // at once and the wrapper serves the same state.
        let own = SimMeterServer::start(([127, 0, 0, 1], 0).into(), UNIT_ID)
            .await
            .map_err(|e| format!("meter: {e}"))?;
        let meter = own.meter.clone();
        own.stop();
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| format!("meter: {e}"))?;
        let addr = listener.local_addr().map_err(|e| format!("meter: {e}"))?;
        let log = Log::default();
        let service = Timed {
            meter: meter.clone(),
            log: log.clone(),
        };
        let server = tokio_modbus::server::tcp::Server::new(listener);
        let task = tokio::spawn(async move {
            let on_connected = move |stream, _peer| {
                let service = service.clone();
                async move { Ok(Some((service, stream))) }
            };
            let _ = server.serve(&on_connected, |_err| {}).await;
        });
        Ok(Self {
            meter,
            addr,
            log,
            task,
        })
    }

    /// When the first answer left that carried a phase current of at least `amps`.
    pub fn first_answer_at_least(&self, amps: f64) -> Option<Instant> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.iter().find(|(_, a)| *a >= amps).map(|(at, _)| *at)
    }

    pub fn stop(self) {
        self.task.abort();
    }
}
