use super::*;

#[test]
fn ignores_build_outputs_and_noise() {
    for (name, is_dir) in [
        ("target", true),
        ("node_modules", true),
        ("__pycache__", true),
        (".git", true),
        (".micro-wasm", true),
        (".hidden", false),
        (".main.rs.swp", false),
        ("app.wasm", false),
        ("app.cwasm", false),
        ("quotes.db", false),
        ("quotes.db-journal", false),
        ("main.rs~", false),
    ] {
        assert!(ignored(name, is_dir), "{name} should be ignored");
    }
    for (name, is_dir) in [
        ("src", true),
        ("main.rs", false),
        ("app.py", false),
        ("which", false),
        // Only a directory named `target` is a build output.
        ("target", false),
        ("wasm.md", false),
        ("dbconfig.toml", false),
    ] {
        assert!(!ignored(name, is_dir), "{name} should be watched");
    }
}

fn at(start: Instant, ms: u64) -> Instant {
    start + Duration::from_millis(ms)
}

#[test]
fn a_burst_of_changes_fires_once_after_a_quiet_spell() {
    let t0 = Instant::now();
    let mut d = Debounce::new(Duration::from_millis(300));
    assert!(!d.observe(false, at(t0, 0)));
    assert!(!d.is_pending());
    // Saves at 0, 100 and 250 ms: nothing fires while they keep coming.
    for ms in [0, 100, 250] {
        assert!(!d.observe(true, at(t0, ms)));
        assert!(d.is_pending());
    }
    // Quiet, but not yet for 300 ms since the last change.
    assert!(!d.observe(false, at(t0, 350)));
    assert!(!d.observe(false, at(t0, 500)));
    assert!(d.observe(false, at(t0, 550)));
    assert!(!d.is_pending());
    // Nothing more to do until the next change.
    assert!(!d.observe(false, at(t0, 2000)));
}

#[test]
fn a_change_after_firing_fires_again() {
    let t0 = Instant::now();
    let mut d = Debounce::new(Duration::from_millis(300));
    assert!(!d.observe(true, at(t0, 0)));
    assert!(d.observe(false, at(t0, 500)));
    assert!(!d.observe(true, at(t0, 600)));
    assert!(!d.observe(false, at(t0, 700)));
    assert!(d.observe(false, at(t0, 1000)));
}

/// An app dir with sources, build outputs and a state dir inside `src`, and its [`Files`].
fn scratch(build: Option<&str>) -> (tempfile::TempDir, Files) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("code");
    for (rel, text) in [
        ("main.rs", "fn main() {}"),
        ("lib/util.rs", "pub fn f() {}"),
        ("target/out.o", "object"),
        ("node_modules/x/index.js", "js"),
        (".git/HEAD", "ref"),
        ("data.db", "sqlite"),
        ("state/cache/x.cwasm", "compiled"),
        ("state/logs/code.log", "log"),
    ] {
        let p = src.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    std::fs::write(dir.path().join("app.wasm"), "component").unwrap();
    let files = Files {
        src: src.clone(),
        component: dir.path().join("app.wasm"),
        build: build.map(str::to_string),
        state_dir: src.join("state"),
    };
    (dir, files)
}

#[test]
fn a_snapshot_holds_only_watched_sources() {
    let (_dir, files) = scratch(Some("make"));
    let snap = Snapshot::take(&files);
    let names: Vec<_> = snap
        .sources
        .keys()
        .map(|p| p.strip_prefix(&files.src).unwrap().to_path_buf())
        .collect();
    assert_eq!(
        names,
        [PathBuf::from("lib/util.rs"), PathBuf::from("main.rs")]
    );
    assert!(snap.component.is_some());
    assert!(!snap.truncated);
}

#[test]
fn source_and_component_changes_are_told_apart() {
    let (_dir, files) = scratch(Some("make"));
    let before = Snapshot::take(&files);
    // Noise changes nothing.
    std::fs::write(files.src.join("target/out.o"), "a longer object").unwrap();
    std::fs::write(files.src.join("data.db"), "more sqlite").unwrap();
    std::fs::write(files.src.join("state/logs/code.log"), "more log").unwrap();
    let noise = Snapshot::take(&files);
    assert_eq!(before.changes(&noise), Changed::default());
    // A source edit (a different length, whatever the mtime resolution).
    std::fs::write(files.src.join("main.rs"), "fn main() { run() }").unwrap();
    let edited = Snapshot::take(&files);
    let changed = noise.changes(&edited);
    assert_eq!(
        changed,
        Changed {
            sources: true,
            component: false
        }
    );
    // A new file and a removed one count too.
    std::fs::write(files.src.join("lib/new.rs"), "").unwrap();
    let added = Snapshot::take(&files);
    assert!(edited.changes(&added).sources);
    std::fs::remove_file(files.src.join("lib/new.rs")).unwrap();
    assert!(added.changes(&Snapshot::take(&files)).sources);
    // The component alone.
    std::fs::write(&files.component, "a new component").unwrap();
    let rebuilt = Snapshot::take(&files);
    assert_eq!(Snapshot::take(&files).changes(&rebuilt), Changed::default());
    assert_eq!(
        added.changes(&rebuilt),
        Changed {
            sources: true,
            component: true
        }
    );
}

#[test]
fn without_a_build_command_only_the_component_is_watched() {
    let (_dir, files) = scratch(None);
    let before = Snapshot::take(&files);
    assert!(before.sources.is_empty());
    std::fs::write(files.src.join("main.rs"), "edited, but nothing builds it").unwrap();
    assert_eq!(before.changes(&Snapshot::take(&files)), Changed::default());
    std::fs::remove_file(&files.component).unwrap();
    let gone = Snapshot::take(&files);
    assert!(gone.component.is_none());
    assert_eq!(
        before.changes(&gone),
        Changed {
            sources: false,
            component: true
        }
    );
}

#[test]
fn changes_accumulate_until_the_rebuild() {
    let sources = Changed {
        sources: true,
        component: false,
    };
    let component = Changed {
        sources: false,
        component: true,
    };
    assert!(!Changed::default().any());
    assert_eq!(
        sources.or(component),
        Changed {
            sources: true,
            component: true
        }
    );
}
