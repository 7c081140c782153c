//! Controller cost per child: sampling an architecture from the LSTM policy
//! and its share of one REINFORCE step (m = 8 rewards), for CNN specs of 6,
//! 15 and 39 layers in the paper's space with strides. A plain `main`
//! (`harness = false`): `cargo bench -p nas-controller --bench
//! controller_cost -- [--steps N] [--threads N]` prints one JSON object per
//! depth, which `bench/run.py` collects.

use std::time::Instant;

use nas_controller::strategy::{self, Observation, StrategyKind, StrategySettings};
use nas_domain::{CnnSpace, DepthSchedule, SearchSpace};

const DEPTHS: [u16; 3] = [6, 15, 39];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut steps = 20usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--steps" => steps = args.next().ok_or("--steps needs a value")?.parse()?,
            "--threads" => tch::set_num_threads(args.next().ok_or("--threads needs a value")?.parse()?),
            "--bench" => {} // passed by `cargo bench`
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    for depth in DEPTHS {
        let space = SearchSpace::cnn(CnnSpace {
            depth: DepthSchedule::fixed(depth),
            ..CnnSpace::paper_with_strides()
        })?;
        let settings = StrategySettings::default();
        let batch = settings.reinforce.batch_size;
        let mut policy = strategy::create(StrategyKind::Reinforce, space, &settings, 0)?;
        // One warm-up step, untimed.
        for proposal in policy.propose(batch)? {
            policy.observe(Observation::of(&proposal, 0.5))?;
        }
        let (mut sample_seconds, mut step_seconds) = (0.0, 0.0);
        let mut decisions = 0;
        for step in 0..steps {
            let sampling = Instant::now();
            let proposals = policy.propose(batch)?;
            sample_seconds += sampling.elapsed().as_secs_f64();
            decisions = proposals[0].actions.len();
            let learning = Instant::now();
            for (index, proposal) in proposals.iter().enumerate() {
                let reward = 0.5 + 0.01 * ((step + index) % 7) as f64;
                policy.observe(Observation::of(proposal, reward))?;
            }
            step_seconds += learning.elapsed().as_secs_f64();
        }
        let children = (steps * batch) as f64;
        println!(
            "{}",
            serde_json::json!({
                "layers": depth,
                "decisions": decisions,
                "children": children,
                "batch_size": batch,
                "sample_ms_per_child": 1e3 * sample_seconds / children,
                "step_ms_per_child": 1e3 * step_seconds / children,
                "total_ms_per_child": 1e3 * (sample_seconds + step_seconds) / children,
                "threads": tch::get_num_threads(),
            })
        );
    }
    Ok(())
}
