//! Writes the generated JSON Schemas into the `schemas/` folder.

use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = nas_schemas::schema_dir();
    for (name, schema) in nas_schemas::generate() {
        let path = dir.join(name);
        if let Err(error) = std::fs::write(&path, nas_schemas::render(&schema)) {
            eprintln!("error: cannot write {}: {error}", path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {}", path.display());
    }
    ExitCode::SUCCESS
}
