//! The data loaders: both CIFAR-10 layouts and the archive load the same
//! data, the split is deterministic, augmentation is a crop and flip of the
//! padded image, and malformed files get errors that name them.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use nas_domain::datasets::cifar10::{FOLDER, RECORD_BYTES, TRAIN_FILES};
use nas_domain::datasets::synth;
use nas_worker::data::cifar10::{self, Augmentation, CifarOptions, ImageBatcher};
use nas_worker::data::ptb::{self, Level};
use tch::{Device, Kind, Tensor};

fn options(valid: usize) -> CifarOptions {
    CifarOptions {
        valid_size: Some(valid),
        ..CifarOptions::default()
    }
}

fn write_archive(folder: &Path, archive: &Path) {
    let file = std::fs::File::create(archive).unwrap();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::fast()));
    builder.append_dir_all(FOLDER, folder.join(FOLDER)).unwrap();
    builder.into_inner().unwrap().finish().unwrap();
}

fn labels(tensor: &Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(tensor).unwrap()
}

#[test]
fn folder_archive_and_parent_folder_load_the_same_split() {
    let dir = tempfile::tempdir().unwrap();
    synth::write_cifar10(dir.path(), 40, 30, 1).unwrap();
    let archive = dir.path().join("cifar-10-binary.tar.gz");
    write_archive(dir.path(), &archive);
    let from_parent = cifar10::load(dir.path(), &options(20), Device::Cpu).unwrap();
    let from_folder = cifar10::load(&dir.path().join(FOLDER), &options(20), Device::Cpu).unwrap();
    let from_archive = cifar10::load(&archive, &options(20), Device::Cpu).unwrap();
    assert_eq!(from_parent.train.len(), 180);
    assert_eq!(from_parent.valid.len(), 20);
    assert!(from_parent.test.is_none());
    for other in [&from_folder, &from_archive] {
        assert!(other.train.images.equal(&from_parent.train.images));
        assert_eq!(labels(&other.valid.labels), labels(&from_parent.valid.labels));
    }
    // Another split seed draws another validation set; subsets shrink the splits.
    let reseeded = CifarOptions {
        split_seed: 9,
        ..options(20)
    };
    let other = cifar10::load(dir.path(), &reseeded, Device::Cpu).unwrap();
    assert!(!other.valid.images.equal(&from_parent.valid.images));
    let small = CifarOptions {
        train_subset: Some(50),
        valid_subset: Some(7),
        with_test: true,
        ..options(20)
    };
    let small = cifar10::load(&archive, &small, Device::Cpu).unwrap();
    assert_eq!((small.train.len(), small.valid.len()), (50, 7));
    assert_eq!(small.test.as_ref().unwrap().len(), 30);
    // The default validation size is a tenth of a small set.
    assert_eq!(
        cifar10::load(dir.path(), &CifarOptions::default(), Device::Cpu)
            .unwrap()
            .valid
            .len(),
        20
    );
}

#[test]
fn normalisation_and_augmentation_are_batched_crops_and_flips() {
    let dir = tempfile::tempdir().unwrap();
    synth::write_cifar10(dir.path(), 20, 10, 2).unwrap();
    let data = cifar10::load(dir.path(), &options(10), Device::Cpu).unwrap();
    let batcher = ImageBatcher::new(&data);
    let indices = Tensor::arange(16, (Kind::Int64, Device::Cpu));
    let (plain, labels) = batcher.batch(&data.train, &indices, Augmentation::None);
    assert_eq!(plain.size(), [16, 3, 32, 32]);
    assert_eq!(labels.size(), [16]);
    // The training split is normalised per channel.
    let all = Tensor::arange(data.train.len(), (Kind::Int64, Device::Cpu));
    let (everything, _) = batcher.batch(&data.train, &all, Augmentation::None);
    let mean = everything.mean_dim([0i64, 2, 3].as_slice(), false, Kind::Float);
    assert!(mean.abs().max().double_value(&[]) < 1e-3);
    tch::manual_seed(5);
    let (augmented, _) = batcher.batch(&data.train, &indices, Augmentation::PadCropFlip);
    let padded = plain.constant_pad_nd([4, 4, 4, 4]);
    let mut flips = 0;
    for image in 0..16 {
        let target = augmented.get(image);
        let source = padded.get(image);
        let found = (0..9)
            .flat_map(|y| (0..9).map(move |x| (y, x)))
            .find_map(|(y, x)| {
                let crop = source.narrow(1, y, 32).narrow(2, x, 32);
                if crop.allclose(&target, 1e-6, 1e-6, false) {
                    Some(false)
                } else if crop.flip([2]).allclose(&target, 1e-6, 1e-6, false) {
                    Some(true)
                } else {
                    None
                }
            });
        flips +=
            usize::from(found.expect("every augmented image is a crop or flipped crop of the padded image"));
    }
    assert!((1..16).contains(&flips), "{flips} of 16 images flipped");
}

fn load_error(path: &Path) -> String {
    cifar10::load(path, &options(5), Device::Cpu)
        .err()
        .expect("the load fails")
        .to_string()
}

#[test]
fn malformed_cifar_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    synth::write_cifar10(dir.path(), 10, 10, 3).unwrap();
    let folder = dir.path().join(FOLDER);
    let second = folder.join(TRAIN_FILES[1]);
    let bytes = std::fs::read(&second).unwrap();
    std::fs::write(&second, &bytes[..bytes.len() - 100]).unwrap();
    let err = load_error(dir.path());
    assert!(
        err.contains("data_batch_2.bin") && err.contains("not a whole number of 3073-byte records"),
        "{err}"
    );
    let mut foreign = bytes.clone();
    foreign[RECORD_BYTES * 3] = 200;
    std::fs::write(&second, &foreign).unwrap();
    let err = load_error(dir.path());
    assert!(
        err.contains("data_batch_2.bin") && err.contains("record 3 has label 200"),
        "{err}"
    );
    std::fs::remove_file(&second).unwrap();
    let err = load_error(dir.path());
    assert!(err.contains("data_batch_2.bin"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    let err = load_error(empty.path());
    assert!(err.contains("holds neither"), "{err}");
    assert!(load_error(&empty.path().join("missing")).contains("does not exist"));
    let not_archive = empty.path().join("cifar.tar.gz");
    std::fs::write(&not_archive, b"this is not gzip").unwrap();
    let err = load_error(&not_archive);
    assert!(
        err.contains("cifar.tar.gz") && err.contains("not a readable .tar.gz"),
        "{err}"
    );
}

#[test]
fn ptb_builds_the_vocabulary_from_training_text() {
    let dir = tempfile::tempdir().unwrap();
    synth::write_ptb(dir.path(), 200, 40, 1).unwrap();
    let words = ptb::load(dir.path(), Level::Word, true, Device::Cpu).unwrap();
    assert!(words.vocabulary.len() <= 41 && words.vocabulary.len() > 20);
    assert!(words.vocabulary.id("<eos>").is_some());
    assert!(words.test.is_some());
    let chars = ptb::load(dir.path(), Level::Char, false, Device::Cpu).unwrap();
    assert!(chars.vocabulary.id("_").is_some());
    assert!(chars.train.size()[0] > words.train.size()[0]);
    let streams = ptb::batchify(&words.train, 4);
    assert_eq!(streams.size()[0], 4);
    let windows: Vec<_> = ptb::windows(&streams, 7).collect();
    let (inputs, targets) = &windows[0];
    assert_eq!(inputs.size(), [4, 7]);
    assert!(inputs.narrow(1, 1, 6).equal(&targets.narrow(1, 0, 6)));
    let covered: i64 = windows.iter().map(|(i, _)| i.size()[1]).sum();
    assert_eq!(covered, streams.size()[1] - 1);
}

#[test]
fn malformed_ptb_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    synth::write_ptb(dir.path(), 50, 20, 1).unwrap();
    std::fs::write(dir.path().join("ptb.valid.txt"), [0xff, 0xfe, 0x00]).unwrap();
    let err = ptb::load(dir.path(), Level::Word, false, Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("ptb.valid.txt") && err.contains("not UTF-8"),
        "{err}"
    );
    std::fs::write(dir.path().join("ptb.train.txt"), "").unwrap();
    let err = ptb::load(dir.path(), Level::Word, false, Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("ptb.train.txt") && err.contains("holds no text"),
        "{err}"
    );
    std::fs::write(dir.path().join("ptb.train.txt"), "a b c\n").unwrap();
    std::fs::write(dir.path().join("ptb.valid.txt"), "a zebra\n").unwrap();
    let err = ptb::load(dir.path(), Level::Word, false, Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("ptb.valid.txt") && err.contains("\"zebra\""),
        "{err}"
    );
    std::fs::remove_file(dir.path().join("ptb.char.train.txt")).unwrap();
    let err = ptb::load(dir.path(), Level::Char, false, Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("ptb.char.train.txt"), "{err}");
}
