//! A strict TOML reader that collects every problem at once (STYLE.md §5).
//!
//! serde stops at the first error; an electrician fixing a site file wants all of them, each
//! with its key path and line. So the file is parsed into toml's spanned document tree and
//! walked by hand: each getter records a `Problem` and returns `None` instead of failing, and
//! `Table::finish` reports every key nobody asked for. Must never decide what a value means
//! beyond its TOML type; ranges and cross-references are `validate`'s.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::units::Amps;

/// One thing wrong with a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `charger[2].max-current-a` (`[]` index counts from 0).
    pub path: String,
    /// 1-based line in the file, when the problem has a place.
    pub line: Option<usize>,
    pub message: String,
    /// What to do about it, in the electrician's words.
    pub hint: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}: {}", self.path, self.message)?,
            None => write!(f, "{}: {}", self.path, self.message)?,
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n    hint: {hint}")?;
        }
        Ok(())
    }
}

/// The source text and the problems found so far.
#[derive(Debug)]
pub struct Doc<'s> {
    line_starts: Vec<usize>,
    problems: RefCell<Vec<Problem>>,
    _src: std::marker::PhantomData<&'s str>,
}

impl<'s> Doc<'s> {
    pub fn new(src: &'s str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(src.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            line_starts,
            problems: RefCell::new(Vec::new()),
            _src: std::marker::PhantomData,
        }
    }

    /// The 1-based line holding byte `offset`.
    pub fn line_of(&self, offset: usize) -> usize {
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }

    pub fn report(
        &self,
        path: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.problems.borrow_mut().push(Problem {
            path: path.to_string(),
            line: span.map(|s| self.line_of(s.start)),
            message: message.into(),
            hint,
        });
    }

    pub fn into_problems(self) -> Vec<Problem> {
        let mut problems = self.problems.into_inner();
        problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        problems
    }

    pub fn has_problems(&self) -> bool {
        !self.problems.borrow().is_empty()
    }
}

/// A cursor over one TOML table: typed getters that report instead of failing.
#[derive(Debug)]
pub struct Table<'d, 's> {
    doc: &'d Doc<'s>,
    path: String,
    span: Range<usize>,
    table: &'d DeTable<'s>,
    used: RefCell<BTreeSet<String>>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl<'d, 's> Table<'d, 's> {
    pub fn root(doc: &'d Doc<'s>, table: &'d Spanned<DeTable<'s>>) -> Self {
        Self::new(doc, String::new(), table.span(), table.get_ref())
    }

    fn new(doc: &'d Doc<'s>, path: String, span: Range<usize>, table: &'d DeTable<'s>) -> Self {
        Self {
            doc,
            path,
            span,
            table,
            used: RefCell::new(BTreeSet::new()),
        }
    }

    pub fn key_path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The line of `key`'s value, or of the table when the key is absent.
    pub fn span_of(&self, key: &str) -> Range<usize> {
        self.raw(key)
            .map(|v| v.span())
            .unwrap_or_else(|| self.span.clone())
    }

    fn raw(&self, key: &str) -> Option<&'d Spanned<DeValue<'s>>> {
        self.table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map(|(_, v)| v)
    }

    fn take(&self, key: &str) -> Option<&'d Spanned<DeValue<'s>>> {
        self.used.borrow_mut().insert(key.to_string());
        self.raw(key)
    }

    /// Records a problem at `key` (at the table when the key is absent).
    pub fn problem(&self, key: &str, message: impl Into<String>, hint: Option<String>) {
        self.doc
            .report(&self.key_path(key), Some(self.span_of(key)), message, hint);
    }

    fn wrong_type(&self, key: &str, value: &Spanned<DeValue<'s>>, want: &str) {
        self.doc.report(
            &self.key_path(key),
            Some(value.span()),
            format!("expected {want}, found {}", value.get_ref().type_str()),
            None,
        );
    }

    fn missing(&self, key: &str, hint: &str) {
        self.doc.report(
            &self.key_path(key),
            Some(self.span.clone()),
            "required key is missing",
            Some(hint.to_string()),
        );
    }

    pub fn has(&self, key: &str) -> bool {
        self.raw(key).is_some()
    }

    pub fn opt_str(&self, key: &str) -> Option<String> {
        let value = self.take(key)?;
        match value.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.wrong_type(key, value, "a string");
                None
            }
        }
    }

    pub fn req_str(&self, key: &str, hint: &str) -> Option<String> {
        if !self.has(key) {
            self.missing(key, hint);
        }
        self.opt_str(key)
    }

    pub fn opt_bool(&self, key: &str) -> Option<bool> {
        let value = self.take(key)?;
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(key, value, "true or false");
                None
            }
        }
    }

    /// A number: TOML integers and floats are both accepted (an electrician writes `32`
    /// and `32.0` alike).
    pub fn opt_f64(&self, key: &str) -> Option<f64> {
        let value = self.take(key)?;
        let number = match value.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .ok()
                .map(|i| i as f64),
            DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
            _ => {
                self.wrong_type(key, value, "a number");
                return None;
            }
        };
        match number {
            Some(n) if n.is_finite() => Some(n),
            _ => {
                self.doc.report(
                    &self.key_path(key),
                    Some(value.span()),
                    "not a finite number",
                    None,
                );
                None
            }
        }
    }

    pub fn req_f64(&self, key: &str, hint: &str) -> Option<f64> {
        if !self.has(key) {
            self.missing(key, hint);
        }
        self.opt_f64(key)
    }

    /// A whole number in `min..=max`.
    pub fn opt_int(&self, key: &str, min: i64, max: i64) -> Option<i64> {
        let value = self.take(key)?;
        let DeValue::Integer(i) = value.get_ref() else {
            self.wrong_type(key, value, "a whole number");
            return None;
        };
        match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.doc.report(
                    &self.key_path(key),
                    Some(value.span()),
                    format!("must be between {min} and {max}, found {}", i.as_str()),
                    None,
                );
                None
            }
        }
    }

    /// A TOML offset date-time, e.g. `2027-01-01T00:00:00Z`.
    pub fn opt_datetime(&self, key: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        let value = self.take(key)?;
        let text = match value.get_ref() {
            DeValue::Datetime(d) => d.to_string(),
            DeValue::String(s) => s.to_string(),
            _ => {
                self.wrong_type(key, value, "a date-time");
                return None;
            }
        };
        match chrono::DateTime::parse_from_rfc3339(&text) {
            Ok(t) => Some(t.with_timezone(&chrono::Utc)),
            Err(_) => {
                self.doc.report(
                    &self.key_path(key),
                    Some(value.span()),
                    format!("{text:?} is not a date-time with an offset"),
                    Some("write it like 2027-01-31T23:59:59Z".into()),
                );
                None
            }
        }
    }

    /// A sub-table, e.g. `[site]`.
    pub fn opt_table(&self, key: &str) -> Option<Table<'d, 's>> {
        let value = self.take(key)?;
        match value.get_ref() {
            DeValue::Table(t) => Some(Table::new(self.doc, self.key_path(key), value.span(), t)),
            _ => {
                self.wrong_type(key, value, "a table");
                None
            }
        }
    }

    pub fn req_table(&self, key: &str, hint: &str) -> Option<Table<'d, 's>> {
        if !self.has(key) {
            self.missing(key, hint);
        }
        self.opt_table(key)
    }

    /// An array of tables, e.g. `[[charger]]`; absent means empty.
    pub fn tables(&self, key: &str) -> Vec<Table<'d, 's>> {
        let Some(value) = self.take(key) else {
            return Vec::new();
        };
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type(key, value, "an array of tables");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("{}[{i}]", self.key_path(key));
            match item.get_ref() {
                DeValue::Table(t) => out.push(Table::new(self.doc, path, item.span(), t)),
                other => self.doc.report(
                    &path,
                    Some(item.span()),
                    format!("expected a table, found {}", other.type_str()),
                    None,
                ),
            }
        }
        out
    }

    /// An array of strings, e.g. `allowed-hosts = ["gw.local"]`; absent means empty.
    pub fn opt_strs(&self, key: &str) -> Vec<String> {
        let Some(value) = self.take(key) else {
            return Vec::new();
        };
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type(key, value, "an array of strings");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item.get_ref() {
                DeValue::String(s) => out.push(s.to_string()),
                other => self.doc.report(
                    &format!("{}[{i}]", self.key_path(key)),
                    Some(item.span()),
                    format!("expected a string, found {}", other.type_str()),
                    None,
                ),
            }
        }
        out
    }

    /// Reports every key of this table that no getter asked for (`deny_unknown_fields`).
    pub fn finish(&self, known: &[&str]) {
        let used = self.used.borrow();
        for (key, value) in self.table.iter() {
            let name = key.get_ref().as_ref();
            if used.contains(name) {
                continue;
            }
            let hint = closest(name, known)
                .map(|k| format!("did you mean `{k}`?"))
                .unwrap_or_else(|| format!("known keys here: {}", known.join(", ")));
            self.doc.report(
                &self.key_path(name),
                Some(key.span().start..value.span().end),
                "unknown key",
                Some(hint),
            );
        }
    }
}

/// The known key nearest to a typo: at most one edit per three characters, so that
/// `grid-limt-a` finds `grid-limit-a` but `foo` does not find `id`.
fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    let allowed = (name.chars().count() / 3).clamp(1, 3);
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, _)| *d <= allowed && *d < name.chars().count())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The largest current any key takes, in A: a 10 kA low-voltage connection is about
/// 7 MVA, beyond any depot; a larger number is a typo (W for A, an extra zero run) and
/// would overflow the sums downstream (`1e308` passed before, issue 17).
pub(super) const MAX_AMPS: f64 = 10_000.0;

/// A positive current in A, at most `MAX_AMPS`.
pub(super) fn amps(t: &Table<'_, '_>, key: &str, required: Option<&str>) -> Option<Amps> {
    let value = match required {
        Some(hint) => t.req_f64(key, hint)?,
        None => t.opt_f64(key)?,
    };
    if value < 0.0 {
        t.problem(
            key,
            format!("a current cannot be negative ({value} A)"),
            None,
        );
        return None;
    }
    if !value.is_finite() || value > MAX_AMPS {
        t.problem(
            key,
            format!("{value:e} A is beyond any grid connection"),
            Some(format!("currents are in A per phase, at most {MAX_AMPS}")),
        );
        return None;
    }
    Some(Amps(value))
}

pub(super) fn phases(t: &Table<'_, '_>, key: &str) -> Option<u8> {
    t.opt_int(key, 1, 3).map(|p| p as u8)
}

/// A socket address, `IP:PORT`.
pub(super) fn addr(t: &Table<'_, '_>, key: &str) -> Option<std::net::SocketAddr> {
    let text = t.opt_str(key)?;
    match text.parse() {
        Ok(a) => Some(a),
        Err(_) => {
            t.problem(
                key,
                format!("{text:?} is not an address"),
                Some("write IP:PORT, e.g. \"0.0.0.0:8887\"".into()),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: &str, f: impl FnOnce(&Table<'_, '_>)) -> Vec<Problem> {
        let doc = Doc::new(src);
        let parsed = DeTable::parse(src).expect("test TOML parses");
        let root = Table::root(&doc, &parsed);
        f(&root);
        doc.into_problems()
    }

    #[test]
    fn reports_every_problem_with_path_and_line() {
        let src = "[site]\nid = 5\ngrid-limt-a = 3\n\n[[charger]]\nmax-current-a = \"x\"\n";
        let problems = run(src, |root| {
            let site = root.opt_table("site").unwrap();
            assert_eq!(site.req_str("id", "name the site"), None);
            site.req_f64("grid-limit-a", "the main fuse, in A");
            site.finish(&["id", "grid-limit-a"]);
            for c in root.tables("charger") {
                c.opt_f64("max-current-a");
                c.finish(&["max-current-a"]);
            }
            root.finish(&["site", "charger"]);
        });
        let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(problems.len(), 4, "{lines:#?}");
        assert_eq!(problems[0].path, "site.grid-limit-a");
        assert_eq!(problems[1].path, "site.id");
        assert_eq!(problems[1].line, Some(2));
        assert_eq!(problems[2].path, "site.grid-limt-a");
        assert_eq!(
            problems[2].hint.as_deref(),
            Some("did you mean `grid-limit-a`?")
        );
        assert_eq!(problems[2].line, Some(3));
        assert_eq!(problems[3].path, "charger[0].max-current-a");
        assert_eq!(problems[3].line, Some(6));
        assert!(problems[3].message.contains("expected a number"));
    }

    #[test]
    fn integers_are_range_checked_and_numbers_accept_both_forms() {
        let problems = run("a = 70000\nb = 32\nc = 6.5\n", |root| {
            assert_eq!(root.opt_int("a", 0, 65535), None);
            assert_eq!(root.opt_f64("b"), Some(32.0));
            assert_eq!(root.opt_f64("c"), Some(6.5));
            root.finish(&["a", "b", "c"]);
        });
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("between 0 and 65535"));
    }
}
