//! What ferry trusts in the target: only the objects of schema `ferry` it
//! can prove are its own.
//!
//! ferry writes to `ferry.copies`, `ferry.chunks`, `ferry.builds`,
//! `ferry.rejects` and `ferry.sync_state` as whoever runs it, often a
//! superuser. Anyone able to create schema `ferry` first (the loader's
//! `CREATE ON DATABASE` is enough) could otherwise put a trigger, a rule, a row-security policy, a
//! column default or an index expression on those tables that runs their
//! own function with the runner's privileges (issue 14). So before ferry
//! touches them, each must be owned by the connected role, a role it is a
//! member of, or a superuser; carry no trigger, rule or policy (ferry
//! creates none); and have exactly the columns and constraints ferry
//! creates, with no expression that calls anything outside `pg_catalog`.
//!
//! Membership is read from `pg_auth_members`, not `pg_has_role`: Postgres
//! counts a superuser as a member of every role, which would make a
//! superuser trust anything.

use tokio_postgres::GenericClient;

use crate::WriteError;

/// A table of schema `ferry` as ferry creates it.
pub(crate) struct OwnTable {
    /// Table name in schema `ferry`.
    pub name: &'static str,
    /// Columns in order: name, type as `format_type` prints it, `NOT NULL`.
    pub columns: &'static [(&'static str, &'static str, bool)],
    /// Constraints: name and `contype` (`p`, `u`, `f`, `c`).
    pub constraints: &'static [(&'static str, &'static str)],
}

/// Roles whose objects the connected role may trust: itself, every role it
/// is a member of (directly or through other roles), and superusers.
const TRUSTED_OWNER_SQL: &str = "
    WITH RECURSIVE mine(oid) AS (
        SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user
        UNION
        SELECT m.roleid FROM pg_catalog.pg_auth_members m JOIN mine ON m.member = mine.oid)
    SELECT oid FROM mine
    UNION SELECT oid FROM pg_catalog.pg_roles WHERE rolsuper";

fn untrusted(object: &str, reason: impl Into<String>) -> WriteError {
    WriteError::Untrusted {
        object: object.to_owned(),
        reason: reason.into(),
    }
}

/// Checks that schema `ferry`, if it exists, is owned by a trusted role.
/// `Ok(false)` when there is no such schema.
///
/// # Errors
///
/// [`WriteError::Untrusted`] naming the schema and its owner, or a
/// [`WriteError`] from the catalog query.
pub(crate) async fn check_ferry_schema(client: &impl GenericClient) -> Result<bool, WriteError> {
    let row = client
        .query_opt(
            &format!(
                "SELECT pg_catalog.pg_get_userbyid(n.nspowner)::text,
                        n.nspowner IN ({TRUSTED_OWNER_SQL})
                   FROM pg_catalog.pg_namespace n WHERE n.nspname = 'ferry'"
            ),
            &[],
        )
        .await
        .map_err(|e| WriteError::from_pg("schema ferry", "check who owns schema ferry", e))?;
    match row {
        None => Ok(false),
        Some(row) if row.get::<_, bool>(1) => Ok(true),
        Some(row) => Err(untrusted(
            "schema ferry",
            format!(
                "it is owned by role {}, which is neither the role ferry connects as, a role it \
                 is a member of, nor a superuser",
                row.get::<_, String>(0)
            ),
        )),
    }
}

/// Checks `ferry.<table>` if it exists: trusted owner, no trigger, rule or
/// policy, nothing an expression could call outside `pg_catalog`, and, when
/// `definition` is set, exactly the columns and constraints ferry creates.
/// `Ok(false)` when the table does not exist.
///
/// # Errors
///
/// [`WriteError::Untrusted`] naming the table and the first thing wrong
/// with it, or a [`WriteError`] from a catalog query.
pub(crate) async fn check_own_table(
    client: &impl GenericClient,
    table: &OwnTable,
    definition: bool,
) -> Result<bool, WriteError> {
    check_table(client, table, definition, true).await
}

/// [`check_own_table`], with the owner checked only when `owner` is set.
async fn check_table(
    client: &impl GenericClient,
    table: &OwnTable,
    definition: bool,
    owner: bool,
) -> Result<bool, WriteError> {
    let object = format!("table ferry.{}", table.name);
    let fail = |e| WriteError::from_pg(&object, "check the table ferry relies on", e);
    let Some(row) = client
        .query_opt(
            &format!(
                "SELECT c.oid, c.relkind::text, pg_catalog.pg_get_userbyid(c.relowner)::text,
                        c.relowner IN ({TRUSTED_OWNER_SQL}), c.relrowsecurity,
                        EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i
                                 WHERE i.inhrelid = c.oid OR i.inhparent = c.oid)
                   FROM pg_catalog.pg_class c
                  WHERE c.relnamespace = 'ferry'::regnamespace AND c.relname = $1"
            ),
            &[&table.name],
        )
        .await
        .map_err(fail)?
    else {
        return Ok(false);
    };
    let oid: u32 = row.get(0);
    if row.get::<_, String>(1) != "r" {
        return Err(untrusted(&object, "it is not a plain table"));
    }
    if owner && !row.get::<_, bool>(3) {
        return Err(untrusted(
            &object,
            format!(
                "it is owned by role {}, which is neither the role ferry connects as, a role it \
                 is a member of, nor a superuser",
                row.get::<_, String>(2)
            ),
        ));
    }
    if row.get::<_, bool>(4) {
        return Err(untrusted(&object, "row-level security is enabled on it"));
    }
    if row.get::<_, bool>(5) {
        return Err(untrusted(&object, "it has inheritance parents or children"));
    }
    // Triggers made for foreign keys are internal; every other trigger,
    // rule or policy is someone else's code.
    let attached = client
        .query(
            "SELECT 'trigger ' || tgname::text FROM pg_catalog.pg_trigger
              WHERE tgrelid = $1 AND NOT tgisinternal
             UNION ALL
             SELECT 'rule ' || rulename::text FROM pg_catalog.pg_rewrite WHERE ev_class = $1
             UNION ALL
             SELECT 'policy ' || polname::text FROM pg_catalog.pg_policy WHERE polrelid = $1
             UNION ALL
             SELECT 'index ' || ic.relname::text FROM pg_catalog.pg_index i
               JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
              WHERE i.indrelid = $1
                AND (i.indexprs IS NOT NULL OR i.indpred IS NOT NULL
                     OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                                     WHERE k.conrelid = $1 AND k.conindid = i.indexrelid))
             UNION ALL
             SELECT 'a default, constraint or index that uses ' || d.refobjid::regprocedure::text
               FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_proc p ON p.oid = d.refobjid
              WHERE d.refclassid = 'pg_catalog.pg_proc'::regclass
                AND p.pronamespace <> 'pg_catalog'::regnamespace
                AND ((d.classid = 'pg_catalog.pg_attrdef'::regclass
                      AND d.objid IN (SELECT oid FROM pg_catalog.pg_attrdef WHERE adrelid = $1))
                  OR (d.classid = 'pg_catalog.pg_constraint'::regclass
                      AND d.objid IN (SELECT oid FROM pg_catalog.pg_constraint WHERE conrelid = $1))
                  OR (d.classid = 'pg_catalog.pg_class'::regclass
                      AND d.objid IN (SELECT indexrelid FROM pg_catalog.pg_index WHERE indrelid = $1)))
             UNION ALL
             SELECT 'a default, constraint or index that uses operator ' || o.oid::regoperator::text
               FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_operator o ON o.oid = d.refobjid
              WHERE d.refclassid = 'pg_catalog.pg_operator'::regclass
                AND o.oprnamespace <> 'pg_catalog'::regnamespace
                AND ((d.classid = 'pg_catalog.pg_attrdef'::regclass
                      AND d.objid IN (SELECT oid FROM pg_catalog.pg_attrdef WHERE adrelid = $1))
                  OR (d.classid = 'pg_catalog.pg_constraint'::regclass
                      AND d.objid IN (SELECT oid FROM pg_catalog.pg_constraint WHERE conrelid = $1)))",
            &[&oid],
        )
        .await
        .map_err(fail)?;
    if !attached.is_empty() {
        let found: Vec<String> = attached.iter().map(|r| r.get(0)).collect();
        return Err(untrusted(
            &object,
            format!("it carries {} that ferry did not create", found.join(", ")),
        ));
    }
    if definition {
        check_definition(client, table, oid, &object).await?;
    }
    Ok(true)
}

/// The columns (in order, with types from `pg_catalog` only) and the
/// constraints must be exactly those ferry creates.
async fn check_definition(
    client: &impl GenericClient,
    table: &OwnTable,
    oid: u32,
    object: &str,
) -> Result<(), WriteError> {
    let fail = |e| WriteError::from_pg(object, "check the table ferry relies on", e);
    let columns: Vec<(String, String, bool, bool)> = client
        .query(
            "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
                    t.typnamespace = 'pg_catalog'::regnamespace
               FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
              WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
              ORDER BY a.attnum",
            &[&oid],
        )
        .await
        .map_err(fail)?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    let expected: Vec<(String, String, bool, bool)> = table
        .columns
        .iter()
        .map(|(name, pg_type, not_null)| {
            ((*name).to_owned(), (*pg_type).to_owned(), *not_null, true)
        })
        .collect();
    if columns != expected {
        let show = |cols: &[(String, String, bool, bool)]| {
            cols.iter()
                .map(|(name, pg_type, not_null, _)| {
                    format!(
                        "{name} {pg_type}{}",
                        if *not_null { " NOT NULL" } else { "" }
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(untrusted(
            object,
            format!(
                "its columns are ({}), not the ({}) ferry creates",
                show(&columns),
                show(&expected)
            ),
        ));
    }
    let mut constraints: Vec<(String, String)> = client
        .query(
            "SELECT conname::text, contype::text FROM pg_catalog.pg_constraint
              WHERE conrelid = $1 ORDER BY 1",
            &[&oid],
        )
        .await
        .map_err(fail)?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    constraints.sort();
    let mut expected: Vec<(String, String)> = table
        .constraints
        .iter()
        .map(|(name, kind)| ((*name).to_owned(), (*kind).to_owned()))
        .collect();
    expected.sort();
    if constraints != expected {
        let names = |c: &[(String, String)]| {
            c.iter()
                .map(|(name, _)| name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(untrusted(
            object,
            format!(
                "its constraints are ({}), not the ({}) ferry creates",
                names(&constraints),
                names(&expected)
            ),
        ));
    }
    Ok(())
}

/// Checks schema `ferry` and the given tables of it, creating whatever is
/// missing with `create_sql` in between: existing objects are checked
/// (for anything that could run code) before any DDL reaches them, and
/// everything is checked in full after. Runs in one transaction behind
/// the ledger's advisory lock, so processes started together do not
/// collide in the catalog.
pub(crate) async fn ensure_own_tables(
    client: &mut tokio_postgres::Client,
    tables: &[&OwnTable],
    create_sql: &str,
    what: &str,
) -> Result<(), WriteError> {
    let fail = |e| WriteError::from_pg("schema ferry", what, e);
    let transaction = client.transaction().await.map_err(fail)?;
    transaction
        .batch_execute("SELECT pg_advisory_xact_lock(hashtextextended('ferry ledger', 0))")
        .await
        .map_err(fail)?;
    if check_ferry_schema(&transaction).await? {
        for table in tables {
            check_own_table(&transaction, table, false).await?;
        }
    }
    transaction.batch_execute(create_sql).await.map_err(fail)?;
    check_ferry_schema(&transaction).await?;
    for table in tables {
        check_own_table(&transaction, table, true).await?;
    }
    transaction.commit().await.map_err(fail)
}

/// Checks an existing `ferry.<table>` that ferry only reads (verify reads
/// `ferry.rejects`, often as a read-only role that owns nothing): anyone
/// may own it, and a ledger from an older ferry may lack a column, but a
/// plain `SELECT` must run no one's code: a plain table with no rule,
/// policy or row security. `Ok(false)` when it does not exist.
///
/// # Errors
///
/// [`WriteError::Untrusted`] or a catalog error.
pub(crate) async fn check_before_reading(
    client: &impl GenericClient,
    table: &OwnTable,
) -> Result<bool, WriteError> {
    let exists: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'ferry')",
            &[],
        )
        .await
        .map_err(|e| WriteError::from_pg("schema ferry", "look for schema ferry", e))?
        .get(0);
    if !exists {
        return Ok(false);
    }
    check_table(client, table, false, false).await
}

/// Checks an existing target table before ferry writes into it: the table
/// (and, for a partitioned one, every partition) must be owned by a
/// trusted role, and no trigger on it may run a function owned by another
/// role. COPY fires row triggers as whoever runs ferry, often a superuser:
/// a role able to create the empty target table first (`CREATE` on the
/// schema is enough) could otherwise run its own function with the
/// runner's privileges (issue 14). Only owners can add rules, policies,
/// constraints or index expressions, so a trusted owner covers those.
///
/// # Errors
///
/// [`WriteError::Untrusted`] naming the table and what is wrong, or a
/// [`WriteError`] from the catalog query.
pub(crate) async fn check_target_table(
    client: &impl GenericClient,
    schema: &str,
    table: &str,
) -> Result<(), WriteError> {
    let object = format!("table {schema}.{table}");
    let rows = client
        .query(
            &format!(
                "WITH trusted AS ({TRUSTED_OWNER_SQL}),
                      root AS (SELECT pg_catalog.format('%I.%I', $1::text, $2::text)::regclass
                                          AS relid),
                      -- A plain table has no partition tree: itself alone.
                      tree AS (SELECT relid FROM root
                               UNION SELECT t.relid FROM root,
                                            pg_catalog.pg_partition_tree(root.relid) t)
                 SELECT pg_catalog.format('table %s is owned by role %s',
                            c.oid::regclass, pg_catalog.pg_get_userbyid(c.relowner))
                   FROM tree JOIN pg_catalog.pg_class c ON c.oid = tree.relid
                  WHERE c.relowner NOT IN (SELECT oid FROM trusted)
                 UNION ALL
                 SELECT pg_catalog.format('trigger %s on %s runs %s, owned by role %s',
                            t.tgname, t.tgrelid::regclass, p.oid::regprocedure,
                            pg_catalog.pg_get_userbyid(p.proowner))
                   FROM tree JOIN pg_catalog.pg_trigger t ON t.tgrelid = tree.relid
                   JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
                  WHERE NOT t.tgisinternal AND p.proowner NOT IN (SELECT oid FROM trusted)"
            ),
            &[&schema, &table],
        )
        .await
        .map_err(|e| WriteError::from_pg(&object, "check who owns the existing table", e))?;
    match rows.first() {
        None => Ok(()),
        Some(_) => Err(untrusted(
            &object,
            format!(
                "{}, which is neither the role ferry connects as, a role it is a member of, nor \
                 a superuser",
                rows.iter()
                    .map(|row| row.get::<_, String>(0))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )),
    }
}
