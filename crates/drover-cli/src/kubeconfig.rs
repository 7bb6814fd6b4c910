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

/// The kubeconfig, as YAML. `ca` (PEM, from `--certificate-authority`) is written in as
/// `certificate-authority-data`, so the file works wherever it is copied; without it kubectl
/// trusts the system's roots for an https server.
pub(crate) fn render(
    server: &str,
    credential: &Credential<'_>,
    context: &str,
    ca: Option<&[u8]>,
) -> anyhow::Result<String> {
    use base64::Engine as _;
    let user = match credential {
        Credential::None => json!({}),
        Credential::File(path) => json!({"tokenFile": path}),
        Credential::Token(token) => json!({"token": token}),
    };
    let mut cluster = json!({"server": server.trim_end_matches('/')});
    if let Some(pem) = ca {
        cluster["certificate-authority-data"] = base64::engine::general_purpose::STANDARD.encode(pem).into();
    }
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": cluster}],
        "users": [{"name": context, "user": user}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": "default"}}],
        "current-context": context,
        "preferences": {},
    });
    serde_saphyr::to_string(&config).map_err(|e| anyhow::anyhow!("cannot render YAML: {e}"))
}

/// Prints the kubeconfig, with `--certificate-authority`'s certificates written in. A token read
/// from `--token-file` is referred to by the file's
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
    let ca = target.ca().map(|(_, pem)| pem);
    print!("{}", render(target.server(), &credential, &args.context, ca)?);
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
            let text = render("http://127.0.0.1:7070/", &credential, "drover", None).unwrap();
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

    #[test]
    fn a_ca_is_written_in_as_base64_and_none_leaves_the_system_roots() {
        let pem: &[u8] = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let cases = [
            (
                "a CA",
                Some(pem),
                Some("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="),
            ),
            ("no CA", None, None),
        ];
        for (case, ca, want) in cases {
            let text = render("https://127.0.0.1:7070", &Credential::None, "drover", ca).unwrap();
            let parsed: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
            let cluster = &parsed["clusters"][0]["cluster"];
            assert_eq!(cluster["server"], "https://127.0.0.1:7070", "{case}");
            assert_eq!(cluster["certificate-authority-data"].as_str(), want, "{case}");
            assert!(cluster.get("certificate-authority").is_none(), "{case}");
            assert!(cluster.get("insecure-skip-tls-verify").is_none(), "{case}");
        }
    }
}
