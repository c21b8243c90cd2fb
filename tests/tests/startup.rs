//! Startup from the command line: a problem the user can fix is reported as a sentence that
//! names what to change, with a non-zero exit code.

use std::net::TcpListener;

use otelite_tests::run_to_exit;

const BINARY: &str = env!("CARGO_BIN_EXE_otelite-e2e");

#[test]
fn port_in_use_names_the_port_and_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    for flag in ["--grpc-port", "--http-port", "--ui-port"] {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port().to_string();
        let mut args = vec!["--data", data];
        for other in ["--grpc-port", "--http-port", "--ui-port"] {
            args.push(other);
            args.push(if other == flag { &port } else { "0" });
        }
        let out = run_to_exit(BINARY, &args);
        let printed = format!("{}{}", out.stdout, out.stderr);
        assert!(
            !out.status.success(),
            "{flag} {port} is taken, yet: {out:?}"
        );
        assert!(
            printed.contains(&port),
            "the message names port {port}: {printed}"
        );
        assert!(
            printed.contains(flag),
            "the message names {flag}: {printed}"
        );
    }
}

#[test]
fn unknown_config_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("otelite.toml");
    std::fs::write(&file, "grpc-port = 0\nretention-dayz = 7\n").unwrap();
    let out = run_to_exit(BINARY, &["--config", file.to_str().unwrap()]);
    assert!(!out.status.success(), "an unknown key is an error: {out:?}");
    assert!(
        out.stderr.contains("retention-dayz"),
        "the message names the unknown key: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("otelite.toml"),
        "the message names the file: {}",
        out.stderr
    );
}

#[test]
fn unusable_data_dir_says_what_to_check() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the data directory should be: unusable even for root.
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    let data = file.join("data");
    let args = [
        "--data",
        data.to_str().unwrap(),
        "--grpc-port",
        "0",
        "--http-port",
        "0",
        "--ui-port",
        "0",
    ];
    let out = run_to_exit(BINARY, &args);
    assert!(
        !out.status.success(),
        "an unusable data dir is an error: {out:?}"
    );
    assert!(
        out.stderr.contains(data.to_str().unwrap()) && out.stderr.contains("may write to it"),
        "the message names the directory and what to check: {}",
        out.stderr
    );
    assert_eq!(
        out.stderr.matches("Not a directory").count(),
        1,
        "the cause is said once: {}",
        out.stderr
    );
}

#[test]
fn version_prints_the_version() {
    let out = run_to_exit(BINARY, &["--version"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stdout.contains(env!("CARGO_PKG_VERSION")),
        "--version prints {}: {:?}",
        env!("CARGO_PKG_VERSION"),
        out.stdout
    );
}
