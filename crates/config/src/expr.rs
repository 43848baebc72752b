//! Set expressions: the tokenizer and recursive-descent parser for the
//! grammar of PRODUCT.md, producing an [`Expr`] tree with source columns.
//!
//! Data flow: a `quorums = "..."` or `safe = "..."` string from the TOML file
//! is parsed here into an [`Expr`]; [`crate::compile`] then resolves acceptor
//! names and turns it into a [`hpaxos_core::Family`].
//!
//! ```text
//! expr   := term ("or" term)*
//! term   := factor ("and" factor)*
//! factor := ACCEPTOR_ID
//!         | INT "of" "{" expr ("," expr)* "}"
//!         | "all" "{" expr ("," expr)* "}"
//!         | "any" "{" expr ("," expr)* "}"
//!         | "(" expr ")"
//! ```
//!
//! Identifiers are runs of letters, digits, `_`, `-`, `.` and `:` that are
//! not all digits and not one of the keywords `or`, `and`, `of`, `all`, `any`.
//! Columns are 1-based character positions in the expression string.

use std::fmt;

/// A 1-based character column in an expression string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Column(pub usize);

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}", self.0)
    }
}

/// A syntax or meaning error inside one expression.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{column}: {message}")]
pub struct ExprError {
    pub column: Column,
    pub message: String,
}

fn err<T>(column: Column, message: impl Into<String>) -> Result<T, ExprError> {
    Err(ExprError {
        column,
        message: message.into(),
    })
}

/// The parsed form of a set expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// An acceptor name.
    Id { name: String, at: Column },
    /// `k of {items}`; `all` is `k = len`, `any` is `k = 1`, and chains of
    /// `and` / `or` are the same with the operator's column.
    Threshold {
        k: u64,
        items: Vec<Expr>,
        at: Column,
        /// How the user wrote it, for messages (`"3 of"`, `"all"`, `"and"`...).
        form: Form,
    },
}

/// Which surface syntax produced a [`Expr::Threshold`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    Of,
    All,
    Any,
    And,
    Or,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Word(String),
    Int(String),
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    End,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Word(w) | Tok::Int(w) => write!(f, "`{w}`"),
            Tok::LBrace => write!(f, "`{{`"),
            Tok::RBrace => write!(f, "`}}`"),
            Tok::LParen => write!(f, "`(`"),
            Tok::RParen => write!(f, "`)`"),
            Tok::Comma => write!(f, "`,`"),
            Tok::End => write!(f, "the end of the expression"),
        }
    }
}

fn is_id_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')
}

fn tokenize(src: &str) -> Result<Vec<(Tok, Column)>, ExprError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = Column(i + 1);
        let single = match c {
            '{' => Some(Tok::LBrace),
            '}' => Some(Tok::RBrace),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(t) = single {
            out.push((t, at));
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if is_id_char(c) {
            let start = i;
            while i < chars.len() && is_id_char(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if word.chars().all(|c| c.is_ascii_digit()) {
                out.push((Tok::Int(word), at));
            } else {
                out.push((Tok::Word(word), at));
            }
        } else {
            return err(at, format!("unexpected character `{c}`"));
        }
    }
    out.push((Tok::End, Column(chars.len() + 1)));
    Ok(out)
}

const KEYWORDS: [&str; 5] = ["or", "and", "of", "all", "any"];

/// Nesting deeper than this is rejected (keeps recursion bounded).
pub const MAX_DEPTH: usize = 128;

struct Parser {
    toks: Vec<(Tok, Column)>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &(Tok, Column) {
        // ok: tokenize always ends with Tok::End and we never advance past it
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn bump(&mut self) -> (Tok, Column) {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(&self.peek().0, Tok::Word(x) if x == w)
    }

    fn expect(&mut self, want: Tok, what: &str) -> Result<Column, ExprError> {
        let (t, at) = self.bump();
        if t == want {
            Ok(at)
        } else {
            err(at, format!("expected {what}, found {t}"))
        }
    }

    fn enter(&mut self, at: Column) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(at, format!("expression nested deeper than {MAX_DEPTH}"));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr, ExprError> {
        let at = self.peek().1;
        self.enter(at)?;
        let first = self.term()?;
        if !self.is_word("or") {
            self.depth -= 1;
            return Ok(first);
        }
        let mut terms = vec![first];
        let op_at = self.peek().1;
        while self.is_word("or") {
            self.bump();
            terms.push(self.term()?);
        }
        self.depth -= 1;
        Ok(Expr::Threshold {
            k: 1,
            items: terms,
            at: op_at,
            form: Form::Or,
        })
    }

    fn term(&mut self) -> Result<Expr, ExprError> {
        let first = self.factor()?;
        if !self.is_word("and") {
            return Ok(first);
        }
        let mut factors = vec![first];
        let op_at = self.peek().1;
        while self.is_word("and") {
            self.bump();
            factors.push(self.factor()?);
        }
        Ok(Expr::Threshold {
            k: factors.len() as u64,
            items: factors,
            at: op_at,
            form: Form::And,
        })
    }

    fn list(&mut self) -> Result<Vec<Expr>, ExprError> {
        self.expect(Tok::LBrace, "`{`")?;
        let mut items = vec![self.expr()?];
        loop {
            let (t, at) = self.bump();
            match t {
                Tok::Comma => items.push(self.expr()?),
                Tok::RBrace => return Ok(items),
                other => return err(at, format!("expected `,` or `}}`, found {other}")),
            }
        }
    }

    fn factor(&mut self) -> Result<Expr, ExprError> {
        let (t, at) = self.bump();
        match t {
            Tok::Int(digits) => {
                let k: u64 = match digits.parse() {
                    Ok(k) => k,
                    Err(_) => return err(at, format!("number {digits} is too large")),
                };
                if !self.is_word("of") {
                    let (t2, at2) = self.bump();
                    return err(
                        at2,
                        format!("expected `of` after the number {k}, found {t2}"),
                    );
                }
                self.bump();
                let items = self.list()?;
                Ok(Expr::Threshold {
                    k,
                    items,
                    at,
                    form: Form::Of,
                })
            }
            Tok::Word(w) if w == "all" => {
                let items = self.list()?;
                Ok(Expr::Threshold {
                    k: items.len() as u64,
                    items,
                    at,
                    form: Form::All,
                })
            }
            Tok::Word(w) if w == "any" => {
                let items = self.list()?;
                Ok(Expr::Threshold {
                    k: 1,
                    items,
                    at,
                    form: Form::Any,
                })
            }
            Tok::Word(w) if KEYWORDS.contains(&w.as_str()) => err(
                at,
                format!("expected an acceptor or `(`, found keyword `{w}`"),
            ),
            Tok::Word(name) => Ok(Expr::Id { name, at }),
            Tok::LParen => {
                self.enter(at)?;
                let e = self.expr()?;
                self.expect(Tok::RParen, "`)`")?;
                self.depth -= 1;
                Ok(e)
            }
            other => err(
                at,
                format!("expected an acceptor, a number, `all`, `any` or `(`, found {other}"),
            ),
        }
    }
}

/// Parses a whole set expression.
pub fn parse(src: &str) -> Result<Expr, ExprError> {
    let toks = tokenize(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    if p.peek().0 == Tok::End {
        return err(Column(1), "empty expression");
    }
    let e = p.expr()?;
    let (t, at) = p.bump();
    if t != Tok::End {
        return err(
            at,
            format!("unexpected {t} after a complete expression (missing `and` or `or`?)"),
        );
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_binds_tighter_than_or() {
        let e = parse("a or b and c").unwrap();
        match e {
            Expr::Threshold {
                form: Form::Or,
                items,
                ..
            } => {
                assert_eq!(items.len(), 2);
                assert!(matches!(
                    items[1],
                    Expr::Threshold {
                        form: Form::And,
                        k: 2,
                        ..
                    }
                ));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn nested_thresholds_parse() {
        let e = parse("2 of {3 of {a1,a2,a3,a4}, 3 of {b1,b2,b3,b4}, c1}").unwrap();
        assert!(
            matches!(e, Expr::Threshold { k: 2, form: Form::Of, ref items, .. } if items.len() == 3)
        );
    }

    #[test]
    fn errors_carry_columns() {
        assert_eq!(parse("3 of {a1, a2").unwrap_err().column, Column(13));
        assert_eq!(parse("a1 a2").unwrap_err().column, Column(4));
        assert_eq!(parse("3 {a1}").unwrap_err().column, Column(3));
        assert_eq!(parse("a1 and").unwrap_err().column, Column(7));
        assert_eq!(parse("a1 & a2").unwrap_err().column, Column(4));
        assert_eq!(parse("").unwrap_err().column, Column(1));
        assert_eq!(parse("all {}").unwrap_err().column, Column(6));
        assert!(parse("99999999999999999999999 of {a}").is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let s = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&s).is_err());
    }
}
