//! Scenario 9: early stopping under faults. Surrogate workers answer epoch
//! by epoch from the recorded CIFAR-10 learning curves (and one real
//! trainer trains tiny children) while the controller's `predict` rule
//! (its model fitted on the children that finished) stops children; workers are killed mid-child and replaced, and every job,
//! result, progress message and stop is published a second time. Each
//! child must still be counted once, each stopped one with the epoch its
//! result says.

use std::time::Duration;

use rand::{Rng, SeedableRng};

use super::duplicates::Copier;
use super::faults::{Crew, Role};
use super::tally::Tally;
use super::{Checks, Scale, check_summary, finish};
use crate::pipeline::{LoggedReward, Pipeline, PipelineOptions, wait_summary};

/// Epochs per child: the curves hold 10.
const EPOCHS: u32 = 6;

/// The space the curve table was recorded on, and the table.
const SPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/spaces/tiny-cnn.toml");
const CURVES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../bench/tables/cifar10-tiny-curves.jsonl"
);

/// The rule: `predict`, fitted once 8 children finished, stopping a child
/// unlikely to beat the third best.
const PREDICT: &str = "rule = \"predict\"\nmin_finished = 8\ntop_k = 3\nquantile = 0.9";

/// 9. Stops amid worker kills and duplicated messages: counted once.
pub fn stops_amid_faults(scale: Scale) -> (Tally, Checks, String) {
    let kills = scale.pick(30, 6);
    let options = PipelineOptions {
        children: scale.pick(200, 48),
        epochs: EPOCHS,
        in_flight: 6,
        controller_batch: 6,
        ..PipelineOptions::default()
    };
    let pipeline = Pipeline::new("chaos-stops", &options);
    use_recorded_space(&pipeline, PREDICT);
    let delay = 120;
    let mut crew = Crew::start(
        &pipeline,
        &[
            Role::Curves(delay),
            Role::Curves(delay),
            Role::Curves(delay),
            Role::Trainer,
        ],
    );
    let mut controller = pipeline.controller("controller", false);
    let mut copier = Copier::new(&pipeline).with_progress();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let mut done = 0;
    let mut next_kill = std::time::Instant::now() + Duration::from_millis(1500);
    while controller.is_running() {
        copier.copy_new();
        if done < kills && std::time::Instant::now() >= next_kill {
            crew.kill_random(&mut rng);
            done += 1;
            next_kill = std::time::Instant::now() + Duration::from_millis(rng.random_range(500..2000));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    copier.copy_new();
    let summary = wait_summary(controller, Duration::from_secs(60));
    let mut checks = Checks::default();
    check_summary(&mut checks, summary.as_ref());
    checks.check(format!("{kills} workers killed during the search"), done == kills);
    let stopped = check_stops(&pipeline, summary.as_ref(), &copier, &mut checks);
    let notes = format!(
        "{stopped} stopped, {done} kill -9, {} jobs, {} results, {} progress and {} stops published again",
        copier.jobs.len(),
        copier.results,
        copier.progress,
        copier.stops
    );
    finish(&pipeline, options.children, checks, notes)
}

/// Checks the stopped children are counted once, each with its epoch, and
/// that progress and stops were duplicated; returns how many stopped.
fn check_stops(
    pipeline: &Pipeline,
    summary: Option<&serde_json::Value>,
    copier: &Copier,
    checks: &mut Checks,
) -> usize {
    let log = pipeline.reward_log();
    let stopped: Vec<&LoggedReward> = log.iter().filter(|record| record.status == "stopped").collect();
    checks.check(
        format!("the rule stopped children ({})", stopped.len()),
        !stopped.is_empty(),
    );
    let summarised = summary
        .and_then(|s| s["children_stopped"].as_u64())
        .unwrap_or(u64::MAX);
    checks.check(
        format!(
            "the summary counts each stopped child once ({summarised} for {})",
            stopped.len()
        ),
        summarised == stopped.len() as u64,
    );
    let wrong_epoch = stopped
        .iter()
        .filter(|record| !stopped_at_its_epoch(record))
        .count();
    checks.check(
        format!("every stopped child has its epoch ({wrong_epoch} without)"),
        wrong_epoch == 0,
    );
    checks.check(
        format!(
            "progress and stops were published twice ({} and {})",
            copier.progress, copier.stops
        ),
        copier.progress > 0 && copier.stops > 0,
    );
    checks.check("every copy was published", copier.failures == 0);
    stopped.len()
}

/// Replaces the pipeline's space by the one the curves were recorded on,
/// and adds the stopping rule `stopping` (a TOML `[stopping]` body).
pub fn use_recorded_space(pipeline: &Pipeline, stopping: &str) {
    let config = std::fs::read_to_string(&pipeline.config).expect("the config reads");
    let (head, _) = config.split_once("[space]").expect("the config has a space");
    let space = std::fs::read_to_string(SPACE).expect("the recorded space reads");
    let text = format!("{head}[stopping]\n{stopping}\n[space]\n{space}");
    std::fs::write(&pipeline.config, text).expect("the config is written");
}

/// Whether a stopped record's result stopped before the budget, with as
/// many epochs as it says and the reason naming that epoch.
fn stopped_at_its_epoch(record: &LoggedReward) -> bool {
    let result = &record.value["result"];
    let Some(done) = result["outcome"]["epochs_done"].as_u64() else {
        return false;
    };
    let epochs = result["epochs"].as_array().map_or(0, Vec::len) as u64;
    (1..u64::from(EPOCHS)).contains(&done)
        && epochs == done
        && record.value["reason"] == format!("stopped after epoch {done}")
}

/// The recorded curve table, for surrogates (`curves:FILE#COLUMN`).
pub fn curve_source() -> String {
    format!("curves:{CURVES}#valid_accuracy")
}
