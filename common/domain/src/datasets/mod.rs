//! The on-disk formats of the two data sets, shared by the worker's loaders,
//! the controller's data commands and the synthetic-data generator.
//!
//! - **CIFAR-10, binary version**: `cifar-10-batches-bin/` holds
//!   `data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin` and
//!   `batches.meta.txt`; each `.bin` file is a run of 3,073-byte records
//!   (one label byte, then 1,024 red, 1,024 green and 1,024 blue bytes, each
//!   plane row-major 32×32), 10,000 records per official file. Users may hand
//!   over the official `cifar-10-binary.tar.gz` or the extracted folder.
//! - **Penn Treebank** (Mikolov's language-modelling version): text files
//!   `ptb.train.txt`, `ptb.valid.txt`, `ptb.test.txt` (words separated by
//!   spaces, one sentence per line) and `ptb.char.*.txt` (characters separated
//!   by spaces, `_` between words).

/// CIFAR-10's binary format.
pub mod cifar10 {
    /// Image side in pixels.
    pub const SIDE: usize = 32;
    /// Colour channels.
    pub const CHANNELS: usize = 3;
    /// Pixel bytes per image.
    pub const IMAGE_BYTES: usize = CHANNELS * SIDE * SIDE;
    /// Bytes per record: the label and the pixels.
    pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
    /// Records in each official file.
    pub const OFFICIAL_RECORDS_PER_FILE: usize = 10_000;
    /// Number of classes.
    pub const CLASSES: usize = 10;
    /// The folder inside the official archive.
    pub const FOLDER: &str = "cifar-10-batches-bin";
    /// The official archive's file name.
    pub const ARCHIVE: &str = "cifar-10-binary.tar.gz";
    /// Training files, in order.
    pub const TRAIN_FILES: [&str; 5] = [
        "data_batch_1.bin",
        "data_batch_2.bin",
        "data_batch_3.bin",
        "data_batch_4.bin",
        "data_batch_5.bin",
    ];
    /// The test file.
    pub const TEST_FILE: &str = "test_batch.bin";
    /// The class-name file.
    pub const META_FILE: &str = "batches.meta.txt";
    /// Class names, in label order.
    pub const CLASS_NAMES: [&str; CLASSES] = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ];
}

/// Penn Treebank's text files.
pub mod ptb {
    /// Word-level files: train, valid, test.
    pub const WORD_FILES: [&str; 3] = ["ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"];
    /// Character-level files: train, valid, test.
    pub const CHAR_FILES: [&str; 3] = ["ptb.char.train.txt", "ptb.char.valid.txt", "ptb.char.test.txt"];
    /// The end-of-sentence token appended to every line.
    pub const EOS: &str = "<eos>";
    /// The unknown-word token of the corpus.
    pub const UNK: &str = "<unk>";
    /// The word separator of the character-level files.
    pub const WORD_BOUNDARY: &str = "_";
}

pub mod manifest;
pub mod synth;
