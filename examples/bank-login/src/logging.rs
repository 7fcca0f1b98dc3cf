//! The service's log lines: text for people, or JSON Lines for a log
//! collector. Either way each line of a request carries the request's span
//! (its ID and client address), and the login's steps add the user ID where
//! there is one (never on a refused password: a password typed into the
//! user ID field would be logged). No secret is ever a field
//! (`tests/http.rs` reads every line of a whole walk, in both formats).

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, the request's span fields included.
    Json,
}

/// The filter: `RUST_LOG`, else `info`.
fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Installs the global subscriber for `format`.
pub fn init(format: Format) {
    let builder = tracing_subscriber::fmt().with_env_filter(filter());
    match format {
        Format::Text => builder.init(),
        Format::Json => builder
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .init(),
    }
}

/// A subscriber for `format` writing to `writer` (for tests).
pub fn subscriber<W>(format: Format, writer: W) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_env_filter(EnvFilter::new("trace,sqlx=warn"))
        .with_ansi(false);
    match format {
        Format::Text => Box::new(builder.finish()),
        Format::Json => Box::new(
            builder
                .json()
                .with_current_span(false)
                .with_span_list(true)
                .finish(),
        ),
    }
}
