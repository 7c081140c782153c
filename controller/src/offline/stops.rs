//! The stopping rule's decisions taken again (`replay verify`): every
//! progress report in the progress log is shown to a fresh rule after the
//! results the controller had shown it by then (the record's
//! `results_seen`, counted in the reward log's order), and the decision
//! must be the one recorded.
//!
//! That reproduces the controller's state at each decision: the rules
//! depend on which curves they were shown, not on the order (ASHA and the
//! median rule take quantiles, `predict` keeps its finished curves
//! sorted). Reports recorded before `results_seen` existed are counted as
//! unchecked.

use nas_domain::{EpochMetrics, JobId, RewardFunction, StoppingRule};
use serde::Serialize;

use crate::experiment::progress_log::ProgressRecord;
use crate::experiment::reward_log::RewardRecord;
use crate::search::rule_state::RuleState;

/// The children's records as the controller showed them to its rule, in
/// the reward log's order: each job with its result's curve, if any.
pub fn results_of(rewards: &[RewardRecord]) -> Vec<(JobId, Option<Vec<EpochMetrics>>)> {
    rewards
        .iter()
        .map(|record| {
            (
                record.job_id,
                record.result.as_ref().map(|result| result.epochs.clone()),
            )
        })
        .collect()
}

/// How the recorded decisions compare.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StopCheck {
    /// Progress reports judged again.
    pub reports: usize,
    /// Of those, reports on which a stop was recorded.
    pub stops: usize,
    /// Reports whose decision differs (the first few named in `examples`).
    pub differing: usize,
    /// Reports recorded without `results_seen` (not judged again).
    pub unchecked: usize,
    /// Up to five differing reports: job, recorded and recomputed stop.
    pub examples: Vec<String>,
}

/// Judges every report of `progress` again under `rule` (children of
/// `epochs` epochs, scored by `reward`), showing it the children's records
/// `results` ([`results_of`]) as the controller did.
pub fn check(
    rule: StoppingRule,
    epochs: u32,
    reward: &RewardFunction,
    results: &[(JobId, Option<Vec<EpochMetrics>>)],
    progress: &[ProgressRecord],
) -> StopCheck {
    let mut state = RuleState::new(rule, epochs);
    let mut records = results.iter();
    let mut check = StopCheck::default();
    for record in progress {
        let Some(seen) = record.results_seen else {
            check.unchecked += 1;
            continue;
        };
        while state.results_shown() < seen {
            let Some((job, curve)) = records.next() else {
                break;
            };
            let scores = curve.as_ref().map(|curve| reward.scores(curve));
            state.finish(job, scores.as_deref());
        }
        let recomputed = state.judge(record.job_id, &reward.scores(&record.epochs));
        check.reports += 1;
        check.stops += usize::from(record.stopped_at.is_some());
        if recomputed != record.stopped_at {
            check.differing += 1;
            if check.examples.len() < 5 {
                check.examples.push(format!(
                    "job {}: recorded {:?}, recomputed {recomputed:?}",
                    record.job_id, record.stopped_at
                ));
            }
        }
    }
    check
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn epochs(accuracies: &[f64]) -> Vec<EpochMetrics> {
        accuracies
            .iter()
            .enumerate()
            .map(|(index, &accuracy)| EpochMetrics {
                epoch: index as u32 + 1,
                train_loss: 1.0,
                valid_loss: 1.0,
                valid_accuracy: Some(accuracy),
                valid_perplexity: None,
                valid_bits_per_char: None,
                metric: None,
                seconds: 1.0,
            })
            .collect()
    }

    fn report(job: JobId, accuracies: &[f64], stopped_at: Option<u32>, results_seen: u64) -> ProgressRecord {
        ProgressRecord {
            job_id: job,
            attempt: 1,
            worker_id: "w".into(),
            epochs: epochs(accuracies),
            train_seconds: 1.0,
            stopped_at,
            results_seen: Some(results_seen),
            recorded_at: 0.0,
        }
    }

    #[test]
    fn a_decision_is_taken_again_from_the_results_seen_then_and_a_changed_one_is_named() {
        let reward = RewardFunction::ACCURACY;
        let rule = StoppingRule::from_name("asha:1:2").unwrap();
        let (a, b, c) = (JobId::random(), JobId::random(), JobId::random());
        let finished = (a, Some(epochs(&[0.5, 0.6, 0.7, 0.8])));
        // b reports before a's result was shown (goes on: first at rung 1),
        // c after it (0.1 against a's 0.5: stopped), then c again.
        let progress = vec![
            report(b, &[0.2], None, 0),
            report(c, &[0.1], Some(1), 1),
            report(c, &[0.1, 0.1], Some(1), 1),
        ];
        let check = check(rule, 4, &reward, std::slice::from_ref(&finished), &progress);
        assert_eq!(
            (check.reports, check.stops, check.differing, check.unchecked),
            (3, 2, 0, 0),
            "{check:?}"
        );
        // Had b been judged after a's result, it would have stopped.
        let tampered = vec![report(b, &[0.2], None, 1)];
        let check = super::check(rule, 4, &reward, &[finished], &tampered);
        assert_eq!(check.differing, 1, "{check:?}");
        assert!(check.examples[0].contains("recomputed Some(1)"), "{check:?}");
    }
}
