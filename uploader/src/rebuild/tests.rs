//! The build child's command line and environment: the S3 settings reach it, the secret
//! never is an argument.

use std::ffi::OsStr;

use super::*;
use generator::s3::{CredentialSource, Credentials, S3Config};

fn command_with(source: CredentialSource) -> Command {
    let mut config =
        generator::Config::new("d".into(), "s".into(), "t".into(), "http://127.0.0.1:8080")
            .unwrap();
    let credentials = Credentials { access_key_id: "GKid".into(), secret: "top-secret".into() };
    config.s3 = Some(
        S3Config::new("http://127.0.0.1:3900", "site", "garage", source, credentials, 60).unwrap(),
    );
    BuildCommand { program: "uploader".into(), config }.command()
}

fn args(cmd: &Command) -> Vec<String> {
    cmd.as_std().get_args().map(|a| a.to_string_lossy().into_owned()).collect()
}

fn env_of<'a>(cmd: &'a Command, key: &str) -> Option<&'a OsStr> {
    cmd.as_std().get_envs().find(|(k, _)| *k == key).and_then(|(_, v)| v)
}

#[test]
fn the_child_gets_the_s3_settings_and_the_credentials_only_by_env_or_file() {
    let cmd = command_with(CredentialSource::Env);
    let a = args(&cmd);
    for flag in ["--s3-endpoint", "--s3-bucket", "--s3-region", "--s3-grace-secs"] {
        assert!(a.iter().any(|x| x == flag), "{flag} in {a:?}");
    }
    assert!(!a.iter().any(|x| x.contains("top-secret") || x.contains("GKid")), "{a:?}");
    assert_eq!(env_of(&cmd, "PLUGINS_S3_SECRET_ACCESS_KEY"), Some(OsStr::new("top-secret")));
    assert_eq!(env_of(&cmd, "PLUGINS_S3_ACCESS_KEY_ID"), Some(OsStr::new("GKid")));

    let cmd = command_with(CredentialSource::File("/etc/creds".into()));
    let a = args(&cmd);
    let at = a.iter().position(|x| x == "--s3-credentials-file").expect("file flag");
    assert_eq!(a[at + 1], "/etc/creds");
    assert_eq!(env_of(&cmd, "PLUGINS_S3_SECRET_ACCESS_KEY"), None);
    assert!(CHILD_ENV.contains(&"PLUGINS_FAILPOINT"));
}
