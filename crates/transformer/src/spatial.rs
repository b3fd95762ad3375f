//! Geometry columns as PostGIS `geometry` (`--geometry postgis`): the
//! typmod each gets from the file's spatial metadata, the SRIDs its
//! values get, and the SpatiaLite tables PostGIS has its own of.
//!
//! A typmod fixes what every value must be, dimensions included (PostGIS
//! refuses a `POINT Z` in a `geometry(Geometry,4326)` column), so a column
//! gets one only when the metadata fixes its dimensions
//! (`gpkg_geometry_columns.z` and `m` of 0 or 1, SpatiaLite's
//! `geometry_type`); otherwise, and without metadata, it is plain
//! `geometry` and each value keeps its own shape, dimensions and SRID.

use ferry_model::{
    GeometryShape, GeometryTypmod, PgType, SkippedObject, SourceColumn, SourceSchema,
    SpatialFormat, SpatialMetadata, SridMap,
};

use crate::coerce::{file_srid, MAX_SRID};
use crate::mapping::{is_geometry, Mapping};

/// How geometry columns are created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GeometryMode {
    /// `bytea` holding the blobs byte for byte (the default): needs no
    /// extension, and loses nothing.
    #[default]
    Bytea,
    /// PostGIS `geometry`, each blob converted to EWKB with its SRID.
    Postgis,
}

/// The PostGIS mapping of a geometry column and the SRIDs of its values;
/// `None` when the column is no geometry, or one kept as bytea (a curve,
/// an SRID PostGIS cannot hold), which the plain mapping then notes.
pub(crate) fn postgis_column(
    spatial: &SpatialMetadata,
    table: &str,
    column: &SourceColumn,
) -> Option<(Mapping, SridMap)> {
    let declared = column.declared_type.trim();
    let meta = spatial.column(table, &column.name);
    if meta.is_none() && !is_geometry(&declared.to_ascii_uppercase()) {
        return None;
    }
    let file_srids = spatial
        .reference_systems
        .iter()
        .map(|r| {
            let srid = match r.organization.eq_ignore_ascii_case("EPSG") {
                true => r.organization_id,
                false => r.id,
            };
            (r.id, srid)
        })
        .collect();
    let mut srids = SridMap {
        column_srid: 0,
        file_srids,
    };
    let Some(meta) = meta else {
        if is_curve(declared) {
            return None;
        }
        let note = format!(
            "{declared} is a geometry: PostGIS geometry, any shape, dimensions and SRID (the \
             file's metadata does not describe the column)"
        );
        return Some((
            mapping(PgType::Geometry(GeometryTypmod::default()), note),
            srids,
        ));
    };
    let shape = match meta.geometry_type.as_str() {
        "GEOMETRY" => None,
        name => Some(GeometryShape::from_name(name)?),
    };
    let srid = match file_srid(&srids, meta.srs_id) {
        ..=0 => 0,
        srid @ 1..=MAX_SRID => srid,
        _ => return None,
    };
    srids.column_srid = srid;
    let (typmod, dims) = match (meta.z, meta.m) {
        (Some(z), Some(m)) => (GeometryTypmod { shape, z, m, srid }, ""),
        _ => (
            GeometryTypmod::default(),
            "; Z or M optional, which no typmod expresses: any shape and dimensions",
        ),
    };
    let reference = match spatial.reference_system(meta.srs_id) {
        Some(r) => format!(
            "{} {} ({}:{})",
            reference_word(meta.format),
            r.id,
            r.organization,
            r.organization_id
        ),
        None => format!("{} {}", reference_word(meta.format), meta.srs_id),
    };
    let note = format!(
        "{declared} is a geometry: PostGIS {} ({} metadata: {}, {reference}, SRID {srid}{dims})",
        PgType::Geometry(typmod),
        meta.format,
        meta.geometry_type,
    );
    Some((mapping(PgType::Geometry(typmod), note), srids))
}

/// The warning for a column whose reference system is not EPSG's, whose
/// id PostGIS's `spatial_ref_sys` may define differently or not at all.
pub(crate) fn non_epsg_warning(
    spatial: &SpatialMetadata,
    table: &str,
    column: &str,
) -> Option<String> {
    let meta = spatial.column(table, column)?;
    let r = spatial.reference_system(meta.srs_id)?;
    if r.organization.eq_ignore_ascii_case("EPSG") || r.id <= 0 {
        return None;
    }
    Some(format!(
        "column {column}: spatial reference system {} ({:?}, organization {} {}) is not an EPSG \
         one; its values get SRID {}, which PostGIS's spatial_ref_sys may not define",
        r.id, r.name, r.organization, r.organization_id, r.id
    ))
}

fn reference_word(format: SpatialFormat) -> &'static str {
    match format {
        SpatialFormat::GeoPackage => "srs_id",
        SpatialFormat::SpatiaLite => "srid",
    }
}

fn mapping(pg_type: PgType, note: String) -> Mapping {
    Mapping {
        pg_type,
        note: Some(note),
    }
}

/// Whether a declared geometry type is a curve or surface, which ferry
/// does not convert.
fn is_curve(declared: &str) -> bool {
    let upper: String = declared
        .split_whitespace()
        .collect::<String>()
        .to_ascii_uppercase();
    let name = ["ZM", "Z", "M", ""]
        .iter()
        .find_map(|dims| upper.strip_suffix(dims).filter(|n| is_geometry(n)))
        .unwrap_or(&upper);
    name != "GEOMETRY" && GeometryShape::from_name(name).is_none()
}

/// SpatiaLite's tables that PostGIS has its own of, in the schema it is
/// installed in: `spatial_ref_sys` and `geometry_columns`. A copy with
/// `--geometry postgis` leaves them out (and says so), rather than
/// colliding with PostGIS's table and view.
pub fn postgis_owned_tables(schema: &SourceSchema) -> Vec<SkippedObject> {
    if schema.spatial.format != Some(SpatialFormat::SpatiaLite) {
        return Vec::new();
    }
    schema
        .tables
        .iter()
        .filter(|t| {
            ["spatial_ref_sys", "geometry_columns"]
                .iter()
                .any(|name| t.name.eq_ignore_ascii_case(name))
        })
        .map(|t| SkippedObject {
            name: t.name.clone(),
            kind: "SpatiaLite metadata".to_owned(),
            reason: "PostGIS keeps its own spatial_ref_sys and geometry_columns, and each \
                     geometry column carries its type and SRID"
                .to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use ferry_model::{GeometryColumnSchema, SpatialRefSys, TableSchema};

    use super::*;

    fn geopackage(geometry_type: &str, z: Option<bool>, m: Option<bool>) -> SpatialMetadata {
        SpatialMetadata {
            format: Some(SpatialFormat::GeoPackage),
            reference_systems: vec![
                SpatialRefSys {
                    id: 100,
                    organization: "epsg".into(),
                    organization_id: 3857,
                    name: "Pseudo-Mercator".into(),
                },
                SpatialRefSys {
                    id: 7,
                    organization: "NONE".into(),
                    organization_id: 7,
                    name: "Site".into(),
                },
            ],
            geometry_columns: vec![GeometryColumnSchema {
                format: SpatialFormat::GeoPackage,
                table: "Layer".into(),
                column: "Geom".into(),
                geometry_type: geometry_type.into(),
                z,
                m,
                srs_id: 100,
            }],
        }
    }

    fn planned(spatial: &SpatialMetadata, declared: &str) -> Option<(String, SridMap)> {
        postgis_column(spatial, "layer", &SourceColumn::new("geom", declared))
            .map(|(mapping, srids)| (mapping.pg_type.to_string(), srids))
    }

    #[test]
    fn the_metadata_gives_the_typmod_and_srids() {
        let (pg_type, srids) =
            planned(&geopackage("POINT", Some(true), Some(false)), "POINT").unwrap();
        assert_eq!(pg_type, "geometry(PointZ,3857)");
        assert_eq!(srids.column_srid, 3857);
        assert_eq!(srids.file_srids, [(100, 3857), (7, 7)]);
        let any = planned(
            &geopackage("GEOMETRY", Some(false), Some(false)),
            "GEOMETRY",
        );
        assert_eq!(any.unwrap().0, "geometry(Geometry,3857)");
        // Optional dimensions: no typmod, but WKB still gets the SRID.
        let (pg_type, srids) = planned(
            &geopackage("MULTIPOLYGON", None, Some(false)),
            "MULTIPOLYGON",
        )
        .unwrap();
        assert_eq!((pg_type.as_str(), srids.column_srid), ("geometry", 3857));
    }

    #[test]
    fn curves_and_other_columns_are_not_postgis_geometry() {
        assert!(planned(&geopackage("CIRCULARSTRING", Some(false), Some(false)), "X").is_none());
        let none = SpatialMetadata::default();
        assert_eq!(planned(&none, "POINT Z").unwrap().0, "geometry");
        assert!(planned(&none, "CURVEPOLYGON").is_none());
        assert!(planned(&none, "COMPOUNDCURVEZM").is_none());
        assert!(planned(&none, "TEXT").is_none());
    }

    #[test]
    fn a_local_reference_system_is_warned_about() {
        let mut spatial = geopackage("POINT", Some(false), Some(false));
        assert_eq!(non_epsg_warning(&spatial, "layer", "geom"), None);
        spatial.geometry_columns[0].srs_id = 7;
        assert_eq!(
            non_epsg_warning(&spatial, "layer", "geom").unwrap(),
            "column geom: spatial reference system 7 (\"Site\", organization NONE 7) is not an \
             EPSG one; its values get SRID 7, which PostGIS's spatial_ref_sys may not define"
        );
    }

    #[test]
    fn spatialite_metadata_tables_are_left_to_postgis() {
        let table = |name: &str| TableSchema::new(name, Vec::new());
        let mut schema = SourceSchema {
            tables: vec![
                table("Spatial_Ref_Sys"),
                table("geometry_columns"),
                table("roads"),
            ],
            skipped: Vec::new(),
            spatial: SpatialMetadata::default(),
        };
        assert!(postgis_owned_tables(&schema).is_empty());
        schema.spatial.format = Some(SpatialFormat::SpatiaLite);
        let names: Vec<String> = postgis_owned_tables(&schema)
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["Spatial_Ref_Sys", "geometry_columns"]);
    }
}
