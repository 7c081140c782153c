//! Offline replay: a strategy learns from a stored reward log without any
//! worker. The log's (actions, reward) pairs drive the strategy in their
//! recorded order.
//!
//! - [`verify`] recomputes a recorded search from its first checkpoint
//!   (`policy/00000000.ckpt`, written when the experiment started) and shows
//!   that the policy it ends with equals the stored latest checkpoint, bit
//!   for bit: the test of exact resume. A strategy without a policy (local
//!   search, evolution, random search) is checked on its proposals instead:
//!   every published child is proposed again ([`super::proposals`]). With
//!   a stopping rule, every decision of the progress log is taken again
//!   from the curves the controller had been shown then ([`super::stops`]).
//! - [`replay`] trains a fresh policy, or continues from the first
//!   checkpoint, with other settings (baseline decay, reward transform,
//!   entropy bonus, learning rate), to study them on recorded data; with
//!   another objective ([`RewardShaping`]) every trained child's reward is
//!   shaped again from the raw reward and costs its result keeps.

use std::collections::HashMap;

use nas_domain::objective::RewardShaping;
use nas_domain::{ArchId, ExperimentName, Outcome, StoppedReward, StoppingRule};
use nas_infra::store::{ObjectStore, keys};
use serde::Serialize;
use tch::{Kind, Tensor};

use super::proposals::{self, ProposalCheck};
use super::stops::{self, StopCheck};
use crate::experiment::PolicyPointer;
use crate::experiment::config::ExperimentConfig;
use crate::experiment::progress_log;
use crate::experiment::reward_log::{self, RewardRecord};
use crate::experiment::stored;
use crate::strategy::checkpoint::Checkpoint;
use crate::strategy::reinforce::RewardTransform;
use crate::strategy::{self, StepReport, Strategy, StrategyKind};
use crate::{Error, Result};

/// Settings a replay may change.
#[derive(Clone, Debug, Default)]
pub struct ReplaySettings {
    /// Start from a freshly initialised policy instead of the first checkpoint.
    pub fresh: bool,
    /// Another baseline decay.
    pub baseline_decay: Option<f64>,
    /// Another entropy weight.
    pub entropy_weight: Option<f64>,
    /// Another learning rate.
    pub learning_rate: Option<f64>,
    /// Another reward transform.
    pub reward_transform: Option<RewardTransform>,
    /// Another seed (for a fresh policy).
    pub seed: Option<u64>,
    /// Another objective: rewards shaped again from the recorded costs.
    pub objective: Option<RewardShaping>,
}

/// What a replay did.
#[derive(Clone, Debug, Serialize)]
pub struct ReplayReport {
    /// The experiment.
    pub experiment: ExperimentName,
    /// Rewards fed to the strategy.
    pub rewards: usize,
    /// Policy steps taken.
    pub steps: Vec<StepReport>,
    /// The objective the rewards were shaped with again, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objective: Option<String>,
    /// The best child by the rewards fed (its architecture and reward).
    pub best: Option<(ArchId, f64)>,
}

/// The outcome of `replay verify`.
#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    /// The experiment.
    pub experiment: ExperimentName,
    /// Rewards replayed.
    pub rewards: usize,
    /// The policy step of the stored checkpoint compared against.
    pub step: u64,
    /// Tensors compared (parameters and optimiser state).
    pub tensors: usize,
    /// Scalars compared.
    pub scalars: usize,
    /// Scalars that differ.
    pub differing: usize,
    /// Largest absolute difference.
    pub max_difference: f64,
    /// Whether the strategy's state (baseline, step, buffered rewards…)
    /// matches too.
    pub state_matches: bool,
    /// The state fields that differ, when some do.
    pub state_differences: Vec<String>,
    /// A strategy without a policy: its children proposed again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposals: Option<ProposalCheck>,
    /// With a stopping rule: its decisions taken again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stops: Option<StopCheck>,
    /// Whether everything is identical.
    pub identical: bool,
}

async fn load(
    store: &ObjectStore,
    experiment: &ExperimentName,
) -> Result<(ExperimentConfig, Vec<RewardRecord>)> {
    let config = stored::load(store, experiment).await?;
    let records = reward_log::read_all(store, experiment).await?;
    Ok((config, records))
}

async fn checkpoint(store: &ObjectStore, key: &str) -> Result<Checkpoint> {
    Checkpoint::from_bytes(&checkpoint_bytes(store, key).await?)
}

async fn checkpoint_bytes(store: &ObjectStore, key: &str) -> Result<bytes::Bytes> {
    store
        .get(key)
        .await?
        .ok_or_else(|| Error::Checkpoint(format!("{key} is missing")))
}

fn feed(
    strategy: &mut dyn Strategy,
    records: &[RewardRecord],
    shaping: Option<&RewardShaping>,
) -> Result<Vec<StepReport>> {
    let mut steps = Vec::new();
    for record in records {
        if let Some(step) = strategy.observe(record.observation(shaping))? {
            steps.push(step);
        }
    }
    Ok(steps)
}

/// Recomputes the search from its first checkpoint and compares the result
/// with the stored latest checkpoint.
pub async fn verify(store: &ObjectStore, experiment: &ExperimentName) -> Result<Verification> {
    let (config, records) = load(store, experiment).await?;
    let pointer: PolicyPointer = store
        .get_json(&keys::policy_latest(experiment))
        .await?
        .ok_or_else(|| Error::Checkpoint(format!("{experiment} has no policy checkpoint")))?;
    let first_bytes = checkpoint_bytes(store, &keys::policy_checkpoint(experiment, 0)).await?;
    let first = Checkpoint::from_bytes(&first_bytes)?;
    let stored = checkpoint(store, &pointer.key).await?;
    let proposals = if first.strategy == StrategyKind::Reinforce {
        None
    } else {
        let again = Checkpoint::from_bytes(&first_bytes)?;
        Some(
            proposals::check(
                store,
                experiment,
                again,
                records.clone(),
                config.objective.clone(),
            )
            .await?,
        )
    };
    let stops = if config.stopping.rule == StoppingRule::None {
        None
    } else {
        let progress = progress_log::read_all(store, experiment).await?;
        Some(stops::check(
            config.stopping.rule,
            config.budget.epochs,
            &config.reward,
            &stops::results_of(&records),
            &progress,
        ))
    };
    let included: Vec<RewardRecord> = records
        .into_iter()
        .filter(|record| record.sequence < pointer.next_sequence)
        .collect();
    let rewards = included.len();
    let (recomputed, stored) = tokio::task::spawn_blocking(move || -> Result<(Checkpoint, Checkpoint)> {
        let mut strategy = strategy::restore(&first)?;
        feed(strategy.as_mut(), &included, config.objective.as_ref())?;
        // Restoring the stored checkpoint and saving it again writes it in
        // this build's format (settings added since get their defaults).
        let stored = strategy::restore(&stored)?.checkpoint()?;
        Ok((strategy.checkpoint()?, stored))
    })
    .await??;
    let mut verification = compare(experiment.clone(), rewards, pointer.step, &recomputed, &stored)?;
    if let Some(check) = proposals {
        verification.identical &= check.differing == 0;
        verification.proposals = Some(check);
    }
    if let Some(check) = stops {
        verification.identical &= check.differing == 0;
        verification.stops = Some(check);
    }
    Ok(verification)
}

/// A checkpoint tensor's values; an error naming a tensor that is not
/// `f32`, which checkpoints hold only (another type cannot be compared
/// bit for bit, and must not pass as empty).
fn values_of(side: &str, name: &str, tensor: &Tensor) -> Result<Vec<f32>> {
    let kind = tensor.kind();
    if kind != Kind::Float {
        return Err(Error::Checkpoint(format!(
            "{side} tensor {name} holds {kind:?}, not f32: it cannot be compared"
        )));
    }
    Vec::<f32>::try_from(tensor.contiguous().view(-1))
        .map_err(|error| Error::Checkpoint(format!("{side} tensor {name}: {error}")))
}

fn compare(
    experiment: ExperimentName,
    rewards: usize,
    step: u64,
    ours: &Checkpoint,
    stored: &Checkpoint,
) -> Result<Verification> {
    let mut scalars = 0;
    let mut differing = 0;
    let mut max_difference: f64 = 0.0;
    let mut tensors = 0;
    let names_match = ours.tensors.len() == stored.tensors.len()
        && ours.tensors.iter().zip(&stored.tensors).all(|(a, b)| a.0 == b.0);
    if names_match {
        for ((name, a), (_, b)) in ours.tensors.iter().zip(&stored.tensors) {
            tensors += 1;
            let a = values_of("the recomputed", name, a)?;
            let b = values_of("the stored", name, b)?;
            scalars += a.len();
            if a.len() != b.len() {
                differing += a.len().max(b.len());
                continue;
            }
            for (x, y) in a.iter().zip(&b) {
                if x.to_bits() != y.to_bits() {
                    differing += 1;
                    max_difference = max_difference.max(f64::from((x - y).abs()));
                }
            }
        }
    }
    // The sampling position differs by design: proposals made after the
    // checkpoint advance it; the policy itself does not depend on it.
    let without_position = |state: &serde_json::Value| {
        let mut state = state.clone();
        if let Some(object) = state.as_object_mut() {
            object.remove("samples_drawn");
        }
        state
    };
    let (ours_state, stored_state) = (without_position(&ours.state), without_position(&stored.state));
    let state_differences: Vec<String> = match (ours_state.as_object(), stored_state.as_object()) {
        (Some(a), Some(b)) => a
            .keys()
            .chain(b.keys())
            .filter(|key| a.get(*key) != b.get(*key))
            .map(|key| format!("{key}: {} vs stored {}", short(a.get(key)), short(b.get(key))))
            .collect(),
        _ => vec!["the states are not objects".into()],
    };
    let state_matches = state_differences.is_empty();
    Ok(Verification {
        experiment,
        rewards,
        step,
        tensors,
        scalars,
        differing,
        max_difference,
        state_matches,
        state_differences,
        proposals: None,
        stops: None,
        identical: names_match && differing == 0 && state_matches,
    })
}

/// Trains a strategy on the stored reward log with `settings`; returns the
/// report and the final checkpoint.
pub async fn replay(
    store: &ObjectStore,
    experiment: &ExperimentName,
    settings: ReplaySettings,
) -> Result<(ReplayReport, Checkpoint)> {
    let (config, mut records) = load(store, experiment).await?;
    if let Some(objective) = &settings.objective {
        reshape(&mut records, &config, objective)?;
    }
    let best = records
        .iter()
        .filter(|record| record.metric.is_some())
        .max_by(|a, b| a.reward.total_cmp(&b.reward))
        .map(|record| (record.arch_id.clone(), record.reward));
    let objective = settings.objective.as_ref().map(RewardShaping::label);
    let first = if settings.fresh {
        None
    } else {
        Some(checkpoint(store, &keys::policy_checkpoint(experiment, 0)).await?)
    };
    let rewards = records.len();
    let (steps, last) = tokio::task::spawn_blocking(move || -> Result<(Vec<StepReport>, Checkpoint)> {
        let mut strategy_settings = config.strategy_settings();
        let reinforce = &mut strategy_settings.reinforce;
        reinforce.baseline_decay = settings.baseline_decay.unwrap_or(reinforce.baseline_decay);
        reinforce.entropy_weight = settings.entropy_weight.unwrap_or(reinforce.entropy_weight);
        reinforce.learning_rate = settings.learning_rate.unwrap_or(reinforce.learning_rate);
        reinforce.reward_transform = settings.reward_transform.unwrap_or(reinforce.reward_transform);
        let mut strategy = match first {
            Some(first) if strategy_settings.reinforce == config.controller => strategy::restore(&first)?,
            Some(first) => strategy::restore_with(&first, &strategy_settings)?,
            None => strategy::create(
                config.strategy,
                config.space.clone(),
                &strategy_settings,
                settings.seed.unwrap_or(config.seed),
            )?,
        };
        let shaping = settings.objective.as_ref().or(config.objective.as_ref());
        let steps = feed(strategy.as_mut(), &records, shaping)?;
        Ok((steps, strategy.checkpoint()?))
    })
    .await??;
    Ok((
        ReplayReport {
            experiment: experiment.clone(),
            rewards,
            steps,
            objective,
            best,
        },
        last,
    ))
}

/// Shapes the reward of every trained or stopped child in `records` again
/// with `objective`, from the raw reward and the costs its result keeps;
/// a reused reward becomes the new reward of the architecture it reuses
/// (the best trained to the end, else the best stopped, as the search
/// chose it).
/// Failed children keep the experiment's failure reward; an error names
/// the first trained child whose result lacks a cost the objective needs.
fn reshape(records: &mut [RewardRecord], config: &ExperimentConfig, objective: &RewardShaping) -> Result<()> {
    let mut trained: HashMap<ArchId, f64> = HashMap::new();
    let mut stopped: HashMap<ArchId, f64> = HashMap::new();
    for record in records.iter_mut() {
        let raw = match record
            .result
            .as_ref()
            .map(|result| (&result.outcome, &result.costs))
        {
            Some((Outcome::Ok { reward, .. }, costs)) => Some((*reward, costs)),
            Some((Outcome::Stopped { reward, .. }, costs))
                if config.stopping.stopped_reward == StoppedReward::Partial =>
            {
                Some((*reward, costs))
            }
            _ => None,
        };
        if let Some((reward, costs)) = raw {
            record.reward = objective.shape(reward, costs).map_err(|error| {
                Error::Config(format!(
                    "replaying child {} (job {}): {error}",
                    record.sequence, record.job_id
                ))
            })?;
            let best = if record.status == reward_log::RecordStatus::Stopped {
                &mut stopped
            } else {
                &mut trained
            };
            let entry = best.entry(record.arch_id.clone()).or_insert(record.reward);
            *entry = entry.max(record.reward);
        } else if record.status == reward_log::RecordStatus::Reused
            && let Some(reward) = trained
                .get(&record.arch_id)
                .or_else(|| stopped.get(&record.arch_id))
        {
            record.reward = *reward;
        }
    }
    Ok(())
}

fn short(value: Option<&serde_json::Value>) -> String {
    let text = value.map_or("nothing".to_owned(), ToString::to_string);
    if text.len() > 400 {
        format!("{}…", &text[..400])
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::float_cmp)]

    use super::*;
    use crate::strategy::StrategyKind;

    fn checkpoint(tensors: Vec<(&str, Tensor)>) -> Checkpoint {
        let named = tensors
            .into_iter()
            .map(|(name, t)| (name.to_owned(), t))
            .collect();
        Checkpoint::new(StrategyKind::Reinforce, serde_json::json!({"step": 1}), named)
    }

    fn verify(ours: &Checkpoint, stored: &Checkpoint) -> Result<Verification> {
        compare("unit".parse().unwrap(), 8, 1, ours, stored)
    }

    #[test]
    fn equal_tensors_are_identical_and_a_changed_scalar_is_counted() {
        let values = [1.0f32, -2.5, 3.25];
        let ours = checkpoint(vec![("policy.w", Tensor::from_slice(&values))]);
        let same = checkpoint(vec![("policy.w", Tensor::from_slice(&values))]);
        let verification = verify(&ours, &same).unwrap();
        assert!(verification.identical, "{verification:?}");
        assert_eq!((verification.tensors, verification.scalars), (1, 3));
        let changed = checkpoint(vec![("policy.w", Tensor::from_slice(&[1.0f32, -2.0, 3.25]))]);
        let verification = verify(&ours, &changed).unwrap();
        assert!(!verification.identical);
        assert_eq!((verification.differing, verification.max_difference), (1, 0.5));
    }

    #[test]
    fn a_tensor_that_is_not_f32_is_an_error_naming_it_and_its_type() {
        let ours = checkpoint(vec![("policy.w", Tensor::from_slice(&[1.0f32, 2.0]))]);
        for (stored, kind) in [
            (Tensor::from_slice(&[1.0f64, 2.0]), "Double"),
            (Tensor::from_slice(&[1i64, 2]), "Int64"),
        ] {
            let stored = checkpoint(vec![("policy.w", stored)]);
            let error = verify(&ours, &stored).unwrap_err().to_string();
            assert!(
                error.contains("the stored tensor policy.w holds") && error.contains(kind),
                "{error}"
            );
            let error = verify(&stored, &ours).unwrap_err().to_string();
            assert!(error.contains("the recomputed tensor policy.w holds"), "{error}");
        }
    }
}
