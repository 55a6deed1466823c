//! `[s3]` validated: the canary object, and the credentials file, read and never shown.

use std::path::Path;

use super::raw::{RawS3, RawS3Credentials};
use super::validate::Origin;
use super::{line_and_column, ConfigError, S3Config};

/// `[s3]`: `None` without a credentials file (then no daemon type may list the `s3` step).
pub(super) fn s3_from(raw: &RawS3, at: Origin<'_>) -> Result<Option<S3Config>, ConfigError> {
    let Some(path) = &raw.credentials_file else {
        return Ok(None);
    };
    Ok(Some(S3Config {
        bucket: raw.bucket.clone(),
        object: raw.object.clone(),
        region: raw.region.clone(),
        create: raw.create,
        timeout: at.duration("s3.timeout", &raw.timeout)?,
        credentials: read_credentials(path)
            .map_err(|message| at.invalid("s3.credentials-file", message))?,
    }))
}

/// Reads the S3 canary credentials; refuses a file others may read.
fn read_credentials(path: &Path) -> Result<crate::probe::s3::S3Credentials, String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|err| format!("{}: {err}", path.display()))?;
    if meta.permissions().mode() & 0o004 != 0 {
        return Err(format!(
            "{} is readable by every user; chmod 0600 (or 0640 with the service group) it",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|err| format!("{}: {err}", path.display()))?;
    // The parse error never quotes the file: it holds the secret.
    let raw: RawS3Credentials = toml::from_str(&text).map_err(|err| {
        let at = err
            .span()
            .map(|span| format!(" at line {}", line_and_column(&text, span.start).0))
            .unwrap_or_default();
        format!(
            "{}{at}: expected access-key and secret-key strings",
            path.display()
        )
    })?;
    Ok(crate::probe::s3::S3Credentials {
        access_key: raw.access_key,
        secret_key: raw.secret_key,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::config::tests::error_of;
    use crate::config::{Config, ProbeStep};

    const SECRET: &str = "access-key = \"AK\"\nsecret-key = \"sekrit-value\"\n";

    fn credentials_file(tag: &str, text: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path =
            std::env::temp_dir().join(format!("ceph-warden-s3-{tag}-{}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn the_s3_probe_reads_private_credentials_and_never_shows_the_secret() {
        let private = credentials_file("private", SECRET, 0o600);
        let cfg = Config::from_toml(
            &format!(
                "[s3]\ncredentials-file = {:?}\n[daemon-types.rgw]\nprobes = [\"http\", \"s3\"]\n",
                private
            ),
            "t.toml",
        )
        .unwrap();
        assert_eq!(cfg.probes("rgw"), [ProbeStep::Http, ProbeStep::S3]);
        let s3 = cfg.s3.as_ref().unwrap();
        assert_eq!(
            (s3.bucket.as_str(), s3.credentials.access_key.as_str()),
            ("ceph-warden-canary", "AK")
        );
        assert!(
            !format!("{cfg:?}").contains("sekrit-value"),
            "the secret never shows"
        );
        std::fs::remove_file(private).unwrap();
    }

    #[test]
    fn s3_credentials_every_user_may_read_are_refused() {
        let shared = credentials_file("shared", SECRET, 0o644);
        let err = error_of(&format!("[s3]\ncredentials-file = {:?}\n", shared));
        assert!(
            err.contains("s3.credentials-file") && err.contains("readable by every user"),
            "{err}"
        );
        std::fs::remove_file(shared).unwrap();
    }

    #[test]
    fn a_broken_credentials_file_is_named_without_quoting_the_secret() {
        let broken = credentials_file(
            "broken",
            "access-key = \"AK\"\nsecret-key = sekrit-value\n",
            0o600,
        );
        let err = error_of(&format!("[s3]\ncredentials-file = {:?}\n", broken));
        assert!(
            err.contains("at line 2: expected access-key and secret-key strings"),
            "{err}"
        );
        assert!(
            !err.contains("sekrit"),
            "a parse error must not quote the secret: {err}"
        );
        std::fs::remove_file(broken).unwrap();
    }

    #[test]
    fn the_s3_step_needs_a_credentials_file() {
        let err = error_of("[daemon-types.rgw]\nprobes = [\"s3\"]\n");
        assert!(err.contains("\"s3\" needs [s3] credentials-file"), "{err}");
    }
}
