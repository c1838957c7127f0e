//! The layers of docs/ARCHITECTURE.md, checked on the sources: http → services → store → domain,
//! each importing only from those below it, and the domain free of actix and Redis.

use std::path::{Path, PathBuf};

/// A module's layer by its top-level name; everything not named is the domain or a shared basic.
fn layer(top: &str) -> u8 {
    match top {
        "main" | "startup" | "telemetry" | "demo" => 4,
        "http" => 3,
        "services" => 2,
        "store" => 1,
        _ => 0,
    }
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source folder") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without its unit tests, which may reach anywhere.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("readable source");
    text.split("#[cfg(test)]").next().unwrap_or_default().to_owned()
}

#[test]
fn no_import_runs_up_a_layer_and_the_domain_holds_no_io() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(files.len() > 20, "the sources were found");
    let mut wrong = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        let top = relative.split('/').next().unwrap().trim_end_matches(".rs").to_owned();
        let code = code(file);
        for (at, _) in code.match_indices("crate::") {
            let used: String = code[at + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if layer(&used) > layer(&top) {
                wrong.push(format!("{relative} imports crate::{used}"));
            }
            // HTTP reaches Redis through the use cases only; its state holds the store to hand
            // to them.
            if top == "http" && used == "store" && relative != "http/mod.rs" {
                wrong.push(format!("{relative} imports crate::store"));
            }
        }
        // The domain: plain types and rules. (`error.rs` is where a Redis error becomes ours.)
        if layer(&top) == 0 && relative != "error.rs" {
            for io in ["actix_web", "actix_http", "redis::"] {
                if code.contains(io) {
                    wrong.push(format!("{relative} uses {io}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
