//! Reference pages generated from the code, so the book cannot drift from
//! it: [`cli_markdown`] renders a `clap` command tree (every subcommand,
//! its usage and its options with their defaults and variables) as
//! Markdown, and [`check_page`] compares a generated page with the one in
//! the book (or rewrites it when `NAS_UPDATE_REFERENCE=1`), for the tests
//! of each binary.

use std::fmt::Write;
use std::path::Path;

use clap::Command;

/// The command tree of `command` as a Markdown page titled `title`.
pub fn cli_markdown(title: &str, command: &Command) -> String {
    let mut out = format!(
        "# {title}\n\n<!-- Generated from the code by the tests (NAS_UPDATE_REFERENCE=1 rewrites it): do not edit. -->\n"
    );
    let mut command = command.clone();
    command.build();
    write_command(&mut out, &command, command.get_name());
    out
}

fn write_command(out: &mut String, command: &Command, path: &str) {
    let _ = write!(out, "\n## `{path}`\n\n");
    if let Some(about) = command.get_long_about().or(command.get_about()) {
        let _ = writeln!(out, "{about}\n");
    }
    let mut usage = command.clone().render_usage().to_string();
    if let Some(rest) = usage.strip_prefix("Usage: ") {
        usage = rest.to_owned();
    }
    let _ = writeln!(out, "```text\n{usage}\n```");
    let args: Vec<_> = command
        .get_arguments()
        .filter(|arg| !arg.is_hide_set() && arg.get_id() != "help" && arg.get_id() != "version")
        .collect();
    if !args.is_empty() {
        out.push_str("\n| argument | default | variable | meaning |\n|---|---|---|---|\n");
        for arg in args {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                name(arg),
                defaults(arg),
                arg.get_env()
                    .map_or(String::new(), |env| format!("`{}`", env.to_string_lossy())),
                cell(
                    &arg.get_long_help()
                        .or(arg.get_help())
                        .map(ToString::to_string)
                        .unwrap_or_default()
                )
            );
        }
    }
    let subcommands: Vec<_> = command
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set() && sub.get_name() != "help")
        .collect();
    if !subcommands.is_empty() {
        out.push_str("\nSubcommands: ");
        let names: Vec<String> = subcommands
            .iter()
            .map(|sub| format!("`{}`", sub.get_name()))
            .collect();
        out.push_str(&names.join(", "));
        out.push_str(".\n");
    }
    for sub in subcommands {
        write_command(out, sub, &format!("{path} {}", sub.get_name()));
    }
}

fn name(arg: &clap::Arg) -> String {
    let value = arg
        .get_value_names()
        .map(|names| {
            names
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| arg.get_id().to_string().to_uppercase());
    let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
    match (arg.get_long(), arg.get_short()) {
        (Some(long), _) if takes_value => format!("`--{long} <{value}>`"),
        (Some(long), _) => format!("`--{long}`"),
        (None, Some(short)) => format!("`-{short}`"),
        (None, None) => format!("`<{value}>`"),
    }
}

fn defaults(arg: &clap::Arg) -> String {
    let values: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|value| value.to_string_lossy().into_owned())
        .collect();
    let possible: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|value| !value.is_hide_set())
        .map(|value| value.get_name().to_owned())
        .collect();
    let mut text = if values.is_empty() {
        String::new()
    } else {
        format!("`{}`", values.join(","))
    };
    if !possible.is_empty() && arg.get_num_args().is_some_and(|n| n.takes_values()) {
        let _ = write!(
            text,
            "{}one of {}",
            if text.is_empty() { "" } else { "; " },
            possible.join(", ")
        );
    }
    text
}

/// Text made safe for a Markdown table cell.
pub fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// Whether the page at `path` holds `generated`; with
/// `NAS_UPDATE_REFERENCE=1` it is rewritten instead. The error says how
/// to bring the page up to date.
pub fn check_page(path: &Path, generated: &str) -> Result<(), String> {
    if std::env::var("NAS_UPDATE_REFERENCE").is_ok_and(|value| value == "1") {
        return std::fs::write(path, generated)
            .map_err(|error| format!("writing {}: {error}", path.display()));
    }
    let current = std::fs::read_to_string(path).unwrap_or_default();
    if current == generated {
        return Ok(());
    }
    Err(format!(
        "{} is out of date with the code; regenerate it with `make reference` \
         (NAS_UPDATE_REFERENCE=1 cargo test … reference)",
        path.display()
    ))
}
