//! Simulated runs written to a file and read back: `simulate search
//! --record-runs FILE` writes every child of every run, one JSON line
//! each ([`Recorder`], [`RecordedChild`]), and `--warm-start runs:FILE` reads them
//! ([`RecordedRuns`]) so a later simulation can learn from the search a
//! strategy actually made, not from random rows of its table. Each line
//! has a `reward`, an `arch_id` and a `spec`, so the file is also a reward
//! table (`--oracle table:FILE`) and joins tables keyed by id. A path
//! ending in `.gz` is written gzipped (a 2,000-child run of 200 seeds is
//! tens of megabytes of text); reading takes either.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

use nas_domain::{ArchId, ArchSpec};
use serde::{Deserialize, Serialize};

use crate::strategy::StrategyKind;
use crate::{Error, Result};

/// One child of a simulated run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedChild {
    /// The run's strategy.
    pub strategy: StrategyKind,
    /// The run's seed.
    pub seed: u64,
    /// Its position in the run (the order its reward arrived).
    pub sample: usize,
    /// Its reward.
    pub reward: f64,
    /// Its architecture's id (the content hash of `spec`, as in reward
    /// logs and reports), to join the file with tables keyed by it.
    pub arch_id: ArchId,
    /// Its architecture.
    pub spec: ArchSpec,
}

/// A file the runs will be written to, created before they start so a
/// path that cannot be written fails at once, not after the simulation.
/// The lines go to `FILE.partial`, renamed to `FILE` by [`Recorder::finish`]:
/// a simulation that fails midway leaves no file that reads back as
/// shorter runs.
pub struct Recorder {
    path: PathBuf,
    partial: PathBuf,
    out: Sink,
}

/// Where the lines go: the file itself, or a gzip stream into it.
enum Sink {
    Plain(BufWriter<File>),
    Gzip(BufWriter<GzEncoder<File>>),
}

impl Sink {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Plain(out) => out,
            Sink::Gzip(out) => out,
        }
    }
}

impl Recorder {
    /// Starts writing `path` (gzipped when its name ends in `.gz`), as
    /// `path` with `.partial` appended until [`Recorder::finish`].
    pub fn create(path: &Path) -> Result<Self> {
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = File::create(&partial).map_err(|e| Error::io(&partial, e))?;
        let out = if path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("gz")) {
            Sink::Gzip(BufWriter::new(GzEncoder::new(file, Compression::default())))
        } else {
            Sink::Plain(BufWriter::new(file))
        };
        Ok(Recorder {
            path: path.to_path_buf(),
            partial,
            out,
        })
    }

    /// Writes one run's children (`children`: each spec with its reward,
    /// in the order they arrived).
    pub fn write_run<'a>(
        &mut self,
        strategy: StrategyKind,
        seed: u64,
        children: impl IntoIterator<Item = (&'a ArchSpec, f64)>,
    ) -> Result<()> {
        for (sample, (spec, reward)) in children.into_iter().enumerate() {
            let child = RecordedChild {
                strategy,
                seed,
                sample,
                reward,
                arch_id: spec.id(),
                spec: spec.clone(),
            };
            let out = self.out.writer();
            serde_json::to_writer(&mut *out, &child).map_err(|e| Error::io(&self.partial, e.into()))?;
            out.write_all(b"\n").map_err(|e| Error::io(&self.partial, e))?;
        }
        Ok(())
    }

    /// Flushes what was written (and ends the gzip stream), then gives
    /// the file its name.
    pub fn finish(self) -> Result<()> {
        let io = |e: std::io::Error| Error::io(&self.partial, e);
        match self.out {
            Sink::Plain(mut out) => out.flush().map_err(io)?,
            Sink::Gzip(out) => {
                let encoder = out.into_inner().map_err(|e| io(e.into_error()))?;
                encoder.finish().map_err(io)?;
            }
        }
        std::fs::rename(&self.partial, &self.path).map_err(|e| Error::io(&self.path, e))
    }
}

/// The runs of one strategy read back: each seed's children in order.
#[derive(Clone, Debug)]
pub struct RecordedRuns {
    /// The strategy that made them.
    pub strategy: StrategyKind,
    /// Each seed's children, by sample.
    pub runs: BTreeMap<u64, Vec<(ArchSpec, f64)>>,
}

impl RecordedRuns {
    /// Reads a file a [`Recorder`] wrote, gzipped or not.
    pub fn load(path: &Path) -> Result<Self> {
        let text = nas_domain::oracle::read_text(path)?;
        Self::parse(&text).map_err(|reason| Error::Config(format!("{}: {reason}", path.display())))
    }

    /// Parses the text of such a file: one strategy's runs, each seed's
    /// samples numbered from 0 without a gap.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut strategy = None;
        let mut runs: BTreeMap<u64, Vec<(ArchSpec, f64)>> = BTreeMap::new();
        for (line, text) in text.lines().enumerate().filter(|(_, t)| !t.trim().is_empty()) {
            let line = line + 1;
            let child: RecordedChild =
                serde_json::from_str(text).map_err(|e| format!("line {line}: not a recorded child: {e}"))?;
            match strategy {
                None => strategy = Some(child.strategy),
                Some(kind) if kind != child.strategy => {
                    return Err(format!(
                        "line {line}: runs of {kind} and {} in one file; record one strategy per file",
                        child.strategy
                    ));
                }
                Some(_) => {}
            }
            if child.arch_id != child.spec.id() {
                return Err(format!(
                    "line {line}: arch_id {} is not its spec's ({})",
                    child.arch_id,
                    child.spec.id()
                ));
            }
            let run = runs.entry(child.seed).or_default();
            if child.sample != run.len() {
                return Err(format!(
                    "line {line}: sample {} of seed {} follows {} samples of it (a run's samples are 0, 1, 2, … in order)",
                    child.sample,
                    child.seed,
                    run.len()
                ));
            }
            run.push((child.spec, child.reward));
        }
        let strategy = strategy.ok_or("no recorded child")?;
        Ok(RecordedRuns { strategy, runs })
    }
}

#[cfg(test)]
mod tests {
    use nas_domain::{Actions, SearchSpace};

    use super::*;
    use crate::offline::warm_start::{WarmSource, WarmStart};

    /// Two decisions, `op` (a, b, c) and `width` (8, 16).
    fn space() -> SearchSpace {
        toml::from_str(
            "kind = \"categorical\"\n[[decisions]]\nname = \"op\"\noptions = [\"a\", \"b\", \"c\"]\n\
             [[decisions]]\nname = \"width\"\noptions = [8, 16]\n",
        )
        .unwrap()
    }

    /// A run's children: each `(op, width)` tokens' spec with its reward.
    fn children(list: &[(u16, u16, f64)]) -> Vec<(ArchSpec, f64)> {
        let space = space();
        (list.iter())
            .map(|&(op, width, reward)| {
                let actions = Actions::new(vec![op, width]);
                (
                    ArchSpec::from_actions(&space, space.depth_at(0), &actions).unwrap(),
                    reward,
                )
            })
            .collect()
    }

    #[test]
    fn recorded_runs_come_back_by_seed_and_warm_start_each_run_from_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.jsonl");
        let runs = [
            (7, children(&[(0, 0, 0.1), (2, 1, 0.9), (1, 1, 0.5)])),
            (8, children(&[(1, 0, 0.3)])),
        ];
        let mut recorder = Recorder::create(&path).unwrap();
        for (seed, children) in &runs {
            let children = children.iter().map(|(spec, reward)| (spec, *reward));
            recorder
                .write_run(StrategyKind::Predictor, *seed, children)
                .unwrap();
        }
        recorder.finish().unwrap();
        let read = RecordedRuns::load(&path).unwrap();
        assert_eq!(read.strategy, StrategyKind::Predictor);
        assert_eq!(read.runs.keys().copied().collect::<Vec<_>>(), [7, 8]);
        assert_eq!(read.runs[&7].len(), 3);
        assert_eq!(read.runs[&7][1], runs[0].1[1]);

        // A search of seed 7 learns from the first two children of run 7,
        // in order, whatever other seeds the file holds.
        let source = WarmSource::Runs(path.clone());
        let warm = WarmStart::load(&space(), std::slice::from_ref(&source), 2, &[7, 8]).unwrap();
        let prior = warm.prior(7);
        let seen: Vec<_> = prior.iter().map(|c| (c.tokens.clone(), c.reward)).collect();
        assert_eq!(
            seen,
            [(vec![Some(0), Some(0)], 0.1), (vec![Some(2), Some(1)], 0.9)]
        );
        assert_eq!(prior[0].source, format!("runs:{}", path.display()));
        assert_eq!(warm.prior(8).len(), 1);

        // A seed the file lacks is named before any run starts.
        let error = WarmStart::load(&space(), &[source], 2, &[7, 9])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("no run with seed 9") && error.contains("2 runs, seeds 7 to 8"),
            "{error}"
        );
    }

    #[test]
    fn a_gz_path_is_written_gzipped_named_when_finished_and_read_back_as_the_plain_one() {
        let dir = tempfile::tempdir().unwrap();
        let run = children(&[(0, 1, 0.25), (2, 0, 0.75)]);
        let mut read = Vec::new();
        for name in ["runs.jsonl", "runs.jsonl.gz"] {
            let path = dir.path().join(name);
            let mut recorder = Recorder::create(&path).unwrap();
            let children = run.iter().map(|(spec, reward)| (spec, *reward));
            recorder.write_run(StrategyKind::Random, 3, children).unwrap();
            let partial = dir.path().join(format!("{name}.partial"));
            assert!(
                !path.exists() && partial.exists(),
                "{name}: named before it is finished"
            );
            recorder.finish().unwrap();
            assert!(!partial.exists(), "{name}");
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(bytes.starts_with(&[0x1f, 0x8b]), name.ends_with(".gz"), "{name}");
            read.push(RecordedRuns::load(&path).unwrap());
        }
        assert_eq!(read[0].runs, read[1].runs);
        assert_eq!(read[1].runs[&3], run);
    }

    #[test]
    fn files_that_are_not_one_strategy_s_runs_in_order_are_refused_by_line() {
        let spec = r#"{"version": 1, "kind": "categorical", "decisions": {"op": "a", "width": 8}}"#;
        let id = serde_json::from_str::<ArchSpec>(spec).unwrap().id();
        let child = |strategy: &str, seed: u64, sample: usize, reward: &str| {
            format!(
                r#"{{"strategy": "{strategy}", "seed": {seed}, "sample": {sample}, "reward": {reward}, "arch_id": "{id}", "spec": {spec}}}"#
            )
        };
        let cases = [
            (String::new(), "no recorded child"),
            ("{not json".to_string(), "line 1: not a recorded child"),
            (
                format!(
                    "{}\n{}",
                    child("predictor", 0, 0, "0.5"),
                    child("random", 0, 1, "0.5")
                ),
                "line 2: runs of predictor and random in one file",
            ),
            (
                format!(
                    "{}\n{}",
                    child("predictor", 0, 0, "0.5"),
                    child("predictor", 0, 2, "0.5")
                ),
                "line 2: sample 2 of seed 0 follows 1 samples",
            ),
            (
                child("predictor", 0, 1, "0.5"),
                "line 1: sample 1 of seed 0 follows 0 samples",
            ),
            (
                child("predictor", 0, 0, "0.5").replace(&id.to_string(), &"0".repeat(64)),
                "line 1: arch_id 0000",
            ),
            (
                child("predictor", 0, 0, "0.5").replace("\"sample\"", "\"extra\": 1, \"sample\""),
                "line 1: not a recorded child: unknown field `extra`",
            ),
        ];
        for (text, expected) in cases {
            let error = RecordedRuns::parse(&text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
        assert!(RecordedRuns::parse(&child("predictor", 3, 0, "0.5")).is_ok());
    }

    #[test]
    fn warm_start_sources_parse_and_name_themselves() {
        for text in ["table:a.jsonl#valid", "runs:/tmp/r.jsonl"] {
            let source: WarmSource = text.parse().unwrap();
            assert_eq!(source.to_string(), text);
        }
        for text in [
            "a.jsonl",
            "table:a.jsonl",
            "table:#valid",
            "runs:",
            "curves:a#b",
            "log:a",
        ] {
            let error = text.parse::<WarmSource>().unwrap_err().to_string();
            assert!(
                error.contains("`table:FILE#COLUMN`") && error.contains(text),
                "{text}: {error}"
            );
        }
    }
}
