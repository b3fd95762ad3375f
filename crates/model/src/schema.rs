//! What the reader discovers in a SQLite file.

/// SQLite's column affinity, derived from the declared type by the rules of
/// <https://www.sqlite.org/datatype3.html#determination_of_column_affinity>.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Affinity {
    /// Declared type contains `INT`.
    Integer,
    /// Contains `CHAR`, `CLOB` or `TEXT`.
    Text,
    /// Contains `BLOB`, or no type was declared.
    Blob,
    /// Contains `REAL`, `FLOA` or `DOUB`.
    Real,
    /// Anything else (`NUMERIC`, `DECIMAL`, `BOOLEAN`, `DATE`…).
    Numeric,
}

impl Affinity {
    /// Applies SQLite's affinity rules, in their documented order, to a
    /// declared type.
    pub fn of_declared_type(declared: &str) -> Affinity {
        let upper = declared.to_ascii_uppercase();
        if upper.contains("INT") {
            Affinity::Integer
        } else if upper.contains("CHAR") || upper.contains("CLOB") || upper.contains("TEXT") {
            Affinity::Text
        } else if upper.contains("BLOB") || upper.trim().is_empty() {
            Affinity::Blob
        } else if upper.contains("REAL") || upper.contains("FLOA") || upper.contains("DOUB") {
            Affinity::Real
        } else {
            Affinity::Numeric
        }
    }
}

/// One column of a SQLite table, as `PRAGMA table_xinfo` describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceColumn {
    /// Name as declared (case preserved).
    pub name: String,
    /// Declared type as written, possibly empty (`CREATE TABLE t(x)`).
    pub declared_type: String,
    /// Affinity SQLite derives from the declared type.
    pub affinity: Affinity,
    /// `NOT NULL` was declared.
    pub not_null: bool,
    /// The default expression as SQLite holds it (`CURRENT_TIMESTAMP`,
    /// `'x'`, `0`, `(datetime('now'))`…), untranslated.
    pub default_sql: Option<String>,
    /// 1-based position in the primary key, 0 when not part of it.
    pub primary_key_position: u32,
    /// A generated column: its values are copied, its expression is not.
    pub generated: bool,
}

impl SourceColumn {
    /// A nullable column of the declared type, with the affinity SQLite
    /// gives it, no default, outside the primary key, not generated.
    pub fn new(name: &str, declared_type: &str) -> SourceColumn {
        SourceColumn {
            name: name.to_owned(),
            declared_type: declared_type.to_owned(),
            affinity: Affinity::of_declared_type(declared_type),
            not_null: false,
            default_sql: None,
            primary_key_position: 0,
            generated: false,
        }
    }
}

/// How an index came to exist, as `PRAGMA index_list` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexOrigin {
    /// `CREATE INDEX`.
    CreateIndex,
    /// A `UNIQUE` constraint in the table definition.
    UniqueConstraint,
    /// The primary key of a table whose key is not the rowid.
    PrimaryKey,
}

/// One entry of an index's key.
#[derive(Clone, Debug, PartialEq)]
pub enum IndexedColumn {
    /// A plain column.
    Column {
        /// Column name.
        name: String,
        /// `DESC` was declared.
        descending: bool,
        /// Compared with SQLite's `NOCASE` collation (ASCII letters
        /// equal in either case), declared on the column or the index.
        nocase: bool,
    },
    /// An expression (`lower(email)`), as written in the index's SQL.
    Expression(String),
}

/// An index or unique constraint of a SQLite table.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexSchema {
    /// Index name (`sqlite_autoindex_…` for constraints).
    pub name: String,
    /// Enforces uniqueness.
    pub unique: bool,
    /// Where it came from.
    pub origin: IndexOrigin,
    /// Key entries in order.
    pub columns: Vec<IndexedColumn>,
    /// The `WHERE` predicate of a partial index, as written.
    pub where_sql: Option<String>,
}

/// A `FOREIGN KEY` of a SQLite table.
#[derive(Clone, Debug, PartialEq)]
pub struct ForeignKeySchema {
    /// Referencing columns, in order.
    pub columns: Vec<String>,
    /// The referenced table, as written.
    pub referenced_table: String,
    /// Referenced columns; empty means the referenced table's primary key.
    pub referenced_columns: Vec<String>,
    /// `ON UPDATE` action as SQLite reports it (`NO ACTION`, `CASCADE`…).
    pub on_update: String,
    /// `ON DELETE` action as SQLite reports it.
    pub on_delete: String,
    /// Declared `DEFERRABLE INITIALLY DEFERRED`: checked at commit.
    pub initially_deferred: bool,
}

/// A `CHECK` constraint of a SQLite table, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckSchema {
    /// `CONSTRAINT name`, when given.
    pub name: Option<String>,
    /// The column it is written on; `None` for a table constraint.
    pub column: Option<String>,
    /// The expression inside `CHECK ( … )`.
    pub expr: String,
}

/// A user table found in the SQLite file.
#[derive(Clone, Debug, PartialEq)]
pub struct TableSchema {
    /// Table name as declared (case preserved).
    pub name: String,
    /// Columns in declaration order (generated columns included).
    pub columns: Vec<SourceColumn>,
    /// Primary-key column names in key order; empty when the table has none.
    pub primary_key: Vec<String>,
    /// Declared `WITHOUT ROWID`: no rowid to chunk or key by.
    pub without_rowid: bool,
    /// The `INTEGER PRIMARY KEY` column that aliases the rowid, if any.
    pub rowid_alias: Option<String>,
    /// Declared `AUTOINCREMENT`: the high-water mark SQLite keeps for the
    /// table in `sqlite_sequence` (0 before any insert). SQLite never
    /// reuses a key at or below it, even after the largest rows are deleted.
    pub autoincrement: Option<i64>,
    /// Indexes and unique constraints (not the rowid primary key).
    pub indexes: Vec<IndexSchema>,
    /// Foreign keys.
    pub foreign_keys: Vec<ForeignKeySchema>,
    /// `CHECK` constraints, in the order written.
    pub checks: Vec<CheckSchema>,
    /// The `CREATE TABLE` statement, for reference in plans and errors.
    pub sql: String,
    /// Collations its `CREATE TABLE` names that SQLite does not define
    /// (an application's own, such as Anki's `unicase`): ferry reads such
    /// a table in binary order, and Postgres compares with its own.
    pub custom_collations: Vec<String>,
}

impl TableSchema {
    /// A rowid table of `columns` without keys, indexes, constraints or
    /// statement text.
    pub fn new(name: &str, columns: Vec<SourceColumn>) -> TableSchema {
        TableSchema {
            name: name.to_owned(),
            columns,
            primary_key: Vec::new(),
            without_rowid: false,
            rowid_alias: None,
            autoincrement: None,
            indexes: Vec::new(),
            foreign_keys: Vec::new(),
            checks: Vec::new(),
            sql: String::new(),
            custom_collations: Vec::new(),
        }
    }

    /// Index of the named column, compared as SQLite does (ASCII
    /// case-insensitively).
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }
}

/// Something in the SQLite file that ferry does not copy, and why.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SkippedObject {
    /// Object name.
    pub name: String,
    /// `view`, `trigger`, `virtual table`, `shadow table` or `internal table`.
    pub kind: String,
    /// One sentence a user can act on.
    pub reason: String,
}

/// The geometry blob formats of SQLite files, named by their spatial
/// metadata tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpatialFormat {
    /// OGC GeoPackage: `gpkg_spatial_ref_sys`, `gpkg_geometry_columns`.
    GeoPackage,
    /// SpatiaLite: `spatial_ref_sys`, `geometry_columns`.
    SpatiaLite,
}

impl std::fmt::Display for SpatialFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SpatialFormat::GeoPackage => "GeoPackage",
            SpatialFormat::SpatiaLite => "SpatiaLite",
        })
    }
}

/// A spatial reference system of the file: a row of GeoPackage's
/// `gpkg_spatial_ref_sys` or SpatiaLite's `spatial_ref_sys`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpatialRefSys {
    /// The id geometry blobs name (`srs_id`, `srid`).
    pub id: i32,
    /// The authority defining it (`EPSG`, `NONE`…).
    pub organization: String,
    /// Its code with that authority.
    pub organization_id: i32,
    /// Its name.
    pub name: String,
}

/// A geometry column as the file's metadata (`gpkg_geometry_columns`,
/// `geometry_columns`) declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeometryColumnSchema {
    /// Which metadata declares it.
    pub format: SpatialFormat,
    /// Table name, as written in the metadata.
    pub table: String,
    /// Column name, as written in the metadata.
    pub column: String,
    /// Geometry type name, upper case (`POINT`, `GEOMETRY`, `CURVEPOLYGON`).
    pub geometry_type: String,
    /// Whether values have Z: `Some` when every value must (not), `None`
    /// when optional.
    pub z: Option<bool>,
    /// Whether values have M, as for `z`.
    pub m: Option<bool>,
    /// The spatial reference system id of its values.
    pub srs_id: i32,
}

/// What a GeoPackage or SpatiaLite file says about its geometry; empty for
/// other files.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SpatialMetadata {
    /// Which metadata the file has, if any.
    pub format: Option<SpatialFormat>,
    /// Its spatial reference systems.
    pub reference_systems: Vec<SpatialRefSys>,
    /// Its declared geometry columns.
    pub geometry_columns: Vec<GeometryColumnSchema>,
}

impl SpatialMetadata {
    /// The metadata of `table.column`, names compared as SQLite does.
    pub fn column(&self, table: &str, column: &str) -> Option<&GeometryColumnSchema> {
        self.geometry_columns
            .iter()
            .find(|g| g.table.eq_ignore_ascii_case(table) && g.column.eq_ignore_ascii_case(column))
    }

    /// The reference system with id `id`.
    pub fn reference_system(&self, id: i32) -> Option<&SpatialRefSys> {
        self.reference_systems.iter().find(|r| r.id == id)
    }
}

/// Everything discovered in a SQLite file.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SourceSchema {
    /// User tables, in `sqlite_schema` order.
    pub tables: Vec<TableSchema>,
    /// Objects that are not copied.
    pub skipped: Vec<SkippedObject>,
    /// GeoPackage or SpatiaLite metadata of geometry columns.
    pub spatial: SpatialMetadata,
}

impl SourceSchema {
    /// The table with this name (ASCII case-insensitive, as SQLite).
    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.tables
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }
}

/// The part of a table one chunk covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkRange {
    /// Rows whose rowid lies in `start..=end`.
    Rowid {
        /// First rowid, inclusive.
        start: i64,
        /// Last rowid, inclusive.
        end: i64,
    },
    /// The whole table (tables without a rowid are read as one chunk).
    Whole,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affinity_follows_sqlite_rules_in_order() {
        let cases = [
            ("INTEGER", Affinity::Integer),
            ("BIGINT", Affinity::Integer),
            ("POINT", Affinity::Integer), // contains INT: SQLite's rule, not ours
            ("VARCHAR(20)", Affinity::Text),
            ("CHARINT", Affinity::Integer),
            ("CLOB", Affinity::Text),
            ("BLOB", Affinity::Blob),
            ("", Affinity::Blob),
            ("DOUBLE PRECISION", Affinity::Real),
            ("FLOATING POINT", Affinity::Integer),
            ("REAL", Affinity::Real),
            ("NUMERIC", Affinity::Numeric),
            ("DECIMAL(10,2)", Affinity::Numeric),
            ("BOOLEAN", Affinity::Numeric),
            ("DATETIME", Affinity::Numeric),
            ("STRING", Affinity::Numeric),
        ];
        for (declared, affinity) in cases {
            assert_eq!(Affinity::of_declared_type(declared), affinity, "{declared}");
        }
    }
}
