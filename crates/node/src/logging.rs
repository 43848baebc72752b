//! The node's log: where lines go (stderr), which (a `RUST_LOG`-style
//! filter from `HPAXOS_LOG`, else `RUST_LOG`) and how (`HPAXOS_LOG_FORMAT`:
//! text or JSON), installed once at process start by the `hpaxos-node`
//! binary and `hpaxos node` before anything logs.

/// How the log lines are written (`HPAXOS_LOG_FORMAT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event (the default).
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`,
    /// `fields` with `message`), for log collectors.
    Json,
}

/// The log settings from the environment's values: the filter from
/// `HPAXOS_LOG` (else `RUST_LOG`, else `info`) in `RUST_LOG` syntax
/// (`warn`, `info,hpaxos_node::transport=debug`), the format from
/// `HPAXOS_LOG_FORMAT` (`text` or `json`). What is not understood falls
/// back to the default and is reported in the returned warnings.
pub fn log_settings(
    hpaxos_log: Option<&str>,
    rust_log: Option<&str>,
    format: Option<&str>,
) -> (tracing_subscriber::EnvFilter, LogFormat, Vec<String>) {
    use tracing_subscriber::EnvFilter;
    let mut warnings = Vec::new();
    let (var, spec) = match (hpaxos_log, rust_log) {
        (Some(s), _) if !s.trim().is_empty() => ("HPAXOS_LOG", s),
        (_, Some(s)) if !s.trim().is_empty() => ("RUST_LOG", s),
        _ => ("", "info"),
    };
    let filter = match EnvFilter::builder().parse(spec) {
        Ok(f) => f,
        Err(e) => {
            warnings.push(format!(
                "{var}={spec:?} is not a log filter ({e}); logging at `info` (examples: `warn`, `info,hpaxos_node::transport=debug`)"
            ));
            EnvFilter::new("info")
        }
    };
    let format = match format.map(str::trim) {
        None | Some("") | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            warnings.push(format!(
                "HPAXOS_LOG_FORMAT={other:?} is not a log format (known: text, json); writing text"
            ));
            LogFormat::Text
        }
    };
    (filter, format, warnings)
}

/// Installs the log subscriber: lines on stderr, filtered and formatted as
/// [`log_settings`] reads `HPAXOS_LOG`, `RUST_LOG` and `HPAXOS_LOG_FORMAT`.
pub fn init_logging() {
    let var = |k| std::env::var(k).ok();
    let (filter, format, warnings) = log_settings(
        var("HPAXOS_LOG").as_deref(),
        var("RUST_LOG").as_deref(),
        var("HPAXOS_LOG_FORMAT").as_deref(),
    );
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => b
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => b.json().with_ansi(false).try_init(),
    };
    for w in warnings {
        tracing::warn!("{w}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_filter_and_format_from_the_environment() {
        let (f, fmt, w) = log_settings(Some("debug"), Some("error"), None);
        assert_eq!(f.to_string(), "debug");
        assert_eq!(fmt, LogFormat::Text);
        assert!(w.is_empty());
        let (f, fmt, w) = log_settings(
            None,
            Some("warn,hpaxos_node::transport=debug"),
            Some("json"),
        );
        assert_eq!(f.to_string(), "hpaxos_node::transport=debug,warn");
        assert_eq!(fmt, LogFormat::Json);
        assert!(w.is_empty());
        let (f, _, _) = log_settings(None, None, Some("text"));
        assert_eq!(f.to_string(), "info");
    }

    /// Golden: the warnings for values that are not understood.
    #[test]
    fn bad_log_settings_are_reported_and_fall_back() {
        let (f, fmt, w) = log_settings(Some("info,=[=="), None, Some("yaml"));
        assert_eq!(f.to_string(), "info");
        assert_eq!(fmt, LogFormat::Text);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].starts_with("HPAXOS_LOG=\"info,=[==\" is not a log filter ("),
            "{}",
            w[0]
        );
        assert!(
            w[0].ends_with(
                "); logging at `info` (examples: `warn`, `info,hpaxos_node::transport=debug`)"
            ),
            "{}",
            w[0]
        );
        assert_eq!(
            w[1],
            "HPAXOS_LOG_FORMAT=\"yaml\" is not a log format (known: text, json); writing text"
        );
    }
}
