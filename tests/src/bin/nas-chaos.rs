//! `nas-chaos`: runs the fault-injection scenarios of `make chaos` against
//! the real RabbitMQ and S3 server of the tests, prints one row per
//! scenario and the closing line `chaos: S scenarios, P passed, lost L,
//! double-counted D`; exits non-zero unless every scenario passed.
//!
//! ```text
//! nas-chaos [--short] [--only 1,3,6]
//! ```

use std::process::ExitCode;

use nas_tests::chaos::{self, Scale};

fn main() -> ExitCode {
    let mut scale = Scale::Full;
    let mut only: Option<Vec<u8>> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--short" => scale = Scale::Short,
            "--only" => {
                let list = args.next().unwrap_or_default();
                match list.split(',').map(str::parse).collect::<Result<Vec<u8>, _>>() {
                    Ok(numbers) if numbers.iter().all(|n| (1..=9).contains(n)) => only = Some(numbers),
                    _ => {
                        return usage(&format!(
                            "--only takes scenario numbers 1-9 like 1,3,6, not {list:?}"
                        ));
                    }
                }
            }
            "--help" | "-h" => {
                println!("usage: nas-chaos [--short] [--only 1,3,6]");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    let selected: Vec<_> = chaos::scenarios()
        .into_iter()
        .filter(|s| only.as_ref().is_none_or(|only| only.contains(&s.number)))
        .collect();
    println!("{}", chaos::header());
    let mut reports = Vec::new();
    for scenario in &selected {
        let report = chaos::run(scenario, scale);
        println!("{}", chaos::row(&report));
        reports.push(report);
    }
    println!("{}", chaos::closing_line(&reports));
    if reports.iter().all(chaos::Report::passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("nas-chaos: {problem}\nusage: nas-chaos [--short] [--only 1,3,6]");
    ExitCode::from(2)
}
