//! The stored experiments the experiment-tools tests work on: small
//! embedded searches (12 children of one epoch, the tests' tiny space) on
//! synthetic CIFAR-10, in one store per test process. Each is searched
//! once, when a test first asks for it:
//!
//! - `tools-rl`, `tools-evo`, `tools-random`: REINFORCE, evolution
//!   (population 4, sample 2) and random search;
//! - `tools-mo`: REINFORCE with its reward shaped by a parameter target
//!   ([`PARAMETER_TARGET`], MnasNet's hard constraint).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::pipeline::TINY_SPACE;
use crate::{run_ok, synth_cifar10};

/// The parameter target of `tools-mo`: the tiny space's children fall on
/// both sides of it (the tests check that they do).
pub const PARAMETER_TARGET: f64 = 1500.0;

/// The store and the data of the searches.
pub struct Tools {
    dir: tempfile::TempDir,
    /// The store (`--store`).
    pub store: PathBuf,
    /// The synthetic CIFAR-10.
    pub data: PathBuf,
    /// The experiments searched so far.
    searched: Mutex<HashSet<String>>,
}

/// The process's store, with nothing searched yet.
pub fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let data = dir.path().join("data");
        synth_cifar10(&data, 60, 40);
        let config = format!(
            "task = \"cifar10\"\nchildren = 12\nin_flight = 2\n[budget]\nepochs = 1\nbatch_size = 32\n\
             [controller]\nbatch_size = 4\n[evolution]\npopulation = 4\nsample = 2\n[space]\n{TINY_SPACE}"
        );
        std::fs::write(dir.path().join("tools.toml"), config).expect("the config can be written");
        Tools {
            store: dir.path().join("runs"),
            data,
            dir,
            searched: Mutex::new(HashSet::new()),
        }
    })
}

impl Tools {
    /// The store as a command-line argument.
    pub fn store_arg(&self) -> String {
        self.store.to_str().expect("a UTF-8 path").to_owned()
    }

    /// Searches `experiment` (one of the module docs') unless it was;
    /// returns its folder in the store.
    pub fn experiment(&self, experiment: &str) -> PathBuf {
        let mut searched = self.searched.lock().unwrap_or_else(|e| e.into_inner());
        if !searched.contains(experiment) {
            let objective = format!("mnas:parameters:{PARAMETER_TARGET}:0:-1");
            let (strategy, extra) = match experiment {
                "tools-rl" => ("reinforce", None),
                "tools-evo" => ("evolution", None),
                "tools-random" => ("random", None),
                "tools-mo" => ("reinforce", Some(["--objective", objective.as_str()])),
                other => panic!("no experiment {other} in the tools' store"),
            };
            let config = self.dir.path().join("tools.toml");
            let mut args = vec![
                "search",
                "--embedded",
                "--workers",
                "2",
                "--config",
                config.to_str().expect("a UTF-8 path"),
                "--data",
                self.data.to_str().expect("a UTF-8 path"),
                "--store",
                self.store.to_str().expect("a UTF-8 path"),
                "--experiment",
                experiment,
                "--strategy",
                strategy,
                "--metrics-addr",
                "127.0.0.1:0",
            ];
            args.extend(extra.iter().flatten());
            run_ok("nas-controller", &args);
            searched.insert(experiment.to_owned());
        }
        self.store.join("experiments").join(experiment)
    }

    /// The reward log of `experiment` (searched first), as `nas-controller
    /// log` prints it: one JSON object per child.
    pub fn reward_log(&self, experiment: &str) -> Vec<serde_json::Value> {
        self.experiment(experiment);
        let output = run_ok(
            "nas-controller",
            &["log", experiment, "--store", &self.store_arg()],
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    /// Renders the report of `experiment` (searched first) with `extra`
    /// flags; returns its folder and its page.
    pub fn report_of(&self, experiment: &str, extra: &[&str]) -> (tempfile::TempDir, String) {
        self.experiment(experiment);
        let out = tempfile::tempdir().expect("a temporary folder");
        let store = self.store_arg();
        let mut args = vec![
            "report",
            experiment,
            "--store",
            &store,
            "--out",
            out.path().to_str().expect("a UTF-8 path"),
        ];
        args.extend_from_slice(extra);
        run_ok("nas-controller", &args);
        let html = std::fs::read_to_string(out.path().join("index.html")).expect("the report's page");
        (out, html)
    }
}

/// Whether the file at `path` starts with `expected` (a format's magic).
pub fn magic(path: &Path, expected: &[u8]) -> bool {
    std::fs::read(path).is_ok_and(|bytes| bytes.starts_with(expected))
}
