//! Unit tests of configuration loading: precedence and refusal of bad values.

use super::*;

/// Writes a TOML file into a fresh temp dir and returns both (the dir keeps the file alive).
fn toml_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ftpd.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// An environment map from `(name, value)` pairs.
fn env(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// The error text of a load that must fail.
fn load_error(
    file: Option<&Path>,
    env_map: Option<HashMap<String, String>>,
    overrides: &Overrides,
) -> String {
    FtpdConfig::load_from(file, env_map, overrides)
        .expect_err("configuration should be refused")
        .to_string()
}

#[test]
fn no_file_no_env_no_flags_gives_the_defaults() {
    let config = FtpdConfig::load_from(None, env(&[]), &Overrides::default()).unwrap();
    assert_eq!(config, FtpdConfig::default());
    assert_eq!(config.server.mode, Mode::default());
    assert_eq!(config.limits.max_line_length, 4096);
}

#[test]
fn file_overrides_defaults_and_keeps_the_rest() {
    let (_dir, path) = toml_file(
        r#"
        [server]
        listen = ["127.0.0.1:2100", "[::1]:2100"]
        mode = "forking"
        greeting = "hello"

        [passive]
        ports = "50000-50009"
        address = "192.0.2.7"

        [limits]
        idle_timeout = "2m"
        login_timeout = 15
        failed_login_delay = "250ms"
        "#,
    );
    let config = FtpdConfig::load_from(Some(&path), env(&[]), &Overrides::default()).unwrap();
    assert_eq!(config.server.listen.len(), 2);
    assert_eq!(config.server.mode, Mode::forking());
    assert_eq!(config.server.greeting, "hello");
    assert_eq!(config.passive.ports, PortRange::new(50000, 50009));
    assert_eq!(config.passive.address, Some("192.0.2.7".parse().unwrap()));
    assert_eq!(config.limits.idle_timeout, Duration::from_secs(120));
    assert_eq!(config.limits.login_timeout, Duration::from_secs(15));
    assert_eq!(config.limits.failed_login_delay, Duration::from_millis(250));
    assert_eq!(
        config.limits.max_sessions,
        FtpdConfig::default().limits.max_sessions
    );
    assert_eq!(
        config.server.users_file,
        FtpdConfig::default().server.users_file
    );
}

#[test]
fn environment_overrides_file_and_flags_override_environment() {
    let (_dir, path) = toml_file(
        r#"
        [server]
        listen = "127.0.0.1:2100"
        mode = "threading"
        users_file = "/from/file.toml"
        [limits]
        idle_timeout = 100
        "#,
    );
    let environment = env(&[
        ("WHARF_FTPD__SERVER__MODE", "sequential"),
        ("WHARF_FTPD__SERVER__USERS_FILE", "/from/env.toml"),
        ("WHARF_FTPD__LIMITS__IDLE_TIMEOUT", "200"),
        ("WHARF_FTPD__LIMITS__MAX_SESSIONS_PER_IP", "3"),
        ("WHARF_FTPD__PASSIVE__PORTS", "40000-40001"),
        ("UNRELATED_VARIABLE", "x"),
    ]);
    let config =
        FtpdConfig::load_from(Some(&path), environment.clone(), &Overrides::default()).unwrap();
    assert_eq!(config.server.mode, Mode::Sequential);
    assert_eq!(config.server.users_file, PathBuf::from("/from/env.toml"));
    assert_eq!(config.limits.idle_timeout, Duration::from_secs(200));
    assert_eq!(config.limits.max_sessions_per_ip, 3);
    assert_eq!(config.passive.ports, PortRange::new(40000, 40001));
    assert_eq!(
        config.server.listen,
        vec!["127.0.0.1:2100".parse::<ListenAddr>().unwrap()]
    );

    let flags = Overrides {
        listen: vec!["127.0.0.1:3000".parse().unwrap()],
        users: Some(PathBuf::from("/from/flag.toml")),
        mode: Some(Mode::asynchronous()),
        passive_ports: PortRange::new(41000, 41010),
        ..Overrides::default()
    };
    let config = FtpdConfig::load_from(Some(&path), environment, &flags).unwrap();
    assert_eq!(config.server.mode, Mode::asynchronous());
    assert_eq!(config.server.users_file, PathBuf::from("/from/flag.toml"));
    assert_eq!(config.passive.ports, PortRange::new(41000, 41010));
    assert_eq!(
        config.server.listen,
        vec!["127.0.0.1:3000".parse::<ListenAddr>().unwrap()]
    );
    // Settings no flag names keep the environment's value.
    assert_eq!(config.limits.idle_timeout, Duration::from_secs(200));
}

#[test]
fn environment_can_carry_a_comma_separated_listen_list() {
    let config = FtpdConfig::load_from(
        None,
        env(&[("WHARF_FTPD__SERVER__LISTEN", "127.0.0.1:2100, [::1]:2100")]),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(config.server.listen.len(), 2);
}

#[test]
fn a_greeting_made_of_digits_stays_text() {
    let config = FtpdConfig::load_from(
        None,
        env(&[("WHARF_FTPD__SERVER__GREETING", "42")]),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(config.server.greeting, "42");
}

#[test]
fn bad_values_are_refused_with_the_setting_named() {
    let cases: &[(&str, &str)] = &[
        ("[server]\nmode = \"spawning\"", "spawning"),
        ("[server]\nlisten = \"nowhere\"", "nowhere"),
        ("[server]\nlisten = \"unix:/tmp/ftp.sock\"", "server.listen"),
        ("[server]\nlisten = []", "server.listen"),
        ("[passive]\nports = \"60000-50000\"", "60000-50000"),
        ("[passive]\naddress = \"not-an-ip\"", "passive.address"),
        ("[passive]\naddress = \"0.0.0.0\"", "passive.address"),
        ("[limits]\nidle_timeout = \"soon\"", "soon"),
        ("[limits]\nidle_timeout = 0", "limits.idle_timeout"),
        ("[limits]\nmax_line_length = 10", "limits.max_line_length"),
        ("[limits]\nmax_sessions = 0", "limits.max_sessions"),
        ("[limits]\nmax_sessions = -1", "max_sessions"),
        ("[limits]\nidle_timout = 5", "idle_timout"),
        ("[unknown_section]\nx = 1", "unknown_section"),
        ("[tls]\nrequire_tls = true", "tls"),
        ("not toml at all [", "ftpd.toml"),
    ];
    assert_files_refused(cases);
}

#[test]
fn bad_environment_values_are_refused() {
    let message = load_error(
        None,
        env(&[("WHARF_FTPD__LIMITS__MAX_SESSIONS", "many")]),
        &Overrides::default(),
    );
    assert!(message.contains("max_sessions"), "{message}");
    let message = load_error(
        None,
        env(&[("WHARF_FTPD__SERVER__NO_SUCH_KEY", "1")]),
        &Overrides::default(),
    );
    assert!(message.contains("no_such_key"), "{message}");
}

#[test]
fn a_missing_config_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.toml");
    let message = load_error(Some(&missing), env(&[]), &Overrides::default());
    assert!(message.contains("absent.toml"), "{message}");
}

#[test]
fn tls_and_ban_settings_load_from_file_env_and_flags() {
    let (_dir, path) = toml_file(
        r#"
        [tls]
        cert = "/etc/ftpd/cert.pem"
        key = "/etc/ftpd/key.pem"
        implicit_listen = ["127.0.0.1:990"]
        require_session_reuse = false

        [limits]
        ban_after_failures = 4
        ban_window = "2m"
        ban_duration = "30s"
        max_login_attempts = 5
        max_bad_commands = 9
        "#,
    );
    let environment = env(&[("WHARF_FTPD__TLS__REQUIRE_TLS", "true")]);
    let config = FtpdConfig::load_from(Some(&path), environment, &Overrides::default()).unwrap();
    assert_eq!(config.tls.cert, Some(PathBuf::from("/etc/ftpd/cert.pem")));
    assert!(config.tls.require_tls);
    assert!(!config.tls.require_session_reuse);
    assert_eq!(config.tls.implicit_listen.len(), 1);
    assert_eq!(config.limits.ban_after_failures, 4);
    assert_eq!(config.limits.ban_window, Duration::from_secs(120));
    assert_eq!(config.limits.ban_duration, Duration::from_secs(30));
    assert_eq!(
        (
            config.limits.max_login_attempts,
            config.limits.max_bad_commands
        ),
        (5, 9)
    );
    let defaults = FtpdConfig::default();
    assert!(
        defaults.tls.require_session_reuse,
        "the reuse check is on by default"
    );
    assert!(
        defaults.limits.ban_after_failures > 0,
        "bans are on by default"
    );

    let flags = Overrides {
        tls_cert: Some(PathBuf::from("/flag/cert.pem")),
        tls_key: Some(PathBuf::from("/flag/key.pem")),
        require_tls: true,
        tls_implicit_listen: vec!["127.0.0.1:9990".parse().unwrap()],
        ..Overrides::default()
    };
    let config = FtpdConfig::load_from(None, env(&[]), &flags).unwrap();
    assert_eq!(config.tls.key, Some(PathBuf::from("/flag/key.pem")));
    assert!(config.tls.require_tls);
    assert_eq!(
        config.tls.implicit_listen,
        vec!["127.0.0.1:9990".parse::<ListenAddr>().unwrap()]
    );
}

#[test]
fn inconsistent_tls_and_ban_settings_are_refused() {
    let cases: &[(&str, &str)] = &[
        ("[tls]\nrequire_tls = true", "tls.require_tls"),
        (
            "[tls]\nimplicit_listen = [\"127.0.0.1:990\"]",
            "tls.implicit_listen",
        ),
        ("[tls]\ncert = \"/c.pem\"", "tls.cert"),
        ("[tls]\nkey = \"/k.pem\"", "tls.cert"),
        (
            "[tls]\ncert = \"/c.pem\"\nkey = \"/k.pem\"\nimplicit_listen = \"unix:/tmp/x\"",
            "tls.implicit_listen",
        ),
        ("[limits]\nban_window = 0", "limits.ban_window"),
        (
            "[limits]\nmax_login_attempts = 0",
            "limits.max_login_attempts",
        ),
        ("[limits]\nmax_bad_commands = 0", "limits.max_bad_commands"),
    ];
    assert_files_refused(cases);
    // With bans off, their times are not checked.
    let (_dir, path) = toml_file("[limits]\nban_after_failures = 0\nban_window = 0");
    assert!(FtpdConfig::load_from(Some(&path), env(&[]), &Overrides::default()).is_ok());
}

/// Asserts that each config file text is refused with an error mentioning its needle.
fn assert_files_refused(cases: &[(&str, &str)]) {
    for (text, needle) in cases {
        let (_dir, path) = toml_file(text);
        let message = load_error(Some(&path), env(&[]), &Overrides::default());
        assert!(
            message.contains(needle),
            "{text:?}: error {message:?} does not mention {needle:?}"
        );
    }
}

/// The complete example file in docs/ftpd.md, as a reader would copy it.
fn documented_example() -> String {
    let guide = include_str!("../../../docs/ftpd.md");
    let start = guide
        .find("```toml\n[server]")
        .expect("docs/ftpd.md has a complete example file");
    let body = &guide[start + "```toml\n".len()..];
    body[..body.find("```").expect("end of the example")].to_string()
}

#[test]
fn the_documented_example_file_loads_with_every_value_it_shows() {
    let (_dir, path) = toml_file(&documented_example());
    let config = FtpdConfig::load_from(Some(&path), env(&[]), &Overrides::default())
        .expect("the documented example loads");
    assert_eq!(config.server.user.as_deref(), Some("wharf-ftp"));
    assert_eq!(config.server.group.as_deref(), Some("wharf-ftp"));
    assert!(config.server.durable_uploads);
    let (_dir, scratch) = toml_file("[server]\ndurable_uploads = false");
    let scratch = FtpdConfig::load_from(Some(&scratch), env(&[]), &Overrides::default()).unwrap();
    assert!(!scratch.server.durable_uploads);
    let proxy = config.proxy_protocol.settings().expect("PROXY protocol on");
    assert!(proxy.is_trusted("10.0.0.7".parse().unwrap()));
    assert!(!proxy.is_trusted("10.0.1.7".parse().unwrap()));
    assert!(proxy.is_required());
    assert_eq!(proxy.timeout(), Duration::from_secs(5));
}

#[test]
fn proxy_protocol_flags_and_bad_networks() {
    let overrides = Overrides {
        proxy_protocol_from: vec!["192.0.2.0/24".parse().unwrap()],
        ..Overrides::default()
    };
    let config = FtpdConfig::load_from(None, env(&[]), &overrides).unwrap();
    assert_eq!(config.proxy_protocol.trusted.len(), 1);
    assert!(config.proxy_protocol.settings().is_some());
    assert_files_refused(&[
        (
            "[proxy_protocol]\ntrusted = [\"10.0.0.0/33\"]",
            "10.0.0.0/33",
        ),
        (
            "[proxy_protocol]\ntrusted = [\"10.0.0.0/8\"]\nheader_timeout = 0",
            "proxy_protocol.header_timeout",
        ),
        ("[server]\ngroup = \"nogroup\"", "server.group"),
    ]);
}

#[test]
fn stale_upload_age_reads_a_duration_and_refuses_zero() {
    let s3 = "[storage]\nbackend = \"s3\"\nbucket = \"wharf\"\naccess_key_id = \"GK1\"\nsecret_access_key = \"s\"\n";
    let (_dir, file) = toml_file(s3);
    let config = FtpdConfig::load_from(Some(&file), env(&[]), &Overrides::default()).unwrap();
    assert_eq!(config.storage.stale_upload_age, Duration::from_secs(86_400));
    let config = FtpdConfig::load_from(
        Some(&file),
        env(&[("WHARF_FTPD__STORAGE__STALE_UPLOAD_AGE", "90s")]),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(config.storage.stale_upload_age, Duration::from_secs(90));
    let (_dir, zero) = toml_file(&format!("{s3}stale_upload_age = \"0s\"\n"));
    let error = load_error(Some(&zero), env(&[]), &Overrides::default());
    assert!(error.contains("storage.stale_upload_age"), "{error}");
}

#[test]
fn metrics_listen_comes_from_file_environment_or_flag() {
    let config = FtpdConfig::load_from(None, env(&[]), &Overrides::default()).unwrap();
    assert_eq!(config.metrics.listen, None, "no exporter by default");
    assert!(!config.metrics.per_user_quota);
    let (_dir, file) = toml_file("[metrics]\nlisten = \"127.0.0.1:9100\"\nper_user_quota = true\n");
    let config = FtpdConfig::load_from(Some(&file), env(&[]), &Overrides::default()).unwrap();
    assert_eq!(
        config.metrics.listen,
        Some("127.0.0.1:9100".parse().unwrap())
    );
    assert!(config.metrics.per_user_quota);
    let config = FtpdConfig::load_from(
        Some(&file),
        env(&[("WHARF_FTPD__METRICS__LISTEN", "[::1]:9200")]),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(config.metrics.listen, Some("[::1]:9200".parse().unwrap()));
    let flags = Overrides {
        metrics_listen: Some("127.0.0.1:9300".parse().unwrap()),
        ..Overrides::default()
    };
    let config = FtpdConfig::load_from(
        Some(&file),
        env(&[("WHARF_FTPD__METRICS__LISTEN", "[::1]:9200")]),
        &flags,
    )
    .unwrap();
    assert_eq!(
        config.metrics.listen,
        Some("127.0.0.1:9300".parse().unwrap())
    );
    let error = load_error(
        None,
        env(&[("WHARF_FTPD__METRICS__LISTEN", "not-an-address")]),
        &Overrides::default(),
    );
    assert!(
        error.contains("not-an-address") || error.contains("metrics"),
        "{error}"
    );
}
