//! Training a language model around a searched cell on Penn Treebank:
//! plain SGD, learning rate 5, gradients clipped to a global norm of 0.25,
//! batch 20, truncated BPTT over 35 steps, dropout 0.2, tied embeddings;
//! the learning rate is divided by 4 after an epoch that did not improve
//! the validation perplexity (and once after epoch `lr_decay_epoch`, when
//! a job sets it). These are the settings of PyTorch's
//! word-language-model example except the learning rate: its 20 makes many
//! sampled cells diverge in the first epoch, 5 trains 11 of 12
//! fresh-policy samples on synthetic PTB. A resumed child restarts its
//! recurrent state from zero at the resumed window. The epochs themselves
//! are run by [`super::epochs::run_epochs`].

use nas_domain::spec::CellArch;
use nas_domain::{ArchKind, ArchSpec, RewardFunction};
use tch::nn;
use tch::{Device, Kind, Tensor};

use nas_domain::objective::{Cost, Costs};

use super::checkpoint::ChildCheckpoint;
use super::costs;
use super::epochs::{EpochTraining, Interrupt, Run, Validation, run_epochs};
use super::sgd::{Sgd, SgdConfig};
use super::{TrainReport, TrainSettings, named_trainable};
use crate::data::ptb::{self, Corpus, Level};
use crate::model::guardrails;
use crate::model::language_model::{self, LanguageModel, LanguageModelOptions, State};
use crate::{Error, Result};

const BATCH: i64 = 20;
const EVAL_BATCH: i64 = 10;
const STEPS: i64 = 35;
const LEARNING_RATE: f64 = 5.0;
const CLIP: f64 = 0.25;
const DROPOUT: f64 = 0.2;
const HIDDEN: i64 = 200;
const LAYERS: i64 = 2;

/// The language model around `cell` for a vocabulary of `vocabulary`
/// words: hidden size 200 (the CPU default), `settings.hidden`, or the
/// hidden size whose model is nearest `settings.parameters` (the paper's
/// ~20 M "medium" size for GPU runs) when that is given.
pub fn model_options(cell: &CellArch, settings: &TrainSettings, vocabulary: i64) -> LanguageModelOptions {
    let options = LanguageModelOptions {
        vocabulary,
        hidden: settings.hidden.unwrap_or(HIDDEN),
        layers: LAYERS,
        dropout: settings.dropout.unwrap_or(DROPOUT),
        tied: true,
        init_range: settings.init_range.unwrap_or(language_model::INIT_RANGE),
    };
    match settings.parameters {
        Some(target) => LanguageModelOptions {
            hidden: language_model::hidden_for_parameters(&options, i64::from(cell.leaves), target),
            ..options
        },
        None => options,
    }
}

/// The parameters and activation estimate of the language model around
/// `cell` under `settings`, or the error naming the limit it passes;
/// training checks this before it allocates anything.
pub fn check_limits(cell: &CellArch, settings: &TrainSettings, vocabulary: i64) -> Result<guardrails::Cost> {
    let batch = settings.batch_size.unwrap_or(BATCH);
    let options = model_options(cell, settings, vocabulary);
    settings
        .limits
        .check_language_model(&options, i64::from(cell.leaves), batch, STEPS)
}

/// Trains a language model around `cell`, from scratch or from `resume`;
/// `settings.train_tokens` limits the training stream.
pub fn train_language_model(
    cell: &CellArch,
    corpus: &Corpus,
    settings: &TrainSettings,
    resume: Option<&ChildCheckpoint>,
) -> Result<TrainReport> {
    let batch = settings.batch_size.unwrap_or(BATCH);
    let vocabulary = corpus.vocabulary.len() as i64;
    let options = model_options(cell, settings, vocabulary);
    check_limits(cell, settings, vocabulary)?;
    tracing::info!(
        hidden = options.hidden,
        parameters = language_model::parameter_count(&options, i64::from(cell.leaves)),
        "language model"
    );
    let available = corpus.train.size()[0];
    let tokens = settings.train_tokens.unwrap_or(available).min(available);
    if tokens < batch * 2 {
        return Err(Error::Config(format!(
            "{tokens} training tokens cannot fill {batch} streams"
        )));
    }
    tch::manual_seed(settings.seed as i64);
    let vs = nn::VarStore::new(settings.device);
    let model = LanguageModel::new(&vs.root(), cell, options);
    // Every weight of the cells and the decoder is applied once per token
    // (the embedding is a lookup; biases count as weights, a small excess).
    let (vocabulary, hidden) = (options.vocabulary, options.hidden);
    let decoder_parameters = if options.tied {
        vocabulary
    } else {
        hidden * vocabulary + vocabulary
    };
    let cells = language_model::parameter_count(&options, i64::from(cell.leaves))
        - vocabulary * hidden
        - decoder_parameters;
    let multiply_adds = cells + hidden * vocabulary;
    let optimizer = Sgd::new(
        SgdConfig {
            learning_rate: settings.learning_rate.unwrap_or(LEARNING_RATE),
            momentum: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        },
        named_trainable(&vs),
    );
    if let Some(checkpoint) = resume {
        checkpoint.restore_variables(&vs)?;
    }
    let arch_id = ArchSpec::cell(cell.clone())?.id().to_string();
    let run = Run::new(settings, arch_id, optimizer.learning_rate(), resume);
    let mut task = LanguageModelTraining {
        model,
        vs,
        optimizer,
        streams: ptb::batchify(&corpus.train.narrow(0, 0, tokens), batch),
        valid: ptb::batchify(&corpus.valid, EVAL_BATCH),
        corpus,
        batch,
        device: settings.device,
        multiply_adds,
    };
    let reward = settings
        .reward
        .unwrap_or_else(|| RewardFunction::default_for(ArchKind::Cell));
    run_epochs(&mut task, run, reward)
}

/// A language model's epoch: truncated BPTT over the training streams,
/// then perplexity on the validation stream.
struct LanguageModelTraining<'a> {
    model: LanguageModel,
    vs: nn::VarStore,
    optimizer: Sgd,
    streams: Tensor,
    valid: Tensor,
    corpus: &'a Corpus,
    batch: i64,
    device: Device,
    /// Multiply-adds of one token's forward pass.
    multiply_adds: i64,
}

impl EpochTraining for LanguageModelTraining<'_> {
    fn begin_epoch(&mut self, run: &mut Run<'_>) {
        self.optimizer.set_learning_rate(run.progress.learning_rate);
    }

    fn train_batches(&mut self, run: &mut Run<'_>) -> Result<(), Interrupt> {
        let mut state = self.model.zero_state(self.batch, self.device);
        let skip = run.progress.batches_done as usize;
        for (inputs, targets) in ptb::windows(&self.streams, STEPS).skip(skip) {
            state = detach(&state);
            let (logits, next) = self.model.forward(&inputs, &state, true);
            state = next;
            let loss = logits.cross_entropy_for_logits(&targets.reshape([-1]));
            self.optimizer.zero_grad();
            loss.backward();
            self.optimizer.clip_grad_norm(CLIP);
            self.optimizer.step();
            run.after_step(&loss, targets.numel() as f64)?;
        }
        Ok(())
    }

    fn validate(&mut self) -> Validation {
        let loss = evaluate_language_model(&self.model, &self.valid, self.device);
        Validation {
            loss,
            accuracy: None,
            perplexity: Some(loss.exp()),
            bits_per_char: (self.corpus.level == Level::Char).then_some(loss / std::f64::consts::LN_2),
        }
    }

    fn end_epoch(&mut self, run: &mut Run<'_>, validation: &Validation) {
        let perplexity = validation.perplexity.unwrap_or(f64::INFINITY);
        let improved = run.progress.best.is_none_or(|best| perplexity < best);
        if improved {
            run.progress.best = Some(perplexity);
        }
        // A scheduled drop counts once even when the epoch did not improve.
        let scheduled = run.settings.lr_decay_epoch == Some(run.progress.epoch);
        if !improved || scheduled {
            run.progress.learning_rate /= 4.0;
        }
    }

    fn test(&mut self) -> Result<f64> {
        let test = self
            .corpus
            .test
            .as_ref()
            .ok_or_else(|| Error::Config("the test split was not loaded".into()))?;
        let streams = ptb::batchify(test, EVAL_BATCH);
        Ok(evaluate_language_model(&self.model, &streams, self.device).exp())
    }

    fn state(&self) -> (&nn::VarStore, &Sgd) {
        (&self.vs, &self.optimizer)
    }

    /// Latency of one token for one stream (batch 1, one step: a generated
    /// token) and of one training window (`batch` streams × the BPTT
    /// length), and the multiply-adds per token.
    fn measure_costs(&mut self) -> Costs {
        let (device, model) = (self.device, &self.model);
        let Some((window, _)) = ptb::windows(&self.streams, STEPS).next() else {
            return Costs::new();
        };
        let token = window.narrow(0, 0, 1).narrow(1, 0, 1);
        let (one, full) = (model.zero_state(1, device), model.zero_state(self.batch, device));
        let mut costs = tch::no_grad(|| {
            costs::latencies(device, self.batch, |batch| {
                let _ = if batch == 1 {
                    model.forward(&token, &one, false)
                } else {
                    model.forward(&window, &full, false)
                };
            })
        });
        let _ = costs.set(Cost::MultiplyAdds, self.multiply_adds as f64);
        costs
    }
}

/// Mean per-token loss of `model` over batchified `streams`.
pub fn evaluate_language_model(model: &LanguageModel, streams: &Tensor, device: Device) -> f64 {
    tch::no_grad(|| {
        let mut state = model.zero_state(streams.size()[0], device);
        let mut total = Tensor::zeros([], (Kind::Double, device));
        let mut count = 0i64;
        for (inputs, targets) in ptb::windows(streams, STEPS) {
            let (logits, next) = model.forward(&inputs, &state, false);
            state = next;
            let tokens = targets.numel() as i64;
            total += logits
                .cross_entropy_for_logits(&targets.reshape([-1]))
                .to_kind(Kind::Double)
                * tokens as f64;
            count += tokens;
        }
        total.double_value(&[]) / count.max(1) as f64
    })
}

fn detach(state: &State) -> State {
    state.iter().map(|(h, c)| (h.detach(), c.detach())).collect()
}
