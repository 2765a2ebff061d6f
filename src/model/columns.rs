//! The canonical tables (docs/tables.md): every column's name, type and whether it is
//! required, and each table's key. Declared once; nothing is inferred.

/// The stored type of a canonical column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Trimmed text; empty is null.
    Text,
    /// An instant, stored as `Datetime(us, UTC)`.
    Timestamp,
    /// A calendar date, stored as `Date`.
    Date,
    /// Money or another number, stored as `Float64`.
    Number,
    /// Text restricted to a fixed lowercase vocabulary.
    Enum(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy)]
pub struct ColumnDef {
    pub name: &'static str,
    pub ty: ColumnType,
    pub required: bool,
}

#[derive(Debug)]
pub struct TableSchema {
    pub name: &'static str,
    pub columns: &'static [ColumnDef],
    /// Key columns: rows with one key are merged into one.
    pub key: &'static [&'static str],
    /// The column whose hash picks a row's partition: the first key column, except
    /// for `touches`, stored by lead so that per-lead steps work one partition at a
    /// time (a key's rows may then sit in two partitions; the merge resolves that).
    pub partition: &'static str,
}

impl TableSchema {
    /// Whether a key's rows can sit in different partitions.
    pub fn partitioned_off_key(&self) -> bool {
        self.partition != self.key[0]
    }

    pub fn column(&self, name: &str) -> Option<&ColumnDef> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn has_updated_at(&self) -> bool {
        self.column("updated_at").is_some()
    }
}

pub const STATUS_VALUES: &[&str] = &["open", "won", "lost"];
pub const TEAM_VALUES: &[&str] = &["marketing", "sales"];

const fn req(name: &'static str, ty: ColumnType) -> ColumnDef {
    ColumnDef {
        name,
        ty,
        required: true,
    }
}

const fn opt(name: &'static str, ty: ColumnType) -> ColumnDef {
    ColumnDef {
        name,
        ty,
        required: false,
    }
}

use ColumnType::{Date, Number, Text, Timestamp};

pub const LEADS: TableSchema = TableSchema {
    name: "leads",
    columns: &[
        req("lead_id", Text),
        req("created_at", Timestamp),
        opt("source", Text),
        opt("campaign_id", Text),
        opt("owner_id", Text),
        opt("segment", Text),
        opt("region", Text),
        opt("account_id", Text),
        opt("updated_at", Timestamp),
    ],
    key: &["lead_id"],
    partition: "lead_id",
};

pub const LEAD_STAGE_EVENTS: TableSchema = TableSchema {
    name: "lead_stage_events",
    columns: &[
        req("lead_id", Text),
        req("stage", Text),
        req("entered_at", Timestamp),
    ],
    key: &["lead_id", "stage", "entered_at"],
    partition: "lead_id",
};

pub const TOUCHES: TableSchema = TableSchema {
    name: "touches",
    columns: &[
        // Not required in the input: derived from the other columns when missing.
        opt("touch_id", Text),
        req("lead_id", Text),
        req("occurred_at", Timestamp),
        opt("channel", Text),
        opt("action", Text),
        req("team", ColumnType::Enum(TEAM_VALUES)),
        opt("campaign_id", Text),
    ],
    key: &["touch_id"],
    partition: "lead_id",
};

pub const CAMPAIGNS: TableSchema = TableSchema {
    name: "campaigns",
    columns: &[
        req("campaign_id", Text),
        opt("name", Text),
        opt("channel", Text),
        opt("started_at", Timestamp),
        opt("ended_at", Timestamp),
        opt("cost", Number),
        opt("currency", Text),
    ],
    key: &["campaign_id"],
    partition: "campaign_id",
};

pub const OPPORTUNITIES: TableSchema = TableSchema {
    name: "opportunities",
    columns: &[
        req("opportunity_id", Text),
        opt("lead_id", Text),
        opt("account_id", Text),
        opt("owner_id", Text),
        opt("pipeline", Text),
        req("created_at", Timestamp),
        opt("close_date", Date),
        opt("closed_at", Timestamp),
        req("status", ColumnType::Enum(STATUS_VALUES)),
        opt("stage", Text),
        opt("amount", Number),
        opt("currency", Text),
        opt("source", Text),
        opt("updated_at", Timestamp),
    ],
    key: &["opportunity_id"],
    partition: "opportunity_id",
};

pub const OPPORTUNITY_STAGE_EVENTS: TableSchema = TableSchema {
    name: "opportunity_stage_events",
    columns: &[
        req("opportunity_id", Text),
        req("stage", Text),
        req("entered_at", Timestamp),
        opt("amount", Number),
    ],
    key: &["opportunity_id", "stage", "entered_at"],
    partition: "opportunity_id",
};

pub const QUOTAS: TableSchema = TableSchema {
    name: "quotas",
    columns: &[
        req("owner_id", Text),
        req("period_start", Date),
        req("period_end", Date),
        req("amount", Number),
    ],
    key: &["owner_id", "period_start"],
    partition: "owner_id",
};

pub const OWNERS: TableSchema = TableSchema {
    name: "owners",
    columns: &[
        req("owner_id", Text),
        opt("name", Text),
        opt("team", Text),
        opt("manager_id", Text),
        opt("region", Text),
    ],
    key: &["owner_id"],
    partition: "owner_id",
};

/// Every canonical table, in the order they are ingested and listed.
pub const TABLES: &[&TableSchema] = &[
    &LEADS,
    &LEAD_STAGE_EVENTS,
    &TOUCHES,
    &CAMPAIGNS,
    &OPPORTUNITIES,
    &OPPORTUNITY_STAGE_EVENTS,
    &QUOTAS,
    &OWNERS,
];

pub fn table(name: &str) -> Option<&'static TableSchema> {
    TABLES.iter().copied().find(|t| t.name == name)
}

impl TableSchema {
    /// The stored polars type of each column.
    pub fn polars_schema(&self) -> polars::prelude::Schema {
        use polars::prelude::{DataType, Field, TimeUnit, TimeZone};
        polars::prelude::Schema::from_iter(self.columns.iter().map(|c| {
            let dtype = match c.ty {
                ColumnType::Text | ColumnType::Enum(_) => DataType::String,
                ColumnType::Timestamp => {
                    DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
                }
                ColumnType::Date => DataType::Date,
                ColumnType::Number => DataType::Float64,
            };
            Field::new(c.name.into(), dtype)
        }))
    }
}

#[cfg(test)]
mod docs_tests {
    use super::*;

    /// `docs/tables.md` lists every table and every column with its type and
    /// whether it is required, as declared here.
    #[test]
    fn the_tables_docs_match_the_schemas() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/tables.md");
        let docs = std::fs::read_to_string(path).unwrap();
        for t in TABLES {
            let heading = format!("### `{}`", t.name);
            let start = docs
                .find(&heading)
                .unwrap_or_else(|| panic!("docs/tables.md has no section {heading}"));
            let section = &docs[start + heading.len()..];
            let section = &section[..section.find("\n### ").unwrap_or(section.len())];
            for c in t.columns {
                let ty = match c.ty {
                    ColumnType::Text => "text".to_string(),
                    ColumnType::Timestamp => "timestamp".to_string(),
                    ColumnType::Date => "date".to_string(),
                    ColumnType::Number => "number".to_string(),
                    ColumnType::Enum(values) => format!(
                        "one of {}",
                        values
                            .iter()
                            .map(|v| format!("`{v}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                let row = match c.required {
                    true => format!("| {} | {ty} | yes |", c.name),
                    false => format!("| {} | {ty} | |", c.name),
                };
                assert!(
                    section.contains(&row),
                    "docs/tables.md, table `{}`: no row starting `{row}`",
                    t.name
                );
            }
        }
    }
}
