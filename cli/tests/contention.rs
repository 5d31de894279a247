//! Many processes writing one key at once, through the `s3cache` binary: increments all land
//! exactly once and concurrent adds store exactly one value, on moto (whose conditional writes
//! python/tests/moto_serve.py makes atomic, as S3's are) and on the embedded server, where every
//! process runs its own s3s-fs over one data directory and the writes are serialized by file
//! locks in it.

mod common;

use std::thread;

use common::{Cli, Run, S3};

/// `shells` threads, each running the command `times` times in a row.
fn in_parallel(cli: &Cli, shells: usize, times: usize, args: &[&str]) -> Vec<Run> {
    thread::scope(|scope| {
        let handles: Vec<_> = (0..shells)
            .map(|_| scope.spawn(|| (0..times).map(|_| cli.run(args)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("a shell thread"))
            .collect()
    })
}

/// Every store these tests run on: each server's bucket, and the default embedded store.
fn stores() -> Vec<(String, Cli, Option<S3>, Option<tempfile::TempDir>)> {
    let data = tempfile::tempdir().expect("a data directory");
    let embedded = Cli::new().env("S3CACHE_DATA_DIR", &data.path().to_string_lossy());
    let mut stores = vec![("the embedded store".to_owned(), embedded, None, Some(data))];
    for s3 in S3::all() {
        stores.push((s3.kind.to_owned(), s3.cli("c"), Some(s3), None));
    }
    // Sixteen writers of one key on moto outlast the default deadline: give them room, since
    // what is tested is that every increment lands once.
    stores
        .into_iter()
        .map(|(name, cli, s3, data)| (name, cli.arg("--deadline").arg("20"), s3, data))
        .collect()
}

#[test]
fn concurrent_increments_all_land_exactly_once() {
    for (name, cli, _server, _data) in stores() {
        for (shells, times) in [(4, 25), (16, 10)] {
            let key = format!("n{shells}");
            cli.run(&["set", &key, "0", "--ttl", "never"]).expect(0);
            let runs = in_parallel(&cli, shells, times, &["incr", &key]);
            let failed: Vec<&Run> = runs.iter().filter(|run| run.code != 0).collect();
            assert!(
                failed.is_empty(),
                "{name}: {} of {} failed, the first: {}",
                failed.len(),
                runs.len(),
                failed[0].stderr
            );
            let total = shells * times;
            assert_eq!(
                cli.run(&["get", &key]).expect(0).text(),
                total.to_string(),
                "{name}: {shells} x {times}"
            );
            let mut seen: Vec<i64> = runs
                .iter()
                .map(|run| run.text().trim().parse().expect("a number"))
                .collect();
            seen.sort_unstable();
            let expected: Vec<i64> = (1..=total as i64).collect();
            assert_eq!(seen, expected, "{name}: each increment saw its own result");
        }
    }
}

#[test]
fn concurrent_adds_of_one_key_store_exactly_one() {
    for (name, cli, _server, _data) in stores() {
        let runs: Vec<Run> = thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let cli = &cli;
                    scope.spawn(move || cli.run(&["add", "once", &format!("value-{i}")]))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("an add"))
                .collect()
        });
        let winners: Vec<&Run> = runs.iter().filter(|run| run.code == 0).collect();
        assert_eq!(winners.len(), 1, "{name}: {runs:?}");
        assert!(
            runs.iter().all(|run| run.code == 0 || run.code == 1),
            "{name}: {runs:?}"
        );
        let stored = cli.run(&["get", "once"]).expect(0).text();
        assert_eq!(
            winners[0].args.last().map(String::as_str),
            Some(stored.as_str())
        );
    }
}
