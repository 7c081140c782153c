//! CIFAR-10 in the official binary format, loaded once into tensors.
//!
//! [`load`] accepts the official `cifar-10-binary.tar.gz`, the extracted
//! `cifar-10-batches-bin/` folder, or a folder holding either. Every file is
//! checked: its size must be a whole number of 3,073-byte records and every
//! label a class index; otherwise the error names the file.
//!
//! The validation split follows the paper: `valid_size` images (default
//! 5,000, or a tenth of the training files when they hold fewer than 50,000)
//! drawn at random with a fixed seed from the training files; the rest is
//! the training set. Subsets for small runs take the first images of the
//! same seeded order. The test file is read only on request.
//!
//! Images stay `uint8` on the training device; batches are gathered,
//! normalised (per-channel mean and standard deviation of the training
//! split) and augmented as whole-batch tensor operations (see
//! [`ImageBatcher`]).

use std::io::Read;
use std::path::{Path, PathBuf};

use nas_domain::datasets::cifar10::{
    ARCHIVE, CHANNELS, CLASSES, FOLDER, IMAGE_BYTES, RECORD_BYTES, SIDE, TEST_FILE, TRAIN_FILES,
};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use tch::{Device, Kind, Tensor};

use crate::{Error, Result};

/// How to split and subset the data.
#[derive(Clone, Debug, Default)]
pub struct CifarOptions {
    /// Validation images taken from the training files (see module docs).
    pub valid_size: Option<usize>,
    /// Seed of the validation draw.
    pub split_seed: u64,
    /// Train on only this many images.
    pub train_subset: Option<usize>,
    /// Validate on only this many images.
    pub valid_subset: Option<usize>,
    /// Also load the test file.
    pub with_test: bool,
}

/// Images and labels of one split.
pub struct Split {
    /// `uint8`, `[n, 3, 32, 32]`.
    pub images: Tensor,
    /// `int64`, `[n]`.
    pub labels: Tensor,
}

impl Split {
    /// Number of images.
    pub fn len(&self) -> i64 {
        self.labels.size()[0]
    }

    /// Whether the split is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The loaded data set.
pub struct Cifar10 {
    /// Training split.
    pub train: Split,
    /// Validation split (from the training files).
    pub valid: Split,
    /// The test file, when requested.
    pub test: Option<Split>,
    /// Per-channel mean of the training split, `[1, 3, 1, 1]`, in `[0, 1]` units.
    pub mean: Tensor,
    /// Per-channel standard deviation, `[1, 3, 1, 1]`.
    pub std: Tensor,
}

/// Loads CIFAR-10 from `path` onto `device` (see the module docs).
pub fn load(path: &Path, options: &CifarOptions, device: Device) -> Result<Cifar10> {
    let files = RawFiles::read(path, options.with_test)?;
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for (name, bytes) in &files.train {
        parse_records(name, bytes, &mut images, &mut labels)?;
    }
    let total = labels.len();
    let valid_size = options.valid_size.unwrap_or_else(|| 5_000.min(total / 10));
    if valid_size == 0 || valid_size >= total {
        return Err(Error::Config(format!(
            "a validation split of {valid_size} images does not fit {total} training images"
        )));
    }
    let mut order: Vec<i64> = (0..total as i64).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(options.split_seed));
    let (valid_order, train_order) = order.split_at(valid_size);
    let take = |order: &[i64], subset: Option<usize>| -> Vec<i64> {
        let mut chosen = order[..subset.unwrap_or(order.len()).min(order.len())].to_vec();
        chosen.sort_unstable();
        chosen
    };
    let all_images = images_tensor(&images, total);
    let all_labels = Tensor::from_slice(&labels);
    let select = |indices: Vec<i64>| {
        let index = Tensor::from_slice(&indices);
        Split {
            images: all_images.index_select(0, &index).to_device(device),
            labels: all_labels.index_select(0, &index).to_device(device),
        }
    };
    let train = select(take(train_order, options.train_subset));
    let valid = select(take(valid_order, options.valid_subset));
    let test = match &files.test {
        Some((name, bytes)) => {
            let (mut images, mut labels) = (Vec::new(), Vec::new());
            parse_records(name, bytes, &mut images, &mut labels)?;
            Some(Split {
                images: images_tensor(&images, labels.len()).to_device(device),
                labels: Tensor::from_slice(&labels).to_device(device),
            })
        }
        None => None,
    };
    let (mean, std) = channel_statistics(&train.images);
    Ok(Cifar10 {
        train,
        valid,
        test,
        mean,
        std,
    })
}

/// The raw bytes of the files, from a folder or the official archive.
struct RawFiles {
    train: Vec<(PathBuf, Vec<u8>)>,
    test: Option<(PathBuf, Vec<u8>)>,
}

impl RawFiles {
    fn read(path: &Path, with_test: bool) -> Result<Self> {
        if path.is_file() {
            return Self::from_archive(path, with_test);
        }
        let folder = if path.join(FOLDER).is_dir() {
            path.join(FOLDER)
        } else if path.join(TRAIN_FILES[0]).is_file() {
            path.to_path_buf()
        } else if path.join(ARCHIVE).is_file() {
            return Self::from_archive(&path.join(ARCHIVE), with_test);
        } else if !path.exists() {
            return Err(Error::data(path, "does not exist"));
        } else {
            return Err(Error::data(
                path,
                format!("holds neither {FOLDER}/, {} nor {ARCHIVE}", TRAIN_FILES[0]),
            ));
        };
        let read = |name: &str| {
            let file = folder.join(name);
            std::fs::read(&file)
                .map(|bytes| (file.clone(), bytes))
                .map_err(|e| Error::io(&file, e))
        };
        Ok(RawFiles {
            train: TRAIN_FILES.iter().map(|name| read(name)).collect::<Result<_>>()?,
            test: if with_test { Some(read(TEST_FILE)?) } else { None },
        })
    }

    fn from_archive(archive: &Path, with_test: bool) -> Result<Self> {
        let file = std::fs::File::open(archive).map_err(|e| Error::io(archive, e))?;
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
        let not_archive =
            |e: std::io::Error| Error::data(archive, format!("not a readable .tar.gz archive: {e}"));
        let mut train: Vec<Option<(PathBuf, Vec<u8>)>> = vec![None; TRAIN_FILES.len()];
        let mut test = None;
        for entry in tar.entries().map_err(not_archive)? {
            let mut entry = entry.map_err(not_archive)?;
            let name = entry.path().map_err(not_archive)?.to_path_buf();
            let Some(file_name) = name.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let wanted = TRAIN_FILES.iter().position(|f| *f == file_name);
            let is_test = with_test && file_name == TEST_FILE;
            if wanted.is_none() && !is_test {
                continue;
            }
            let mut bytes = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut bytes).map_err(not_archive)?;
            let label = archive.join(&name);
            match wanted {
                Some(index) => train[index] = Some((label, bytes)),
                None => test = Some((label, bytes)),
            }
        }
        let train = train
            .into_iter()
            .zip(TRAIN_FILES)
            .map(|(file, name)| {
                file.ok_or_else(|| Error::data(archive, format!("the archive has no {name}")))
            })
            .collect::<Result<_>>()?;
        if with_test && test.is_none() {
            return Err(Error::data(archive, format!("the archive has no {TEST_FILE}")));
        }
        Ok(RawFiles { train, test })
    }
}

/// Appends the pixels and labels of one file's records.
fn parse_records(file: &Path, bytes: &[u8], images: &mut Vec<u8>, labels: &mut Vec<i64>) -> Result<()> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD_BYTES) {
        return Err(Error::data(
            file,
            format!(
                "{} bytes is not a whole number of {RECORD_BYTES}-byte records: truncated, or not the CIFAR-10 binary version",
                bytes.len()
            ),
        ));
    }
    images.reserve(bytes.len() / RECORD_BYTES * IMAGE_BYTES);
    for (index, record) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        let label = record[0];
        if usize::from(label) >= CLASSES {
            return Err(Error::data(
                file,
                format!("record {index} has label {label}, expected 0-9: not the CIFAR-10 binary version"),
            ));
        }
        labels.push(i64::from(label));
        images.extend_from_slice(&record[1..]);
    }
    Ok(())
}

fn images_tensor(pixels: &[u8], count: usize) -> Tensor {
    let side = SIDE as i64;
    Tensor::from_slice(pixels).view([count as i64, CHANNELS as i64, side, side])
}

/// Per-channel mean and standard deviation of `uint8` images, in `[0, 1]`
/// units, computed in chunks so no float copy of the whole set is made.
fn channel_statistics(images: &Tensor) -> (Tensor, Tensor) {
    let device = images.device();
    let mut sum = Tensor::zeros([CHANNELS as i64], (Kind::Double, device));
    let mut squares = Tensor::zeros([CHANNELS as i64], (Kind::Double, device));
    let count = images.size()[0];
    let chunk = 5_000;
    for start in (0..count).step_by(chunk) {
        let part = images
            .narrow(0, start, chunk.min((count - start) as usize) as i64)
            .to_kind(Kind::Double)
            / 255.0;
        sum += part.sum_dim_intlist([0i64, 2, 3].as_slice(), false, Kind::Double);
        squares += part
            .square()
            .sum_dim_intlist([0i64, 2, 3].as_slice(), false, Kind::Double);
    }
    let n = (count * (SIDE * SIDE) as i64) as f64;
    let mean = &sum / n;
    let variance = (squares / n - mean.square()).clamp_min(1e-12);
    let shape = [1, CHANNELS as i64, 1, 1];
    (
        mean.to_kind(Kind::Float).view(shape),
        variance.sqrt().to_kind(Kind::Float).view(shape),
    )
}

/// Turns index batches into normalised (and, for training, augmented)
/// float batches with whole-batch tensor operations: zero-pad by 4, a random
/// Whether a batch is augmented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Augmentation {
    /// Training batches: pad by 4, random 32×32 crop, random horizontal flip.
    PadCropFlip,
    /// Validation and test batches: the images as they are.
    None,
}

/// 32×32 crop and a random horizontal flip per image, done as one gather.
pub struct ImageBatcher {
    mean: Tensor,
    std: Tensor,
    /// `0..32`, on the data's device.
    offsets: Tensor,
}

/// Padding added on each side before the random crop.
const PAD: i64 = 4;

impl ImageBatcher {
    /// A batcher using the training split's statistics.
    pub fn new(data: &Cifar10) -> Self {
        ImageBatcher {
            mean: data.mean.shallow_clone(),
            std: data.std.shallow_clone(),
            offsets: Tensor::arange(SIDE as i64, (Kind::Int64, data.train.images.device())),
        }
    }

    /// The normalised images of `split` at `indices` and their labels.
    pub fn batch(&self, split: &Split, indices: &Tensor, augmentation: Augmentation) -> (Tensor, Tensor) {
        let images = split.images.index_select(0, indices).to_kind(Kind::Float) / 255.0;
        let images = (images - &self.mean) / &self.std;
        let labels = split.labels.index_select(0, indices);
        match augmentation {
            Augmentation::PadCropFlip => (self.augment(&images), labels),
            Augmentation::None => (images, labels),
        }
    }

    fn augment(&self, images: &Tensor) -> Tensor {
        let size = images.size();
        let (batch, channels, side) = (size[0], size[1], size[2]);
        let device = images.device();
        let padded = images.constant_pad_nd([PAD, PAD, PAD, PAD]);
        let shift = |n| Tensor::randint(2 * PAD + 1, [n, 1], (Kind::Int64, device));
        let rows = shift(batch) + &self.offsets; // [B, 32]
        let flip = Tensor::rand([batch, 1], (Kind::Float, device)).lt(0.5);
        let forward = &self.offsets;
        let backward = forward.flip([0]);
        let cols = shift(batch) + forward.where_self(&flip.logical_not(), &backward); // [B, 32]
        let padded_side = side + 2 * PAD;
        let rows = rows
            .view([batch, 1, side, 1])
            .expand([batch, channels, side, padded_side], false);
        let cropped_rows = padded.gather(2, &rows, false);
        let cols = cols
            .view([batch, 1, 1, side])
            .expand([batch, channels, side, side], false);
        cropped_rows.gather(3, &cols, false)
    }
}
