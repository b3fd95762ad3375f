//! Planning from hand-built schemas: names, types, defaults, keys, indexes
//! and foreign keys, and every planning error.

use std::collections::BTreeMap;

use ferry_model::{
    ForeignKeySchema, IndexOrigin, IndexSchema, IndexedColumn, NaiveZone, PgType, SourceColumn,
    SourceSchema, TablePlan, TableSchema,
};

use super::plan_tables;
use crate::{ColumnOverride, IdentifierCase, PlanOptions, TableOverride, TransformError};

fn with_default(mut c: SourceColumn, default: &str) -> SourceColumn {
    c.default_sql = Some(default.into());
    c
}

fn index(name: &str, origin: IndexOrigin, columns: &[&str]) -> IndexSchema {
    IndexSchema {
        name: name.into(),
        unique: origin != IndexOrigin::CreateIndex,
        origin,
        columns: columns
            .iter()
            .map(|c| match c.strip_prefix("expr:") {
                Some(expr) => IndexedColumn::Expression(expr.into()),
                None => IndexedColumn::Column {
                    name: c.trim_end_matches(" DESC").into(),
                    descending: c.ends_with(" DESC"),
                    nocase: false,
                },
            })
            .collect(),
        where_sql: None,
    }
}

fn fk(columns: &[&str], table: &str, referenced: &[&str]) -> ForeignKeySchema {
    ForeignKeySchema {
        columns: columns.iter().map(|c| c.to_string()).collect(),
        referenced_table: table.into(),
        referenced_columns: referenced.iter().map(|c| c.to_string()).collect(),
        on_update: "NO ACTION".into(),
        on_delete: "CASCADE".into(),
        initially_deferred: false,
    }
}

fn folders() -> TableSchema {
    let mut t = TableSchema::new(
        "Folders",
        vec![
            SourceColumn::new("Id", "INTEGER"),
            SourceColumn::new("Name", "TEXT"),
        ],
    );
    t.primary_key = vec!["Id".into()];
    t.rowid_alias = Some("Id".into());
    t
}

fn emails() -> TableSchema {
    let mut id = SourceColumn::new("ID", "INTEGER");
    id.primary_key_position = 1;
    let mut email = with_default(SourceColumn::new("Email", "VARCHAR(255)"), "''");
    email.not_null = true;
    let mut total = SourceColumn::new("Total", "");
    total.generated = true;
    let mut t = TableSchema::new(
        "Emails",
        vec![
            id,
            email,
            with_default(
                SourceColumn::new("created_at", "DATETIME"),
                "CURRENT_TIMESTAMP",
            ),
            with_default(SourceColumn::new("Flagged", "BOOLEAN"), "0"),
            with_default(SourceColumn::new("weird", "STRING"), "(random())"),
            SourceColumn::new("folder_id", "INTEGER"),
            SourceColumn::new("other_id", "INTEGER"),
            total,
            with_default(SourceColumn::new("price", "DECIMAL(10,2)"), "(0.5)"),
        ],
    );
    t.primary_key = vec!["ID".into()];
    t.rowid_alias = Some("ID".into());
    t.autoincrement = Some(100);
    let mut partial = index(
        "IX_Created",
        IndexOrigin::CreateIndex,
        &["created_at DESC", "id"],
    );
    partial.where_sql = Some("flagged = 1 AND weird IS NOT NULL".into());
    let mut bad_partial = index("ix_fn", IndexOrigin::CreateIndex, &["id"]);
    bad_partial.where_sql = Some("substr(email, 1) > 3".into());
    let mut lower = index("ix_lower", IndexOrigin::CreateIndex, &["expr:lower(Email)"]);
    lower.unique = true;
    t.indexes = vec![
        index(
            "sqlite_autoindex_Emails_1",
            IndexOrigin::UniqueConstraint,
            &["email", "folder_id"],
        ),
        index(
            "sqlite_autoindex_Emails_2",
            IndexOrigin::PrimaryKey,
            &["id"],
        ),
        partial,
        bad_partial,
        lower,
        index("ix_abs", IndexOrigin::CreateIndex, &["expr:abs(id)"]),
    ];
    t.foreign_keys = vec![
        fk(&["folder_id"], "folders", &[]),
        fk(&["other_id"], "missing", &["id"]),
    ];
    t
}

fn schema() -> SourceSchema {
    SourceSchema {
        tables: vec![folders(), emails()],
        skipped: Vec::new(),
        spatial: Default::default(),
    }
}

fn options(tables: &[&str]) -> PlanOptions {
    PlanOptions {
        schema: "app".into(),
        tables: tables.iter().map(|t| t.to_string()).collect(),
        ..PlanOptions::default()
    }
}

fn plan(options: &PlanOptions) -> Vec<TablePlan> {
    plan_tables(&schema(), options).expect("plans")
}

#[test]
fn plans_names_types_and_defaults() {
    let plans = plan(&options(&["Folders", "emails"]));
    assert_eq!(plans.len(), 2);
    let e = &plans[1];
    assert_eq!(
        (e.schema.as_str(), e.name.as_str(), e.source_name.as_str()),
        ("app", "emails", "Emails")
    );
    let summary: Vec<(&str, PgType, Option<&str>, bool)> = e
        .columns
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.pg_type,
                c.default_sql.as_deref(),
                c.identity,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("id", PgType::BigInt, None, true),
            ("email", PgType::Text, Some("''"), false),
            (
                "created_at",
                PgType::Timestamptz,
                Some("CURRENT_TIMESTAMP"),
                false
            ),
            ("flagged", PgType::Boolean, Some("false"), false),
            ("weird", PgType::Numeric(None), None, false),
            ("folder_id", PgType::BigInt, None, false),
            ("other_id", PgType::BigInt, None, false),
            ("total", PgType::Text, None, false),
            ("price", PgType::Numeric(Some((10, 2))), Some("0.50"), false),
        ]
    );
    assert!(e.columns[1].not_null);
    assert_eq!(e.primary_key, vec!["id"]);
    assert_eq!(e.identity_column().map(|c| c.name.as_str()), Some("id"));
    assert_eq!(e.identity_floor, 100, "AUTOINCREMENT high-water mark");
    let warnings = e.warnings.join("\n");
    for expected in [
        "column weird: declared type STRING has NUMERIC affinity in SQLite",
        "default (random()) of column weird not translated; set it by hand",
        "column Total: no declared type; mapped to text",
        "column Total is generated in SQLite; its values are copied but its expression is not kept",
        "index ix_fn on Emails not created: predicate WHERE substr(email, 1) > 3 is not translated",
        "index ix_abs on Emails not created: expression abs(id) is not translated",
        "foreign key (other_id) of Emails referencing missing not created: missing is not copied",
    ] {
        assert!(
            warnings.contains(expected),
            "missing {expected:?} in\n{warnings}"
        );
    }
}

#[test]
fn plans_constraints_and_indexes() {
    let plans = plan(&options(&["folders", "emails"]));
    let e = &plans[1];
    assert_eq!(e.uniques.len(), 1);
    assert_eq!(e.uniques[0].name, "emails_email_folder_id_key");
    assert_eq!(e.uniques[0].columns, vec!["email", "folder_id"]);
    assert_eq!(e.indexes.len(), 2);
    assert_eq!(e.indexes[0].name, "ix_created");
    assert!(!e.indexes[0].unique);
    assert_eq!(e.indexes[0].key_sql, vec!["\"created_at\" DESC", "\"id\""]);
    assert_eq!(
        e.indexes[0].where_sql.as_deref(),
        Some("\"flagged\" = true AND \"weird\" IS NOT NULL")
    );
    assert_eq!(e.indexes[1].name, "ix_lower");
    assert!(e.indexes[1].unique);
    assert_eq!(e.indexes[1].key_sql, vec!["lower(\"email\")"]);
    assert_eq!(e.foreign_keys.len(), 1);
    let f = &e.foreign_keys[0];
    assert_eq!(f.name, "emails_folder_id_fkey");
    assert_eq!(f.columns, vec!["folder_id"]);
    assert_eq!(f.referenced_table, "folders");
    assert_eq!(f.referenced_columns, vec!["id"]);
    assert_eq!(
        (f.on_update.as_str(), f.on_delete.as_str()),
        ("NO ACTION", "CASCADE")
    );
}

#[test]
fn foreign_keys_need_the_other_table_and_a_unique_key() {
    let plans = plan(&options(&["emails"]));
    assert!(plans[0].foreign_keys.is_empty());
    assert!(plans[0]
        .warnings
        .iter()
        .any(|w| w.contains("referencing folders not created: folders is not copied")));

    let mut s = schema();
    s.tables[1].foreign_keys = vec![
        fk(&["email"], "Folders", &["Name"]),
        fk(&["email"], "folders", &["id"]),
    ];
    let plans = plan_tables(&s, &options(&["folders", "emails"])).unwrap();
    let warnings = plans[1].warnings.join("\n");
    assert!(
        warnings.contains("Postgres requires a primary key or unique constraint on Folders(Name)"),
        "{warnings}"
    );
    assert!(
        warnings.contains("email is text but Folders.id is bigint"),
        "{warnings}"
    );
    assert!(plans[1].foreign_keys.is_empty());
}

#[test]
fn overrides_rename_retype_and_configure() {
    let mut o = options(&["folders", "emails"]);
    let mut columns = BTreeMap::new();
    columns.insert(
        "CREATED_AT".to_owned(),
        ColumnOverride {
            pg_type: Some(PgType::Text),
            rename: Some("Created".into()),
            strip_nul: Some(true),
            naive_timezone: Some(NaiveZone::Offset(3600)),
            ..ColumnOverride::default()
        },
    );
    columns.insert(
        "id".to_owned(),
        ColumnOverride {
            pg_type: Some(PgType::Text),
            ..ColumnOverride::default()
        },
    );
    o.overrides.insert(
        "emails".into(),
        TableOverride {
            rename: Some("Mail".into()),
            columns,
            partition: None,
            key_with_nulls: None,
        },
    );
    o.naive_timezone = NaiveZone::Offset(-7200);
    let plans = plan(&o);
    let e = &plans[1];
    assert_eq!(e.name, "Mail");
    let created = &e.columns[2];
    assert_eq!(
        (created.name.as_str(), created.pg_type),
        ("Created", PgType::Text)
    );
    assert!(created.coercion.strip_nul);
    assert_eq!(created.coercion.naive_timezone, NaiveZone::Offset(3600));
    assert_eq!(
        e.columns[3].coercion.naive_timezone,
        NaiveZone::Offset(-7200)
    );
    // CURRENT_TIMESTAMP on a text column keeps SQLite's text form.
    assert_eq!(
        created.default_sql.as_deref(),
        Some("to_char((now() AT TIME ZONE 'UTC'), 'YYYY-MM-DD HH24:MI:SS')")
    );
    assert!(!e.columns[0].identity, "text is no identity");
    assert_eq!(e.foreign_keys.len(), 1);
}

#[test]
fn unknown_names_in_overrides_are_errors() {
    let mut o = options(&["emails"]);
    let mut columns = BTreeMap::new();
    columns.insert("craeted_at".to_owned(), ColumnOverride::default());
    o.overrides.insert(
        "emails".into(),
        TableOverride {
            rename: None,
            columns,
            partition: None,
            key_with_nulls: None,
        },
    );
    let err = plan_tables(&schema(), &o).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ferry.toml: [tables.emails.columns.craeted_at]: no such column in Emails; columns are: \
         ID, Email, created_at, Flagged, weird, folder_id, other_id, Total, price"
    );

    let mut o = options(&["emails"]);
    o.overrides
        .insert("my mails".into(), TableOverride::default());
    let err = plan_tables(&schema(), &o).unwrap_err();
    assert!(matches!(err, TransformError::UnknownTable { .. }));
    assert_eq!(
        err.to_string(),
        "ferry.toml: [tables.\"my mails\"]: no such table my mails in the SQLite file; tables \
         are: Folders, Emails"
    );

    let err = plan_tables(&schema(), &options(&["nope"])).unwrap_err();
    assert!(err
        .to_string()
        .starts_with("table list: no such table nope"));

    let mut o = options(&["emails"]);
    o.naive_timezone = NaiveZone::Offset(16 * 3600);
    assert!(matches!(
        plan_tables(&schema(), &o),
        Err(TransformError::InvalidOffset { .. })
    ));
}

#[test]
fn collisions_are_errors_naming_both_sources() {
    let s = SourceSchema {
        tables: vec![
            TableSchema::new("Ünits", vec![SourceColumn::new("a", "TEXT")]),
            TableSchema::new("ünits", vec![SourceColumn::new("a", "TEXT")]),
        ],
        skipped: Vec::new(),
        spatial: Default::default(),
    };
    // SQLite folds ASCII only, so these are two tables; Unicode folding meets them.
    let err = plan_tables(&s, &options(&["Ünits", "ünits"])).unwrap_err();
    assert_eq!(
        err,
        TransformError::NameCollision {
            scope: "schema app".into(),
            target: "ünits".into(),
            first: "table Ünits".into(),
            second: "table ünits".into(),
        }
    );
    let mut preserve = options(&["Ünits", "ünits"]);
    preserve.identifiers = IdentifierCase::Preserve;
    assert_eq!(plan_tables(&s, &preserve).unwrap()[0].name, "Ünits");

    let long = "x".repeat(70);
    let s = SourceSchema {
        tables: vec![TableSchema::new(
            "t",
            vec![
                SourceColumn::new(&format!("{long}1"), "TEXT"),
                SourceColumn::new(&format!("{long}2"), "TEXT"),
            ],
        )],
        skipped: Vec::new(),
        spatial: Default::default(),
    };
    let err = plan_tables(&s, &options(&["t"])).unwrap_err();
    assert!(err.to_string().contains("in table t"), "{err}");

    let mut t = TableSchema::new("t", vec![SourceColumn::new("a", "TEXT")]);
    t.indexes = vec![index("T", IndexOrigin::CreateIndex, &["a"])];
    let s = SourceSchema {
        tables: vec![t],
        skipped: Vec::new(),
        spatial: Default::default(),
    };
    let err = plan_tables(&s, &options(&["t"])).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("table t and index T would both be named \"t\""),
        "{err}"
    );
}

#[test]
fn generated_names_step_around_taken_ones() {
    let mut t = TableSchema::new("t", vec![SourceColumn::new("a", "TEXT")]);
    t.indexes = vec![
        index("t_a_key", IndexOrigin::CreateIndex, &["a"]),
        index(
            "sqlite_autoindex_t_1",
            IndexOrigin::UniqueConstraint,
            &["a"],
        ),
    ];
    let s = SourceSchema {
        tables: vec![t],
        skipped: Vec::new(),
        spatial: Default::default(),
    };
    let plans = plan_tables(&s, &options(&["t"])).unwrap();
    assert_eq!(plans[0].indexes[0].name, "t_a_key");
    assert_eq!(plans[0].uniques[0].name, "t_a_key1");
}

#[test]
fn system_column_names_and_empty_names_are_renamed_with_a_warning() {
    let schema = SourceSchema {
        tables: vec![TableSchema::new(
            "t",
            vec![
                SourceColumn::new("XMIN", "INTEGER"),
                SourceColumn::new("ctid", "TEXT"),
                SourceColumn::new("", "TEXT"),
                SourceColumn::new("xmin_ish", "TEXT"),
            ],
        )],
        skipped: Vec::new(),
        spatial: Default::default(),
    };
    let plans = plan_tables(&schema, &options(&["t"])).expect("plans");
    let names: Vec<&str> = plans[0].columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["xmin_", "ctid_", "column_3", "xmin_ish"]);
    assert!(plans[0].warnings.iter().any(|w| w
        == "column \"XMIN\": Postgres reserves \"xmin\" (a system column or an empty name), \
            so it becomes xmin_; set rename in ferry.toml to choose another"));
    assert_eq!(plans[0].warnings.len(), 3, "{:?}", plans[0].warnings);
}

#[test]
fn check_constraints_are_translated_or_reported() {
    let check = |name: Option<&str>, column: Option<&str>, expr: &str| ferry_model::CheckSchema {
        name: name.map(str::to_owned),
        column: column.map(str::to_owned),
        expr: expr.to_owned(),
    };
    let mut log = TableSchema::new(
        "Log",
        vec![
            SourceColumn::new("Flag", "smallint unsigned"),
            SourceColumn::new("status", "TEXT"),
            SourceColumn::new("active", "BOOLEAN"),
            SourceColumn::new("xmin", "INTEGER"),
            SourceColumn::new("data", "TEXT"),
        ],
    );
    log.checks = vec![
        check(None, Some("Flag"), "\"Flag\" >= 0"),
        check(
            Some("Known"),
            Some("status"),
            "status IN ('a', 'b') AND length(status) < 9",
        ),
        check(None, Some("active"), "active IN (0, 1)"),
        check(None, Some("xmin"), "xmin BETWEEN 1 AND 9"),
        check(None, None, "(JSON_VALID(\"data\") OR \"data\" IS NULL)"),
        check(None, None, "flag < xmin"),
    ];
    let schema = SourceSchema {
        tables: vec![log],
        skipped: Vec::new(),
        spatial: Default::default(),
    };
    let plans = plan_tables(&schema, &options(&["Log"])).expect("plans");
    let checks: Vec<(&str, &str)> = plans[0]
        .checks
        .iter()
        .map(|c| (c.name.as_str(), c.sql.as_str()))
        .collect();
    assert_eq!(
        checks,
        [
            ("log_flag_check", "\"flag\" >= 0"),
            (
                "known",
                "\"status\" IN ('a', 'b') AND length(\"status\") < 9"
            ),
            ("log_active_check", "\"active\" IN (false, true)"),
            ("log_xmin__check", "\"xmin_\" BETWEEN 1 AND 9"),
            ("log_check", "\"flag\" < \"xmin_\""),
        ]
    );
    assert!(plans[0].warnings.iter().any(|w| w
        == "CHECK ((JSON_VALID(\"data\") OR \"data\" IS NULL)) of Log not translated; add it by hand"),
        "{:?}", plans[0].warnings);
}
