//! The configuration file: one documented precedence for every setting.
//!
//! **Flags, then the environment, then the file, then the built-in defaults**: a value given as a
//! flag wins over `DROVER_*` in the environment, which wins over the file.
//!
//! The file is YAML, TOML or JSON (by its extension), read with the `config` crate, from
//! `--config FILE`, `DROVER_CONFIG`, or `$XDG_CONFIG_HOME/drover/config.yaml`
//! (`~/.config/drover/config.yaml`) when that exists. Its keys are the long flag names: global
//! ones at the top (`server`, `token`), a verb's own under the verb's name:
//!
//! ```yaml
//! server: http://coordinator:7070
//! token: s3cret              # or token-file: /path/to/token (the two are one setting)
//! coordinator:
//!   listen: 0.0.0.0:7070
//!   worker-lease: 10s
//! worker:
//!   slots: 4
//! ```
//!
//! It works by adding `--key=value` to the command line for each setting that neither a flag nor
//! the environment gave, then letting clap parse as usual, so the file's values are checked by the
//! same parsers, with the same messages, as flags.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Command};

/// The file named by `--config`/`DROVER_CONFIG`, or the default one if it exists.
fn locate(matches: &ArgMatches) -> Option<PathBuf> {
    if let Some(path) = matches.get_one::<PathBuf>("config") {
        return Some(path.clone());
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    let path = base.join("drover").join("config.yaml");
    path.exists().then_some(path)
}

/// Reads `path` into `{section or "": {key: value}}`.
fn read(path: &Path) -> anyhow::Result<BTreeMap<String, BTreeMap<String, config::Value>>> {
    let settings = config::Config::builder()
        .add_source(config::File::from(path).required(true))
        .build()
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    let table = settings
        .cache
        .into_table()
        .with_context(|| format!("the config file {} is not a map of settings", path.display()))?;
    let mut out: BTreeMap<String, BTreeMap<String, config::Value>> = BTreeMap::new();
    for (key, value) in table {
        match value.kind {
            config::ValueKind::Table(section) => {
                out.entry(key).or_default().extend(section);
            }
            _ => {
                out.entry(String::new()).or_default().insert(key, value);
            }
        }
    }
    Ok(out)
}

/// The command line with the file's settings added where no flag or variable gave them.
pub(crate) fn apply(command: Command, args: Vec<OsString>) -> anyhow::Result<Vec<OsString>> {
    // A first parse tells which settings the command line and the environment already gave. A
    // parse error is left for the real parse to report.
    let Ok(matches) = command.clone().try_get_matches_from(&args) else { return Ok(args) };
    let Some(path) = locate(&matches) else { return Ok(args) };
    let file = read(&path)?;
    let (verb, sub_matches) = match matches.subcommand() {
        Some((name, m)) => (name.to_string(), m),
        None => return Ok(args),
    };
    let sub_command = command.find_subcommand(&verb).cloned().unwrap_or_else(|| command.clone());
    let mut extra: Vec<OsString> = Vec::new();
    for (section, settings) in &file {
        let (cmd, section_name) = if section.is_empty() {
            (&command, "the top level".to_string())
        } else if section == &verb {
            (&sub_command, format!("section {section:?}"))
        } else if command.find_subcommand(section).is_some() {
            continue; // Settings of another verb.
        } else {
            bail!("config file {}: unknown section {section:?}", path.display());
        };
        for (key, value) in settings {
            let Some(arg) = cmd.get_arguments().find(|a| a.get_long() == Some(key.as_str())) else {
                bail!("config file {}: unknown setting {key:?} in {section_name}", path.display());
            };
            if section.is_empty() && !arg.is_global_set() {
                bail!("config file {}: {key:?} belongs in a verb's section", path.display());
            }
            let id = arg.get_id().as_str();
            // One setting with two forms: the file's token gives way to a token file given as a
            // flag or in the environment, and the other way round.
            let ids = match id {
                "token" | "token_file" => ["token", "token_file"].as_slice(),
                _ => std::slice::from_ref(&id),
            };
            let given = ids.iter().any(|id| {
                matches!(
                    sub_matches.value_source(id),
                    Some(ValueSource::CommandLine) | Some(ValueSource::EnvVariable)
                )
            });
            if given {
                continue;
            }
            match arg.get_action() {
                ArgAction::SetTrue => {
                    if value.clone().into_bool().with_context(|| format!("config file setting {key:?}"))? {
                        extra.push(format!("--{key}").into());
                    }
                }
                _ => {
                    // A list gives the flag once per item (`public-host: [a, b]`).
                    let items = match value.clone().into_array() {
                        Ok(items) => items,
                        Err(_) => vec![value.clone()],
                    };
                    for item in items {
                        let text =
                            item.into_string().with_context(|| format!("config file setting {key:?}"))?;
                        extra.push(format!("--{key}={text}").into());
                    }
                }
            }
        }
    }
    let mut args = args;
    args.extend(extra);
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory as _, Parser as _};

    use crate::Cli;

    fn with_file(text: &str, ext: &str, argv: &[&str]) -> anyhow::Result<Cli> {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("drover-config-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("config.{ext}"));
        std::fs::write(&path, text).unwrap();
        let mut args: Vec<OsString> = vec!["drover".into(), "--config".into(), path.clone().into()];
        args.extend(argv.iter().map(OsString::from));
        let args = apply(Cli::command(), args)?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(Cli::try_parse_from(args)?)
    }

    #[test]
    fn the_file_fills_what_flags_do_not_give() {
        let cli = with_file(
            "server: http://file:7070\ncoordinator:\n  worker-lease: 7s\n  listen: 127.0.0.1:9999\n",
            "yaml",
            &["coordinator", "--listen", "127.0.0.1:1234"],
        )
        .unwrap();
        assert_eq!(cli.server, "http://file:7070");
        let crate::Command::Coordinator(args) = cli.command else { panic!("coordinator") };
        assert_eq!(args.listen, "127.0.0.1:1234", "the flag wins over the file");
        assert_eq!(
            args.flags.worker_lease(),
            std::time::Duration::from_secs(7),
            "the file wins over the default"
        );
    }

    #[test]
    fn a_token_and_a_token_file_are_one_setting() {
        // The file's token gives way to a token file on the command line...
        let cli =
            with_file("token: from-file\n", "yaml", &["--token-file", "/run/t", "get", "jobs"]).unwrap();
        assert_eq!((cli.token.as_deref(), cli.token_file.as_deref()), (None, Some("/run/t".as_ref())));
        // ... and the file's token file to a token.
        let cli = with_file("token-file: /etc/t\n", "yaml", &["--token", "flag", "get", "jobs"]).unwrap();
        assert_eq!((cli.token.as_deref(), cli.token_file.as_deref()), (Some("flag"), None));
        // Alone, the file's token file is used.
        let cli = with_file("token-file: /etc/t\n", "yaml", &["get", "jobs"]).unwrap();
        assert_eq!(cli.token_file.as_deref(), Some("/etc/t".as_ref()));
    }

    #[test]
    fn toml_and_booleans() {
        let cli = with_file("[coordinator]\ninsecure = true\n", "toml", &["coordinator"]).unwrap();
        let crate::Command::Coordinator(args) = cli.command else { panic!("coordinator") };
        assert!(args.flags.insecure());
    }

    #[test]
    fn a_list_gives_a_repeatable_flag_once_per_item() {
        let cli = with_file(
            "coordinator:\n  public-host: [drover.example, 'ci.example:8080']\n",
            "yaml",
            &["coordinator"],
        )
        .unwrap();
        let crate::Command::Coordinator(args) = cli.command else { panic!("coordinator") };
        assert_eq!(args.flags.public_hosts(), ["drover.example", "ci.example:8080"]);
        let cli = with_file("coordinator:\n  public-host: one.example\n", "yaml", &["coordinator"]).unwrap();
        let crate::Command::Coordinator(args) = cli.command else { panic!("coordinator") };
        assert_eq!(args.flags.public_hosts(), ["one.example"]);
    }

    #[test]
    fn other_verbs_sections_are_ignored() {
        let cli = with_file("worker:\n  slots: 3\n", "yaml", &["get", "jobs"]).unwrap();
        assert!(matches!(cli.command, crate::Command::Get(_)));
    }

    #[test]
    fn unknown_settings_are_named() {
        let err = with_file("coordinator:\n  worker-leese: 7s\n", "yaml", &["coordinator"]).unwrap_err();
        assert!(err.to_string().contains("unknown setting \"worker-leese\""), "{err}");
        let err = with_file("sever: x\n", "yaml", &["get", "jobs"]).unwrap_err();
        assert!(err.to_string().contains("unknown setting \"sever\""), "{err}");
        let err = with_file("cordinator: {}\n", "yaml", &["get", "jobs"]).unwrap_err();
        assert!(err.to_string().contains("unknown section \"cordinator\""), "{err}");
    }

    #[test]
    fn a_bad_value_gets_the_flag_parsers_message() {
        let err = with_file("coordinator:\n  worker-lease: soon\n", "yaml", &["coordinator"]).unwrap_err();
        assert!(err.to_string().contains("worker-lease"), "{err}");
    }
}
