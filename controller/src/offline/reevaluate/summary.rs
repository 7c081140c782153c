//! The re-evaluation's summary: mean ± standard deviation of the metric,
//! the reward and (when asked) the test metric per architecture and grid
//! point (for character-level PTB also in bits per character, the unit the
//! paper reports), and the pick, the best mean validation reward.

use std::collections::{BTreeMap, HashMap};

use nas_domain::{ArchId, ExperimentName, Hyperparameters, JobId, Outcome, Task, TrainResult};
use serde::{Deserialize, Serialize};

use super::{Plan, ReevaluationJob};

/// Mean, standard deviation and count of some values.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Statistic {
    /// How many values.
    pub count: usize,
    /// Their mean.
    pub mean: f64,
    /// Their (population) standard deviation.
    pub std: f64,
}

impl Statistic {
    /// The statistic of `values`.
    pub fn of(values: &[f64]) -> Self {
        let count = values.len();
        if count == 0 {
            return Statistic::default();
        }
        let mean = values.iter().sum::<f64>() / count as f64;
        let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / count as f64;
        Statistic {
            count,
            mean,
            std: variance.sqrt(),
        }
    }
}

/// The results of one architecture at one grid point.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GridResult {
    /// The architecture.
    pub architecture_id: ArchId,
    /// The grid point.
    pub grid_point: usize,
    /// The hyperparameters of that point.
    pub hyperparameters: Hyperparameters,
    /// The validation metric over seeds.
    pub metric: Statistic,
    /// The reward over seeds.
    pub reward: Statistic,
    /// The test metric over seeds, when asked.
    pub test_metric: Option<Statistic>,
    /// Character-level PTB: the validation metric in bits per character
    /// (log2 of each run's perplexity) over seeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bits_per_char: Option<Statistic>,
    /// Character-level PTB, when asked: the test bits per character.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_bits_per_char: Option<Statistic>,
    /// Trainings that failed.
    pub failed: usize,
}

/// The re-evaluation's summary.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    /// The experiment.
    pub experiment: ExperimentName,
    /// The re-evaluation's name.
    pub run: ExperimentName,
    /// Every architecture at every grid point, best mean reward first.
    pub results: Vec<GridResult>,
    /// The pick: the best mean validation reward.
    pub pick: Option<GridResult>,
}

/// Metrics, rewards, test metrics and failures of one group of trainings.
type Outcomes = (Vec<f64>, Vec<f64>, Vec<f64>, usize);

/// Mean ± std per architecture and grid point; the pick by mean reward.
pub fn summarize(
    plan: &Plan,
    points: &[Hyperparameters],
    jobs: &[ReevaluationJob],
    results: &HashMap<JobId, TrainResult>,
) -> Summary {
    let mut groups: BTreeMap<(ArchId, usize), Outcomes> = BTreeMap::new();
    for planned in jobs {
        let group = groups
            .entry((planned.job.spec.id(), planned.grid_point))
            .or_default();
        match results
            .get(&planned.job.job_id)
            .map(|r| (&r.outcome, r.test_metric))
        {
            Some((Outcome::Ok { reward, metric }, test)) => {
                group.0.push(*metric);
                group.1.push(*reward);
                group.2.extend(test);
            }
            _ => group.3 += 1,
        }
    }
    let in_bits = jobs.iter().any(|planned| planned.job.task == Task::PtbChar);
    let bits = |perplexities: &[f64]| {
        let bits: Vec<f64> = perplexities.iter().map(|p| p.log2()).collect();
        Statistic::of(&bits)
    };
    let mut rows: Vec<GridResult> = groups
        .into_iter()
        .map(
            |((architecture_id, grid_point), (metrics, rewards, tests, failed))| GridResult {
                architecture_id,
                grid_point,
                hyperparameters: points.get(grid_point).cloned().unwrap_or_default(),
                metric: Statistic::of(&metrics),
                reward: Statistic::of(&rewards),
                test_metric: plan.test.then(|| Statistic::of(&tests)),
                bits_per_char: in_bits.then(|| bits(&metrics)),
                test_bits_per_char: (in_bits && plan.test).then(|| bits(&tests)),
                failed,
            },
        )
        .collect();
    rows.sort_by(|a, b| b.reward.mean.total_cmp(&a.reward.mean));
    let pick = rows.iter().find(|row| row.reward.count > 0).cloned();
    Summary {
        experiment: plan.experiment.clone(),
        run: plan.run.clone(),
        results: rows,
        pick,
    }
}
