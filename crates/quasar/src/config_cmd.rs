//! `quasar config show [--format toml|json]`: the configuration `quasar serve` would use
//! (embedded default, `--config FILE`, `QUASAR_*` environment variables), and the
//! defaults that `quasar serve <protocol> --help` shows.

use std::process::ExitCode;

use crate::config::Config;

/// Flags of `quasar config`.
#[derive(Debug, clap::Args)]
pub(crate) struct ConfigArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Print the effective configuration (default, then file, then environment).
    Show {
        /// A configuration file, as `quasar serve --config`.
        #[arg(long, value_name = "FILE")]
        config: Option<std::path::PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Toml)]
        format: Format,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Toml,
    Json,
}

/// Runs `quasar config`.
pub(crate) fn run(args: ConfigArgs) -> ExitCode {
    let Action::Show { config, format } = args.action;
    let config = match Config::load(config.as_deref()) {
        Ok((c, ignored)) => {
            for name in ignored {
                tracing::warn!(variable = %name, "environment variable names no setting; ignored");
            }
            c
        }
        Err(e) => {
            eprintln!("quasar: bad configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let text = match format {
        Format::Toml => toml::to_string_pretty(&config).map_err(|e| e.to_string()),
        Format::Json => serde_json::to_string_pretty(&config).map_err(|e| e.to_string()),
    };
    match text {
        Ok(t) => {
            use std::io::Write;
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = writeln!(std::io::stdout().lock(), "{}", t.trim_end());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("quasar: cannot print the configuration: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Appends `[default: V]` from the embedded configuration to the help of each
/// `quasar serve <protocol>` flag named after a field (flags stay optional so that a
/// file or the environment can set them; clap's own defaults would override both).
pub(crate) fn with_defaults_in_help(cli: clap::Command) -> clap::Command {
    let defaults = serde_json::to_value(Config::embedded()).unwrap_or_default();
    cli.mut_subcommand("serve", |mut serve| {
        for (sub, section) in [
            ("echo", "echo"),
            ("udp-echo", "udp_echo"),
            ("http", "http"),
            ("resp", "resp"),
        ] {
            let Some(fields) = defaults.get(section).and_then(|s| s.as_object()) else {
                continue;
            };
            if serve.find_subcommand(sub).is_none() {
                continue;
            }
            serve = serve.mut_subcommand(sub, |mut cmd| {
                let ids: Vec<String> = cmd
                    .get_arguments()
                    .map(|a| a.get_id().to_string())
                    .collect();
                for id in ids {
                    let shown = match fields.get(&id) {
                        Some(serde_json::Value::Bool(_)) | None => continue,
                        Some(serde_json::Value::String(s)) if s.is_empty() => continue,
                        Some(serde_json::Value::String(s)) => s.clone(),
                        Some(v) => v.to_string(),
                    };
                    cmd = cmd.mut_arg(id.as_str(), |a| {
                        let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                        a.help(format!("{help} [default: {shown}]"))
                    });
                }
                cmd
            });
        }
        serve
    })
}
