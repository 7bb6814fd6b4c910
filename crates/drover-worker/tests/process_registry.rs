//! Process-wide group registry of `drover_worker::process`. Kept in its own
//! test binary: `kill_all_groups` would kill the other tests' pods.

use std::sync::Arc;
use std::time::Duration;

use drover_worker::process::{self, ExitReason, LogBuffer, ProcessSpec};

#[tokio::test]
async fn kill_all_groups_kills_every_live_pod_and_registry_empties() {
    let spawn = |script: &str| {
        process::spawn(&ProcessSpec::new("sh", ["-c", script]), Arc::new(LogBuffer::default()))
            .expect("spawn")
    };
    let a = spawn("sleep 60 & sleep 60");
    let b = spawn("sleep 60");
    let mut live = process::live_groups();
    live.sort_unstable();
    let mut expected = vec![a.pgid(), b.pgid()];
    expected.sort_unstable();
    assert_eq!(live, expected);

    assert_eq!(process::kill_all_groups(), 2);
    for p in [&a, &b] {
        let exit = tokio::time::timeout(Duration::from_secs(10), p.wait()).await.expect("pod stopped");
        assert_eq!(exit.signal, Some(9));
        // Not stopped through its handle: reported as an error exit.
        assert_eq!(exit.reason, ExitReason::Error);
    }
    assert!(process::live_groups().is_empty());
    assert_eq!(process::kill_all_groups(), 0);
}
