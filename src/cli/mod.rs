//! The command-line tool: `send`, `explain` and `redrive`. Errors become `anyhow`
//! here, at the edge, and the exit code tells what happened.

mod explain;
mod redrive;
mod send;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code: everything was posted (or previewed).
pub const EXIT_OK: u8 = 0;
/// Exit code: some records were not posted but are safely dead-lettered.
pub const EXIT_DEAD_LETTERED: u8 = 1;
/// Exit code: bad input or configuration, or dead letters could not be stored.
pub const EXIT_ERROR: u8 = 2;

/// Posts SNS notifications to a Slack Incoming Webhook; never loses one.
#[derive(Debug, Parser)]
#[command(name = "sns-to-slack", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Post every record of an SNS event file, as the Lambda function would.
    ///
    /// Without WEBHOOK_URL it only previews: prints each Slack payload and posts
    /// nothing. Records that are not posted go to DEAD_LETTER_QUEUE_URL if set,
    /// else to a JSON-lines file. Exit code: 0 all posted, 1 some dead-lettered,
    /// 2 error (bad input, configuration, or dead letters not stored).
    Send(send::SendArgs),
    /// Show what the function decides for each record of an event file,
    /// without posting: one JSON line per record and webhook, with its kind,
    /// status, tone, headline, the ROUTES rule, the webhooks, the mention,
    /// whether it is dropped or unrouted, and its fate (own, digest,
    /// collapsed). Reads the same settings as the function.
    Explain(explain::ExplainArgs),
    /// Post dead letters again, from the SQS dead-letter queue or the local file.
    ///
    /// Reads envelopes (any version), Lambda's failure records, bare SNS events
    /// and SNS notifications, with the same reader as the function; posts
    /// them through the same limiter and retries as the function; deletes a
    /// message only when every record in it posted. Exit code: 0 nothing left,
    /// 1 something left (failed again, skipped, or a dry run), 2 error,
    /// 130 stopped by Ctrl-C.
    Redrive(redrive::RedriveArgs),
}

/// Parses the command line and runs the command.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Send(args) => send::run(args).await,
        Command::Explain(args) => explain::run(args).await,
        Command::Redrive(args) => redrive::run(args).await,
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
