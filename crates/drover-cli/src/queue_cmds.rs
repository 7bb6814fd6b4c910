//! `drover queue publish|stats|purge`: work with a broker queue directly. The URL scheme picks
//! the broker: `amqp://` (RabbitMQ) or `redis://` (Redis).

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};

/// `drover queue`.
#[derive(Debug, Args)]
pub(crate) struct QueueArgs {
    #[command(subcommand)]
    command: QueueCommand,
}

#[derive(Debug, Subcommand)]
enum QueueCommand {
    /// Publish tasks: the ITEMs, then one task per line of --file (`-` for stdin). Returns once
    /// the broker confirmed them.
    Publish {
        #[command(flatten)]
        target: Target,
        /// Tasks to publish.
        items: Vec<String>,
        /// A file with one task per line (`-` for stdin).
        #[arg(long)]
        file: Option<String>,
    },
    /// Show how many tasks are ready, in flight and dead-lettered.
    Stats {
        #[command(flatten)]
        target: Target,
    },
    /// Delete every ready task.
    Purge {
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Debug, Args)]
struct Target {
    /// The broker: amqp://user:pass@host:5672/%2f or redis://host:6379.
    #[arg(long, env = "DROVER_QUEUE_URL")]
    url: String,
    /// The queue (RabbitMQ) or list (Redis).
    #[arg(long)]
    queue: String,
}

const BATCH: usize = 1000;

pub(crate) async fn queue(args: QueueArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        QueueCommand::Publish { target, items, file } => {
            let mut tasks: Vec<Vec<u8>> = items.into_iter().map(String::into_bytes).collect();
            if let Some(file) = file {
                let reader: Box<dyn std::io::BufRead> = if file == "-" {
                    Box::new(std::io::stdin().lock())
                } else {
                    Box::new(std::io::BufReader::new(
                        std::fs::File::open(&file).with_context(|| format!("cannot open {file}"))?,
                    ))
                };
                for line in reader.lines() {
                    let line = line.context("cannot read the task file")?;
                    if !line.is_empty() {
                        tasks.push(line.into_bytes());
                    }
                }
            }
            if tasks.is_empty() {
                bail!("nothing to publish: give ITEMs or --file");
            }
            let q = drover_queue::connect(&target.url, &target.queue).await?;
            let progress = tasks.len() > BATCH && std::io::stderr().is_terminal();
            let total = tasks.len();
            for (i, chunk) in tasks.chunks(BATCH).enumerate() {
                q.publish(chunk).await?;
                if progress {
                    let done = (i * BATCH + chunk.len()).min(total);
                    let width = 30;
                    let filled = done * width / total;
                    eprint!("\r[{}{}] {done}/{total}", "#".repeat(filled), " ".repeat(width - filled));
                    let _ = std::io::stderr().flush();
                }
            }
            if progress {
                eprintln!();
            }
            println!(
                "published {total} task(s) to {} on {}",
                target.queue,
                drover_api::meta::redact_url(&target.url)
            );
        }
        QueueCommand::Stats { target } => {
            let q = drover_queue::connect(&target.url, &target.queue).await?;
            let s = q.stats().await?;
            let opt = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_else(|| "<unknown>".into());
            println!("QUEUE\tREADY\tIN-FLIGHT\tCONSUMERS\tDEAD-LETTERED");
            println!(
                "{}\t{}\t{}\t{}\t{}",
                target.queue,
                s.ready,
                opt(s.in_flight),
                opt(s.consumers),
                s.dead_lettered
            );
        }
        QueueCommand::Purge { target } => {
            let q = drover_queue::connect(&target.url, &target.queue).await?;
            let n = q.purge().await?;
            println!("purged {n} task(s) from {}", target.queue);
        }
    }
    Ok(ExitCode::SUCCESS)
}
