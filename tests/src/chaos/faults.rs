//! The faults: broker and S3 server control, and a crew of worker
//! processes that can be killed and replaced.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;

use crate::Service;
use crate::pipeline::Pipeline;

/// Runs `rabbitmqctl` with `args`; whether it succeeded.
pub fn rabbitmqctl(args: &[&str]) -> bool {
    Command::new("rabbitmqctl")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Evaluates an Erlang expression on the broker node; its output.
fn broker_eval(expression: &str) -> Option<String> {
    let output = Command::new("rabbitmqctl")
        .args(["eval", expression])
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Deletes the queues of a pipeline's prefix (the chaos suite's cleanup).
pub fn delete_queues(pipeline: &Pipeline) {
    let names = nas_infra::queue::Names::new(&pipeline.prefix);
    let experiment = pipeline.experiment_name();
    for queue in [
        names.jobs_queue(),
        names.results_queue(&experiment),
        names.dead_queue(&experiment),
        names.progress_queue(&experiment),
    ] {
        rabbitmqctl(&["delete_queue", &queue]);
    }
}

/// The broker's consumer timeout, shortened while this guard lives: new
/// channels get `timeout`, and channels check it every second.
pub struct ShortConsumerTimeout {
    previous: (Option<String>, Option<String>),
}

impl ShortConsumerTimeout {
    /// Sets the broker's `consumer_timeout` to `timeout`.
    pub fn set(timeout: Duration) -> ShortConsumerTimeout {
        let previous = (
            broker_eval("application:get_env(rabbit, consumer_timeout)."),
            broker_eval("application:get_env(rabbit, channel_tick_interval)."),
        );
        let millis = timeout.as_millis();
        broker_eval(&format!(
            "application:set_env(rabbit, consumer_timeout, {millis})."
        ))
        .expect("rabbitmqctl eval works");
        broker_eval("application:set_env(rabbit, channel_tick_interval, 1000).")
            .expect("rabbitmqctl eval works");
        ShortConsumerTimeout { previous }
    }
}

impl Drop for ShortConsumerTimeout {
    fn drop(&mut self) {
        for (key, previous) in [
            ("consumer_timeout", &self.previous.0),
            ("channel_tick_interval", &self.previous.1),
        ] {
            let value = previous
                .as_deref()
                .and_then(|text| text.strip_prefix("{ok,"))
                .and_then(|text| text.strip_suffix('}'));
            let expression = match value {
                Some(value) => format!("application:set_env(rabbit, {key}, {value})."),
                None => format!("application:unset_env(rabbit, {key})."),
            };
            broker_eval(&expression);
        }
    }
}

/// The S3 server of the tests (Garage through `tests/services/garage.sh`).
pub fn garage(action: &str) -> bool {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/services/garage.sh");
    Command::new(script)
        .arg(action)
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// What a crew member is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Trains children with libtorch.
    Trainer,
    /// Answers from the synthetic oracle after a delay (milliseconds).
    Surrogate(u64),
    /// Answers epoch by epoch from the recorded learning curves, each
    /// epoch after a delay (milliseconds).
    Curves(u64),
}

/// Worker processes that can be killed and replaced; every incarnation
/// logs to its own file.
pub struct Crew<'a> {
    pipeline: &'a Pipeline,
    members: Vec<(Role, Service)>,
    started: u32,
}

impl<'a> Crew<'a> {
    /// Starts one worker per role.
    pub fn start(pipeline: &'a Pipeline, roles: &[Role]) -> Crew<'a> {
        let mut crew = Crew {
            pipeline,
            members: Vec::new(),
            started: 0,
        };
        for role in roles {
            crew.spawn(*role);
        }
        crew
    }

    fn spawn(&mut self, role: Role) {
        let name = format!("worker-{}", self.started);
        self.started += 1;
        let service = match role {
            Role::Trainer => self.pipeline.worker(&name),
            Role::Surrogate(delay) => self.pipeline.surrogate(&name, delay),
            Role::Curves(delay) => {
                self.pipeline
                    .surrogate_from(&name, &super::stopping::curve_source(), delay)
            }
        };
        self.members.push((role, service));
    }

    /// The members' logs right now, with their index.
    pub fn live_logs(&self) -> Vec<(usize, String)> {
        self.members
            .iter()
            .enumerate()
            .map(|(index, (_, service))| (index, service.log_text()))
            .collect()
    }

    /// `kill -9` of member `index`, replaced by a fresh worker of its role.
    pub fn kill_and_replace(&mut self, index: usize) {
        let (role, mut service) = self.members.remove(index);
        service.kill();
        self.spawn(role);
    }

    /// `kill -9` of a random member, replaced; the killed member's role.
    pub fn kill_random(&mut self, rng: &mut impl Rng) -> Role {
        let index = rng.random_range(0..self.members.len());
        let role = self.members[index].0;
        self.kill_and_replace(index);
        role
    }

    /// SIGTERM to member `index` and the seconds it took to exit (`None`:
    /// not within `timeout`); replaced by a fresh worker of its role.
    pub fn terminate_and_replace(&mut self, index: usize, timeout: Duration) -> Option<f64> {
        let (role, mut service) = self.members.remove(index);
        let started = Instant::now();
        let stopped = service
            .terminate(timeout)
            .then(|| started.elapsed().as_secs_f64());
        self.spawn(role);
        stopped
    }

    /// Whether every member is still running.
    pub fn all_running(&mut self) -> bool {
        self.members.iter_mut().all(|(_, service)| service.is_running())
    }
}
