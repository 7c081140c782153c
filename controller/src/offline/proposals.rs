//! `replay verify` for strategies without a policy (local search,
//! evolution, random search): their checkpoint stays the first one, so
//! exactness is checked on what they proposed instead.
//!
//! Every job record keeps the sample's tokens, its index and `observed`,
//! the reward sequence number the strategy had learned up to when it
//! proposed the child. Replaying walks the records in sample order from the
//! first checkpoint: it feeds the logged rewards numbered below `observed`,
//! moves the sample sequence to the record's index (a resumed controller
//! skips the indices it had proposed but not published), proposes one child
//! and compares its tokens and depth with the record's. The strategy's own
//! memory of what is in flight is rebuilt the same way, by the proposals
//! themselves, so a controller killed and resumed any number of times is
//! reproduced as if it had never stopped.

use nas_domain::ExperimentName;
use nas_domain::objective::RewardShaping;
use nas_infra::store::ObjectStore;
use serde::Serialize;

use crate::experiment::job_log::JobLog;
use crate::experiment::reward_log::RewardRecord;
use crate::search::Sample;
use crate::strategy::checkpoint::Checkpoint;
use crate::strategy::{self, Strategy};
use crate::{Error, Result};

/// What replaying the proposals found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ProposalCheck {
    /// Children proposed again and compared.
    pub compared: usize,
    /// Children whose tokens or depth differ from the record's.
    pub differing: usize,
    /// The first of them, described.
    pub first_difference: Option<String>,
}

/// Replays the proposals of `experiment` from its first checkpoint with
/// its reward `records` (in sequence order).
pub async fn check(
    store: &ObjectStore,
    experiment: &ExperimentName,
    first: Checkpoint,
    records: Vec<RewardRecord>,
    shaping: Option<RewardShaping>,
) -> Result<ProposalCheck> {
    let mut jobs = JobLog::new(store.clone(), experiment.clone())
        .read_latest::<Sample>()
        .await?;
    jobs.sort_by_key(|job| job.payload.sample_index);
    let samples: Vec<Sample> = jobs.into_iter().map(|job| job.payload).collect();
    tokio::task::spawn_blocking(move || {
        let mut strategy = strategy::restore(&first)?;
        replay(strategy.as_mut(), &samples, &records, shaping.as_ref())
    })
    .await?
}

/// Proposes each of `samples` again after the rewards it was proposed
/// after (see the module docs).
pub fn replay(
    strategy: &mut dyn Strategy,
    samples: &[Sample],
    records: &[RewardRecord],
    shaping: Option<&RewardShaping>,
) -> Result<ProposalCheck> {
    let mut check = ProposalCheck::default();
    let mut fed = 0;
    for sample in samples {
        let observed = sample.observed.ok_or_else(|| {
            Error::Checkpoint(format!(
                "the job record of sample {} has no `observed` count (written before it was recorded): \
                 its proposals cannot be replayed",
                sample.sample_index
            ))
        })?;
        while let Some(record) = records.get(fed).filter(|record| record.sequence < observed) {
            strategy.observe(record.observation(shaping))?;
            fed += 1;
        }
        strategy.advance_samples(sample.sample_index);
        let proposal = strategy
            .propose(1)?
            .pop()
            .ok_or_else(|| Error::Checkpoint("the strategy proposed nothing".into()))?;
        check.compared += 1;
        if proposal.actions != sample.actions || proposal.depth != sample.depth {
            check.differing += 1;
            check.first_difference.get_or_insert_with(|| {
                format!(
                    "sample {}: replayed {:?} (depth {}), recorded {:?} (depth {})",
                    sample.sample_index,
                    proposal.actions.tokens(),
                    proposal.depth,
                    sample.actions.tokens(),
                    sample.depth
                )
            });
        }
    }
    Ok(check)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use nas_domain::JobId;
    use nas_domain::oracle::{Oracle, SyntheticOracle};

    use super::*;
    use crate::experiment::reward_log::RecordStatus;
    use crate::strategy::local_search::{LocalSearch, LocalSearchConfig};
    use crate::strategy::test_spaces::categorical;
    use crate::strategy::{Observation, Proposal};

    fn record(sequence: u64, proposal: &Proposal, reward: f64) -> RewardRecord {
        RewardRecord {
            sequence,
            job_id: JobId::random(),
            arch_id: proposal.spec.id(),
            reward,
            status: RecordStatus::Ok,
            metric: Some(reward),
            reason: None,
            spec: proposal.spec.clone(),
            actions: proposal.actions.clone(),
            depth: proposal.depth,
            sample_index: proposal.sample_index,
            policy_version: 0,
            log_prob: None,
            published_at: None,
            recorded_at: 0.0,
            result: None,
        }
    }

    /// The strategy as the search service resumes it: the first
    /// checkpoint, the reward log, the published children, the sample
    /// sequence past the highest published index.
    fn resumed(first: &Checkpoint, samples: &[Sample], records: &[RewardRecord]) -> LocalSearch {
        let mut search = LocalSearch::restore(first).unwrap();
        for record in records {
            search.observe(record.observation(None)).unwrap();
        }
        let published: Vec<_> = samples.iter().map(|s| (s.actions.clone(), s.depth)).collect();
        search.in_flight(&published);
        search.advance_samples(samples.iter().map(|s| s.sample_index + 1).max().unwrap_or(0));
        search
    }

    /// A search the way the service runs one: batches of 3 proposed, 2 of
    /// each learned from at once (the third later), and a crash that loses
    /// two proposals never published (a resumed controller proposes from
    /// their indices again).
    /// Returns the first checkpoint, the job records and the reward log.
    fn recorded_search() -> (Checkpoint, Vec<Sample>, Vec<RewardRecord>) {
        let space = categorical(6, 4);
        let mut search = LocalSearch::new(space, LocalSearchConfig { initial: 4 }, 9).unwrap();
        let first = search.checkpoint().unwrap();
        let oracle = SyntheticOracle::default();
        let (mut samples, mut records, mut waiting) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..10 {
            let observed = records.len() as u64;
            if round == 6 {
                search.propose(2).unwrap(); // never published: lost in the crash
                search = resumed(&first, &samples, &records);
            }
            for proposal in search.propose(3).unwrap() {
                samples.push(Sample {
                    actions: proposal.actions.clone(),
                    depth: proposal.depth,
                    sample_index: proposal.sample_index,
                    log_prob: None,
                    observed: Some(observed),
                });
                waiting.push(proposal);
            }
            for proposal in waiting.drain(..2).collect::<Vec<_>>() {
                let reward = oracle.reward(&proposal.spec).unwrap();
                search.observe(Observation::of(&proposal, reward)).unwrap();
                records.push(record(records.len() as u64, &proposal, reward));
            }
        }
        (first, samples, records)
    }

    #[test]
    fn a_recorded_local_search_is_proposed_again_child_for_child() {
        let (first, samples, records) = recorded_search();
        let mut strategy = strategy::restore(&first).unwrap();
        let check = replay(strategy.as_mut(), &samples, &records, None).unwrap();
        assert_eq!(check.compared, 30);
        assert_eq!(check.differing, 0, "{:?}", check.first_difference);
    }

    /// Replays `samples` from the checkpoint `first` (no objective).
    fn replay_from(
        first: &Checkpoint,
        samples: &[Sample],
        records: &[RewardRecord],
    ) -> Result<ProposalCheck> {
        replay(strategy::restore(first).unwrap().as_mut(), samples, records, None)
    }

    #[test]
    fn a_child_recorded_otherwise_or_a_reward_out_of_order_is_found() {
        let (first, mut samples, records) = recorded_search();
        let tokens: Vec<u16> = samples[20].actions.tokens().iter().map(|t| (t + 1) % 4).collect();
        samples[20].actions = nas_domain::Actions::new(tokens);
        let check = replay_from(&first, &samples, &records).unwrap();
        assert!(check.differing >= 1, "{check:?}");
        assert!(
            check
                .first_difference
                .unwrap()
                .starts_with(&format!("sample {}", samples[20].sample_index))
        );
        // Rewards learned one round late change what the search proposes.
        let (first, mut samples, records) = recorded_search();
        for sample in &mut samples[12..] {
            sample.observed = sample.observed.map(|n| n.saturating_sub(2));
        }
        let check = replay_from(&first, &samples, &records).unwrap();
        assert!(check.differing >= 1, "{check:?}");
        // A record without the count cannot be replayed.
        samples[3].observed = None;
        let error = replay_from(&first, &samples, &records).unwrap_err().to_string();
        assert!(error.contains("no `observed` count"), "{error}");
    }
}
