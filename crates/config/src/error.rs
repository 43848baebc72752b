//! Errors of the configuration loader: each says where in the file the
//! problem is (table, learner, safety entry, column in the expression).

use crate::expr::Column;
use std::fmt;
use std::path::PathBuf;

/// Why a configuration file cannot be used (the CLI exits 2 on these).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("malformed TOML: {0}")]
    Toml(String),
    /// A problem with one entry of the file (`at` names it).
    #[error("{at}: {message}")]
    Entry { at: String, message: String },
    /// A problem inside a set expression.
    #[error("{}", ExprDisplay(self))]
    Expr {
        at: String,
        text: String,
        column: Column,
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn entry(at: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Entry {
            at: at.into(),
            message: message.into(),
        }
    }
}

struct ExprDisplay<'a>(&'a ConfigError);

impl fmt::Display for ExprDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ConfigError::Expr {
            at,
            text,
            column,
            message,
        } = self.0
        else {
            return Ok(());
        };
        write!(f, "{at}, {column}: {message}")?;
        // Point at the column under a one-line expression.
        if !text.contains('\n') && text.chars().count() <= 200 {
            let pad = " ".repeat(column.0.saturating_sub(1));
            write!(f, "\n    {text}\n    {pad}^")?;
        }
        Ok(())
    }
}
