//! `sns-to-slack send FILE.json`: the function's pipeline on an event file.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tokio::time::Instant;

use super::{EXIT_DEAD_LETTERED, EXIT_ERROR, EXIT_OK};
use crate::budget;
use crate::config::{CliConfig, Config};
use crate::dead_letter::Store;
use crate::kinds;
use crate::pipeline::{Pipeline, PipelineError, Until};
use crate::record;
use crate::render;

/// Longest `--budget`: a day.
const MAX_BUDGET_SECONDS: u64 = 86_400;

/// Arguments of `send`.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// SNS event JSON file (`-` reads standard input).
    file: PathBuf,
    /// Only print the Slack payloads, even when WEBHOOK_URL is set.
    #[arg(long)]
    preview: bool,
    /// With the preview, also print a Slack Block Kit Builder link per payload
    /// (on standard error), to see it rendered.
    #[arg(long)]
    builder: bool,
    /// JSON-lines file for dead letters when DEAD_LETTER_QUEUE_URL is not set
    /// (default: DEAD_LETTER_FILE, else dead-letters.jsonl).
    #[arg(long, value_name = "PATH")]
    dead_letter_file: Option<String>,
    /// Time allowed for posting before what is left is dead-lettered (1 to 86400).
    #[arg(long, value_name = "SECONDS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..=MAX_BUDGET_SECONDS))]
    budget: u64,
}

/// Runs `send`; returns the exit code.
pub async fn run(args: SendArgs) -> anyhow::Result<u8> {
    let cli = CliConfig::from_env()?;
    let config = cli.config;
    let payload = read_input(&args.file)?;
    let records =
        record::parse_event(&payload).with_context(|| format!("{}", args.file.display()))?;

    let routing = config.routing().await?;
    let routing = match (routing, args.preview) {
        (Some(routing), false) => routing,
        _ => return Ok(preview(&records, &config, args.builder)),
    };
    let file = args.dead_letter_file.unwrap_or(cli.dead_letter_file);
    let store = Store::choose(cli.dead_letter_queue_url.as_deref(), &file);
    let poster = config.poster(routing.webhooks())?;
    let pipeline = Pipeline::over(poster, store, routing, config.overrides)
        .with_digest_after(config.digest_after);
    let stop_at = budget::later(Instant::now(), Duration::from_secs(args.budget));
    match pipeline.run_records(&records, Until::post(stop_at)).await {
        Ok(settlement) => {
            let summary = settlement.summary;
            println!("{}", serde_json::to_string(&summary)?);
            if summary.dead_lettered > 0 {
                eprintln!(
                    "{} of {} records were not posted; dead letters are in {}",
                    summary.dead_lettered,
                    summary.records,
                    pipeline.dead_letter().describe()
                );
                Ok(EXIT_DEAD_LETTERED)
            } else {
                Ok(EXIT_OK)
            }
        }
        Err(e @ PipelineError::DeadLetter { .. }) => {
            eprintln!("error: {e}");
            Ok(EXIT_ERROR)
        }
    }
}

/// The text of `path`, or of standard input for `-`.
pub(super) fn read_input(path: &PathBuf) -> anyhow::Result<String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading standard input")?;
        return Ok(text);
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Prints each record's Slack payload, in the order Slack receives its fields,
/// and with `builder` a Block Kit Builder link to each on standard error;
/// posts nothing. An unreadable record is reported and makes the exit code 2.
fn preview(records: &[record::Record], config: &Config, builder: bool) -> u8 {
    eprintln!(
        "preview: no webhook is set (WEBHOOK_URL, WEBHOOKS, WEBHOOKS_SECRET_ID) or --preview was given; nothing is posted"
    );
    let mut code = EXIT_OK;
    for record in records {
        match record.notification() {
            Ok(n) => {
                let notice = kinds::read(n, config.delivery.max_message_chars);
                let msg = render::render(&notice, &config.overrides, None);
                let json = serde_json::to_value(&msg).expect("a Slack message serializes");
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json).expect("a Slack message serializes")
                );
                if builder {
                    match render::blocks::builder_link(&json) {
                        Some(link) => eprintln!("{} -> {link}", notice.kind),
                        None => eprintln!(
                            "{}: no blocks to show in the Block Kit Builder (MESSAGE_FORMAT=attachments)",
                            notice.kind
                        ),
                    }
                }
            }
            Err(why) => {
                eprintln!("record {:?} cannot be posted: {why}", record.message_id());
                code = EXIT_ERROR;
            }
        }
    }
    code
}
