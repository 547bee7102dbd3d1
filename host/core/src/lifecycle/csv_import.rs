//! Prospects imported from a CSV file, as people export them from a CRM
//! or a spreadsheet: a header row naming the columns, then one prospect
//! per row. Every row gets a line in the report (imported, or refused
//! with the same codes as the JSON import, or unreadable), so a person
//! can fix the bad rows and import them again.

use super::LifecycleError;
use super::prospects::{ImportRequest, MAX_IMPORT, ProspectInput, import};
use crate::app::App;
use serde::Serialize;

/// The largest CSV file read (5,000 rows of long URLs fit).
pub const MAX_CSV_BYTES: usize = 4 << 20;

/// What happened to one row.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RowReport {
    /// Its line in the file (the header is line 1).
    pub line: u64,
    /// `imported`, `rejected` or `unreadable`.
    pub outcome: &'static str,
    /// Why it was refused (`missing_identifier`, `invalid_profile_url`,
    /// `duplicate_prospect`, `malformed_row`, …).
    pub code: Option<&'static str>,
    /// Explanation.
    pub message: Option<String>,
}

/// What a CSV import did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CsvReport {
    /// Prospects created.
    pub imported: u64,
    /// Enrollments created in the campaign.
    pub enrolled: u64,
    /// One line per data row, in file order.
    pub rows: Vec<RowReport>,
}

impl CsvReport {
    /// The rows that were not imported.
    pub fn problems(&self) -> impl Iterator<Item = &RowReport> {
        self.rows.iter().filter(|r| r.outcome != "imported")
    }
}

/// Which field a header names (several spellings people use).
fn field(header: &str) -> Option<usize> {
    let h: String = header
        .trim()
        .trim_start_matches('\u{feff}')
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .collect();
    match h.as_str() {
        "full_name" | "name" | "fullname" => Some(0),
        "profile_url" | "linkedin_url" | "linkedin" | "url" | "linkedin_profile_url" => Some(1),
        "member_id" | "provider_id" => Some(2),
        "sales_nav_lead_url" | "sales_navigator_url" | "sales_nav_url" => Some(3),
        "public_identifier" | "slug" | "vanity" => Some(4),
        _ => None,
    }
}

/// Imports the prospects of `csv` into campaign `campaign_id`
/// (`invalid_csv` for a file that is empty, too large, without a header
/// naming at least one identifier column, or with more than
/// [`MAX_IMPORT`] rows; then as [`import`]). Unreadable rows are
/// reported and skipped; the readable ones go through [`import`] in one
/// transaction.
pub async fn import_csv(
    app: &App,
    campaign_id: &str,
    csv: &[u8],
    source: &'static str,
) -> Result<CsvReport, LifecycleError> {
    if csv.len() > MAX_CSV_BYTES {
        return Err(LifecycleError::invalid(
            "invalid_csv",
            format!("the file is over {} MiB", MAX_CSV_BYTES >> 20),
        ));
    }
    let (inputs, mut rows) = parse(csv)?;
    if inputs.is_empty() {
        return Ok(CsvReport {
            imported: 0,
            enrolled: 0,
            rows,
        });
    }
    let lines: Vec<u64> = inputs.iter().map(|(line, _)| *line).collect();
    let request = ImportRequest {
        prospects: inputs.into_iter().map(|(_, p)| p).collect(),
    };
    let report = import(app, campaign_id, request, source).await?;
    let mut rejected = std::collections::HashMap::new();
    for r in report.rejected {
        rejected.insert(r.index, (r.code, r.message));
    }
    for (index, line) in lines.into_iter().enumerate() {
        rows.push(match rejected.remove(&index) {
            Some((code, message)) => RowReport {
                line,
                outcome: "rejected",
                code: Some(code),
                message: Some(message),
            },
            None => RowReport {
                line,
                outcome: "imported",
                code: None,
                message: None,
            },
        });
    }
    rows.sort_by_key(|r| r.line);
    Ok(CsvReport {
        imported: report.imported,
        enrolled: report.enrolled,
        rows,
    })
}

/// The readable rows as import items (with their line), and a report
/// line for each unreadable one.
#[allow(clippy::type_complexity)]
fn parse(csv: &[u8]) -> Result<(Vec<(u64, ProspectInput)>, Vec<RowReport>), LifecycleError> {
    let invalid = |m: String| LifecycleError::invalid("invalid_csv", m);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(csv);
    let headers = reader
        .headers()
        .map_err(|e| invalid(format!("the header row cannot be read: {e}")))?
        .clone();
    let columns: Vec<Option<usize>> = headers.iter().map(field).collect();
    if !columns.iter().any(|c| matches!(c, Some(1..=3))) {
        return Err(invalid(format!(
            "the header row ({}) names no identifier column: use profile_url (or linkedin_url), member_id or sales_nav_lead_url, and optionally full_name",
            headers.iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let mut items = Vec::new();
    let mut problems = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = record
            .as_ref()
            .ok()
            .and_then(|r| r.position())
            .map_or(i as u64 + 2, |p| p.line());
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.push(RowReport {
                    line,
                    outcome: "unreadable",
                    code: Some("malformed_row"),
                    message: Some(e.to_string()),
                });
                continue;
            }
        };
        if record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() != headers.len() {
            problems.push(RowReport {
                line,
                outcome: "unreadable",
                code: Some("malformed_row"),
                message: Some(format!(
                    "{} fields where the header names {}",
                    record.len(),
                    headers.len()
                )),
            });
            continue;
        }
        let mut p = ProspectInput::default();
        for (value, column) in record.iter().zip(&columns) {
            let value = (!value.is_empty()).then(|| value.to_string());
            match column {
                Some(0) => p.full_name = value,
                Some(1) => p.profile_url = value,
                Some(2) => p.member_id = value,
                Some(3) => p.sales_nav_lead_url = value,
                Some(4) => p.public_identifier = value,
                _ => {}
            }
        }
        items.push((line, p));
    }
    if items.len() > MAX_IMPORT {
        return Err(invalid(format!(
            "the file holds {} rows; import at most {MAX_IMPORT} at a time",
            items.len()
        )));
    }
    Ok((items, problems))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_with_their_lines_and_bad_ones_reported() {
        let csv = b"Name,LinkedIn URL\nAda,https://www.linkedin.com/in/ada\n\"Bob,https://x\nCy,https://www.linkedin.com/in/cy,extra\n";
        let (items, problems) = parse(csv).unwrap_or_default();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].0, 2);
        assert_eq!(items[0].1.full_name.as_deref(), Some("Ada"));
        assert!(!problems.is_empty());
    }

    #[test]
    fn a_header_without_identifiers_is_refused() {
        assert!(matches!(
            parse(b"name,company\nAda,ACME\n"),
            Err(LifecycleError::Invalid {
                code: "invalid_csv",
                ..
            })
        ));
    }
}
