//! `simulate` without a subcommand: the search mode, plus the mode flags
//! of earlier releases (`--stopping`, `--objective`, `--budget`), hidden
//! and deprecated, mapped onto `simulate stopping` and `simulate pareto`.

use anyhow::bail;
use clap::Args;
use nas_domain::objective::{Cost, RewardShaping};
use nas_domain::promotion::AshaMode;
use nas_domain::{SampledAgain, StoppingRule};

use super::{ParetoArgs, SearchArgs, SimulateCommand, StoppingArgs, parse_cost_column};
use crate::cli::args::deprecated;

/// The search mode's arguments and the deprecated mode flags.
#[derive(Debug, Args)]
pub(super) struct LegacyArgs {
    #[command(flatten)]
    search: SearchArgs,
    /// Children per run (deprecated: --children).
    #[arg(long, hide = true)]
    budget: Option<usize>,
    /// Stopping rules (deprecated: `simulate stopping --rules`).
    #[arg(long, hide = true, value_delimiter = ',')]
    stopping: Vec<StoppingRule>,
    /// Deprecated: `simulate stopping --gpu-seconds`.
    #[arg(long, hide = true)]
    gpu_seconds: Option<f64>,
    /// Deprecated: `simulate stopping --stopped-penalty`.
    #[arg(long, hide = true)]
    stopped_penalty: Option<f64>,
    /// Deprecated: `simulate stopping --sampled-again`.
    #[arg(long, hide = true)]
    sampled_again: Option<SampledAgain>,
    /// Deprecated: `simulate stopping --asha`.
    #[arg(long, hide = true)]
    asha: Option<AshaMode>,
    /// Deprecated: `simulate pareto --objective`.
    #[arg(long, hide = true)]
    objective: Option<RewardShaping>,
    /// Deprecated: `simulate pareto --cost-column`.
    #[arg(long, hide = true, value_delimiter = ',', value_parser = parse_cost_column)]
    cost_column: Vec<(Cost, String)>,
}

impl LegacyArgs {
    /// The subcommand these flags mean.
    pub(super) fn into_command(self) -> anyhow::Result<SimulateCommand> {
        let LegacyArgs {
            mut search,
            budget,
            stopping,
            ..
        } = self;
        if let Some(children) = budget {
            deprecated("`simulate --budget`", "--children");
            search.common.children = children;
        }
        let stopping_flags = self.gpu_seconds.is_some()
            || self.stopped_penalty.is_some()
            || self.sampled_again.is_some()
            || self.asha.is_some();
        match (stopping.is_empty(), self.objective) {
            (false, Some(_)) => {
                bail!("--stopping and --objective are two modes: `simulate stopping` or `simulate pareto`")
            }
            (false, None) => {
                deprecated("`simulate --stopping RULES`", "`simulate stopping --rules RULES`");
                let Some(gpu_seconds) = self.gpu_seconds else {
                    bail!("--stopping needs --gpu-seconds, a positive number of training seconds per run");
                };
                Ok(SimulateCommand::Stopping(StoppingArgs {
                    common: search.common,
                    rules: stopping,
                    gpu_seconds,
                    stopped_penalty: self.stopped_penalty,
                    stopped_reward: super::StoppedTeaching::Partial,
                    in_flight: search.in_flight,
                    sampled_again: self.sampled_again.unwrap_or(SampledAgain::Reuse),
                    asha: self.asha.unwrap_or(AshaMode::Stop),
                }))
            }
            (true, Some(objective)) => {
                deprecated("`simulate --objective`", "`simulate pareto --objective`");
                if stopping_flags || search.in_flight.is_some() || search.test_column.is_some() {
                    bail!(
                        "`simulate pareto` takes no stopping settings, no --in-flight and no --test-column"
                    );
                }
                Ok(SimulateCommand::Pareto(ParetoArgs {
                    common: search.common,
                    objective,
                    cost_column: self.cost_column,
                }))
            }
            (true, None) => {
                if stopping_flags || !self.cost_column.is_empty() {
                    bail!("stopping settings need `simulate stopping`, cost columns `simulate pareto`");
                }
                deprecated("`simulate` without a subcommand", "`simulate search`");
                Ok(SimulateCommand::Search(search))
            }
        }
    }
}
