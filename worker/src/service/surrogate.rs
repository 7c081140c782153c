//! The surrogate worker: answers jobs over the real queue from an oracle
//! (the synthetic function, or a recorded reward table) instead of
//! training, optionally after a fixed delay per job. It lets the whole
//! distributed pipeline, autoscaling and failure tests run without GPUs.

use std::sync::Arc;
use std::time::Duration;

use nas_domain::oracle::{Missing, Oracle, OracleSource, SyntheticOracle};
use nas_domain::{Architecture, EpochMetrics, Outcome, TrainJob};

use crate::model::cnn::{CnnShapes, ImageShape};
use crate::model::language_model::{self, LanguageModelOptions};

/// Where a surrogate worker's rewards come from (a `--surrogate`
/// [`nas_domain::oracle::OracleSource`]).
#[derive(Clone)]
pub struct Surrogate {
    /// The oracle; `None` means the synthetic oracle with each job's reward
    /// function.
    pub table: Option<Arc<dyn Oracle>>,
    /// Time spent per job, standing in for training.
    pub delay: Duration,
}

impl std::fmt::Debug for Surrogate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Surrogate")
            .field("table", &self.table.is_some())
            .field("delay", &self.delay)
            .finish()
    }
}

/// What a surrogate answers for a job.
pub struct Answer {
    /// Ok with the oracle's reward, or failed when it has none.
    pub outcome: Outcome,
    /// One epoch with the metric.
    pub epochs: Vec<EpochMetrics>,
    /// The parameter count the real child would have.
    pub parameters: u64,
}

impl Surrogate {
    /// A surrogate answering from `source` after `delay` per job; the
    /// synthetic oracle applies each job's own reward function.
    pub fn new(source: &OracleSource, delay: Duration) -> crate::Result<Self> {
        let table = match source {
            OracleSource::Synthetic => None,
            OracleSource::Table(_) => Some(Arc::from(source.open(Missing::Fail)?)),
        };
        Ok(Surrogate { table, delay })
    }

    /// The answer for `job`.
    pub fn answer(&self, job: &TrainJob) -> Answer {
        let (reward, metric) = match &self.table {
            Some(table) => match table.reward(&job.spec) {
                Ok(reward) => (reward, reward),
                Err(error) => {
                    return Answer {
                        outcome: Outcome::Failed {
                            reason: error.to_string(),
                        },
                        epochs: Vec::new(),
                        parameters: parameters(job),
                    };
                }
            },
            None => {
                let metric = SyntheticOracle::metric(&job.spec);
                (job.reward.of_metric(metric), metric)
            }
        };
        let accuracy = job.task == nas_domain::Task::Cifar10;
        let epochs = vec![EpochMetrics {
            epoch: 1,
            train_loss: 0.0,
            valid_loss: 0.0,
            valid_accuracy: accuracy.then_some(metric),
            valid_perplexity: (!accuracy).then_some(metric),
            seconds: self.delay.as_secs_f64(),
        }];
        Answer {
            outcome: Outcome::Ok { reward, metric },
            epochs,
            parameters: parameters(job),
        }
    }
}

/// The parameter count of the child the job describes (CIFAR-10 shapes, or
/// a 10,000-word language model of hidden size 200 unless the job says).
fn parameters(job: &TrainJob) -> u64 {
    let count = match job.spec.architecture() {
        Architecture::Cnn(cnn) => CnnShapes::of(cnn, ImageShape::CIFAR10).parameter_count(cnn, 10),
        Architecture::Cell(cell) => {
            let options = LanguageModelOptions {
                vocabulary: 10_000,
                hidden: job.hyperparameters.hidden_size.map_or(200, i64::from),
                layers: 2,
                dropout: 0.0,
                tied: true,
            };
            language_model::parameter_count(&options, i64::from(cell.leaves))
        }
    };
    u64::try_from(count).unwrap_or(0)
}
