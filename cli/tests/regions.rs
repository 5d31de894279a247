//! Regions discovered: a store configured for one region whose bucket lives in another (or on
//! a server that signs with a name of its own, as Garage does) learns the region from S3's
//! wrong-region reply, sends the request again there, and keeps it.

mod common;

use std::sync::{Arc, Mutex};

use common::S3;
use common::faults::{Action, Deliver, FaultServer, Head, Reply};

/// A proxy to `s3` that refuses, as S3 does, every request not signed for `region`, and
/// records the region each request was signed for.
fn bucket_in(region: &'static str, s3: &S3) -> (FaultServer, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let proxy = FaultServer::proxy(&s3.endpoint(), move |head: &Head, _| {
        let signed_for = head
            .header("authorization")
            .and_then(|value| value.split("Credential=").nth(1))
            .and_then(|scope| scope.split('/').nth(2))
            .unwrap_or_default()
            .to_owned();
        record.lock().expect("record").push(signed_for.clone());
        if signed_for == region {
            return Action::Forward(Deliver::Whole);
        }
        Action::Reply(Reply {
            status: 400,
            headers: vec![
                ("content-type".into(), "application/xml".into()),
                ("x-amz-bucket-region".into(), region.into()),
            ],
            body: format!(
                "<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region \
                 'us-east-1' is wrong; expecting '{region}'</Message><Region>{region}</Region>\
                 </Error>"
            )
            .into_bytes(),
        })
    });
    (proxy, seen)
}

#[test]
fn a_store_learns_its_buckets_region_from_s3_and_keeps_it() {
    for region in ["eu-west-1", "garage"] {
        let s3 = S3::start();
        let (proxy, seen) = bucket_in(region, &s3);
        let cli = s3.cli("r").env("AWS_ENDPOINT_URL_S3", &proxy.endpoint());
        cli.run(&["set", "k", "v"]).expect(0);
        cli.run(&["get", "k"]).expect(0);
        assert_eq!(cli.run(&["get", "k"]).expect(0).stdout, b"v");
        let seen = seen.lock().expect("record").clone();
        // Each process learns once: its first request is refused, every later one is signed
        // for the bucket's region.
        let refused = seen.iter().filter(|signed| *signed != region).count();
        assert_eq!(refused, 3, "{region}: {seen:?}");
        assert!(seen.len() >= 6, "{seen:?}");
        // With the region given, nothing is refused.
        let before = seen.len();
        let told = cli.clone().arg("--region").arg(region);
        told.run(&["get", "k"]).expect(0);
        let after = proxy.requests();
        assert_eq!(
            after - before,
            1,
            "{region}: one request when the region is right"
        );
    }
}
