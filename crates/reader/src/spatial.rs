//! GeoPackage's and SpatiaLite's spatial metadata: the reference systems a
//! file defines and what it declares of each geometry column.
//!
//! Only read from tables that exist with the columns their standard
//! gives them, so any other file (or one whose tables merely share a
//! name) has none. Values of an unexpected storage class are skipped,
//! not errors: the metadata only refines the plan.

use ferry_model::{
    GeometryColumnSchema, GeometryShape, SpatialFormat, SpatialMetadata, SpatialRefSys, TableSchema,
};
use rusqlite::types::Value;

use crate::db::SourceDb;
use crate::error::ReadError;
use crate::ident::quote_sqlite_ident;

impl SourceDb {
    /// The spatial metadata of a file whose user tables are `tables`.
    pub(crate) fn spatial_metadata(
        &self,
        tables: &[TableSchema],
    ) -> Result<SpatialMetadata, ReadError> {
        let has = |table: &str, columns: &[&str]| -> Option<String> {
            let found = tables.iter().find(|t| t.name.eq_ignore_ascii_case(table))?;
            let all = columns.iter().all(|c| found.column_index(c).is_some());
            all.then(|| quote_sqlite_ident(&found.name))
        };
        if let (Some(srs), Some(columns)) = (
            has(
                "gpkg_spatial_ref_sys",
                &[
                    "srs_id",
                    "organization",
                    "organization_coordsys_id",
                    "srs_name",
                ],
            ),
            has(
                "gpkg_geometry_columns",
                &[
                    "table_name",
                    "column_name",
                    "geometry_type_name",
                    "srs_id",
                    "z",
                    "m",
                ],
            ),
        ) {
            return Ok(SpatialMetadata {
                format: Some(SpatialFormat::GeoPackage),
                reference_systems: self.reference_systems(&format!(
                    "SELECT srs_id, organization, organization_coordsys_id, srs_name FROM {srs}"
                ))?,
                geometry_columns: self.rows(
                    &format!(
                        "SELECT table_name, column_name, geometry_type_name, srs_id, z, m \
                         FROM {columns}"
                    ),
                    geopackage_column,
                )?,
            });
        }
        let srs = has(
            "spatial_ref_sys",
            &["srid", "auth_name", "auth_srid", "ref_sys_name"],
        );
        let columns = has(
            "geometry_columns",
            &["f_table_name", "f_geometry_column", "srid"],
        );
        let (Some(srs), Some(columns)) = (srs, columns) else {
            return Ok(SpatialMetadata::default());
        };
        // SpatiaLite 4 numbers the type (geometry_type); earlier versions
        // name it (type) and give the dimensions apart (coord_dimension).
        let sql = match has("geometry_columns", &["geometry_type"]) {
            Some(_) => format!(
                "SELECT f_table_name, f_geometry_column, geometry_type, srid FROM {columns}"
            ),
            None => format!(
                "SELECT f_table_name, f_geometry_column, type, srid, coord_dimension \
                 FROM {columns}"
            ),
        };
        Ok(SpatialMetadata {
            format: Some(SpatialFormat::SpatiaLite),
            reference_systems: self.reference_systems(&format!(
                "SELECT srid, auth_name, auth_srid, ref_sys_name FROM {srs}"
            ))?,
            geometry_columns: self.rows(&sql, spatialite_column)?,
        })
    }

    fn reference_systems(&self, sql: &str) -> Result<Vec<SpatialRefSys>, ReadError> {
        self.rows(sql, |row| {
            Some(SpatialRefSys {
                id: int(&row[0])?,
                organization: text(&row[1])?,
                organization_id: int(&row[2])?,
                name: text(&row[3]).unwrap_or_default(),
            })
        })
    }

    /// The rows of `sql`, each made by `make` from its values; rows it
    /// makes nothing of are left out.
    fn rows<T>(&self, sql: &str, make: fn(&[Value]) -> Option<T>) -> Result<Vec<T>, ReadError> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.schema_error(e))?;
        let width = stmt.column_count();
        let rows = stmt
            .query_map([], |row| {
                (0..width)
                    .map(|i| row.get::<_, Value>(i))
                    .collect::<Result<Vec<_>, _>>()
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.schema_error(e))?;
        Ok(rows.iter().filter_map(|row| make(row)).collect())
    }
}

fn int(value: &Value) -> Option<i32> {
    match value {
        Value::Integer(i) => i32::try_from(*i).ok(),
        Value::Text(t) => t.trim().parse().ok(),
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::Text(t) => Some(t.clone()),
        _ => None,
    }
}

/// GeoPackage's `z` and `m`: 0 prohibited, 1 mandatory, 2 optional.
fn presence(value: &Value) -> Option<Option<bool>> {
    match int(value)? {
        0 => Some(Some(false)),
        1 => Some(Some(true)),
        2 => Some(None),
        _ => None,
    }
}

fn geopackage_column(row: &[Value]) -> Option<GeometryColumnSchema> {
    Some(GeometryColumnSchema {
        format: SpatialFormat::GeoPackage,
        table: text(&row[0])?,
        column: text(&row[1])?,
        geometry_type: text(&row[2])?.trim().to_ascii_uppercase(),
        srs_id: int(&row[3])?,
        z: presence(&row[4])?,
        m: presence(&row[5])?,
    })
}

fn spatialite_column(row: &[Value]) -> Option<GeometryColumnSchema> {
    let (geometry_type, z, m) = match row.get(4) {
        // SpatiaLite 4: 0 GEOMETRY, 1-7 the WKB shapes, plus 1000 Z, 2000 M, 3000 ZM.
        None => {
            let code = int(&row[2])?;
            let name = match code % 1000 {
                0 => "GEOMETRY".to_owned(),
                shape => GeometryShape::from_wkb_code(u32::try_from(shape).ok()?)?
                    .name()
                    .to_ascii_uppercase(),
            };
            let (z, m) = match code / 1000 {
                0 => (false, false),
                1 => (true, false),
                2 => (false, true),
                3 => (true, true),
                _ => return None,
            };
            (name, z, m)
        }
        Some(dimension) => {
            let dimension = match dimension {
                Value::Integer(i) => i.to_string(),
                other => text(other)?,
            };
            let (z, m) = match dimension.trim().to_ascii_uppercase().as_str() {
                "2" | "XY" => (false, false),
                "3" | "XYZ" => (true, false),
                "XYM" => (false, true),
                "4" | "XYZM" => (true, true),
                _ => return None,
            };
            (text(&row[2])?.trim().to_ascii_uppercase(), z, m)
        }
    };
    Some(GeometryColumnSchema {
        format: SpatialFormat::SpatiaLite,
        table: text(&row[0])?,
        column: text(&row[1])?,
        geometry_type,
        srs_id: int(&row[3])?,
        z: Some(z),
        m: Some(m),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::discover;

    #[test]
    fn reads_geopackage_metadata() {
        let schema = discover(
            "CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT, srs_id INTEGER PRIMARY KEY,
                 organization TEXT, organization_coordsys_id INTEGER, definition TEXT);
             INSERT INTO gpkg_spatial_ref_sys VALUES ('WGS 84', 4326, 'EPSG', 4326, ''),
                 ('Local', 99, 'NONE', 7, ''), ('bad', 5, 'EPSG', 'x', '');
             CREATE TABLE gpkg_geometry_columns (table_name TEXT, column_name TEXT,
                 geometry_type_name TEXT, srs_id INTEGER, z TINYINT, m TINYINT);
             INSERT INTO gpkg_geometry_columns VALUES ('Places', 'geom', 'point', 4326, 0, 2),
                 ('bad', 'g', 'POINT', 4326, 5, 0);",
        );
        let spatial = schema.spatial;
        assert_eq!(spatial.format, Some(SpatialFormat::GeoPackage));
        assert_eq!(spatial.reference_systems.len(), 2);
        assert_eq!(spatial.reference_system(99).unwrap().organization, "NONE");
        assert_eq!(
            spatial.column("places", "GEOM"),
            Some(&GeometryColumnSchema {
                format: SpatialFormat::GeoPackage,
                table: "Places".into(),
                column: "geom".into(),
                geometry_type: "POINT".into(),
                z: Some(false),
                m: None,
                srs_id: 4326,
            })
        );
        assert!(spatial.column("bad", "g").is_none());
    }

    #[test]
    fn reads_spatialite_metadata_of_both_generations() {
        let v4 = discover(
            "CREATE TABLE spatial_ref_sys (srid INTEGER PRIMARY KEY, auth_name TEXT,
                 auth_srid INTEGER, ref_sys_name TEXT, proj4text TEXT);
             INSERT INTO spatial_ref_sys VALUES (4326, 'epsg', 4326, 'WGS 84', '');
             CREATE TABLE geometry_columns (f_table_name TEXT, f_geometry_column TEXT,
                 geometry_type INTEGER, coord_dimension INTEGER, srid INTEGER,
                 spatial_index_enabled INTEGER);
             INSERT INTO geometry_columns VALUES ('roads', 'geom', 1002, 3, 4326, 0),
                 ('any', 'geom', 3000, 4, 4326, 0);",
        )
        .spatial;
        assert_eq!(v4.format, Some(SpatialFormat::SpatiaLite));
        let roads = v4.column("roads", "geom").unwrap();
        assert_eq!(
            (roads.geometry_type.as_str(), roads.z, roads.m),
            ("LINESTRING", Some(true), Some(false))
        );
        let any = v4.column("any", "geom").unwrap();
        assert_eq!(
            (any.geometry_type.as_str(), any.z, any.m),
            ("GEOMETRY", Some(true), Some(true))
        );
        let legacy = discover(
            "CREATE TABLE spatial_ref_sys (srid INTEGER PRIMARY KEY, auth_name TEXT,
                 auth_srid INTEGER, ref_sys_name TEXT, proj4text TEXT);
             CREATE TABLE geometry_columns (f_table_name TEXT, f_geometry_column TEXT,
                 type TEXT, coord_dimension TEXT, srid INTEGER, spatial_index_enabled INTEGER);
             INSERT INTO geometry_columns VALUES ('towns', 'geom', 'MULTIPOINT', 'XYM', 3003, 0);",
        )
        .spatial;
        let towns = legacy.column("towns", "geom").unwrap();
        assert_eq!(
            (towns.geometry_type.as_str(), towns.z, towns.m, towns.srs_id),
            ("MULTIPOINT", Some(false), Some(true), 3003)
        );
    }

    #[test]
    fn other_files_have_none() {
        let schema = discover("CREATE TABLE geometry_columns (name TEXT);");
        assert_eq!(schema.spatial, SpatialMetadata::default());
    }
}
