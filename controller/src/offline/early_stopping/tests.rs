//! The simulation on a hand-made curve table, where every second charged,
//! every stop and every reward taught is worked out by hand, and on the
//! recorded tiny-CNN table.

#![allow(clippy::unwrap_used, clippy::float_cmp)]

use std::path::Path;
use std::sync::{Arc, Mutex};

use nas_domain::oracle::Missing;
use nas_domain::{Actions, ArchSpec};

use super::search::Search;
use super::*;
use crate::strategy::checkpoint::Checkpoint;
use crate::strategy::random::RandomSearch;
use crate::strategy::{Observation, Proposal, StepReport, Strategy};

/// One decision `x` with options 0 to 3: the architectures below.
fn space() -> SearchSpace {
    toml::from_str("kind = \"categorical\"\n[[decisions]]\nname = \"x\"\noptions = [0, 1, 2, 3]\n").unwrap()
}

/// Slow but steady and cheap: 0.1 … 0.4, 1 s an epoch (4 s in all).
const A: u16 = 0;
/// The best that starts well: 0.5 … 0.8, 2 s an epoch (8 s).
const B: u16 = 1;
/// The late bloomer: 0.05, 0.06, 0.07, then 0.9, 1 s an epoch (4 s).
const C: u16 = 2;
/// Starts well, then falls: 0.3, 0.1, 0.1, 0.1, 3 s an epoch (12 s).
const D: u16 = 3;

fn spec(x: u16) -> ArchSpec {
    let space = space();
    ArchSpec::from_actions(&space, space.depth_at(0), &Actions::new(vec![x])).unwrap()
}

/// The table of `A` to `D`: four epochs each.
fn table() -> CurveTable {
    let rows = [
        (A, [0.1, 0.2, 0.3, 0.4], 1.0),
        (B, [0.5, 0.6, 0.7, 0.8], 2.0),
        (C, [0.05, 0.06, 0.07, 0.9], 1.0),
        (D, [0.3, 0.1, 0.1, 0.1], 3.0),
    ];
    let text: String = rows
        .iter()
        .map(|(x, curve, seconds)| {
            let row = serde_json::json!({"arch_id": spec(*x).id().to_string(), "valid_accuracy": curve,
                                         "epoch_seconds": vec![*seconds; 4]});
            format!("{row}\n")
        })
        .collect();
    CurveTable::parse(&text, "valid_accuracy", Missing::Fail).unwrap()
}

/// Proposes `script` over and over and records the rewards it is taught.
struct Scripted {
    space: SearchSpace,
    script: Vec<u16>,
    next: u64,
    taught: Arc<Mutex<Vec<f64>>>,
}

impl Strategy for Scripted {
    fn kind(&self) -> StrategyKind {
        StrategyKind::Random
    }

    fn propose(&mut self, count: usize) -> Result<Vec<Proposal>> {
        let proposals = (self.next..self.next + count as u64)
            .map(|index| {
                let x = self.script[index as usize % self.script.len()];
                Proposal {
                    spec: spec(x),
                    actions: Actions::new(vec![x]),
                    log_prob: None,
                    depth: self.space.depth_at(index),
                    policy_version: 0,
                    sample_index: index,
                }
            })
            .collect();
        self.next += count as u64;
        Ok(proposals)
    }

    fn observe(&mut self, observation: Observation) -> Result<Option<StepReport>> {
        self.taught.lock().unwrap().push(observation.reward);
        Ok(None)
    }

    fn advance_samples(&mut self, next: u64) {
        self.next = self.next.max(next);
    }

    fn checkpoint(&self) -> Result<Checkpoint> {
        Checkpoint::of_state(StrategyKind::Random, &self.next)
    }
}

/// A simulation of one rule on the hand-made table; the reward is the
/// last epoch's metric (so a stopped child's partial reward is the metric
/// of the epoch it stopped at).
fn simulation(rule: &str, sampled_again: SampledAgain, asha: AshaMode) -> StoppingSimulation {
    StoppingSimulation {
        space: space(),
        strategies: vec![StrategyKind::Random],
        rules: vec![StoppingRule::from_name(rule).unwrap()],
        stopped_reward: StoppedReward::Partial,
        sampled_again,
        asha,
        in_flight: None,
        seconds: 1_000.0,
        max_children: 1_000,
        seeds: (0..8).collect(),
        reward: RewardFunction::METRIC,
        reinforce: ReinforceConfig::default(),
        evolution: EvolutionConfig::default(),
        local_search: Default::default(),
        predictor: Default::default(),
    }
}

/// One run of `script` (`max_children` children) with B's 0.8 as the
/// top reward: the run and the rewards the strategy was taught.
fn scripted(simulation: &StoppingSimulation, script: &[u16], max_children: usize) -> (StoppingRun, Vec<f64>) {
    let simulation = StoppingSimulation {
        max_children,
        ..simulation.clone()
    };
    let table = table();
    let rule = simulation.rules[0];
    let taught = Arc::new(Mutex::new(Vec::new()));
    let strategy = Box::new(Scripted {
        space: space(),
        script: script.to_vec(),
        next: 0,
        taught: taught.clone(),
    });
    let search = Search {
        simulation: &simulation,
        table: &table,
        config: StoppingConfig {
            rule,
            stopped_reward: simulation.stopped_reward,
            sampled_again: simulation.sampled_again,
        },
        epochs: 4,
        top_reward: 0.8,
    };
    let run = search
        .run(strategy, StoppingRun::new(StrategyKind::Random, rule, 0))
        .unwrap();
    let taught = taught.lock().unwrap().clone();
    (run, taught)
}

/// (children, trained, stopped, reused stopped, epochs, seconds).
fn counts(run: &StoppingRun) -> (usize, usize, usize, usize, u64, f64) {
    (
        run.children,
        run.trained,
        run.stopped,
        run.reused_stopped,
        run.epochs,
        run.seconds,
    )
}

#[test]
fn without_a_rule_every_epoch_is_charged_and_a_completed_architecture_is_free_again() {
    let none = simulation("none", SampledAgain::Reuse, AshaMode::Stop);
    let (run, taught) = scripted(&none, &[B, A, B, C], 4);
    // B 8 s, A 4 s, B again free, C 4 s.
    assert_eq!(counts(&run), (4, 3, 0, 0, 12, 16.0));
    assert_eq!(taught, [0.8, 0.4, 0.8, 0.9]);
    // B (0.8, the top here) completed 8 s in; C's 0.9 is the best.
    assert_eq!(run.seconds_to_top, Some(8.0));
    assert_eq!(run.best_metric, Some(0.9));
}

#[test]
fn asha_stops_below_its_rungs_quantile_and_a_stopped_architecture_reuses_its_partial_reward() {
    // asha:1:2 over 4 epochs: rungs at epochs 1 and 2, a child goes on
    // when it is at least the median of the scores before it there.
    let asha = simulation("asha:1:2", SampledAgain::Reuse, AshaMode::Stop);
    let (run, taught) = scripted(&asha, &[B, A, C, A, D, C], 6);
    // B: first at both rungs, completes (8 s). A: 0.1 < median(0.5),
    // stopped at epoch 1 (1 s). C: 0.05 < median(0.5, 0.1) = 0.3, stopped
    // (1 s). A again: reuses 0.1. D: 0.3 ≥ median(0.5, 0.1, 0.05) = 0.1 at
    // epoch 1, then 0.3 < 0.6 (B at epoch 2): stopped after 2 epochs (6 s),
    // teaching its epoch-2 metric 0.1. C again: reuses 0.05.
    assert_eq!(counts(&run), (6, 4, 3, 2, 8, 16.0));
    assert_eq!(taught, [0.8, 0.1, 0.05, 0.1, 0.1, 0.05]);
    assert_eq!(run.seconds_to_top, Some(8.0));
    assert_eq!(run.best_metric, Some(0.8));
}

#[test]
fn children_in_flight_are_judged_on_the_epochs_that_ended_before_theirs() {
    let asha = StoppingSimulation {
        in_flight: Some(2),
        ..simulation("asha:1:2", SampledAgain::Reuse, AshaMode::Stop)
    };
    let (run, taught) = scripted(&asha, &[B, A, C, D], 4);
    // B (2 s an epoch) and A (1 s) start at 0. A reaches rung 1 first, so
    // it goes on (0.1 with nobody before it), and rung 2 at 2 s, first too;
    // it completes at 4 s (0.4) and C starts: 0.05 at 5 s, below the median
    // of A's and B's 0.1 and 0.5, stopped. D starts at 5 s. B completes at
    // 8 s: 4 + 8 + 1 seconds trained by then. D passes rung 1 at 8 s (0.3
    // against 0.1) and stops at rung 2 at 11 s (0.1 against A's 0.2 and B's
    // 0.6).
    assert_eq!(counts(&run), (4, 4, 2, 0, 11, 19.0));
    assert_eq!(taught, [0.4, 0.05, 0.8, 0.1]);
    assert_eq!(run.seconds_to_top, Some(13.0));
    // One at a time, A would have stopped at rung 1 behind B.
    let (sequential, _) = scripted(
        &simulation("asha:1:2", SampledAgain::Reuse, AshaMode::Stop),
        &[B, A, C, D],
        4,
    );
    assert_eq!(sequential.seconds_to_top, Some(8.0));
    assert_eq!(sequential.stopped, 3);
}

#[test]
fn a_stopped_architecture_sampled_again_trains_again_when_told_to() {
    let asha = simulation("asha:1:2", SampledAgain::Retrain, AshaMode::Stop);
    let (run, taught) = scripted(&asha, &[B, A, C, A, D, C], 6);
    // As above until A comes again: it trains, 0.1 ≥ median(0.5, 0.1,
    // 0.05) at epoch 1, then 0.2 < 0.6 at epoch 2 (2 s). D: 0.3 ≥ 0.1, then
    // 0.3 < median(0.6, 0.2) = 0.4 (6 s). C: 0.05 < 0.1 (1 s).
    assert_eq!(counts(&run), (6, 6, 5, 0, 11, 19.0));
    assert_eq!(taught, [0.8, 0.1, 0.05, 0.2, 0.1, 0.05]);
}

#[test]
fn a_penalty_is_what_stopped_children_teach_and_reuse() {
    let asha = StoppingSimulation {
        stopped_reward: StoppedReward::Penalty(-1.0),
        ..simulation("asha:1:2", SampledAgain::Reuse, AshaMode::Stop)
    };
    let (run, taught) = scripted(&asha, &[B, A, A], 3);
    assert_eq!(counts(&run), (3, 2, 1, 1, 5, 9.0));
    assert_eq!(taught, [0.8, -1.0, -1.0]);
}

#[test]
fn the_budget_is_checked_before_each_child_and_a_run_that_never_completes_a_top_child_is_censored() {
    // 4 s: A spends it all, B never starts.
    let short = StoppingSimulation {
        seconds: 4.0,
        ..simulation("none", SampledAgain::Reuse, AshaMode::Stop)
    };
    let (run, _) = scripted(&short, &[A, B], 10);
    assert_eq!(counts(&run), (1, 1, 0, 0, 4, 4.0));
    assert_eq!(run.seconds_to_top, None);
    // 5 s: B starts with 1 s left and is charged in full; it completes
    // past the budget and counts (the budget is checked before a child).
    let (run, _) = scripted(
        &StoppingSimulation {
            seconds: 5.0,
            ..short
        },
        &[A, B],
        10,
    );
    assert_eq!(counts(&run), (2, 2, 0, 0, 8, 12.0));
    assert_eq!(run.seconds_to_top, Some(12.0));
    // At most max_children children, reused ones included.
    let none = simulation("none", SampledAgain::Reuse, AshaMode::Stop);
    let (run, taught) = scripted(&none, &[A], 3);
    assert_eq!(counts(&run), (3, 1, 0, 0, 4, 4.0));
    assert_eq!(taught, [0.4; 3]);
}

#[test]
fn promoting_asha_pays_only_the_epochs_from_a_childs_rung_on() {
    let promote = simulation("asha:1:2", SampledAgain::Reuse, AshaMode::Promote);
    let (run, taught) = scripted(&promote, &[B, A, C, D, A], 5);
    // Each new child pays its first epoch and teaches its epoch-1 metric:
    // B 2 s, A 1 s. Before C, rung 1 has two arrivals and promotes its
    // best, B, to epoch 2 (2 s). C 1 s, D 3 s. Before the fifth child,
    // rung 1's top two are B and D: D goes to epoch 2 (3 s); rung 2's top
    // of two is B, which goes to the end (4 s) and completes at 16 s. The
    // fifth child, A, reuses the 0.1 it taught.
    assert_eq!(counts(&run), (5, 4, 3, 1, 8, 16.0));
    assert_eq!(taught, [0.5, 0.1, 0.05, 0.3, 0.1]);
    assert_eq!(run.seconds_to_top, Some(16.0));
    assert_eq!(run.best_metric, Some(0.8));
}

#[test]
fn the_report_takes_the_top_from_full_curves_and_counts_censored_runs() {
    let none = simulation("none", SampledAgain::Reuse, AshaMode::Stop);
    let simulation = StoppingSimulation {
        rules: vec![StoppingRule::None, StoppingRule::from_name("asha:1:2").unwrap()],
        max_children: 40,
        ..none
    };
    let report = run(&simulation, &table()).unwrap();
    // The top 1% of four rows is the best full-curve reward, C's 0.9.
    assert_eq!(
        (report.rows, report.epochs, report.top_reward, report.top_rows),
        (4, 4, 0.9, 1)
    );
    let cost = |x: u16| [4.0, 8.0, 4.0, 12.0][usize::from(x)];
    let mut censored_by_asha = 0;
    for seed in &simulation.seeds {
        let order: Vec<u16> = RandomSearch::new(space(), *seed)
            .propose(40)
            .unwrap()
            .iter()
            .map(|p| p.actions.tokens()[0])
            .collect();
        // Without a rule: every distinct architecture before C, and C, in full.
        let until_c = &order[..=order.iter().position(|&x| x == C).unwrap()];
        let mut distinct = until_c.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let expected: f64 = distinct.iter().map(|&x| cost(x)).sum();
        let none_run = report
            .runs
            .iter()
            .find(|r| r.rule == "none" && r.seed == *seed)
            .unwrap();
        assert_eq!(none_run.seconds_to_top, Some(expected), "seed {seed}: {order:?}");
        // ASHA stops C at rung 1 (its 0.05 is below everyone's) unless it
        // is the first child, and never trains it again.
        let asha_run = report
            .runs
            .iter()
            .find(|r| r.rule == "asha:1:2" && r.seed == *seed)
            .unwrap();
        if order[0] == C {
            assert_eq!(asha_run.seconds_to_top, Some(4.0), "seed {seed}");
        } else {
            assert_eq!(asha_run.seconds_to_top, None, "seed {seed}");
            censored_by_asha += 1;
        }
    }
    assert!(censored_by_asha > 0);
    let summary = |rule: &str| report.summaries.iter().find(|s| s.rule == rule).unwrap();
    assert_eq!((summary("none").runs, summary("none").censored), (8, 0));
    assert_eq!(summary("asha:1:2").censored, censored_by_asha);
}

/// The recorded tiny-CNN table with its space.
fn recorded(rules: &str, asha: AshaMode) -> (StoppingSimulation, CurveTable) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let space_text = std::fs::read_to_string(root.join("bench/spaces/tiny-cnn.toml")).unwrap();
    let space: SearchSpace = toml::from_str(&space_text).unwrap();
    let table = CurveTable::load(
        &root.join("bench/tables/cifar10-tiny-curves-10k.jsonl"),
        "valid_accuracy",
        Missing::Fail,
    )
    .unwrap();
    let simulation = StoppingSimulation {
        space,
        strategies: vec![StrategyKind::Random],
        rules: rules
            .split(',')
            .map(|rule| StoppingRule::from_name(rule).unwrap())
            .collect(),
        stopped_reward: StoppedReward::Partial,
        sampled_again: SampledAgain::Reuse,
        asha,
        in_flight: None,
        seconds: 1_500.0,
        max_children: 1_000,
        seeds: (0..4).collect(),
        reward: table.reward_function,
        reinforce: ReinforceConfig::default(),
        evolution: EvolutionConfig::default(),
        local_search: Default::default(),
        predictor: Default::default(),
    };
    (simulation, table)
}

#[test]
fn promoting_asha_completes_only_children_from_the_top_of_its_rungs() {
    let (simulation, table) = recorded("asha:1:3", AshaMode::Promote);
    let promoting = run(&simulation, &table).unwrap();
    assert_eq!(promoting.asha, AshaMode::Promote);
    for run in &promoting.runs {
        // Rungs at 1, 3 and 9: a child completes only from the top
        // third of its rungs (a promoted child may drop out of the top
        // later, so more than a 27th of them can complete).
        assert!(run.trained - run.stopped <= run.trained / 9, "{run:?}");
    }
    // The budget trains the whole space, so its best completes.
    assert!(promoting.runs.iter().all(|run| run.seconds_to_top.is_some()));
}
