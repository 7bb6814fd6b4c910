//! Keeps ARCHITECTURE.md's list of end-to-end test binaries true: every `[[test]]` of this
//! crate's Cargo.toml must be named in the "`tests/` (top level)" paragraph, that paragraph must
//! name no test file that is not one, and every top-level `tests/*.rs` must be registered (cargo
//! does not discover them on its own, so an unregistered file would never run).

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    const HEADING: &str = "### `tests/` (top level)";

    /// The `[[test]]` targets of a Cargo.toml: (name, path from the workspace root).
    fn registered(cargo_toml: &str) -> Vec<(String, String)> {
        let manifest: toml::Table = cargo_toml.parse().expect("Cargo.toml parses");
        let Some(tests) = manifest.get("test").and_then(toml::Value::as_array) else {
            return Vec::new();
        };
        tests
            .iter()
            .map(|t| {
                let name = t["name"].as_str().expect("[[test]] name").to_owned();
                let path = t["path"].as_str().expect("[[test]] path");
                // Paths are relative to crates/drover-cli.
                (name, path.trim_start_matches("../../").to_owned())
            })
            .collect()
    }

    /// The text of the "`tests/` (top level)" section, up to the next heading.
    fn tests_section(architecture: &str) -> &str {
        let start =
            architecture.find(HEADING).expect("ARCHITECTURE.md has the tests/ section") + HEADING.len();
        let rest = &architecture[start..];
        &rest[..rest.find("\n#").unwrap_or(rest.len())]
    }

    /// Every `` `tests/<file>.rs` `` a text names.
    fn named_files(section: &str) -> BTreeSet<String> {
        section
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|code| code.starts_with("tests/") && code.ends_with(".rs") && !code[6..].contains('/'))
            .map(str::to_owned)
            .collect()
    }

    /// What is wrong, one line per problem; empty when the section and the manifest agree.
    fn problems(cargo_toml: &str, architecture: &str) -> Vec<String> {
        let registered = registered(cargo_toml);
        let named = named_files(tests_section(architecture));
        let mut problems: Vec<String> = registered
            .iter()
            .filter(|(_, path)| !named.contains(path))
            .map(|(name, path)| {
                format!("[[test]] {name:?} ({path}) is not listed in ARCHITECTURE.md's tests/ paragraph")
            })
            .collect();
        let paths: BTreeSet<&str> = registered.iter().map(|(_, path)| path.as_str()).collect();
        problems.extend(
            named
                .iter()
                .filter(|file| !paths.contains(file.as_str()))
                .map(|file| format!("ARCHITECTURE.md lists {file}, which is not a [[test]] of drover-cli")),
        );
        problems
    }

    #[test]
    fn every_e2e_test_binary_is_listed_in_architecture_md() {
        let cargo_toml =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
        let architecture = std::fs::read_to_string(Path::new(ROOT).join("ARCHITECTURE.md")).unwrap();
        assert!(registered(&cargo_toml).len() >= 10, "the e2e binaries are found in Cargo.toml");
        let problems = problems(&cargo_toml, &architecture);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn every_top_level_test_file_is_a_registered_binary() {
        let cargo_toml =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
        let paths: BTreeSet<String> = registered(&cargo_toml).into_iter().map(|(_, path)| path).collect();
        let mut files = Vec::new();
        for entry in std::fs::read_dir(Path::new(ROOT).join("tests")).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".rs") {
                files.push(format!("tests/{name}"));
            }
        }
        assert!(!files.is_empty(), "tests/ has test files");
        let unregistered: Vec<&String> = files.iter().filter(|f| !paths.contains(*f)).collect();
        assert!(unregistered.is_empty(), "not a [[test]] of drover-cli, so never run: {unregistered:?}");
    }

    /// The check itself catches a binary missing from the paragraph and a stale entry.
    #[test]
    fn the_check_reports_a_missing_and_a_stale_entry() {
        let cargo_toml = "[[test]]\nname = \"jobs\"\npath = \"../../tests/jobs.rs\"\n\n\
                          [[test]]\nname = \"faults\"\npath = \"../../tests/faults.rs\"\n";
        let architecture = "### `crates/x`\n\nSee `tests/faults.rs` of x.\n\n\
                            ### `tests/` (top level)\n\n- `tests/jobs.rs`: jobs.\n- `tests/gone.rs`: stale.\n\n\
                            ### `examples/`\n\n`tests/faults.rs` is not in the section.\n";
        assert_eq!(
            problems(cargo_toml, architecture),
            [
                r#"[[test]] "faults" (tests/faults.rs) is not listed in ARCHITECTURE.md's tests/ paragraph"#,
                "ARCHITECTURE.md lists tests/gone.rs, which is not a [[test]] of drover-cli",
            ]
        );
        let fixed = architecture.replace("`tests/gone.rs`: stale.", "`tests/faults.rs`: faults.");
        assert_eq!(problems(cargo_toml, &fixed), Vec::<String>::new());
    }
}
