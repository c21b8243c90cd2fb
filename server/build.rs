//! Builds the web UI (crate `otelite-ui`) for wasm32 and lays it out in `$OUT_DIR/ui/`, where
//! `src/assets.rs` embeds it into the binary.
//!
//! Steps: make sure the toolchain has the wasm32 standard library, run a nested
//! `cargo build --profile wasm-release --target wasm32-unknown-unknown -p otelite-ui`, generate
//! the JS glue with wasm-bindgen (as a library, pinned to the same version as the `wasm-bindgen`
//! crate the UI links), then write `index.html`, the stylesheet, the JS, the wasm and the favicon.
//! Everything but `index.html` gets a content hash in its name so the server can let browsers
//! cache it forever.
//!
//! The nested cargo gets its own target dir, `<workspace>/target/ui-build` (sharing the outer
//! one would deadlock on its build lock; one fixed place lets debug and release builds of the
//! server share the wasm), and an environment scrubbed of what the outer build sets for its own
//! compilation (flags, wrappers such as clippy-driver, target selection, the jobserver).
//!
//! It also stamps the version: `OTELITE_VERSION` = package version plus the git commit the
//! binary was built from (or `OTELITE_COMMIT` from the environment, for builds from a tarball).

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

const UI_PACKAGE: &str = "otelite-ui";
const WASM_TARGET: &str = "wasm32-unknown-unknown";
const WASM_PROFILE: &str = "wasm-release";
/// The file cargo writes for the `otelite-ui` cdylib.
const WASM_ARTIFACT: &str = "otelite_ui.wasm";
/// The file name wasm-bindgen's generated JS would load by default.
const BINDGEN_WASM_NAME: &str = "otelite_ui_bg.wasm";

fn main() {
    let server_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = server_dir
        .parent()
        .expect("server/ sits inside the workspace")
        .to_path_buf();
    let ui_dir = workspace.join("ui");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("ui");

    for input in [
        ui_dir.join("src"),
        ui_dir.join("Cargo.toml"),
        ui_dir.join("index.html"),
        ui_dir.join("style.css"),
        ui_dir.join("favicon.svg"),
        workspace.join("server/api/src"),
        workspace.join("server/api/Cargo.toml"),
        workspace.join("Cargo.lock"),
        workspace.join("rust-toolchain.toml"),
    ] {
        println!("cargo:rerun-if-changed={}", input.display());
    }
    stamp_version(&workspace);

    if out_dir.exists() {
        fs::remove_dir_all(&out_dir)
            .unwrap_or_else(|e| fail(&format!("clearing {out_dir:?}: {e}")));
    }
    fs::create_dir_all(&out_dir).unwrap_or_else(|e| fail(&format!("creating {out_dir:?}: {e}")));

    ensure_wasm_target(&workspace);
    let wasm = build_wasm(&workspace);
    let site = Site::generate(&wasm, &ui_dir);
    site.write(&out_dir);
}

/// Panics with `message` shaped for a person reading cargo's output.
fn fail(message: &str) -> ! {
    panic!("\n\nbuilding otelite's web UI failed: {message}\n\n");
}

/// A `Command` that runs in the workspace without what the outer cargo set for this build.
///
/// Kept: PATH, HOME, RUSTUP_* (so the rustup proxy picks the toolchain of `rust-toolchain.toml`
/// or the one the outer build runs with), CARGO_HOME and cargo's user configuration (registry,
/// network, terminal). Dropped: the compiler, flags, wrappers, target and jobserver of the outer
/// build, and the variables cargo sets for build scripts.
fn clean_command(program: impl Into<OsString>, workspace: &Path) -> Command {
    const KEEP_CARGO: [&str; 8] = [
        "CARGO_HOME",
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_REGISTRIES_",
        "CARGO_REGISTRY_",
        "CARGO_TERM_",
        "CARGO_BUILD_JOBS",
        "CARGO_SOURCE_",
    ];
    const DROP_EXACT: [&str; 12] = [
        "CARGO",
        "OUT_DIR",
        "TARGET",
        "HOST",
        "NUM_JOBS",
        "OPT_LEVEL",
        "PROFILE",
        "DEBUG",
        "MAKEFLAGS",
        "MFLAGS",
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
    ];
    let mut command = Command::new(program.into());
    command.current_dir(workspace);
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let outer_cargo =
            key.starts_with("CARGO_") && !KEEP_CARGO.iter().any(|k| key.starts_with(k));
        let outer_rustc = key.starts_with("RUSTC") || key.starts_with("RUSTDOC");
        let internal =
            key.starts_with("__CARGO") || key == "CLIPPY_ARGS" || key == "CLIPPY_CONF_DIR";
        if outer_cargo || outer_rustc || internal || DROP_EXACT.contains(&key) {
            command.env_remove(key);
        }
    }
    command
}

/// Makes sure the toolchain that will build the UI has the wasm32 standard library, adding it
/// with rustup if it is missing.
fn ensure_wasm_target(workspace: &Path) {
    let has_target = || {
        let output = clean_command("rustc", workspace)
            .args(["--print", "sysroot"])
            .output()
            .unwrap_or_else(|e| fail(&format!("cannot run rustc: {e}")));
        if !output.status.success() {
            fail(&format!(
                "`rustc --print sysroot` failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        sysroot
            .join("lib/rustlib")
            .join(WASM_TARGET)
            .join("lib")
            .is_dir()
    };
    if has_target() {
        return;
    }
    let added = clean_command("rustup", workspace)
        .args(["target", "add", WASM_TARGET])
        .status()
        .is_ok_and(|s| s.success());
    if !added || !has_target() {
        fail(&format!(
            "the Rust standard library for {WASM_TARGET} is not installed and `rustup target add` \
             did not work. Install it with\n\n    rustup target add {WASM_TARGET}\n\n(in the \
             workspace directory, so that the toolchain of rust-toolchain.toml gets it) and build \
             again."
        ));
    }
}

/// Compiles the UI crate to wasm32 and returns the path of the `.wasm` file.
fn build_wasm(workspace: &Path) -> PathBuf {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = workspace.join("target").join("ui-build");
    let output = clean_command(cargo, workspace)
        .args([
            "build",
            "--profile",
            WASM_PROFILE,
            "--target",
            WASM_TARGET,
            "-p",
            UI_PACKAGE,
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .output()
        .unwrap_or_else(|e| fail(&format!("cannot run cargo: {e}")));
    if !output.status.success() {
        fail(&format!(
            "`cargo build -p {UI_PACKAGE} --target {WASM_TARGET}` failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    target_dir
        .join(WASM_TARGET)
        .join(WASM_PROFILE)
        .join(WASM_ARTIFACT)
}

/// The files of the UI, named and ready to write.
struct Site {
    files: Vec<(String, Vec<u8>)>,
}

impl Site {
    fn generate(wasm_path: &Path, ui_dir: &Path) -> Site {
        let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
        bindgen
            .input_path(wasm_path)
            .web(true)
            .unwrap_or_else(|e| fail(&format!("wasm-bindgen: {e}")))
            // Keep the `new URL(..., import.meta.url)` default in the JS so `init()` works
            // without arguments; the index passes the hashed name explicitly anyway.
            .omit_default_module_path(false)
            // Function names are a debugging aid worth more than half the file (the profile
            // keeps symbols, `strip = "none"`, because wasm-bindgen needs its custom sections):
            // browsers download the UI, so names stay out of it.
            .remove_name_section(true)
            .remove_producers_section(true)
            .typescript(false);
        let mut output = bindgen
            .generate_output()
            .unwrap_or_else(|e| fail(&format!("wasm-bindgen on {wasm_path:?}: {e:#}")));
        // JS that crates inline with `#[wasm_bindgen(inline_js)]` or `module = ...`; the glue
        // imports it as `./snippets/...`, so it lands next to the glue, where wasm-bindgen's own
        // `emit` would put it.
        let mut files = Vec::new();
        for (identifier, scripts) in output.snippets() {
            for (i, js) in scripts.iter().enumerate() {
                files.push((
                    format!("snippets/{identifier}/inline{i}.js"),
                    js.clone().into_bytes(),
                ));
            }
        }
        for (path, js) in output.local_modules() {
            files.push((format!("snippets/{path}"), js.clone().into_bytes()));
        }

        let wasm = output.wasm_mut().emit_wasm();
        let wasm_name = hashed_name("otelite-ui", "wasm", &wasm);
        let js = output.js();
        if js.matches(BINDGEN_WASM_NAME).count() != 1 {
            fail(&format!(
                "expected wasm-bindgen's JS to name {BINDGEN_WASM_NAME} once; its output changed"
            ));
        }
        let js = js.replace(BINDGEN_WASM_NAME, &wasm_name).into_bytes();
        let js_name = hashed_name("otelite-ui", "js", &js);

        let read = |name: &str| {
            fs::read(ui_dir.join(name)).unwrap_or_else(|e| fail(&format!("reading ui/{name}: {e}")))
        };
        let style = read("style.css");
        let style_name = hashed_name("style", "css", &style);
        let favicon = read("favicon.svg");
        let favicon_name = hashed_name("favicon", "svg", &favicon);

        let template = String::from_utf8(read("index.html"))
            .unwrap_or_else(|_| fail("ui/index.html is not UTF-8"));
        let mut index = template;
        for (placeholder, name) in [
            ("{{SCRIPT}}", &js_name),
            ("{{WASM}}", &wasm_name),
            ("{{STYLE}}", &style_name),
            ("{{FAVICON}}", &favicon_name),
        ] {
            if !index.contains(placeholder) {
                fail(&format!(
                    "ui/index.html lacks the placeholder {placeholder}"
                ));
            }
            index = index.replace(placeholder, name);
        }

        files.extend([
            ("index.html".to_owned(), index.into_bytes()),
            (js_name, js),
            (wasm_name, wasm),
            (style_name, style),
            (favicon_name, favicon),
        ]);
        Site { files }
    }

    fn write(&self, out_dir: &Path) {
        for (name, bytes) in &self.files {
            let path = out_dir.join(name);
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).unwrap_or_else(|e| fail(&format!("creating {dir:?}: {e}")));
            }
            fs::write(&path, bytes).unwrap_or_else(|e| fail(&format!("writing {path:?}: {e}")));
        }
    }
}

/// `stem.<first 16 hex digits of sha256>.ext`: the name changes whenever the content does.
fn hashed_name(stem: &str, ext: &str, content: &[u8]) -> String {
    let digest = Sha256::digest(content);
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{stem}.{hex}.{ext}")
}

/// Sets `OTELITE_VERSION` for the crate, e.g. `0.1.0 (3f2a9c1d04be)`.
fn stamp_version(workspace: &Path) {
    println!("cargo:rerun-if-env-changed=OTELITE_COMMIT");
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(workspace)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    // Rebuild when HEAD moves: it names a ref file (or a commit), and commits rewrite that file.
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        let git_dir = PathBuf::from(git_dir);
        println!("cargo:rerun-if-changed={}", git_dir.join("HEAD").display());
        if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!(
                "cargo:rerun-if-changed={}",
                git_dir.join(head_ref).display()
            );
        }
    }
    let commit = env::var("OTELITE_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown commit".to_string());
    let version = env::var("CARGO_PKG_VERSION").expect("set by cargo");
    println!("cargo:rustc-env=OTELITE_VERSION={version} ({commit})");
}
