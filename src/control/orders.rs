//! Orders to the control loop: from the HTTP API a vehicle's need (`PUT
//! /api/v1/chargers/<id>/need`) and the operator's temporary lower grid limit (`PUT/DELETE
//! /api/v1/site/limit`); from the cloud CSMS above the OCPP Local Controller its own
//! temporary limit (a station maximum) and a charger's cap (a TxProfile or
//! TxDefaultProfile).
//!
//! They go through the loop like every other input, so the plan, the fill and the guard
//! see them in one place and in order; the sender gets the outcome once the loop has
//! applied the order. A temporary limit or a lasting cap is in the store before it is sent
//! here (`store::set_temporary_limit`, `store::set_cloud_cap`): the loop never writes, and
//! a restart reads them back.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::site::{CapKind, CapRefusal, CloudCap, LimitSource, Need, TemporaryLimit};
use crate::units::ChargerId;

/// Orders waiting for the loop at most; an API client beyond it is told to retry.
pub(super) const QUEUE: usize = 16;
/// How long an order waits for the loop's answer. The loop answers within one turn (a
/// replan is at most a solve, well under a second on a Pi); more means it is stuck.
const ANSWER_WAIT: Duration = Duration::from_secs(10);

/// What became of a need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeedOutcome {
    /// In force: the plan is being remade with it.
    Set,
    /// No such charger in the site file.
    UnknownCharger,
    /// The charger has no vehicle plugged in (a need belongs to a vehicle).
    NoVehicle,
}

/// Why an order got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("the control loop is busy: try again")]
    Busy,
    #[error("the control loop is not running")]
    Stopped,
    #[error("the control loop did not answer within {}s", ANSWER_WAIT.as_secs())]
    NoAnswer,
}

#[derive(Debug)]
pub(super) enum Order {
    Need {
        charger: ChargerId,
        need: Need,
        reply: oneshot::Sender<NeedOutcome>,
    },
    /// `None` removes `source`'s.
    TemporaryLimit {
        source: LimitSource,
        limit: Option<TemporaryLimit>,
        reply: oneshot::Sender<()>,
    },
    /// `None` clears it; the answer says whether one was there.
    Cap {
        charger: ChargerId,
        kind: CapKind,
        cap: Option<CloudCap>,
        reply: oneshot::Sender<Result<bool, CapRefusal>>,
    },
}

/// The API's handle on the loop's order queue. Clone it freely.
#[derive(Debug, Clone)]
pub struct Orders(pub(super) mpsc::Sender<Order>);

impl Orders {
    /// Sets the need of the vehicle at `charger`; the plan is remade with it.
    pub async fn set_need(
        &self,
        charger: ChargerId,
        need: Need,
    ) -> Result<NeedOutcome, OrderError> {
        self.ask(|reply| Order::Need {
            charger,
            need,
            reply,
        })
        .await
    }

    /// Puts `source`'s temporary limit in force (or removes it with `None`); answers once
    /// the guard has checked the readings against it. The other source's stays.
    pub async fn set_temporary_limit(
        &self,
        source: LimitSource,
        limit: Option<TemporaryLimit>,
    ) -> Result<(), OrderError> {
        self.ask(|reply| Order::TemporaryLimit {
            source,
            limit,
            reply,
        })
        .await
    }

    /// Sets (or clears with `None`) the cloud's cap of `kind` on `charger`; `Ok(true)` when
    /// one was there before.
    pub async fn set_cap(
        &self,
        charger: ChargerId,
        kind: CapKind,
        cap: Option<CloudCap>,
    ) -> Result<Result<bool, CapRefusal>, OrderError> {
        self.ask(|reply| Order::Cap {
            charger,
            kind,
            cap,
            reply,
        })
        .await
    }

    async fn ask<T>(
        &self,
        order: impl FnOnce(oneshot::Sender<T>) -> Order,
    ) -> Result<T, OrderError> {
        let (reply, answer) = oneshot::channel();
        self.0.try_send(order(reply)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => OrderError::Busy,
            mpsc::error::TrySendError::Closed(_) => OrderError::Stopped,
        })?;
        match tokio::time::timeout(ANSWER_WAIT, answer).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(_)) => Err(OrderError::Stopped),
            Err(_) => Err(OrderError::NoAnswer),
        }
    }
}
