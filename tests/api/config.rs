//! The binary's start-up: configuration errors name the setting; `statusd token` works.

use std::process::Command;

fn statusd(env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_statusd"));
    cmd.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("statusd runs")
}

const SECRET: (&str, &str) = ("STATUSD_AUTH__JWT_SECRET", "0123456789abcdef0123");

#[test]
fn missing_or_bad_settings_stop_startup_naming_the_setting() {
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![], "auth.jwt_secret"),
        (vec![SECRET, ("STATUSD_LISTEN", "nowhere")], "listen"),
        (vec![SECRET, ("STATUSD_ADS__SELECTOR", "magic")], "ads.selector"),
        (vec![SECRET, ("STATUSD_LOG__REQUESTS", "some")], "log.requests"),
        (vec![SECRET, ("STATUSD_STORIES__TTL_SECS", "0")], "stories.ttl_secs"),
        (vec![SECRET, ("STATUSD_STORIES__TTL_SECS", "soon")], "ttl_secs"),
        (vec![SECRET, ("STATUSD_REDIS__URL", "http://x")], "redis.url"),
        (vec![SECRET, ("STATUSD_REDIS__KEY_PREFIX", "{x}")], "redis.key_prefix"),
        (
            vec![SECRET, ("STATUSD_REDIS__CLUSTER_NODES", "redis://a:1,b:2")],
            "redis.cluster_nodes",
        ),
        (vec![SECRET, ("STATUSD_CONFIG", "/nonexistent/statusd.toml")], "statusd.toml"),
    ];
    for (env, named) in cases {
        let out = statusd(&env, &["serve"]);
        assert!(!out.status.success(), "{env:?} must not start");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "{env:?}: {stderr:?} should name {named}");
    }
}

#[test]
fn token_command_prints_a_valid_token() {
    let out = statusd(&[SECRET], &["token", "--user", "alice", "--ttl-secs", "60"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap();
    assert_eq!(statusd::auth::UserTokens::new(SECRET.1).verify(token.trim()).unwrap(), "alice");
    let bad = statusd(&[SECRET], &["token", "--user", "not valid"]);
    assert!(!bad.status.success());
}

#[test]
fn config_file_and_environment_layer() {
    let dir = std::env::temp_dir().join(format!("statusd-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("statusd.toml");
    std::fs::write(
        &file,
        "[auth]\njwt_secret = \"from-the-file-0123456789\"\n[stories]\nttl_secs = 60\n",
    )
    .unwrap();
    // The file alone suffices…
    let out = statusd(&[], &["--config", file.to_str().unwrap(), "token", "--user", "bob"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap();
    assert!(
        statusd::auth::UserTokens::new("from-the-file-0123456789")
            .verify(token.trim())
            .is_ok()
    );
    // …and the environment overrides it.
    let out = statusd(&[SECRET, ("STATUSD_CONFIG", file.to_str().unwrap())], &["token", "--user", "bob"]);
    let token = String::from_utf8(out.stdout).unwrap();
    assert!(statusd::auth::UserTokens::new(SECRET.1).verify(token.trim()).is_ok());
    // The shipped example parses and validates (with a secret supplied).
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/statusd.example.toml");
    let out = statusd(&[SECRET], &["--config", example, "token", "--user", "bob"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_dir_all(&dir).ok();
}
