//! Penn Treebank (word or character level) loaded once into token tensors.
//!
//! The vocabulary comes from the training file, in order of first
//! appearance; every line ends with `<eos>`. A word of the validation or
//! test file that the training file lacks becomes `<unk>` when the
//! vocabulary has it, and is an error naming the file otherwise (the real
//! corpus never needs this). Files that are empty or not UTF-8 text are
//! rejected with the file's name.
//!
//! For training, a token stream is laid out as `batch` parallel streams
//! ([`batchify`]) and cut into truncated-BPTT windows ([`windows`]).

use std::collections::HashMap;
use std::path::Path;

use nas_domain::datasets::ptb::{CHAR_FILES, EOS, UNK, WORD_FILES};
use tch::{Device, Tensor};

use crate::{Error, Result};

/// Word-level or character-level PTB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// `ptb.*.txt`.
    Word,
    /// `ptb.char.*.txt`.
    Char,
}

impl Level {
    fn files(self) -> [&'static str; 3] {
        match self {
            Level::Word => WORD_FILES,
            Level::Char => CHAR_FILES,
        }
    }
}

/// Token strings and their ids.
#[derive(Clone, Debug, Default)]
pub struct Vocabulary {
    words: Vec<String>,
    ids: HashMap<String, i64>,
}

impl Vocabulary {
    /// Number of distinct tokens.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The id of `word`, if known.
    pub fn id(&self, word: &str) -> Option<i64> {
        self.ids.get(word).copied()
    }

    fn insert(&mut self, word: &str) -> i64 {
        if let Some(&id) = self.ids.get(word) {
            return id;
        }
        let id = self.words.len() as i64;
        self.words.push(word.to_owned());
        self.ids.insert(word.to_owned(), id);
        id
    }
}

/// The loaded corpus: token ids of each split.
pub struct Corpus {
    /// Built from the training file.
    pub vocabulary: Vocabulary,
    /// Training tokens, `int64 [n]`.
    pub train: Tensor,
    /// Validation tokens.
    pub valid: Tensor,
    /// Test tokens, when requested.
    pub test: Option<Tensor>,
    /// Words or characters.
    pub level: Level,
}

impl Corpus {
    /// Keeps only the first `tokens` validation tokens (at least 2), for
    /// small runs; `None` keeps them all.
    pub fn with_valid_subset(mut self, tokens: Option<usize>) -> Self {
        if let Some(tokens) = tokens {
            let available = self.valid.size()[0];
            let keep = i64::try_from(tokens)
                .unwrap_or(i64::MAX)
                .clamp(2, available.max(2));
            self.valid = self.valid.narrow(0, 0, keep.min(available));
        }
        self
    }
}

/// Loads the corpus from the folder `dir` onto `device`.
pub fn load(dir: &Path, level: Level, with_test: bool, device: Device) -> Result<Corpus> {
    let [train_name, valid_name, test_name] = level.files();
    let mut vocabulary = Vocabulary::default();
    let train = tokenize(&dir.join(train_name), |word| Ok(vocabulary.insert(word)))?;
    let known = |path: &Path| {
        let unk = vocabulary.id(UNK);
        let vocabulary = &vocabulary;
        let path = path.to_path_buf();
        move |word: &str| {
            vocabulary.id(word).or(unk).ok_or_else(|| {
                Error::data(
                    &path,
                    format!("word {word:?} is not in the training vocabulary and there is no {UNK}"),
                )
            })
        }
    };
    let valid_path = dir.join(valid_name);
    let valid = tokenize(&valid_path, known(&valid_path))?;
    let test = if with_test {
        let test_path = dir.join(test_name);
        Some(tokenize(&test_path, known(&test_path))?)
    } else {
        None
    };
    let to_tensor = |ids: Vec<i64>| Tensor::from_slice(&ids).to_device(device);
    Ok(Corpus {
        vocabulary,
        train: to_tensor(train),
        valid: to_tensor(valid),
        test: test.map(to_tensor),
        level,
    })
}

fn tokenize(path: &Path, mut id: impl FnMut(&str) -> Result<i64>) -> Result<Vec<i64>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| Error::data(path, format!("not UTF-8 text ({e}): not a Penn Treebank file")))?;
    let mut ids = Vec::with_capacity(text.len() / 5);
    for line in text.lines() {
        for word in line.split_whitespace() {
            ids.push(id(word)?);
        }
        ids.push(id(EOS)?);
    }
    if ids.len() < 2 {
        return Err(Error::data(path, "holds no text"));
    }
    Ok(ids)
}

/// Lays `tokens` out as `batch` parallel streams, `[batch, len / batch]`
/// (the remainder is dropped).
pub fn batchify(tokens: &Tensor, batch: i64) -> Tensor {
    let per_stream = tokens.size()[0] / batch;
    tokens.narrow(0, 0, per_stream * batch).view([batch, per_stream])
}

/// The truncated-BPTT windows of a batchified stream: `(input, target)`
/// pairs of shape `[batch, ≤ length]`, the target shifted by one token.
pub fn windows(streams: &Tensor, length: i64) -> impl Iterator<Item = (Tensor, Tensor)> + '_ {
    let total = streams.size()[1];
    (0..total - 1).step_by(length as usize).map(move |start| {
        let len = length.min(total - 1 - start);
        (streams.narrow(1, start, len), streams.narrow(1, start + 1, len))
    })
}
