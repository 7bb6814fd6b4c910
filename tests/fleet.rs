//! Issue "The fleet": authentication, the config file's precedence, and (as they land) worker
//! lifecycle scenarios, with the real binary.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const SECS: fn(u64) -> Duration = Duration::from_secs;
const TOKEN: &str = "tok-3f9a1c-very-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_guards_every_call_but_healthz() {
    let mut c = Cluster::start_with_token("auth", TOKEN, &[]);
    // Workers join with the token.
    c.add_worker("w1", 2, &[]).await;

    // Without a token: 401 on reads and on mutations, with a message that says what to do.
    let anon = drover_client::Client::new(&c.url);
    anon.healthz().await.expect("/healthz stays open");
    let err = anon.list_jobs("").await.unwrap_err();
    assert_eq!(err.code(), Some(401), "{err}");
    let job = serde_json::to_value(
        serde_saphyr::from_str::<serde_json::Value>(&job_yaml("j", "", "Never", "true")).unwrap(),
    )
    .unwrap();
    assert_eq!(anon.create_job(&job).await.unwrap_err().code(), Some(401));
    let wrong = drover_client::Client::new(&c.url).with_token(Some("not-it"));
    assert_eq!(wrong.create_job(&job).await.unwrap_err().code(), Some(401));
    let out = Command::new(BIN)
        .args(["--server", &c.url, "get", "jobs"])
        .env_remove("DROVER_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Unauthorized") && stderr.contains("DROVER_TOKEN"), "{stderr}");
    assert!(c.client().list_jobs("").await.unwrap().is_empty(), "nothing was created");

    // With it (DROVER_TOKEN, as the harness sets it), everything works end to end.
    c.create("j", &job_yaml("j", "", "Never", "true"));
    let done = c.wait_complete("j", SECS(30)).await;
    assert!(done.condition_true("Complete").is_some());
    // And the flag works as well as the variable.
    let out = Command::new(BIN)
        .args(["--server", &c.url, "--token", TOKEN, "get", "jobs", "j", "-o", "name"])
        .env_remove("DROVER_TOKEN")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "job.batch/j");

    // A worker without the token cannot join.
    let out = Command::new(BIN)
        .args(["worker", "--coordinator", &c.url, "--name", "intruder"])
        .env_remove("DROVER_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success(), "a worker without the token must not run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unauthorized"));
    let workers = c.client().list_workers("").await.unwrap();
    assert!(workers.iter().all(|w| w.metadata.name != "intruder"));

    // The token is never logged, nor shown by --help.
    c.workers.clear(); // stop the worker so its log is complete
    let logs = c.logs();
    assert!(!logs.contains(TOKEN), "a log holds the token:\n{logs}");
    let help = Command::new(BIN).args(["get", "--help"]).env("DROVER_TOKEN", TOKEN).output().unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains(TOKEN));
}

#[test]
fn an_open_api_beyond_loopback_is_refused() {
    let dir = TempDir::new("insecure");
    let out = Command::new(BIN)
        .args(["coordinator", "--listen", "0.0.0.0:0", "--data"])
        .arg(dir.0.join("store"))
        .env_remove("DROVER_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refusing to listen on 0.0.0.0") && stderr.contains("--insecure"), "{stderr}");
    assert!(stderr.contains("--token"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_then_environment_then_flags() {
    let c = Cluster::start_with_token("config", TOKEN, &[]);
    let file = c.dir.0.join("drover.yaml");
    // The file names a server that does not answer, and the right token.
    std::fs::write(&file, format!("server: http://127.0.0.1:1\ntoken: {TOKEN}\n")).unwrap();
    let run = |env_server: Option<&str>, flag_server: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config").arg(&file);
        if let Some(s) = flag_server {
            cmd.args(["--server", s]);
        }
        cmd.args(["get", "jobs"]).env_remove("DROVER_TOKEN").env_remove("DROVER_SERVER");
        if let Some(s) = env_server {
            cmd.env("DROVER_SERVER", s);
        }
        cmd.output().unwrap()
    };
    // File only: the dead server.
    let out = run(None, None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("127.0.0.1:1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The environment wins over the file; the file's token is used.
    let out = run(Some(&c.url), None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A flag wins over the environment.
    let out = run(Some("http://127.0.0.1:1"), Some(&c.url));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A misspelt setting is named.
    std::fs::write(&file, "sever: x\n").unwrap();
    let out = run(Some(&c.url), None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown setting \"sever\""));
}
