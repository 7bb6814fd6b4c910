//! Checks `docker-compose.yml` against the binary's real command line: there is no Docker engine
//! on our machines, so this is how the compose file is kept correct.

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};
    use serde_json::Value;

    use crate::Cli;

    fn compose() -> Value {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docker-compose.yml"))
            .unwrap();
        serde_saphyr::from_str(&text).unwrap()
    }

    fn strings(v: &Value) -> Vec<String> {
        v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
    }

    /// Every `env = "DROVER_…"` the CLI reads, per subcommand.
    fn env_vars(sub: &str) -> Vec<String> {
        let cmd = Cli::command();
        let sub = cmd.find_subcommand(sub).unwrap();
        sub.get_arguments()
            .chain(cmd.get_arguments())
            .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
            .collect()
    }

    #[test]
    fn services_exist_with_their_ports() {
        let c = compose();
        let services = c["services"].as_object().unwrap();
        for name in ["rabbitmq", "redis", "coordinator", "worker"] {
            assert!(services.contains_key(name), "service {name} missing");
        }
        // The brokers keep default credentials (guest/guest, no Redis password): their ports are
        // published on the host's loopback only, never to other hosts.
        for (name, port) in [("rabbitmq", "5672"), ("redis", "6379")] {
            let ports = strings(&c["services"][name]["ports"]);
            assert!(ports.contains(&format!("127.0.0.1:{port}:{port}")), "{name}: {ports:?}");
            assert!(
                ports.iter().all(|p| p.starts_with("127.0.0.1:")),
                "{name} published beyond loopback: {ports:?}"
            );
        }
        assert!(c["services"]["rabbitmq"]["image"].as_str().unwrap().contains("management"));
        assert!(strings(&c["services"]["coordinator"]["ports"]).contains(&"7070:7070".to_string()));
        // The worker scales (`--scale worker=4`): no fixed name, no host port.
        assert!(c["services"]["worker"].get("container_name").is_none());
        assert!(c["services"]["worker"].get("ports").is_none());
        for name in ["rabbitmq", "redis", "coordinator"] {
            assert!(c["services"][name]["healthcheck"]["test"].is_array(), "{name} has a healthcheck");
        }
    }

    #[test]
    fn redis_keeps_its_data_on_a_volume() {
        let c = compose();
        let redis = &c["services"]["redis"];
        let command = strings(&redis["command"]);
        assert_eq!(command[0], "redis-server");
        let flag = |name: &str| {
            let i = command
                .iter()
                .position(|a| a == name)
                .unwrap_or_else(|| panic!("{name} missing: {command:?}"));
            command[i + 1].clone()
        };
        assert_eq!(flag("--appendonly"), "yes", "queued tasks must survive a Redis restart");
        assert_eq!(flag("--appendfsync"), "everysec", "the README documents a one-second window");
        // The AOF directory is a named volume, so it outlives the container.
        let dir = flag("--dir");
        let volumes = strings(&redis["volumes"]);
        let volume = volumes
            .iter()
            .find_map(|v| {
                v.split_once(':').filter(|(_, path)| *path == dir).map(|(name, _)| name.to_string())
            })
            .unwrap_or_else(|| panic!("no volume mounted at {dir}: {volumes:?}"));
        assert!(c["volumes"].as_object().unwrap().contains_key(&volume), "volume {volume} is not declared");
    }

    #[test]
    fn drover_commands_parse_with_the_real_flags() {
        let c = compose();
        for name in ["coordinator", "worker"] {
            let mut argv = vec!["drover".to_string()];
            argv.extend(strings(&c["services"][name]["command"]));
            let parsed = Cli::try_parse_from(&argv);
            assert!(
                parsed.is_ok(),
                "service {name}: `{}` does not parse: {}",
                argv.join(" "),
                parsed.unwrap_err()
            );
            let sub = &argv[1];
            let known = env_vars(sub);
            if let Some(env) = c["services"][name]["environment"].as_object() {
                for var in env.keys() {
                    assert!(
                        known.contains(var) || var == "DROVER_LOG",
                        "service {name}: {var} is not read by `drover {sub}`"
                    );
                }
            }
        }
        // The coordinator listens on the port the workers and the health check use.
        let coordinator = strings(&c["services"]["coordinator"]["command"]).join(" ");
        assert!(coordinator.contains("--listen 0.0.0.0:7070"), "{coordinator}");
        let worker = strings(&c["services"]["worker"]["command"]).join(" ");
        assert!(worker.contains("http://coordinator:7070"), "{worker}");
        // The coordinator listens beyond loopback, so it must have a token, and the workers the same.
        let token = c["services"]["coordinator"]["environment"]["DROVER_TOKEN"].as_str().unwrap_or_default();
        assert!(
            token.starts_with("${DROVER_TOKEN:?"),
            "the coordinator's DROVER_TOKEN must be required: {token:?}"
        );
        // The workers get it as a file, a Docker secret made from the same variable, and not in
        // their environment (which would show in /proc/<worker>/environ).
        let worker_env = &c["services"]["worker"]["environment"];
        assert!(worker_env.get("DROVER_TOKEN").is_none(), "the workers' token must be a file");
        let file = worker_env["DROVER_TOKEN_FILE"].as_str().unwrap_or_default();
        let secret =
            file.strip_prefix("/run/secrets/").unwrap_or_else(|| panic!("DROVER_TOKEN_FILE: {file:?}"));
        assert!(
            strings(&c["services"]["worker"]["secrets"]).iter().any(|s| s == secret),
            "the worker service must mount the secret {secret}"
        );
        assert_eq!(c["secrets"][secret]["environment"].as_str(), Some("DROVER_TOKEN"), "secret {secret}");
        // A scaled-down worker gets time to drain.
        let grace = c["services"]["worker"]["stop_grace_period"].as_str().unwrap_or("10s");
        let grace = crate::duration::parse(grace).unwrap();
        let drain = c["services"]["worker"]["environment"]["DROVER_DRAIN_TIMEOUT"].as_str().unwrap_or("30s");
        assert!(
            grace > crate::duration::parse(drain).unwrap(),
            "stop_grace_period must exceed the drain timeout"
        );
        let health = strings(&c["services"]["coordinator"]["healthcheck"]["test"]).join(" ");
        assert!(health.contains("127.0.0.1:7070/healthz"), "{health}");
    }

    #[test]
    fn dockerfile_builds_the_binary_and_ships_the_example_tools() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/Dockerfile")).unwrap();
        assert!(text.contains("cargo build --release -p drover-cli"));
        assert!(text.contains(" bc "), "bc for the pi examples");
        assert!(text.contains("ENTRYPOINT [\"drover\"]"));
        let from_lines = text.lines().filter(|l| l.starts_with("FROM ")).count();
        assert_eq!(from_lines, 2, "multi-stage");
    }
}
