//! What a trained child costs beyond its parameters and training seconds:
//! inference latency, measured on the child's own device after training
//! (evaluation mode, no gradients; a few warm-up runs, then the median of
//! timed runs, the device synchronised before each clock read), and the
//! multiply-adds of one forward pass, counted from the architecture.

use std::time::Instant;

use nas_domain::objective::{Cost, Costs};
use tch::{Cuda, Device};

/// Runs before the timed ones (allocator, oneDNN and cuDNN warm-up).
const WARM_UP: usize = 3;
/// Timed runs at batch 1.
const RUNS_AT_ONE: usize = 11;
/// Timed runs at the training batch (each one costs a batch's forward pass).
const RUNS_AT_BATCH: usize = 3;

/// Waits for the device's queued work.
fn synchronize(device: Device) {
    if let Device::Cuda(index) = device {
        Cuda::synchronize(index as i64);
    }
}

/// The median seconds of `runs` calls of `forward` after [`WARM_UP`].
pub fn median_seconds(device: Device, runs: usize, mut forward: impl FnMut()) -> f64 {
    for _ in 0..WARM_UP {
        forward();
    }
    synchronize(device);
    let mut seconds: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            forward();
            synchronize(device);
            start.elapsed().as_secs_f64()
        })
        .collect();
    seconds.sort_by(f64::total_cmp);
    seconds[seconds.len() / 2]
}

/// The latency costs of a child whose forward pass on `batch` examples
/// `forward(batch)` runs: at batch 1 and at the training batch.
pub fn latencies(device: Device, batch: i64, mut forward: impl FnMut(i64)) -> Costs {
    let mut costs = Costs::new();
    let one = median_seconds(device, RUNS_AT_ONE, || forward(1));
    let at_batch = median_seconds(device, RUNS_AT_BATCH, || forward(batch));
    // A measured time is finite and non-negative; anything else is left out.
    let _ = costs.set(Cost::Latency, one);
    let _ = costs.set(Cost::BatchLatency, at_batch);
    costs
}
