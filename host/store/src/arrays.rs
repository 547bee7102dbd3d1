//! Lists bound as PostgreSQL arrays.
//!
//! A statement over a list (a multi-row insert, an `IN` list, a set of
//! rows to join) binds one parameter per value on SQLite. On PostgreSQL
//! that made the statement's text depend on the list's length, so nearly
//! every run was a statement the connection had never prepared, planned
//! afresh for its parameters: planning took more server time than
//! executing (docs/BENCHMARKS.md, 2026-11-30, session 7). There each
//! column is one array parameter instead (`unnest`, `= ANY`): one text per
//! statement, prepared once per connection and, after five runs, run on a
//! cached generic plan.

use sqlx::AnyConnection;

/// Whether `c` talks to PostgreSQL.
pub(crate) fn is_postgres(c: &AnyConnection) -> bool {
    c.backend_name() == "PostgreSQL"
}

/// `unnest(CAST($first AS t1[]), CAST($first+1 AS t2[]), …) AS v(column1,
/// column2, …)`: the rows of one array parameter per column, named as
/// SQLite names the columns of `(VALUES …) AS v`, so the rest of a
/// statement reads the same on both.
pub(crate) fn unnest(first: usize, types: &[&str]) -> String {
    let arrays: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("CAST(${} AS {t}[])", first + i))
        .collect();
    let names: Vec<String> = (1..=types.len()).map(|i| format!("column{i}")).collect();
    format!("unnest({}) AS v({})", arrays.join(", "), names.join(", "))
}

/// A statement that writes rows, as the multi-row inserts are.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// How a part's rows are written: SQLite binds every value
/// (`Values(rows)`); PostgreSQL binds an array per column (`Arrays`).
#[derive(Clone, Copy)]
pub(crate) enum Shape {
    /// `VALUES` of this many rows.
    Values(usize),
    /// One array per column.
    Arrays,
}

pub(crate) fn shape(postgres: bool, rows: usize) -> Shape {
    if postgres {
        Shape::Arrays
    } else {
        Shape::Values(rows)
    }
}

/// The rows of an insert: `VALUES (…), …` or `SELECT * FROM unnest(…)`.
/// `template` is a SQLite row (`?` marks), `types` the PostgreSQL
/// column types, in the same order.
pub(crate) fn insert_rows(shape: Shape, first: usize, template: &str, types: &[&str]) -> String {
    match shape {
        Shape::Values(rows) => format!("VALUES {}", super::values_rows(rows, first, template)),
        Shape::Arrays => format!("SELECT * FROM {}", unnest(first, types)),
    }
}

/// Eight text columns and a time.
pub(crate) const TEXTS_AND_TIME: [&str; 9] = [
    "text", "text", "text", "text", "text", "text", "text", "text", "bigint",
];

/// A query reading rows, as the store's `IN`-list reads are.
type AnyQueryAs<'q, O> = sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments>;

/// An `IN` list of `count` texts bound from parameter `first`:
/// `IN ($first, …)` on SQLite, `= ANY(CAST($first AS text[]))` on
/// PostgreSQL. Returns the condition and the next free parameter.
pub(crate) fn in_texts(postgres: bool, first: usize, count: usize) -> (String, usize) {
    if postgres {
        (format!("= ANY(CAST(${first} AS text[]))"), first + 1)
    } else {
        let list = super::placeholders(first, count);
        (format!("IN ({list})"), first + count)
    }
}

/// Binds the texts of an [`in_texts`] list.
pub(crate) fn bind_texts<'q, O>(
    q: AnyQueryAs<'q, O>,
    postgres: bool,
    items: &[&'q str],
) -> AnyQueryAs<'q, O> {
    if postgres {
        return q.bind(text_array(items.iter().copied().map(Some)));
    }
    items.iter().fold(q, |q, item| q.bind(*item))
}

/// A `text[]` literal: every element quoted (`\` and `"` escaped), so no
/// value can end an element or the array; `None` is `NULL`.
pub(crate) fn text_array<'a>(items: impl IntoIterator<Item = Option<&'a str>>) -> String {
    let mut out = String::from("{");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let Some(text) = item else {
            out.push_str("NULL");
            continue;
        };
        out.push('"');
        for ch in text.chars() {
            if ch == '"' || ch == '\\' {
                out.push('\\');
            }
            out.push(ch);
        }
        out.push('"');
    }
    out.push('}');
    out
}

/// A `bigint[]` literal; `None` is `NULL`.
pub(crate) fn int_array(items: impl IntoIterator<Item = Option<i64>>) -> String {
    let items: Vec<String> = items
        .into_iter()
        .map(|i| i.map_or_else(|| "NULL".to_string(), |i| i.to_string()))
        .collect();
    format!("{{{}}}", items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_arrays_quote_every_element() {
        let hostile = r#"a","b\"},{NULL"#;
        assert_eq!(
            text_array([Some("x"), None, Some(""), Some(hostile)]),
            r#"{"x",NULL,"","a\",\"b\\\"},{NULL"}"#
        );
        assert_eq!(text_array(std::iter::empty()), "{}");
    }

    #[test]
    fn int_arrays_and_sources() {
        assert_eq!(int_array([Some(-1), None, Some(7)]), "{-1,NULL,7}");
        assert_eq!(
            unnest(2, &["text", "bigint"]),
            "unnest(CAST($2 AS text[]), CAST($3 AS bigint[])) AS v(column1, column2)"
        );
        assert_eq!(
            in_texts(true, 4, 3),
            ("= ANY(CAST($4 AS text[]))".to_string(), 5)
        );
        assert_eq!(in_texts(false, 4, 3), ("IN ($4, $5, $6)".to_string(), 7));
    }
}
