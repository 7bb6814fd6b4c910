//! `drover kubeconfig`: a kubeconfig for this coordinator, so that kubectl and the Kubernetes
//! client libraries talk to it (`KUBECONFIG=<(drover kubeconfig) kubectl get jobs`).

use clap::Args;
use serde_json::json;

use crate::Target;

/// Flags of `drover kubeconfig`.
#[derive(Debug, Clone, Args)]
pub(crate) struct KubeconfigArgs {
    /// The name of the cluster, user and context written.
    #[arg(long, default_value = "drover")]
    context: String,
}

/// Where kubectl finds the token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Credential<'a> {
    /// No token: the coordinator has none.
    None,
    /// A file kubectl reads the token from (`tokenFile`): the token itself is not written.
    File(std::path::PathBuf),
    /// The token, written into the kubeconfig (`token`).
    Token(&'a str),
}

/// The kubeconfig, as YAML.
pub(crate) fn render(server: &str, credential: &Credential<'_>, context: &str) -> anyhow::Result<String> {
    let user = match credential {
        Credential::None => json!({}),
        Credential::File(path) => json!({"tokenFile": path}),
        Credential::Token(token) => json!({"token": token}),
    };
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server.trim_end_matches('/')}}],
        "users": [{"name": context, "user": user}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": "default"}}],
        "current-context": context,
        "preferences": {},
    });
    serde_saphyr::to_string(&config).map_err(|e| anyhow::anyhow!("cannot render YAML: {e}"))
}

/// Prints the kubeconfig. A token read from `--token-file` is referred to by the file's
/// absolute path; one given with `--token` or `DROVER_TOKEN` is written in, since kubectl has
/// no other way to get it (keep the output private: `drover kubeconfig > ~/.kube/drover && chmod
/// 600 ~/.kube/drover`).
pub(crate) async fn kubeconfig(
    args: KubeconfigArgs,
    target: &Target,
    token_file: Option<&std::path::Path>,
) -> anyhow::Result<std::process::ExitCode> {
    let credential = match (token_file, target.token()) {
        (Some(path), _) => Credential::File(std::path::absolute(path)?),
        (None, Some(token)) => Credential::Token(token.expose()),
        (None, None) => Credential::None,
    };
    print!("{}", render(target.server(), &credential, &args.context)?);
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_credential_is_written_as_kubectl_reads_it() {
        let cases = [
            ("no token", Credential::None, None),
            (
                "token file",
                Credential::File("/run/drover/token".into()),
                Some("tokenFile: /run/drover/token"),
            ),
            ("token", Credential::Token("s3cret"), Some("token: s3cret")),
        ];
        for (case, credential, want) in cases {
            let text = render("http://127.0.0.1:7070/", &credential, "drover").unwrap();
            let parsed: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
            assert_eq!(parsed["clusters"][0]["cluster"]["server"], "http://127.0.0.1:7070", "{case}");
            assert_eq!(parsed["current-context"], "drover", "{case}");
            assert_eq!(parsed["contexts"][0]["context"]["namespace"], "default", "{case}");
            match want {
                Some(line) => assert!(text.contains(line), "{case}: {text}"),
                None => assert_eq!(parsed["users"][0]["user"], json!({}), "{case}"),
            }
        }
    }
}
