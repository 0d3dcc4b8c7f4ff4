//! `quasar config show [--format toml|json]`: the configuration `quasar serve` would use
//! (the servers' defaults, `--config FILE`, `QUASAR_*` environment variables), and the
//! defaults that `quasar serve <protocol> --help` shows.

use std::process::ExitCode;

use crate::serve::metrics::{self, MetricsSection};
use crate::serve::{section_of, SERVERS};

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
    let table = match effective(config.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("quasar: bad configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let text = match format {
        Format::Toml => toml::to_string_pretty(&table).map_err(|e| e.to_string()),
        Format::Json => serde_json::to_string_pretty(&table).map_err(|e| e.to_string()),
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

/// Every server's section with the default, file and environment layers applied, in
/// registry order, then `[metrics]`.
fn effective(file: Option<&std::path::Path>) -> Result<toml::Table, String> {
    let (layers, ignored) = crate::config::layers(file)?;
    for name in ignored {
        tracing::warn!(variable = %name, "environment variable names no setting; ignored");
    }
    let mut table = SERVERS
        .iter()
        .map(|entry| {
            let section = entry.load(&layers, None)?.table()?;
            Ok((section_of(entry.name()), toml::Value::Table(section)))
        })
        .collect::<Result<toml::Table, String>>()?;
    let metrics: MetricsSection = layers
        .extract_inner(metrics::SECTION)
        .map_err(crate::config::describe)?;
    let metrics = toml::Table::try_from(metrics).map_err(|e| e.to_string())?;
    table.insert(metrics::SECTION.into(), toml::Value::Table(metrics));
    Ok(table)
}

/// Appends `[default: V]` from each server's defaults to the help of each
/// `quasar serve <protocol>` flag named after a field (flags stay optional so that a
/// file or the environment can set them; clap's own defaults would override both).
pub(crate) fn with_defaults_in_help(cli: clap::Command) -> clap::Command {
    cli.mut_subcommand("serve", |mut serve| {
        for entry in SERVERS {
            let fields = entry.defaults();
            if serve.find_subcommand(entry.name()).is_none() {
                continue;
            }
            serve = serve.mut_subcommand(entry.name(), |mut cmd| {
                let ids: Vec<String> = cmd
                    .get_arguments()
                    .map(|a| a.get_id().to_string())
                    .collect();
                for id in ids {
                    let shown = match fields.get(&id) {
                        Some(toml::Value::Boolean(_)) | None => continue,
                        Some(toml::Value::String(s)) if s.is_empty() => continue,
                        Some(toml::Value::Array(a)) if a.is_empty() => continue,
                        Some(toml::Value::String(s)) => s.clone(),
                        Some(toml::Value::Array(a)) => a
                            .iter()
                            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                            .collect::<Vec<_>>()
                            .join(","),
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
