//! Scenarios 1, 2, 5 and 8: processes that die. Workers and the controller
//! killed with `kill -9`, workers preempted with SIGTERM mid-child, and a
//! job that kills every worker that takes it.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use super::faults::{Crew, Role};
use super::tally::Tally;
use super::{Checks, Scale, check_summary, finish, wait_until};
use crate::pipeline::{Pipeline, PipelineOptions, job_ids_in, wait_summary};
use crate::run_ok;

/// 1. `kill -9` of random workers (surrogates and a trainer) at random
///    moments, each replaced by a fresh one, over one search.
pub fn killed_workers(scale: Scale) -> (Tally, Checks, String) {
    let kills = scale.pick(100, 15);
    let options = PipelineOptions::in_rounds(scale.pick(600, 60), 8);
    let pipeline = Pipeline::new("chaos-kill", &options);
    let roles = [
        Role::Surrogate(800),
        Role::Surrogate(800),
        Role::Surrogate(800),
        Role::Surrogate(800),
        Role::Trainer,
    ];
    let mut crew = Crew::start(&pipeline, &roles);
    let mut controller = pipeline.controller("controller", false);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut done = 0;
    let mut trainer_kills = 0;
    while done < kills && controller.is_running() {
        // About 0.6 s apart: 100 kills fit well inside one search.
        std::thread::sleep(Duration::from_millis(rng.random_range(200..1000)));
        if crew.kill_random(&mut rng) == Role::Trainer {
            trainer_kills += 1;
        }
        done += 1;
    }
    let summary = wait_summary(controller, Duration::from_secs(600));
    let mut checks = Checks::default();
    check_summary(&mut checks, summary.as_ref());
    checks.check(format!("{kills} workers killed during the search"), done == kills);
    let notes = format!("{done} kill -9 ({trainer_kills} of the trainer)");
    finish(&pipeline, options.children, checks, notes)
}

/// 2. `kill -9` of the controller three times during a search; each
///    restart resumes, and `replay verify` recomputes the final policy
///    from the reward log exactly.
pub fn killed_controller(scale: Scale) -> (Tally, Checks, String) {
    let options = PipelineOptions::in_rounds(scale.pick(120, 48), 4);
    let pipeline = Pipeline::new("chaos-controller", &options);
    let _crew = Crew::start(
        &pipeline,
        &[Role::Surrogate(150), Role::Surrogate(150), Role::Trainer],
    );
    let mut checks = Checks::default();
    let mut controller = pipeline.controller("controller-0", false);
    let steps_between = scale.pick(6, 2);
    for kill in 1..=3 {
        let stepped = controller.wait_for("policy step", steps_between, Duration::from_secs(300));
        checks.check(format!("controller run {kill} took policy steps"), stepped);
        controller.kill();
        controller = pipeline.controller(&format!("controller-{kill}"), true);
        checks.check(
            format!("restart {kill} resumed"),
            controller.wait_for("resumed", 1, Duration::from_secs(60)),
        );
    }
    let summary = wait_summary(controller, Duration::from_secs(600));
    check_summary(&mut checks, summary.as_ref());
    let replay = run_ok(
        "nas-controller",
        &["replay", "verify", "--experiment", &pipeline.experiment],
    );
    let verdict = String::from_utf8_lossy(&replay.stdout).into_owned();
    checks.check(
        "the final policy equals an uninterrupted run's (replay verify)",
        verdict.contains("verify: identical"),
    );
    let notes = "3 kill -9 of the controller, replay verify identical".to_owned();
    finish(&pipeline, options.children, checks, notes)
}

/// 5. SIGTERM to the worker training a child (spot preemption): it stops
///    within 25 s with a checkpoint, and another worker resumes the child
///    from that checkpoint within 25 s of the signal.
pub fn preempted_workers(scale: Scale) -> (Tally, Checks, String) {
    let preemptions = scale.pick(3, 1);
    let options = PipelineOptions {
        children: scale.pick(5, 3),
        epochs: 3,
        records: 400,
        in_flight: 1,
        ..PipelineOptions::default()
    };
    let pipeline = Pipeline::new("chaos-preempt", &options);
    let mut crew = Crew::start(&pipeline, &[Role::Trainer, Role::Trainer]);
    let controller = pipeline.controller("controller", false);
    let mut checks = Checks::default();
    let mut handovers = Vec::new();
    let mut preempted = std::collections::HashSet::new();
    for round in 1..=preemptions {
        // The member now training a child it has not been preempted on.
        let deadline = Instant::now() + Duration::from_secs(120);
        let training = loop {
            let found = crew.live_logs().into_iter().find_map(|(index, log)| {
                let job = job_ids_in(&log, "training").pop()?;
                let finished = log.matches("job done").count() >= log.matches("training").count();
                (!finished && !preempted.contains(&job)).then_some((index, job))
            });
            if found.is_some() || Instant::now() > deadline {
                break found;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let Some((index, job)) = training else {
            checks.check(format!("preemption {round}: a child was training"), false);
            break;
        };
        std::thread::sleep(Duration::from_millis(1500));
        let signalled = Instant::now();
        let stopped = crew.terminate_and_replace(index, Duration::from_secs(25));
        checks.check(
            format!("preemption {round}: the worker stopped within 25 s"),
            stopped.is_some(),
        );
        let key = nas_infra::store::keys::child_checkpoint(
            &pipeline.experiment_name(),
            nas_domain::JobId(job.parse().expect("a job id")),
        );
        checks.check(
            format!("preemption {round}: a checkpoint was saved"),
            pipeline.object_exists(&key),
        );
        let resumed = wait_until(Duration::from_secs(60), || {
            crew.live_logs()
                .iter()
                .any(|(_, log)| job_ids_in(log, "resuming from checkpoint").contains(&job))
        });
        let seconds = signalled.elapsed().as_secs_f64();
        checks.check(
            format!("preemption {round}: resumed elsewhere within 25 s ({seconds:.1} s)"),
            resumed && seconds <= 25.0,
        );
        handovers.push(seconds);
        preempted.insert(job);
    }
    let summary = wait_summary(controller, Duration::from_secs(600));
    check_summary(&mut checks, summary.as_ref());
    let notes = format!(
        "{} SIGTERM, resumed after {} s",
        handovers.len(),
        handovers
            .iter()
            .map(|s| format!("{s:.1}"))
            .collect::<Vec<_>>()
            .join("/")
    );
    finish(&pipeline, options.children, checks, notes)
}

/// 8. A job that crashes every worker that takes it (the harness plays the
///    crash: `kill -9` of any worker that starts it): dead-lettered after
///    the delivery limit, recorded as failed, and the search goes on.
pub fn poisoned_job(scale: Scale) -> (Tally, Checks, String) {
    let options = PipelineOptions {
        children: scale.pick(8, 4),
        in_flight: 2,
        ..PipelineOptions::default()
    };
    let pipeline = Pipeline::new("chaos-poison", &options);
    let mut crew = Crew::start(&pipeline, &[Role::Trainer, Role::Trainer]);
    let mut controller = pipeline.controller("controller", false);
    let mut poison: Option<String> = None;
    let mut crashes = 0;
    let deadline = Instant::now() + Duration::from_secs(600);
    while controller.is_running() && Instant::now() < deadline {
        // Every incarnation logs to a fresh file, so a live worker whose
        // log shows the poisoned job started it and is to crash.
        let victim = crew.live_logs().into_iter().find_map(|(index, log)| {
            let started = job_ids_in(&log, "training");
            if poison.is_none() {
                poison = started.first().cloned();
            }
            let poison = poison.as_ref()?;
            started.contains(poison).then_some(index)
        });
        if let Some(index) = victim {
            crew.kill_and_replace(index);
            crashes += 1;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let summary = wait_summary(controller, Duration::from_secs(60));
    let mut checks = Checks::default();
    check_summary(&mut checks, summary.as_ref());
    let poison = poison.unwrap_or_default();
    let status = pipeline
        .reward_log()
        .into_iter()
        .find(|record| record.job_id == poison)
        .map(|record| record.status);
    checks.check(
        "the poisoned job was recorded as dead-lettered",
        status.as_deref() == Some("dead_lettered"),
    );
    checks.check(
        format!("dead-lettered after at most 4 deliveries ({crashes} crashes)"),
        (1..=4).contains(&crashes),
    );
    let notes = format!("{crashes} crashes, then dead-lettered");
    finish(&pipeline, options.children, checks, notes)
}
