//! Entry point: the Lambda function when started by a Runtime API, else the CLI.

use std::process::ExitCode;

use sns_to_slack::config::{self, LambdaConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    if config::running_in_lambda() {
        sns_to_slack::telemetry::init_lambda();
        if let Err(e) = sns_to_slack::lambda::serve(LambdaConfig::from_env()).await {
            lambda_runtime::tracing::error!(error = %e, "the function cannot run");
            return ExitCode::FAILURE;
        }
        return ExitCode::SUCCESS;
    }
    sns_to_slack::telemetry::init_cli();
    sns_to_slack::cli::main().await
}
