//! `sns-to-slack redrive`: post dead letters again from the queue or the file,
//! with progress on a terminal, a summary, and a clean stop on Ctrl-C.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use super::{EXIT_DEAD_LETTERED, EXIT_OK};
use crate::config::{self, CliConfig};
use crate::dead_letter::sqs::default_client;
use crate::destination::secrets::TableSource;
use crate::destination::{self, Webhooks};
use crate::redrive::file::FileSource;
use crate::redrive::sqs::SqsSource;
use crate::redrive::{self, Options, Report, Source, Totals};
use crate::route::Routing;

/// Exit code when Ctrl-C stopped the run (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Arguments of `redrive`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["queue_url", "file"])))]
pub struct RedriveArgs {
    /// SQS dead-letter queue to redrive (the stack's DeadLetterQueueUrl output).
    #[arg(long, value_name = "URL")]
    queue_url: Option<String>,
    /// JSON-lines dead-letter file written by `send`.
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,
    /// Stop after this many messages.
    #[arg(long, value_name = "N")]
    max: Option<usize>,
    /// Show what would be posted; post nothing, delete nothing.
    #[arg(long)]
    dry_run: bool,
    /// Messages read at a time (1 to 10).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=10))]
    batch: u16,
    /// Long-poll wait of each SQS receive, in seconds (0 to 20).
    #[arg(long, value_name = "SECONDS", default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=20))]
    wait_seconds: u64,
    /// How long received SQS messages stay hidden from others during the run
    /// (0 to 43200, SQS's range).
    #[arg(long, value_name = "SECONDS", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(0..=43_200))]
    visibility_timeout: u64,
    /// Post every record to this named webhook, whatever its dead letter
    /// names (default: the webhook each envelope names; other shapes are
    /// routed by ROUTES).
    #[arg(long, value_name = "NAME")]
    webhook: Option<String>,
    /// Read the webhooks from this file (a JSON object, name -> URL, as in
    /// WEBHOOKS) instead of WEBHOOK_URL / WEBHOOKS / WEBHOOKS_SECRET_ID. URLs
    /// are secrets: they are never taken on the command line.
    #[arg(long, value_name = "PATH")]
    webhooks_file: Option<PathBuf>,
    /// Posts per second to each webhook, 0.001 to 1000000, in place of
    /// RATE_PER_SECOND (default: RATE_PER_SECOND, else 1); shared by
    /// FUNCTION_CONCURRENCY like it. Webhooks with a rate of their own keep it.
    #[arg(long, value_name = "N", value_parser = parse_rate)]
    rate_per_second: Option<f64>,
    /// Burst of the rate limit, 1 to 1000000, in place of RATE_BURST (default:
    /// RATE_BURST, else 1); shared by FUNCTION_CONCURRENCY like it.
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(config::MAX_RATE_BURST)))]
    rate_burst: Option<u32>,
    /// Attempts per record, 1 to 100 (default: MAX_ATTEMPTS, else 5).
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(config::MAX_MAX_ATTEMPTS)))]
    max_attempts: Option<u32>,
}

/// Runs `redrive`; returns the exit code.
pub async fn run(args: RedriveArgs) -> anyhow::Result<u8> {
    let mut config = CliConfig::from_env()?.config;
    if let Some(path) = &args.webhooks_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--webhooks-file {}", path.display()))?;
        let setting = format!("--webhooks-file {}", path.display());
        config.webhooks = TableSource::Table(Webhooks::parse(&text, &setting, true)?);
    }
    // clap has range-checked each flag (see their value parsers). They replace
    // the configured values; `Config::delivery` then takes this process's share.
    if let Some(r) = args.rate_per_second {
        config.delivery.rate_per_second = r;
    }
    if let Some(b) = args.rate_burst {
        config.delivery.rate_burst = b;
    }
    if let Some(n) = args.max_attempts {
        config.delivery.max_attempts = n;
    }
    let routing = config.routing().await?;
    match (&routing, &args.webhook) {
        (None, _) if !args.dry_run => anyhow::bail!(
            "no webhook to post to: set WEBHOOK_URL, WEBHOOKS or WEBHOOKS_SECRET_ID, or pass --webhooks-file (or use --dry-run)"
        ),
        (Some(r), Some(name)) if r.webhooks().get(name).is_none() => anyhow::bail!(
            "--webhook {name:?} is not one of the configured webhooks ({})",
            r.webhooks()
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => {}
    }
    let options = Options {
        max_messages: args.max,
        batch: usize::from(args.batch),
        dry_run: args.dry_run,
        overrides: config.overrides.clone(),
        max_message_chars: config.delivery.max_message_chars,
        webhook: args.webhook.clone(),
    };
    let no_webhooks = Webhooks::default();
    let webhooks = routing.as_ref().map_or(&no_webhooks, Routing::webhooks);
    let poster = config.poster(webhooks)?;
    let routes = routing.as_ref();
    let totals = match (&args.queue_url, &args.file) {
        (Some(url), _) => {
            let mut source = SqsSource::new(
                default_client().await,
                url,
                Duration::from_secs(args.wait_seconds),
                Duration::from_secs(args.visibility_timeout),
            );
            drive(&mut source, &poster, routes, &options).await?
        }
        (None, Some(path)) => {
            let mut source = FileSource::open(path, !args.dry_run)?;
            drive(&mut source, &poster, routes, &options).await?
        }
        (None, None) => unreachable!("clap requires a source"),
    };
    println!("{}", serde_json::to_string(&totals)?);
    eprintln!(
        "redriven {} of {} messages ({} records posted); failed again {}; skipped {}{}{}",
        totals.redriven,
        totals.messages,
        totals.records_posted,
        totals.failed_again,
        totals.skipped,
        if args.dry_run {
            "; dry run: nothing posted or deleted"
        } else {
            ""
        },
        if totals.interrupted {
            "; interrupted"
        } else {
            ""
        },
    );
    Ok(if totals.interrupted {
        EXIT_INTERRUPTED
    } else if totals.anything_left() {
        EXIT_DEAD_LETTERED
    } else {
        EXIT_OK
    })
}

/// `--rate-per-second`: a number in the range `RATE_PER_SECOND` accepts.
fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("expected a number, got {text:?}"))?;
    destination::check_rate_per_second(rate)
}

async fn drive<S: Source>(
    source: &mut S,
    poster: &crate::config::ConfiguredPoster,
    routing: Option<&Routing>,
    options: &Options,
) -> anyhow::Result<Totals> {
    let total = source.approximate_len().await;
    let bar = match options.max_messages {
        Some(max) => ProgressBar::new(total.map_or(max as u64, |t| t.min(max as u64))),
        None => total.map_or_else(ProgressBar::no_length, ProgressBar::new),
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos}/{len} messages [{elapsed}] {msg}")
            .expect("a valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let stop = Arc::new(AtomicBool::new(false));
    let ctrl_c = tokio::spawn(watch_ctrl_c(stop.clone(), bar.clone()));
    let (mut posted, mut failed, mut skipped) = (0, 0, 0);
    let result = redrive::run(source, poster, routing, options, &stop, |report| {
        bar.inc(1);
        bar.suspend(|| print_report(report));
        match report {
            Report::Redriven { .. } => posted += 1,
            Report::FailedAgain { .. } => failed += 1,
            Report::Skipped { .. } => skipped += 1,
            Report::WouldPost { .. } => {}
        }
        bar.set_message(format!(
            "redriven {posted}, failed again {failed}, skipped {skipped}"
        ));
    })
    .await;
    ctrl_c.abort();
    bar.finish_and_clear();
    result.context("the dead-letter source failed (nothing unposted was deleted)")
}

async fn watch_ctrl_c(stop: Arc<AtomicBool>, bar: ProgressBar) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    stop.store(true, Ordering::Relaxed);
    bar.suspend(|| {
        eprintln!(
            "stopping: posts in flight finish, nothing unposted is deleted (Ctrl-C again quits now)"
        )
    });
    if tokio::signal::ctrl_c().await.is_ok() {
        // Messages held now reappear after their visibility timeout: still nothing lost.
        std::process::exit(i32::from(EXIT_INTERRUPTED));
    }
}

fn print_report(report: &Report) {
    match report {
        Report::Redriven { .. } => {}
        Report::FailedAgain {
            id,
            failures,
            posted,
        } => {
            for (message_id, f) in failures {
                eprintln!(
                    "{id}: record {message_id} failed again ({}): {}; kept",
                    f.reason, f.detail
                );
            }
            if *posted > 0 {
                eprintln!(
                    "{id}: {posted} other record(s) of it posted and will post again on the next redrive"
                );
            }
        }
        Report::Skipped { id, why } => eprintln!("{id}: skipped, left in place: {why}"),
        Report::WouldPost { id, payloads } => {
            for payload in payloads {
                match payload {
                    Ok(json) => println!("{json}"),
                    Err(why) => eprintln!("{id}: a record cannot be posted: {why}"),
                }
            }
        }
    }
}
