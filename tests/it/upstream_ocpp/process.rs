//! The `chargegate` binary SIGKILLed and restarted while the cloud is down (issue 13 test
//! e): the transaction messages were in the store before the charger heard its answers,
//! so when the cloud comes back it gets the whole transaction once, in order, as in
//! `replay`.

use chargegate::ocpp::model::OcppVersion;

use super::replay::{assert_whole_transaction, stamps, wait_whole_transaction, whole_transaction};
use super::{OWN_IDENTITY, WAIT, ocpp_section};
use crate::common::cloud::{Cloud, Snapshot};
use crate::common::process::Chargegate;

/// Both versions at once: the cloud up (chargegate and both chargers connected through),
/// the cloud stopped, a whole transaction on each charger, SIGKILL right after the last
/// answer, chargegate restarted, the cloud back: each transaction arrives once, in order,
/// with the charger's timestamps (and 1.6 under the cloud's id).
#[tokio::test]
async fn a_sigkill_while_the_cloud_is_down_loses_and_repeats_nothing() {
    let cloud = Cloud::start().await;
    let mut chargegate = Chargegate::new(&ocpp_section(&cloud, OcppVersion::V201));
    chargegate.run(WAIT).await;
    let v16 = chargegate.charger("CP16-1", OcppVersion::V16).await;
    let v201 = chargegate.charger("CS201-1", OcppVersion::V201).await;
    for id in [OWN_IDENTITY, "CP16-1", "CS201-1"] {
        cloud.wait_connected(id, WAIT).await;
    }
    cloud.stop().await;
    let at = stamps();
    let tx16 = whole_transaction(&v16, &at).await;
    let tx201 = whole_transaction(&v201, &at).await;
    chargegate.kill();
    drop((v16, v201));

    chargegate.run(WAIT).await;
    cloud.start_again().await;
    let booted = cloud.wait_for(WAIT, |s| s.is_connected(OWN_IDENTITY)).await;
    assert!(
        booted,
        "chargegate did not come back to the cloud:\n{}",
        chargegate.log()
    );
    wait_whole_transaction(&cloud, "CP16-1", OcppVersion::V16).await;
    wait_whole_transaction(&cloud, "CS201-1", OcppVersion::V201).await;
    assert_whole_transaction(&cloud, "CP16-1", OcppVersion::V16, &tx16, &at);
    assert_whole_transaction(&cloud, "CS201-1", OcppVersion::V201, &tx201, &at);
    // Before the restart the cloud had processed nothing of either transaction: what
    // arrived came from the store.
    let seen = cloud.snapshot();
    assert!(
        Snapshot::calls(&seen.processed, "CP16-1", "StartTransaction").len() == 1,
        "{:#?}",
        seen.processed
    );
}
