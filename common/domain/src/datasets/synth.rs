//! Small synthetic data sets in exactly the official formats, with a
//! learnable signal, for tests and demos (`nas-controller data synth`).
//!
//! - CIFAR-10: each class has its own base colour and an oriented stripe
//!   pattern (angle and frequency depend on the class), plus uniform pixel
//!   noise; a small CNN separates the classes well above chance within one
//!   epoch, but not trivially.
//! - Penn Treebank: sentences from a sparse first-order Markov chain over a
//!   small vocabulary (each word has three likely successors), with some
//!   `<unk>`; a language model that learns the transitions reaches a
//!   perplexity far below the vocabulary size. The character files spell the
//!   same sentences, one character per token and `_` between words.
//!
//! Everything is a deterministic function of the seed.

use std::f64::consts::PI;
use std::io::Write;
use std::path::Path;

use crate::datasets::{cifar10, ptb};

/// A tiny deterministic generator (SplitMix64), so this module needs no
/// random-number crate.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Writes `cifar-10-batches-bin/` under `out`: five training files of
/// `per_file` records, a test file of `test` records, and the class names.
pub fn write_cifar10(out: &Path, per_file: usize, test: usize, seed: u64) -> std::io::Result<()> {
    let folder = out.join(cifar10::FOLDER);
    std::fs::create_dir_all(&folder)?;
    let mut rng = SplitMix(seed);
    for name in cifar10::TRAIN_FILES {
        write_cifar_file(&folder.join(name), per_file, &mut rng)?;
    }
    write_cifar_file(&folder.join(cifar10::TEST_FILE), test, &mut rng)?;
    let mut meta = cifar10::CLASS_NAMES.join("\n");
    meta.push_str("\n\n");
    std::fs::write(folder.join(cifar10::META_FILE), meta)
}

fn write_cifar_file(path: &Path, records: usize, rng: &mut SplitMix) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(records * cifar10::RECORD_BYTES);
    for _ in 0..records {
        let label = rng.below(cifar10::CLASSES as u64) as u8;
        bytes.push(label);
        bytes.extend(synthetic_image(label, rng));
    }
    std::fs::write(path, bytes)
}

/// One image of class `label`: base colour, oriented stripes, noise.
fn synthetic_image(label: u8, rng: &mut SplitMix) -> Vec<u8> {
    let class = f64::from(label);
    let angle = class * PI / 10.0;
    let frequency = 0.25 + 0.08 * (class % 4.0);
    let phase = rng.unit() * 2.0 * PI;
    let (sin, cos) = angle.sin_cos();
    let base = [
        60.0 + 15.0 * (class % 5.0) * 2.0,
        60.0 + 25.0 * ((class * 3.0) % 7.0),
        200.0 - 14.0 * class,
    ];
    let side = cifar10::SIDE;
    let mut pixels = vec![0u8; cifar10::IMAGE_BYTES];
    for (channel, &colour) in base.iter().enumerate() {
        for y in 0..side {
            for x in 0..side {
                let along = x as f64 * cos + y as f64 * sin;
                let stripe = (frequency * along + phase).sin() * 30.0;
                let noise = (rng.unit() - 0.5) * 220.0;
                let value = (colour + stripe + noise).clamp(0.0, 255.0);
                pixels[channel * side * side + y * side + x] = value as u8;
            }
        }
    }
    pixels
}

/// Writes the six PTB files under `out`: `sentences` training sentences,
/// a tenth of that for validation and for test, over `vocabulary` words.
pub fn write_ptb(out: &Path, sentences: usize, vocabulary: usize, seed: u64) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let vocabulary = vocabulary.max(8);
    let mut rng = SplitMix(seed);
    let words: Vec<String> = (0..vocabulary)
        .map(|index| {
            if index == 0 {
                ptb::UNK.to_owned()
            } else {
                word_name(index)
            }
        })
        .collect();
    let successors: Vec<[usize; 3]> = (0..vocabulary)
        .map(|_| std::array::from_fn(|_| rng.below(vocabulary as u64) as usize))
        .collect();
    let counts = [sentences.max(1), (sentences / 10).max(1), (sentences / 10).max(1)];
    for ((word_file, char_file), count) in ptb::WORD_FILES.iter().zip(ptb::CHAR_FILES).zip(counts) {
        let lines: Vec<Vec<&str>> = (0..count)
            .map(|_| {
                sentence(&mut rng, &successors)
                    .into_iter()
                    .map(|w| words[w].as_str())
                    .collect()
            })
            .collect();
        let mut word_text = std::fs::File::create(out.join(word_file))?;
        let mut char_text = std::fs::File::create(out.join(char_file))?;
        for line in &lines {
            writeln!(word_text, " {} ", line.join(" "))?;
            let spelled: Vec<String> = line
                .iter()
                .map(|word| word.chars().map(String::from).collect::<Vec<_>>().join(" "))
                .collect();
            writeln!(
                char_text,
                "{}",
                spelled.join(&format!(" {} ", ptb::WORD_BOUNDARY))
            )?;
        }
    }
    Ok(())
}

fn sentence(rng: &mut SplitMix, successors: &[[usize; 3]]) -> Vec<usize> {
    let length = 5 + rng.below(12) as usize;
    let mut word = rng.below(successors.len() as u64) as usize;
    let mut out = Vec::with_capacity(length);
    for _ in 0..length {
        out.push(word);
        // 90%: one of three likely successors (weights 6:2:1); 10%: any word.
        word = if rng.unit() < 0.9 {
            let pick = rng.below(9);
            successors[word][if pick < 6 {
                0
            } else if pick < 8 {
                1
            } else {
                2
            }]
        } else {
            rng.below(successors.len() as u64) as usize
        };
    }
    out
}

/// A pronounceable word for index `index` ("ba", "kelo", …).
fn word_name(index: usize) -> String {
    const CONSONANTS: &[u8] = b"bdfgklmnprstvz";
    const VOWELS: &[u8] = b"aeiou";
    let mut name = String::new();
    let mut rest = index;
    loop {
        name.push(CONSONANTS[rest % CONSONANTS.len()] as char);
        rest /= CONSONANTS.len();
        name.push(VOWELS[rest % VOWELS.len()] as char);
        rest /= VOWELS.len();
        if rest == 0 {
            break;
        }
    }
    name
}
