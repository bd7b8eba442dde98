//! Meters over real Modbus: a tokio-modbus TCP server on 127.0.0.1 serves each profile's
//! register-image fixture; the pollers, `meter probe` (library and CLI) and the daemon read
//! it. Failure modes (silence, exceptions, closed sockets, frozen, NaN and absurd values)
//! must make the meter stale on time and recover when it answers again. RTU framing runs
//! over a pseudo-terminal pair.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_modbus::prelude::{ExceptionCode, Request, Response, SlaveRequest};
use tokio_modbus::server::Service;

use chargegate::config::{Meter, MeterRole, MeterTransport};
use chargegate::meter::decode::decode;
use chargegate::meter::modbus::{Connection, connect};
use chargegate::meter::plan::plan;
use chargegate::meter::probe::probe;
use chargegate::meter::{MeterStatus, spawn_bus_on, spawn_meters};
use chargegate::profiles::meter::{Profile, Quantity};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn profile(name: &str) -> Profile {
    Profile::load(name, &[root().join("profiles/meter")])
        .unwrap_or_else(|e| panic!("{e}"))
        .0
}

#[derive(Debug, Deserialize)]
struct Fixture {
    profile: String,
    expected: BTreeMap<String, f64>,
    block: Vec<FixtureBlock>,
}

#[derive(Debug, Deserialize)]
struct FixtureBlock {
    kind: String,
    start: u16,
    words: Vec<u16>,
}

fn fixture(path: &Path) -> Fixture {
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn fixture_named(name: &str) -> Fixture {
    fixture(&root().join(format!("tests/fixtures/meter/{name}.toml")))
}

/// How the fake meter behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Normal,
    /// Never answers.
    Silent,
    /// Answers every read with this exception.
    Exception(ExceptionCode),
    /// Answers with the same words every time.
    Frozen,
    /// current-l1 (SDM630 input 0x0006) reads as NaN.
    Nan,
    /// current-l1 reads as 1e9 A.
    Absurd,
}

#[derive(Debug)]
struct State {
    /// (holding?, address) -> word.
    image: HashMap<(bool, u16), u16>,
    unit: u8,
    mode: Mode,
    tick: u16,
}

#[derive(Debug, Clone)]
struct FakeMeter(Arc<Mutex<State>>);

type Answer = Pin<Box<dyn Future<Output = Result<Response, ExceptionCode>> + Send>>;

impl FakeMeter {
    fn new(fx: &Fixture, unit: u8) -> Self {
        let mut image = HashMap::new();
        for b in &fx.block {
            for (i, w) in b.words.iter().enumerate() {
                image.insert((b.kind == "holding", b.start + i as u16), *w);
            }
        }
        Self(Arc::new(Mutex::new(State {
            image,
            unit,
            mode: Mode::Normal,
            tick: 0,
        })))
    }

    fn set(&self, mode: Mode) {
        self.0.lock().unwrap().mode = mode;
    }

    fn read(&self, holding: bool, start: u16, count: u16) -> Result<Vec<u16>, ExceptionCode> {
        let mut st = self.0.lock().unwrap();
        if st.mode != Mode::Frozen {
            st.tick = st.tick.wrapping_add(1);
        }
        let span = st
            .image
            .keys()
            .filter(|(h, _)| *h == holding)
            .map(|(_, a)| *a);
        let (lo, hi) = (span.clone().min(), span.max());
        let mut words = Vec::new();
        for addr in start..start.saturating_add(count) {
            let word = match st.image.get(&(holding, addr)) {
                Some(w) => *w,
                // Unmapped addresses inside the map read as 0, as on most devices;
                // outside it: exception 0x02 (Modbus Application Protocol §7).
                None if lo.is_some_and(|lo| addr >= lo) && hi.is_some_and(|hi| addr <= hi) => 0,
                None => return Err(ExceptionCode::IllegalDataAddress),
            };
            let word = match (st.mode, holding, addr) {
                // Live meters jitter: flip the lowest mantissa bit of SDM630 voltage L1
                // (input 0x0001) so that consecutive images differ.
                (Mode::Normal | Mode::Nan | Mode::Absurd, false, 1) => word ^ (st.tick & 1),
                (Mode::Nan, false, 6) => 0x7FC0,
                (Mode::Nan, false, 7) => 0,
                (Mode::Absurd, false, 6) => (1e9f32.to_bits() >> 16) as u16,
                (Mode::Absurd, false, 7) => 1e9f32.to_bits() as u16,
                _ => word,
            };
            words.push(word);
        }
        Ok(words)
    }
}

impl Service for FakeMeter {
    type Request = SlaveRequest<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Answer;

    fn call(&self, req: Self::Request) -> Self::Future {
        let (mode, unit) = {
            let st = self.0.lock().unwrap();
            (st.mode, st.unit)
        };
        if mode == Mode::Silent {
            return Box::pin(std::future::pending());
        }
        if let Mode::Exception(code) = mode {
            return Box::pin(std::future::ready(Err(code)));
        }
        if req.slave != unit {
            // A TCP gateway without that device: exception 0x0B.
            return Box::pin(std::future::ready(Err(ExceptionCode::GatewayTargetDevice)));
        }
        let answer = match req.request {
            Request::ReadInputRegisters(a, n) => {
                self.read(false, a, n).map(Response::ReadInputRegisters)
            }
            Request::ReadHoldingRegisters(a, n) => {
                self.read(true, a, n).map(Response::ReadHoldingRegisters)
            }
            _ => Err(ExceptionCode::IllegalFunction),
        };
        Box::pin(std::future::ready(answer))
    }
}

/// Serves `meter` on `addr` (127.0.0.1, port 0 for a fresh one) until aborted; aborting
/// closes every connection.
async fn serve(meter: FakeMeter, addr: SocketAddr) -> (SocketAddr, JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio_modbus::server::tcp::Server::new(listener);
    let task = tokio::spawn(async move {
        let on_connected = move |stream, _addr| {
            let meter = meter.clone();
            async move { Ok(Some((meter, stream))) }
        };
        let _ = server.serve(&on_connected, |_err| {}).await;
    });
    (addr, task)
}

fn assert_close(what: &str, got: f64, want: f64) {
    let tolerance = 1e-6 * want.abs().max(1.0);
    assert!(
        (got - want).abs() <= tolerance,
        "{what}: got {got}, want {want}"
    );
}

const LIMIT: Duration = Duration::from_secs(2);

#[tokio::test]
async fn every_profile_fixture_decodes_to_its_known_values() {
    let mut count = 0;
    for entry in std::fs::read_dir(root().join("tests/fixtures/meter")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let fx = fixture(&path);
        let p = profile(&fx.profile);
        let fake = FakeMeter::new(&fx, 1);
        let (addr, server) = serve(fake, "127.0.0.1:0".parse().unwrap()).await;
        let transport = MeterTransport::Tcp(addr.to_string());
        let mut conn = connect(&transport, LIMIT).await.unwrap();
        let base = match &p.sunspec {
            Some(spec) => conn.find_sunspec(1, spec, LIMIT).await.unwrap(),
            None => 0,
        };
        let blocks = plan(&p, base);
        let image = conn.read_image(1, &blocks, LIMIT).await.unwrap();
        let values = decode(&p, &image, base).unwrap_or_else(|e| panic!("{}: {e}", fx.profile));
        for q in Quantity::ALL {
            match (values.get(q), fx.expected.get(q.name())) {
                (Some(got), Some(want)) => {
                    assert_close(&format!("{} {}", fx.profile, q.name()), got, *want)
                }
                (None, None) => {}
                (got, want) => panic!("{} {}: got {got:?}, want {want:?}", fx.profile, q.name()),
            }
        }
        // Three phases of current are what the site needs from every profile.
        for q in [
            Quantity::CurrentL1,
            Quantity::CurrentL2,
            Quantity::CurrentL3,
        ] {
            assert!(values.get(q).is_some(), "{} lacks {}", fx.profile, q.name());
        }
        let report = probe(&fx.profile, &p, &transport, 1, LIMIT).await;
        assert!(report.complete, "{}", report.text);
        assert!(report.text.contains("12.500 A"), "{}", report.text);
        server.abort();
        count += 1;
    }
    assert!(count >= 11, "only {count} fixtures");
}

#[tokio::test]
async fn probe_says_what_was_tried_when_the_profile_is_wrong() {
    let fake = FakeMeter::new(&fixture_named("eastron-sdm630"), 1);
    let (addr, server) = serve(fake, "127.0.0.1:0".parse().unwrap()).await;
    let transport = MeterTransport::Tcp(addr.to_string());
    // An ABB map against an Eastron meter: holding registers 0x5000.. do not exist.
    let report = probe("abb-b23", &profile("abb-b23"), &transport, 1, LIMIT).await;
    assert!(!report.complete);
    assert!(report.text.contains("exception"), "{}", report.text);
    assert!(report.text.contains("(0x02)"), "{}", report.text);
    assert!(report.text.contains("address 20480"), "{}", report.text);
    assert!(report.text.contains("wrong profile"), "{}", report.text);
    // A SunSpec scan on a non-SunSpec device names every base it tried.
    let report = probe(
        "sunspec-meter",
        &profile("sunspec-meter"),
        &transport,
        1,
        LIMIT,
    )
    .await;
    assert!(!report.complete);
    assert!(report.text.contains("no SunS marker"), "{}", report.text);
    // Wrong unit id behind a gateway.
    let report = probe(
        "eastron-sdm630",
        &profile("eastron-sdm630"),
        &transport,
        9,
        LIMIT,
    )
    .await;
    assert!(report.text.contains("(0x0b)"), "{}", report.text);
    server.abort();
    // Nobody listening.
    let report = probe(
        "eastron-sdm630",
        &profile("eastron-sdm630"),
        &transport,
        1,
        LIMIT,
    )
    .await;
    assert!(report.text.contains("FAILED connecting"), "{}", report.text);
}

#[tokio::test]
async fn meter_probe_cli_prints_every_quantity_with_its_unit() {
    let fake = FakeMeter::new(&fixture_named("eastron-sdm630"), 3);
    let (addr, server) = serve(fake, "127.0.0.1:0".parse().unwrap()).await;
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_chargegate"))
            .args(["meter", "probe", "--profile", "eastron-sdm630", "--tcp"])
            .arg(addr.to_string())
            .args(["--unit-id", "3"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "voltage-l1",
        "current-l3",
        "20.000 A",
        "energy-import",
        "1234567",
        " Wh ",
        "49.980 Hz",
        "OK:",
    ] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
    server.abort();
}

fn meter_config(addr: SocketAddr) -> Meter {
    Meter {
        id: "grid".into(),
        profile_name: "eastron-sdm630".into(),
        profile: profile("eastron-sdm630"),
        role: MeterRole::Grid,
        transport: MeterTransport::Tcp(addr.to_string()),
        unit_id: 1,
        poll_interval: Duration::from_millis(100),
        stale_after: Duration::from_millis(600),
        circuit: None,
        invert: false,
    }
}

async fn wait_for(
    rx: &mut watch::Receiver<MeterStatus>,
    what: &str,
    limit: Duration,
    f: impl FnMut(&MeterStatus) -> bool,
) -> MeterStatus {
    let found = match tokio::time::timeout(limit, rx.wait_for(f)).await {
        Ok(Ok(s)) => Some(s.clone()),
        _ => None,
    };
    found.unwrap_or_else(|| panic!("{what} within {limit:?}; last status {:#?}", *rx.borrow()))
}

/// Runs one failure mode: fresh, then the failure makes it stale on time, with the error
/// kind recorded, then the meter recovers. `fail` starts the failure, `heal` ends it.
async fn stale_and_recover(
    name: &str,
    error_contains: &str,
    fail: impl AsyncFnOnce(&FakeMeter, &mut JoinHandle<()>),
    heal: impl AsyncFnOnce(&FakeMeter, &mut JoinHandle<()>, SocketAddr),
) {
    let fake = FakeMeter::new(&fixture_named("eastron-sdm630"), 1);
    let (addr, mut server) = serve(fake.clone(), "127.0.0.1:0".parse().unwrap()).await;
    let (stop_tx, stop_rx) = watch::channel(false);
    let handles = spawn_meters(
        &[meter_config(addr)],
        None,
        chargegate::clock::Clock::system(),
        stop_rx,
    );
    let mut rx = handles.status["grid"].clone();
    let fresh = wait_for(&mut rx, "first reading", Duration::from_secs(5), |s| {
        !s.stale
    })
    .await;
    let reading = fresh.reading.expect("a fresh status has a reading");
    assert!((reading.current[2].unwrap().0 - 20.0).abs() < 1e-3);

    fail(&fake, &mut server).await;
    let started = tokio::time::Instant::now();
    let stale = wait_for(
        &mut rx,
        &format!("{name}: stale"),
        Duration::from_secs(5),
        |s| s.stale,
    )
    .await;
    let took = started.elapsed();
    // On time: not before stale-after-ms minus one poll, and not long after it.
    assert!(
        took >= Duration::from_millis(400),
        "{name}: stale after only {took:?}"
    );
    assert!(
        took <= Duration::from_millis(3000),
        "{name}: stale only after {took:?}"
    );
    assert!(
        stale.usable(tokio::time::Instant::now()).is_none(),
        "{name}: a stale meter must not be used"
    );
    if !error_contains.is_empty() {
        let err = stale.last_error.clone().unwrap_or_default();
        assert!(err.contains(error_contains), "{name}: last error {err:?}");
        assert!(
            name == "frozen" || stale.errors_total > 0,
            "{name}: errors counted"
        );
    }

    heal(&fake, &mut server, addr).await;
    let back = wait_for(
        &mut rx,
        &format!("{name}: recovery"),
        Duration::from_secs(15),
        |s| !s.stale,
    )
    .await;
    assert!(back.usable(tokio::time::Instant::now()).is_some());
    let _ = stop_tx.send(true);
    handles.abort();
    server.abort();
}

async fn heal_mode(fake: &FakeMeter, _: &mut JoinHandle<()>, _: SocketAddr) {
    fake.set(Mode::Normal);
}

#[tokio::test]
async fn a_silent_meter_goes_stale_and_recovers() {
    stale_and_recover(
        "silent",
        "no answer within",
        async |f: &FakeMeter, _: &mut JoinHandle<()>| f.set(Mode::Silent),
        heal_mode,
    )
    .await;
}

#[tokio::test]
async fn an_exception_goes_stale_and_recovers() {
    stale_and_recover(
        "exception",
        "exception Server device failure",
        async |f: &FakeMeter, _: &mut JoinHandle<()>| {
            f.set(Mode::Exception(ExceptionCode::ServerDeviceFailure))
        },
        heal_mode,
    )
    .await;
}

#[tokio::test]
async fn a_closed_socket_goes_stale_and_recovers() {
    stale_and_recover(
        "closed",
        "",
        async |_: &FakeMeter, server: &mut JoinHandle<()>| {
            // Aborting the server closes the connection and the listener.
            server.abort();
        },
        async |fake: &FakeMeter, server: &mut JoinHandle<()>, addr: SocketAddr| {
            let (_, task) = serve(fake.clone(), addr).await;
            *server = task;
        },
    )
    .await;
}

#[tokio::test]
async fn frozen_values_go_stale_and_recover() {
    stale_and_recover(
        "frozen",
        "the measurement may have frozen",
        async |f: &FakeMeter, _: &mut JoinHandle<()>| f.set(Mode::Frozen),
        heal_mode,
    )
    .await;
}

#[tokio::test]
async fn nan_values_are_rejected_and_recover() {
    stale_and_recover(
        "nan",
        "current-l1: NaN is not a number a meter can report",
        async |f: &FakeMeter, _: &mut JoinHandle<()>| f.set(Mode::Nan),
        heal_mode,
    )
    .await;
}

#[tokio::test]
async fn absurd_values_are_rejected_and_recover() {
    stale_and_recover(
        "absurd",
        "current-l1: 1000000000 is not a number a meter can report",
        async |f: &FakeMeter, _: &mut JoinHandle<()>| f.set(Mode::Absurd),
        heal_mode,
    )
    .await;
}

#[tokio::test]
async fn rtu_framing_over_a_pseudo_terminal() {
    let (client, server_side) = tokio_serial::SerialStream::pair().expect("a pty pair");
    let fake = FakeMeter::new(&fixture_named("eastron-sdm630"), 7);
    let server = tokio::spawn(async move {
        let _ = tokio_modbus::server::rtu::Server::new(server_side)
            .serve_forever(fake)
            .await;
    });
    let p = profile("eastron-sdm630");
    let mut conn = Connection::attach_rtu(client, "pty".into());
    let image = conn.read_image(7, &plan(&p, 0), LIMIT).await.unwrap();
    let values = decode(&p, &image, 0).unwrap();
    assert_close(
        "rtu current-l2",
        values.get(Quantity::CurrentL2).unwrap(),
        8.25,
    );
    assert_close(
        "rtu energy-export",
        values.get(Quantity::EnergyExport).unwrap(),
        2_345_600.0,
    );
    server.abort();
}

#[tokio::test]
async fn the_daemon_polls_configured_meters() {
    let fake = FakeMeter::new(&fixture_named("eastron-sdm630"), 1);
    let (addr, server) = serve(fake, "127.0.0.1:0".parse().unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
[site]
id = "meter-test"
grid-limit-a = 100
worst-case-load-a = 40

[csms]
listen = "127.0.0.1:0"

[http]
listen = "127.0.0.1:0"

[store]
path = "{}"
history-days = 7

[profiles]
meter-dir = "{}"

[[meter]]
id = "grid"
profile = "eastron-sdm630"
role = "grid"
modbus-tcp = "{addr}"
poll-interval-ms = 100
stale-after-ms = 1000
"#,
        dir.path().join("db.sqlite").display(),
        root().join("profiles/meter").display()
    );
    let config = chargegate::config::parse(&text).unwrap_or_else(|p| panic!("{p:#?}"));
    assert_eq!(config.store.history_days, 7);
    let daemon = chargegate::daemon::start(&config).await.unwrap();
    let mut rx = daemon.meters.status["grid"].clone();
    let s = wait_for(
        &mut rx,
        "daemon meter reading",
        Duration::from_secs(5),
        |s| !s.stale,
    )
    .await;
    assert_eq!(s.role, MeterRole::Grid);
    // The reading reaches the control loop as the site's non-charger load (no charger
    // reports a current, so all of the grid meter's current is other load).
    let reading = s.reading.clone().expect("a reading");
    let mut plan = daemon.plan.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let fresh = plan
            .borrow()
            .snapshot
            .as_ref()
            .map(|snap| (snap.circuits[0].stale, snap.circuits[0].load));
        if let Some((false, load)) = fresh {
            for (p, measured) in reading.current.iter().enumerate() {
                let measured = measured.expect("the SDM630 reports every phase").0;
                assert_close("site load", load[p].0, measured.max(0.0));
            }
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the control loop never saw the meter: {fresh:?}"
        );
        tokio::select! {
            _ = plan.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
    daemon.stop().await;
    server.abort();
}

/// Several meters on one RS-485 line, by unit id.
#[derive(Debug, Clone)]
struct Bus(Vec<FakeMeter>);

impl Service for Bus {
    type Request = SlaveRequest<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Answer;

    fn call(&self, req: Self::Request) -> Self::Future {
        match self
            .0
            .iter()
            .find(|m| m.0.lock().unwrap().unit == req.slave)
        {
            Some(m) => m.call(req),
            None => Box::pin(std::future::ready(Err(ExceptionCode::GatewayTargetDevice))),
        }
    }
}

#[tokio::test]
async fn two_meters_share_one_rtu_bus_and_one_failing_does_not_stall_the_other() {
    // This sandbox's /dev/pts does not expose the pair's slave by path, so the poller
    // gets the open client end; the bus loop is the same one `spawn_meters` runs.
    let (master, client) = tokio_serial::SerialStream::pair().expect("a pty pair");
    let one = FakeMeter::new(&fixture_named("eastron-sdm630"), 1);
    let two = FakeMeter::new(&fixture_named("eastron-sdm72d-m"), 2);
    let bus = Bus(vec![one, two.clone()]);
    let server = tokio::spawn(async move {
        let _ = tokio_modbus::server::rtu::Server::new(master)
            .serve_forever(bus)
            .await;
    });
    let rtu = chargegate::config::RtuSettings {
        device: "/dev/ttyFAKE0".into(),
        baud: 9600,
        parity: chargegate::config::Parity::None,
        data_bits: 8,
        stop_bits: 1,
    };
    let meter = |id: &str, unit: u8, profile_name: &str| Meter {
        id: id.into(),
        profile_name: profile_name.into(),
        profile: profile(profile_name),
        transport: MeterTransport::Rtu(rtu.clone()),
        unit_id: unit,
        circuit: Some(id.into()),
        ..meter_config("127.0.0.1:1".parse().unwrap())
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let handles = spawn_bus_on(
        Connection::attach_rtu(client, "pty".into()),
        &[
            meter("a", 1, "eastron-sdm630"),
            meter("b", 2, "eastron-sdm72d-m"),
        ],
        None,
        chargegate::clock::Clock::system(),
        stop_rx,
    );
    let (mut a, mut b) = (handles.status["a"].clone(), handles.status["b"].clone());
    let limit = Duration::from_secs(5);
    wait_for(&mut a, "meter a fresh", limit, |s| !s.stale).await;
    wait_for(&mut b, "meter b fresh", limit, |s| !s.stale).await;
    two.set(Mode::Exception(ExceptionCode::IllegalDataAddress));
    wait_for(&mut b, "meter b stale", limit, |s| s.stale).await;
    // Meter a kept answering throughout: it is fresh and counts no errors.
    let now = a.borrow().clone();
    assert!(!now.stale && now.errors_total == 0, "{now:#?}");
    two.set(Mode::Normal);
    wait_for(&mut b, "meter b back", Duration::from_secs(15), |s| {
        !s.stale
    })
    .await;
    let _ = stop_tx.send(true);
    handles.abort();
    server.abort();
}
