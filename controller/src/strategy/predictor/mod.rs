//! A predictor-guided search: Thompson sampling on a Bayesian model of the
//! reward (BOCS, Baptista and Poloczek 2018; the acquisition BANANAS calls
//! independent Thompson sampling, White et al. 2021).
//!
//! The first `initial` children are uniform, unseen ones. After that, for
//! each child the search draws one sample of the weights of its
//! [`model`] (a linear function of the decisions and of pairs of decisions,
//! fitted on every reward so far), and proposes the child that sample
//! scores highest among those not yet trained or in flight ([`maximize`]).
//! Where the model is sure, the samples agree and the search exploits;
//! where it is not, they differ and it explores; children proposed
//! together (several workers) come from different samples, so they differ
//! too. The narrow draws look only near the best children so far (within
//! `radius` decisions of one of the best `elites`), where the model has
//! data; the wide ones (every `wide_every`-th) still look everywhere, and
//! so does a front search, whose best child moves with each weighting.
//!
//! In an experiment whose reward is shaped by costs (latency, parameters),
//! the search looks for the whole front instead, unless `costs = "shaped"`:
//! the model learns each objective apart (the reward before shaping and
//! each cost, on one shared factor), and each child maximizes a weighting
//! of their samples drawn at random for it, the augmented Chebyshev
//! scalarization of ParEGO (Knowles 2006), so children spread along the
//! front. The samples predict ranks; each is turned back into its
//! objective's units (interpolated among the values learned) before they
//! are weighed, since a front is measured in units (its hypervolume).
//! A share of the children (`front_reward_share`, half) weigh the reward
//! alone: the accurate, costly end of a front is the hardest to find, and
//! one architecture there holds a long stretch of it. The shaped reward
//! still picks the search's best child.
//!
//! Sample `i` draws from stream `i` of the seed, and the model is rebuilt
//! from the rewards in the order observed: what the search proposes is a
//! function of the seed, the reward log and the children in flight, so a
//! checkpoint plus the log after it continues the same sequence, and
//! `replay verify` reproduces it. Each depth (under a CNN curriculum) has
//! its own model. The cost per child is O(d²) in the number of features
//! `d` (at most `max_features`), plus scoring the space or climbing it.
//! [`layout`] numbers the features, [`model`] fits and samples them (with
//! the plain arithmetic of `linalg`), [`maximize`] finds the child a sample
//! scores best and [`front`] weighs objectives for a front search.

pub mod front;
pub mod layout;
mod linalg;
pub mod maximize;
pub mod model;

use std::collections::HashMap;

use nas_domain::{Actions, SearchSpace};
use serde::{Deserialize, Serialize};

use super::random;
use super::seen::Seen;
use super::warm::{self, PriorChild};
use crate::strategy::checkpoint::Checkpoint;
use crate::strategy::{self, Member, Observation, Proposal, StepReport, Strategy, StrategyKind};
use crate::{Error, Result};
use front::{chebyshev, front_weights};
use layout::Layout;
use model::{Model, Prior};

/// Predictor settings. The defaults were chosen on the NAS-Bench-Graph
/// tables cora, citeseer and pubmed with seeds 1000–1049 (see the
/// benchmarks in the docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PredictorConfig {
    /// Children drawn uniformly before the model guides (at least 1).
    pub initial: usize,
    /// Prior precision of each decision value's weight: larger trusts the
    /// data less.
    pub main_precision: f64,
    /// Prior precision of each pair of values' weight.
    pub pair_precision: f64,
    /// The most features (weights) the model has; pairs of distant
    /// decisions are left out first. The cost per child grows with its
    /// square.
    pub max_features: usize,
    /// The model fits the order of the rewards above this share of them:
    /// those ranked lower count as ranked at it, so the few weights the
    /// model has go to telling good children apart (the search looks for
    /// the top) rather than to the tail of poor ones. 0 keeps every rank;
    /// below 1. A front search (costs modelled apart) keeps every rank.
    pub rank_floor: f64,
    /// How far the samples spread around the model's mean, as a multiple
    /// of its posterior spread: larger explores more.
    pub exploration: f64,
    /// Every this many children one is drawn with `wide_exploration`
    /// instead, so a search that settled on one region still looks
    /// elsewhere (0: never).
    pub wide_every: u64,
    /// The spread of those children's samples.
    pub wide_exploration: f64,
    /// What the search aims at when the experiment's reward is shaped by
    /// costs.
    pub costs: CostSearch,
    /// The children a narrow draw (not a `wide_every` one) chooses among:
    /// those within `radius` decisions of one of the best `elites`
    /// children so far (BANANAS's candidates, mutations of the best), so
    /// the model ranks where it has data rather than where it
    /// extrapolates. 0: the whole space. A front search (costs modelled
    /// apart) always looks in the whole space.
    pub elites: usize,
    /// See `elites`: how many decisions a candidate may differ in from
    /// the elite it is near (at least 1 when `elites` is set).
    pub radius: usize,
    /// How far a warm start's fit of earlier searches sets the model's
    /// starting point: the prior mean of the weights is this share of
    /// that fit (this search's own children still decide how sure the
    /// model is). Above 0, at most 1.
    pub warm_start_weight: f64,
    /// In a front search, the share of children that weigh the reward
    /// alone (the front's costly, accurate end, where one architecture
    /// holds a long stretch of it); the others draw their weighting
    /// uniformly. From 0 to 1.
    pub front_reward_share: f64,
}

/// What the predictor aims at when the reward is shaped by costs.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum CostSearch {
    /// The whole front: the reward before shaping and each cost modelled
    /// apart, each child maximizing a random weighting of them (ParEGO).
    #[default]
    Front,
    /// The shaped reward alone, as the other strategies do.
    Shaped,
}

impl Default for PredictorConfig {
    fn default() -> Self {
        PredictorConfig {
            initial: 10,
            main_precision: 1.0,
            pair_precision: 0.3,
            max_features: 1024,
            rank_floor: 0.0,
            exploration: 0.3,
            wide_every: 4,
            wide_exploration: 2.0,
            costs: CostSearch::Front,
            front_reward_share: 0.5,
            warm_start_weight: 0.5,
            elites: 3,
            radius: 1,
        }
    }
}

impl PredictorConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        let fail = |message: &str| Err(Error::Config(format!("predictor.{message}")));
        if self.initial == 0 {
            return fail("initial must be at least 1 (the random children the model starts from)");
        }
        for (name, value) in [
            ("main_precision", self.main_precision),
            ("pair_precision", self.pair_precision),
            ("exploration", self.exploration),
            ("wide_exploration", self.wide_exploration),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return fail(&format!("{name} must be a positive number, not {value}"));
            }
        }
        if !(0.0..=1.0).contains(&self.front_reward_share) {
            return fail(&format!(
                "front_reward_share must be from 0 to 1, not {}",
                self.front_reward_share
            ));
        }
        if !(self.warm_start_weight > 0.0 && self.warm_start_weight <= 1.0) {
            return fail(&format!(
                "warm_start_weight must be above 0 and at most 1, not {}",
                self.warm_start_weight
            ));
        }
        if !(0.0..1.0).contains(&self.rank_floor) {
            return fail(&format!(
                "rank_floor must be at least 0 and below 1, not {}",
                self.rank_floor
            ));
        }
        if self.elites > 0 && self.radius == 0 {
            return fail("radius must be at least 1 when elites is set (the elites themselves are trained)");
        }
        if self.max_features < 2 {
            return fail("max_features must be at least 2 (the intercept and one decision value)");
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct PredictorState {
    space: SearchSpace,
    config: PredictorConfig,
    seed: u64,
    samples_drawn: u64,
    /// Every child observed, in the order observed.
    members: Vec<Member>,
    /// Children proposed and not yet observed.
    pending: Vec<(usize, Actions)>,
    /// Children of earlier searches learned from first (a warm start).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    prior: Vec<PriorChild>,
}

/// Climbs of a large space start from this many of the best children and
/// as many random ones.
const STARTS: usize = 5;

/// The predictor-guided strategy.
pub struct Predictor {
    state: PredictorState,
    /// Every child trained or in flight (rebuilt from the state).
    seen: Seen,
    /// The model of each depth (rebuilt from the prior and the members,
    /// in order).
    models: HashMap<usize, Model>,
    /// Whether the prior taught the model something (then it guides from
    /// the first child).
    warm: bool,
}

impl Predictor {
    /// A fresh search over `space`.
    pub fn new(space: SearchSpace, config: PredictorConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        Ok(Self::from_state(PredictorState {
            space,
            config,
            seed,
            samples_drawn: 0,
            members: Vec::new(),
            pending: Vec::new(),
            prior: Vec::new(),
        }))
    }

    /// Resumes from a checkpoint.
    pub fn restore(checkpoint: &Checkpoint) -> Result<Self> {
        let state: PredictorState = strategy::parse_state(checkpoint)?;
        state.config.validate()?;
        Ok(Self::from_state(state))
    }

    fn from_state(state: PredictorState) -> Self {
        let seen = Seen::of(
            state.members.iter().map(|m| (m.depth, &m.actions)),
            &state.pending,
        );
        let mut search = Predictor {
            state,
            seen,
            models: HashMap::new(),
            warm: false,
        };
        search.learn_prior();
        for index in 0..search.state.members.len() {
            search.learn(index);
        }
        search
    }

    /// Adds member `index` to its depth's model.
    fn learn(&mut self, index: usize) {
        let member = &self.state.members[index];
        let values = self.values(member);
        let (depth, actions) = (member.depth, member.actions.clone());
        self.model(depth).add(&actions, &values);
    }

    /// Adds the earlier searches' children to the model (a categorical
    /// space has one depth), each reward ranked within its source.
    fn learn_prior(&mut self) {
        let prior = &self.state.prior;
        if prior.is_empty() {
            return;
        }
        let children: Vec<(&[Option<u16>], f64)> = (prior.iter())
            .zip(warm::ranks_within_source(prior))
            .map(|(child, rank)| (child.tokens.as_slice(), rank))
            .collect();
        let (config, space) = (&self.state.config, &self.state.space);
        let model = model_of(&mut self.models, config, space, space.depth_at(0));
        self.warm = model.set_prior(&children, config.warm_start_weight);
    }

    /// The model of `depth`, created empty when new.
    fn model(&mut self, depth: usize) -> &mut Model {
        model_of(&mut self.models, &self.state.config, &self.state.space, depth)
    }

    /// What the model learns of `member`: its reward, or when the search
    /// aims at the front and the child has objectives, its reward before
    /// shaping and each cost negated (every objective higher-is-better).
    fn values(&self, member: &Member) -> Vec<f64> {
        match (&member.objectives, self.state.config.costs) {
            (Some(objectives), CostSearch::Front) => std::iter::once(objectives.reward)
                .chain(objectives.costs.iter().map(|cost| -cost))
                .collect(),
            _ => vec![member.reward],
        }
    }

    /// The child of sample `index`.
    fn child(&mut self, index: u64) -> Result<Proposal> {
        let depth = self.state.space.depth_at(index);
        let started =
            self.warm || self.state.members.len() + self.state.pending.len() >= self.state.config.initial;
        let mut rng = strategy::sample_rng(self.state.seed, index);
        let guided = match self.models.get(&depth) {
            Some(model) if started => self.guided(depth, model, self.is_wide(index), &mut rng),
            _ => None,
        };
        let actions = guided.unwrap_or_else(|| {
            random::unseen_uniform_actions(&self.state.space.plan(depth), &mut rng, |actions| {
                self.seen.contains(depth, actions.tokens())
            })
        });
        self.seen.proposed(&mut self.state.pending, depth, &actions);
        Proposal::without_policy(&self.state.space, actions, depth, index)
    }

    /// The unseen child one sample of `model` scores best.
    fn guided(
        &self,
        depth: usize,
        model: &Model,
        wide: bool,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Option<Actions> {
        let config = &self.state.config;
        let exploration = if wide {
            config.wide_exploration
        } else {
            config.exploration
        };
        let thetas = model.sample(rng, exploration);
        let elites = if wide || thetas.len() > 1 {
            Vec::new()
        } else {
            self.best(depth, config.elites)
        };
        let weights = front_weights(thetas.len(), config.front_reward_share, rng);
        let layout = model.layout();
        let score = |tokens: &[u16]| match thetas.as_slice() {
            [theta] => layout.score(theta, tokens),
            _ => chebyshev(
                &weights,
                (thetas.iter().enumerate())
                    .map(|(objective, theta)| model.scaled(objective, layout.score(theta, tokens))),
            ),
        };
        let seen = |tokens: &[u16]| self.seen.contains(depth, tokens);
        if !elites.is_empty()
            && let Some(tokens) =
                maximize::best_unseen_near(layout.options(), score, &elites, config.radius, seen)
        {
            return Some(Actions::new(tokens));
        }
        maximize::best_unseen(layout.options(), score, || self.starts(depth, rng), seen).map(Actions::new)
    }

    /// The tokens of the best `count` children of `depth`, best first.
    fn best(&self, depth: usize, count: usize) -> Vec<Vec<u16>> {
        let mut ranked: Vec<&Member> = self.state.members.iter().filter(|m| m.depth == depth).collect();
        ranked.sort_by(|a, b| b.reward.total_cmp(&a.reward));
        (ranked.into_iter().take(count))
            .map(|m| m.actions.tokens().to_vec())
            .collect()
    }

    /// Whether sample `index` is a wide draw (every `wide_every`-th).
    fn is_wide(&self, index: u64) -> bool {
        match self.state.config.wide_every {
            0 => false,
            every => (index + 1).is_multiple_of(every),
        }
    }

    /// Where climbs start: the best children of `depth` and random ones.
    fn starts(&self, depth: usize, rng: &mut rand_chacha::ChaCha8Rng) -> Vec<Vec<u16>> {
        let plan = self.state.space.plan(depth);
        let mut starts = self.best(depth, STARTS);
        starts.extend((0..STARTS).map(|_| random::uniform_actions(&plan, rng).tokens().to_vec()));
        starts
    }
}

impl Strategy for Predictor {
    fn kind(&self) -> StrategyKind {
        StrategyKind::Predictor
    }

    fn propose(&mut self, count: usize) -> Result<Vec<Proposal>> {
        strategy::next_samples(&mut self.state.samples_drawn, count)
            .map(|index| self.child(index))
            .collect()
    }

    fn observe(&mut self, observation: Observation) -> Result<Option<StepReport>> {
        self.seen
            .observed(&mut self.state.pending, observation.depth, &observation.actions);
        self.state.members.push(Member {
            actions: observation.actions,
            depth: observation.depth,
            reward: observation.reward,
            objectives: observation.objectives,
        });
        self.learn(self.state.members.len() - 1);
        Ok(None)
    }

    fn in_flight(&mut self, children: &[(Actions, usize)]) {
        self.seen.in_flight(&mut self.state.pending, children);
    }

    fn advance_samples(&mut self, next: u64) {
        self.state.samples_drawn = self.state.samples_drawn.max(next);
    }

    fn checkpoint(&self) -> Result<Checkpoint> {
        Checkpoint::of_state(StrategyKind::Predictor, &self.state)
    }

    fn warm_start(&mut self, prior: Vec<PriorChild>) -> Result<()> {
        if !self.state.members.is_empty() || self.state.samples_drawn > 0 || !self.state.prior.is_empty() {
            return Err(Error::Config(
                "a warm start comes before the first child, once".into(),
            ));
        }
        self.state.prior = prior;
        self.models.clear();
        self.learn_prior();
        Ok(())
    }
}

/// The model of `depth` among `models`, created empty when new.
fn model_of<'a>(
    models: &'a mut HashMap<usize, Model>,
    config: &PredictorConfig,
    space: &SearchSpace,
    depth: usize,
) -> &'a mut Model {
    models.entry(depth).or_insert_with(|| {
        let prior = Prior {
            main: config.main_precision,
            pair: config.pair_precision,
        };
        Model::new(Layout::of(&space.plan(depth), config.max_features), prior)
            .with_rank_floor(config.rank_floor)
    })
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
