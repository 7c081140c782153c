//! Training a language model around a searched cell on Penn Treebank:
//! plain SGD, learning rate 5, gradients clipped to a global norm of 0.25,
//! batch 20, truncated BPTT over 35 steps, dropout 0.2, tied embeddings;
//! the learning rate is divided by 4 after an epoch that did not improve
//! the validation perplexity. These are the settings of PyTorch's
//! word-language-model example except the learning rate: its 20 makes many
//! sampled cells diverge in the first epoch, 5 trains 11 of 12
//! fresh-policy samples on synthetic PTB. A resumed child restarts its
//! recurrent state from zero at the resumed window.

use std::time::Instant;

use nas_common::spec::CellArch;
use nas_common::{EpochMetrics, RewardFunction};
use tch::nn;
use tch::{Device, Kind, Tensor};

use crate::child_checkpoint::ChildCheckpoint;
use crate::language_model::{LanguageModel, LanguageModelOptions, State};
use crate::ptb::{self, Corpus};
use crate::sgd::{Sgd, SgdConfig};
use crate::trainer::{self, Interrupt, Run, TrainReport, TrainSettings};
use crate::{Error, Result};

const BATCH: i64 = 20;
const EVAL_BATCH: i64 = 10;
const STEPS: i64 = 35;
const LEARNING_RATE: f64 = 5.0;
const CLIP: f64 = 0.25;
const DROPOUT: f64 = 0.2;
const HIDDEN: i64 = 200;
const LAYERS: i64 = 2;

/// Trains a language model around `cell`, from scratch or from `resume`.
/// `train_tokens` limits the training stream (a subset for small runs).
pub fn train_language_model(
    cell: &CellArch,
    corpus: &Corpus,
    train_tokens: Option<i64>,
    settings: &TrainSettings,
    reward: RewardFunction,
    resume: Option<&ChildCheckpoint>,
    arch_id: String,
) -> Result<TrainReport> {
    let batch = settings.batch_size.unwrap_or(BATCH);
    let options = LanguageModelOptions {
        vocabulary: corpus.vocabulary.len() as i64,
        hidden: settings.hidden.unwrap_or(HIDDEN),
        layers: LAYERS,
        dropout: DROPOUT,
        tied: true,
    };
    settings
        .limits
        .check_language_model(&options, i64::from(cell.leaves), batch, STEPS)?;
    let available = corpus.train.size()[0];
    let tokens = train_tokens.unwrap_or(available).min(available);
    if tokens < batch * 2 {
        return Err(Error::Config(format!(
            "{tokens} training tokens cannot fill {batch} streams"
        )));
    }
    tch::manual_seed(settings.seed as i64);
    let vs = nn::VarStore::new(settings.device);
    let model = LanguageModel::new(&vs.root(), cell, options);
    let mut optimizer = Sgd::new(
        SgdConfig {
            learning_rate: settings.learning_rate.unwrap_or(LEARNING_RATE),
            momentum: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        },
        trainer::named_trainable(&vs),
    );
    if let Some(checkpoint) = resume {
        checkpoint.restore_variables(&vs)?;
    }
    let streams = ptb::batchify(&corpus.train.narrow(0, 0, tokens), batch);
    let valid = ptb::batchify(&corpus.valid, EVAL_BATCH);
    let mut run = Run::new(settings, optimizer.learning_rate(), resume);
    optimizer.set_learning_rate(run.progress.learning_rate);
    let mut interrupt = None;
    while run.progress.epoch <= settings.epochs {
        let epoch = run.progress.epoch;
        let epoch_start = Instant::now();
        let mut state = model.zero_state(batch, settings.device);
        let mut result = Ok(());
        let skip = run.progress.batches_done as usize;
        for (inputs, targets) in ptb::windows(&streams, STEPS).skip(skip) {
            state = detach(&state);
            let (logits, next) = model.forward(&inputs, &state, true);
            state = next;
            let loss = logits.cross_entropy_for_logits(&targets.reshape([-1]));
            optimizer.zero_grad();
            loss.backward();
            optimizer.clip_grad_norm(CLIP);
            optimizer.step();
            result = run.after_step(&loss, targets.numel() as f64);
            if result.is_err() {
                break;
            }
        }
        let train_loss = match run.end_training(result, epoch_start) {
            Ok(loss) => loss,
            Err(stop) => {
                interrupt = Some(stop);
                break;
            }
        };
        let valid_loss = evaluate_language_model(&model, &valid, settings.device);
        let perplexity = valid_loss.exp();
        run.progress.completed.push(EpochMetrics {
            epoch,
            train_loss,
            valid_loss,
            valid_accuracy: None,
            valid_perplexity: perplexity.is_finite().then_some(perplexity),
            seconds: epoch_start.elapsed().as_secs_f64(),
        });
        tracing::debug!(epoch, train_loss, perplexity, "epoch done");
        if !perplexity.is_finite() {
            interrupt = Some(Interrupt::NonFinite(format!(
                "the validation perplexity is {perplexity} after epoch {epoch}"
            )));
            break;
        }
        if run.progress.best.is_none_or(|best| perplexity < best) {
            run.progress.best = Some(perplexity);
        } else {
            run.progress.learning_rate /= 4.0;
            optimizer.set_learning_rate(run.progress.learning_rate);
        }
        if run.over_time() {
            break;
        }
        run.next_epoch();
    }
    let tested = interrupt.is_none() && settings.evaluate_test;
    let mut report = run.finish(interrupt, reward, &vs, &optimizer, arch_id);
    if tested && matches!(report.outcome, nas_common::Outcome::Ok { .. }) {
        let test = corpus
            .test
            .as_ref()
            .ok_or_else(|| Error::Config("the test split was not loaded".into()))?;
        let streams = ptb::batchify(test, EVAL_BATCH);
        report.test_metric = Some(evaluate_language_model(&model, &streams, settings.device).exp());
    }
    Ok(report)
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
