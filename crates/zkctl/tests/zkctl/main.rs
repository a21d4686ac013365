//! Every zkctl command against the bundled server: output, `--json` and exit codes.

mod common;
mod completions;
mod console;
mod console_browser;
mod ensemble;
mod nodes;
mod route;
mod routes;
mod sasl;
mod services;
mod tls;
