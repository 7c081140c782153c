//! Re-evaluation shares the search's job tracker: when its dead-letter
//! subscription ends (here the queue is deleted under it) it subscribes
//! again and the run finishes, without spinning on the ended stream: the
//! end is noticed once and answered by one new subscription, where a loop
//! polling the ended stream would notice it at every turn.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use nas_tests::chaos::faults::rabbitmqctl;
use nas_tests::pipeline::{Pipeline, PipelineOptions, summary_of};
use nas_tests::{Service, unique};

/// CPU seconds (user + system) the process has used so far.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// One deleted queue: its end noticed once and answered by one new
/// subscription (`subscribed` lines in the log), where a loop polling the
/// ended stream would notice it at every turn; and, only as a guard (the
/// machine may be busy), `used` CPU seconds well below the `wall` seconds
/// a spinning process would burn.
fn assert_resubscribed_once(text: &str, subscribed: &str, used: f64, wall: f64) {
    let subscriptions = text.matches(subscribed).count();
    let ends = text.matches("the dead-letter subscription ended").count()
        + text.matches("lost the dead-letter subscription").count();
    let start = (text.len().saturating_sub(4000)..text.len())
        .find(|&at| text.is_char_boundary(at))
        .unwrap_or(text.len());
    let tail = &text[start..];
    assert!(
        (2..=4).contains(&subscriptions) && (1..=3).contains(&ends),
        "one deleted queue: {ends} ends noticed, {subscriptions} subscriptions; the log ends:\n{tail}"
    );
    // Only a guard (the machine may be busy): a spinning process would
    // keep a core busy the whole time.
    assert!(
        used < 0.9 * wall + 1.0,
        "the re-evaluation used {used:.2} CPU seconds in {wall:.2} s after its dead letters ended"
    );
}

#[test]
fn a_reevaluation_resubscribes_after_its_dead_letter_stream_ends_and_does_not_spin() {
    let options = PipelineOptions {
        children: 6,
        in_flight: 3,
        records: 10,
        ..PipelineOptions::default()
    };
    let pipeline = Pipeline::new("reeval-dead", &options);
    let fast = pipeline.surrogate("fast", 0);
    let searched = summary_of(
        pipeline
            .controller("controller", false)
            .wait_output(Duration::from_secs(120)),
    );
    assert_eq!(searched.unwrap()["complete"], true);
    drop(fast);
    let _slow = [
        pipeline.surrogate("slow-1", 1500),
        pipeline.surrogate("slow-2", 1500),
    ];
    let run = unique("rerun");
    let log = pipeline.path("reevaluate.log");
    let args = [
        "reevaluate",
        &pipeline.experiment,
        "--top",
        "2",
        "--seeds",
        "4",
        "--epochs",
        "1",
        "--in-flight",
        "2",
        "--name",
        &run,
        "--queue-prefix",
        &pipeline.prefix,
        "--output",
        "json",
    ];
    let mut reevaluation = Service::start("nas-controller", &args, &log, &[]);
    let subscribed = "subscribed to dead letters";
    assert!(
        reevaluation.wait_for(subscribed, 1, Duration::from_secs(60)),
        "{}",
        reevaluation.log_text()
    );
    let started = Instant::now();
    assert!(rabbitmqctl(&[
        "delete_queue",
        &format!("{}.dead.{run}", pipeline.prefix)
    ]));
    let pid = reevaluation.child.id();
    let mut cpu = cpu_seconds(pid).unwrap();
    let before = cpu;
    while reevaluation.is_running() && started.elapsed() < Duration::from_secs(120) {
        cpu = cpu_seconds(pid).unwrap_or(cpu);
        std::thread::sleep(Duration::from_millis(50));
    }
    let wall = started.elapsed().as_secs_f64();
    let used = cpu - before;
    assert_resubscribed_once(&reevaluation.log_text(), subscribed, used, wall);
    let summary = summary_of(reevaluation.wait_output(Duration::from_secs(5))).expect("a summary");
    let trained: u64 = summary["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["reward"]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(trained, 8, "{summary}");
}
