//! Finished children: a result (or a dead letter) becomes a reward record,
//! written to the reward log before its message is acknowledged, counted,
//! and learned from in sequence order.

use nas_domain::{JobId, Outcome, StoppedReward, TrainResult};
use nas_infra::queue::Message;

use super::Search;
use crate::Result;
use crate::experiment::job_log::now;
use crate::experiment::reward_log::{self, RecordStatus, RewardRecord};
use crate::jobs::{Arrival, DeadLetter, ResultOutcome};

/// A finished child on its way into the reward log.
pub(super) struct Finished {
    pub(super) job_id: JobId,
    pub(super) status: RecordStatus,
    pub(super) reward: f64,
    pub(super) metric: Option<f64>,
    pub(super) reason: Option<String>,
    pub(super) result: Option<TrainResult>,
}

impl Search {
    /// Handles a batch of result messages (those the broker had ready):
    /// the tracker settles duplicates, strangers and preemptions; the new
    /// results' reward records are written together, learned from in
    /// sequence order, and acknowledged after both. One outcome per
    /// message, in no particular order.
    pub async fn process_results(&mut self, messages: Vec<Message>) -> Result<Vec<ResultOutcome>> {
        let (arrivals, mut outcomes) = self.tracker.screen(messages).await?;
        outcomes.extend(self.record_arrivals(arrivals).await?);
        Ok(outcomes)
    }

    /// Records arrivals, then acknowledges them; hands them back when the
    /// records could not be written.
    pub(super) async fn record_arrivals(&mut self, arrivals: Vec<Arrival>) -> Result<Vec<ResultOutcome>> {
        let finished = arrivals
            .iter()
            .map(|arrival| self.finished_of(&arrival.result))
            .collect();
        match self.record(finished).await {
            Ok(counted) => {
                self.tracker.complete(arrivals).await?;
                Ok(counted)
            }
            Err(error) => {
                self.tracker.hand_back(arrivals).await;
                Err(error)
            }
        }
    }

    /// The reward record's parts for `result`: a trained child's reward
    /// (and a stopped one's partial reward) shaped by the experiment's
    /// objective; a child whose result lacks a cost the objective needs
    /// counts as failed, with the reason.
    fn finished_of(&self, result: &TrainResult) -> Finished {
        let shaped = |reward: f64| self.config.shaped_reward(reward, &result.costs);
        let failed = |metric: f64, error: nas_domain::Error| {
            let reason = Some(error.to_string());
            (
                RecordStatus::Failed,
                self.config.failed_reward,
                Some(metric),
                reason,
            )
        };
        let (status, reward, metric, reason) = match &result.outcome {
            Outcome::Ok { reward, metric } => match shaped(*reward) {
                Ok(reward) => (RecordStatus::Ok, reward, Some(*metric), None),
                Err(error) => failed(*metric, error),
            },
            Outcome::Stopped {
                reward,
                metric,
                epochs_done,
            } => {
                let reason = Some(format!("stopped after epoch {epochs_done}"));
                let reward = match self.config.stopping.stopped_reward {
                    StoppedReward::Partial => shaped(*reward),
                    // A penalty is what it is, whatever the child costs.
                    StoppedReward::Penalty(penalty) => Ok(penalty),
                    StoppedReward::Predicted => {
                        let scores = self.config.reward.scores(&result.epochs);
                        shaped(self.rule.stopper().predicted_final(&scores).unwrap_or(*reward))
                    }
                };
                match reward {
                    Ok(reward) => (RecordStatus::Stopped, reward, Some(*metric), reason),
                    Err(error) => failed(*metric, error),
                }
            }
            Outcome::Failed { reason } => {
                let reason = Some(reason.clone());
                (RecordStatus::Failed, self.config.failed_reward, None, reason)
            }
            // The tracker republishes preempted children; none arrives here.
            Outcome::Preempted { epochs_done } => {
                let reason = Some(format!("preempted after {epochs_done} epochs"));
                (RecordStatus::Failed, self.config.failed_reward, None, reason)
            }
        };
        Finished {
            job_id: result.job_id,
            status,
            reward,
            metric,
            reason,
            result: Some(result.clone()),
        }
    }

    /// Handles one dead-lettered job: the child is recorded as failed.
    pub async fn process_dead_letter(&mut self, message: Message) -> Result<ResultOutcome> {
        match self.tracker.screen_dead(message).await? {
            Ok(dead) => self.record_dead_letter(dead).await,
            Err(outcome) => Ok(outcome),
        }
    }

    /// Records a dead-lettered job in flight as a failed child, then acks it.
    pub(super) async fn record_dead_letter(&mut self, dead: DeadLetter) -> Result<ResultOutcome> {
        let job_id = dead.job.job_id;
        let reason = format!(
            "dead-lettered after {} deliveries: it keeps crashing its workers",
            dead.message.delivery_count + 1
        );
        tracing::warn!(%job_id, %reason, "child failed");
        let failed = Finished {
            job_id,
            status: RecordStatus::DeadLettered,
            reward: self.config.failed_reward,
            metric: None,
            reason: Some(reason),
            result: None,
        };
        let mut outcomes = match self.record(vec![failed]).await {
            Ok(outcomes) => outcomes,
            Err(error) => {
                self.tracker.hand_back_dead(dead).await;
                return Err(error);
            }
        };
        self.tracker.complete_dead(dead).await?;
        Ok(outcomes.pop().unwrap_or(ResultOutcome::Ignored {
            reason: format!("dead-lettered job {job_id} is not in flight"),
        }))
    }

    /// Logs finished children (one object, consecutive sequence numbers),
    /// then counts and learns from them in that order.
    pub(super) async fn record(&mut self, finished: Vec<Finished>) -> Result<Vec<ResultOutcome>> {
        let records: Vec<RewardRecord> = finished
            .into_iter()
            .filter_map(|child| self.reward_record(child))
            .enumerate()
            .map(|(index, mut record)| {
                record.sequence = self.next_sequence + index as u64;
                record
            })
            .collect();
        if records.is_empty() {
            return Ok(Vec::new());
        }
        // Numbers of a batch whose writes fail are skipped, never reused:
        // gaps in the sequence are harmless, duplicates would not be.
        self.next_sequence += records.len() as u64;
        reward_log::append(&self.store, &self.config.experiment, &records).await?;
        if let Some(live) = self.live.as_ref().filter(|_| !records.is_empty()) {
            // The listener ends only at shutdown; then nothing needs it.
            let _ = live.send(records.clone());
        }
        let mut observations = Vec::with_capacity(records.len());
        for record in &records {
            self.tracker.finish(record.job_id);
            self.tally.count(record);
            self.observe_finished(record);
            self.metrics.observe(record);
            self.metrics.show_tally(&self.tally, &self.config.prices);
            observations.push((
                record.observation(self.config.objective.as_ref()),
                record.sequence + 1,
            ));
        }
        let stepped = self.learn(observations).await?;
        Ok(records
            .iter()
            .zip(stepped)
            .map(|(record, stepped)| ResultOutcome::Counted {
                job_id: record.job_id,
                reward: record.reward,
                stepped,
            })
            .collect())
    }

    /// The reward record of a child in flight (its sequence set later).
    fn reward_record(&self, child: Finished) -> Option<RewardRecord> {
        let entry = self.tracker.get(&child.job_id)?;
        Some(RewardRecord {
            sequence: 0,
            job_id: child.job_id,
            arch_id: entry.job.spec.id(),
            reward: child.reward,
            status: child.status,
            metric: child.metric,
            reason: child.reason,
            spec: entry.job.spec.clone(),
            actions: entry.payload.actions.clone(),
            depth: entry.payload.depth,
            sample_index: entry.payload.sample_index,
            policy_version: entry.job.policy_version,
            log_prob: entry.payload.log_prob,
            published_at: Some(entry.published_at),
            recorded_at: now(),
            result: child.result,
        })
    }
}
