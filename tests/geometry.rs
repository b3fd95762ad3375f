//! `--geometry postgis` (issue 15): GeoPackage and SpatiaLite geometry
//! columns become PostGIS `geometry`, typed from the file's metadata, each
//! blob converted with its SRID. The blobs are built byte by byte here and
//! every expected geometry is written by hand as EWKT, so neither side of a
//! comparison comes from ferry's codec.

use crate::util::{command_json, copy, ferry, postgis_db, types, verified, TempSqlite, TestDb};

/// Numbers as little-endian (`little`) or big-endian bytes.
fn bytes<T: Copy, const N: usize>(
    little: bool,
    values: &[T],
    le: fn(T) -> [u8; N],
    be: fn(T) -> [u8; N],
) -> Vec<u8> {
    let order = if little { le } else { be };
    values.iter().flat_map(|&v| order(v)).collect()
}

fn u32s(little: bool, value: u32) -> Vec<u8> {
    bytes(little, &[value], u32::to_le_bytes, u32::to_be_bytes)
}

fn f64s(little: bool, values: &[f64]) -> Vec<u8> {
    bytes(little, values, f64::to_le_bytes, f64::to_be_bytes)
}

fn f32s(little: bool, values: &[f32]) -> Vec<u8> {
    bytes(little, values, f32::to_le_bytes, f32::to_be_bytes)
}

/// A WKB geometry: byte order, ISO type code, then `body` in that order.
fn wkb(little: bool, code: u32, body: &[u8]) -> Vec<u8> {
    [vec![u8::from(little)], u32s(little, code), body.to_vec()].concat()
}

/// A WKB count followed by coordinates.
fn points(little: bool, count: u32, coordinates: &[f64]) -> Vec<u8> {
    [u32s(little, count), f64s(little, coordinates)].concat()
}

/// A GeoPackage blob: `GP`, version 0, flags (byte order, envelope code,
/// empty), `srs_id`, envelope, WKB.
fn gpkg(little: bool, srs_id: i32, envelope: &[f64], empty: bool, wkb: &[u8]) -> Vec<u8> {
    let envelope_code = match envelope.len() {
        0 => 0,
        4 => 1,
        6 => 2,
        _ => 4,
    };
    let flags = u8::from(little) | (envelope_code << 1) | if empty { 0x10 } else { 0 };
    [
        b"GP\x00".to_vec(),
        vec![flags],
        u32s(little, srs_id as u32),
        f64s(little, envelope),
        wkb.to_vec(),
    ]
    .concat()
}

const NAN: f64 = f64::NAN;

/// A GeoPackage: an EPSG reference system under its own code (4326),
/// one under another id (srs_id 100 is EPSG:3857), a local one (99999,
/// organization NONE), and a layer whose columns cover each shape, Z, M,
/// both byte orders, envelopes, empty geometries and NULL.
fn geopackage() -> TempSqlite {
    let source = TempSqlite::new(
        "CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY,
             organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL,
             definition TEXT NOT NULL, description TEXT);
         INSERT INTO gpkg_spatial_ref_sys VALUES
             ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', NULL),
             ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', NULL),
             ('WGS 84 geodetic', 4326, 'EPSG', 4326, 'GEOGCS[...]', NULL),
             ('WGS 84 / Pseudo-Mercator', 100, 'EPSG', 3857, 'PROJCS[...]', NULL),
             ('Site grid', 99999, 'NONE', 99999, 'LOCAL_CS[...]', NULL);
         CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,
             identifier TEXT UNIQUE, description TEXT DEFAULT '', last_change DATETIME,
             min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER);
         INSERT INTO gpkg_contents VALUES ('features', 'features', 'features', '',
             '2024-01-01T00:00:00Z', 0, 0, 10, 10, 4326);
         CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
             geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL,
             m TINYINT NOT NULL, PRIMARY KEY (table_name, column_name));
         INSERT INTO gpkg_geometry_columns VALUES
             ('features', 'pt', 'POINT', 4326, 0, 0),
             ('features', 'line', 'LINESTRING', 100, 0, 0),
             ('features', 'poly', 'POLYGON', 4326, 1, 0),
             ('features', 'mpt', 'MULTIPOINT', 99999, 0, 1),
             ('features', 'shape', 'GEOMETRY', 4326, 2, 2);
         CREATE TABLE features (fid INTEGER PRIMARY KEY AUTOINCREMENT, pt POINT,
             line LINESTRING, poly POLYGON, mpt MULTIPOINT, shape GEOMETRY, name TEXT);",
    );
    let le = true;
    let be = false;
    let rows: Vec<[Option<Vec<u8>>; 5]> = vec![
        [
            Some(gpkg(
                le,
                4326,
                &[],
                false,
                &wkb(le, 1, &f64s(le, &[1.0, 2.0])),
            )),
            Some(gpkg(
                be,
                100,
                &[0.0, 10.0, 0.0, 10.0],
                false,
                &wkb(be, 2, &points(be, 2, &[0.0, 0.0, 10.0, 10.0])),
            )),
            Some(gpkg(
                le,
                4326,
                &[0.0, 4.0, 0.0, 4.0, 1.0, 1.0],
                false,
                &wkb(
                    le,
                    1003,
                    &[
                        u32s(le, 1),
                        points(le, 4, &[0., 0., 1., 4., 0., 1., 4., 4., 1., 0., 0., 1.]),
                    ]
                    .concat(),
                ),
            )),
            Some(gpkg(
                le,
                99999,
                &[],
                false,
                &wkb(
                    le,
                    2004,
                    &[
                        u32s(le, 2),
                        wkb(be, 2001, &f64s(be, &[1.0, 1.0, 5.0])),
                        wkb(le, 2001, &f64s(le, &[2.0, 2.0, 6.0])),
                    ]
                    .concat(),
                ),
            )),
            Some(gpkg(
                le,
                4326,
                &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0],
                false,
                &wkb(le, 3001, &f64s(le, &[1.0, 2.0, 3.0, 4.0])),
            )),
        ],
        [
            None,
            None,
            None,
            None,
            Some(gpkg(
                le,
                4326,
                &[],
                true,
                &wkb(le, 1, &f64s(le, &[NAN, NAN])),
            )),
        ],
        [
            Some(gpkg(
                be,
                4326,
                &[],
                true,
                &wkb(be, 1, &f64s(be, &[NAN, NAN])),
            )),
            Some(gpkg(le, 100, &[], true, &wkb(le, 2, &u32s(le, 0)))),
            Some(gpkg(le, 4326, &[], true, &wkb(le, 1003, &u32s(le, 0)))),
            Some(gpkg(le, 99999, &[], true, &wkb(le, 2004, &u32s(le, 0)))),
            Some(gpkg(
                be,
                4326,
                &[],
                false,
                &wkb(
                    be,
                    7,
                    &[
                        u32s(be, 2),
                        wkb(le, 1, &f64s(le, &[1.0, 2.0])),
                        wkb(be, 2, &points(be, 2, &[0.0, 0.0, 1.0, 1.0])),
                    ]
                    .concat(),
                ),
            )),
        ],
    ];
    let conn = rusqlite::Connection::open(&source.path).unwrap();
    for (i, row) in rows.iter().enumerate() {
        conn.execute(
            "INSERT INTO features VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![
                i as i64 + 1,
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                format!("feature {}", i + 1)
            ],
        )
        .unwrap();
    }
    source
}

/// What each geometry of `features` must be in PostGIS, as EWKT, by
/// (fid, column); NULL where the source holds NULL.
const GEOPACKAGE_EXPECTED: &[(i64, &str, Option<&str>)] = &[
    (1, "pt", Some("SRID=4326;POINT(1 2)")),
    (1, "line", Some("SRID=3857;LINESTRING(0 0,10 10)")),
    (
        1,
        "poly",
        Some("SRID=4326;POLYGON Z ((0 0 1,4 0 1,4 4 1,0 0 1))"),
    ),
    (1, "mpt", Some("SRID=99999;MULTIPOINT M ((1 1 5),(2 2 6))")),
    (1, "shape", Some("SRID=4326;POINT ZM (1 2 3 4)")),
    (2, "pt", None),
    (2, "line", None),
    (2, "poly", None),
    (2, "mpt", None),
    (2, "shape", Some("SRID=4326;POINT EMPTY")),
    (3, "pt", Some("SRID=4326;POINT EMPTY")),
    (3, "line", Some("SRID=3857;LINESTRING EMPTY")),
    (3, "poly", Some("SRID=4326;POLYGON Z EMPTY")),
    (3, "mpt", Some("SRID=99999;MULTIPOINT M EMPTY")),
    (
        3,
        "shape",
        Some("SRID=4326;GEOMETRYCOLLECTION(POINT(1 2),LINESTRING(0 0,1 1))"),
    ),
];

/// Checks every expected geometry of `table`: the EWKB PostGIS holds is
/// exactly that of the expected EWKT (SRID, shape, dimensions,
/// coordinates), and NULL stays NULL.
fn assert_geometries(db: &TestDb, table: &str, key: &str, expected: &[(i64, &str, Option<&str>)]) {
    let mut client = db.client();
    for &(id, column, ewkt) in expected {
        let sql = format!(
            "SELECT ST_AsEWKT({column}), ST_AsEWKB({column}) = ST_AsEWKB($1::text::geometry) \
             FROM {table} WHERE {key} = $2"
        );
        let row = client.query_one(&sql, &[&ewkt, &id]).unwrap();
        let got: Option<String> = row.get(0);
        let same: Option<bool> = row.get(1);
        match ewkt {
            None => assert_eq!(got, None, "{table} {key}={id} {column}"),
            Some(want) => assert_eq!(
                same,
                Some(true),
                "{table} {key}={id} {column}: got {got:?}, want {want}"
            ),
        }
    }
}

#[test]
fn issue_15_geopackage_layers_become_postgis_geometry_with_their_srids() {
    let Some(db) = postgis_db() else { return };
    let source = geopackage();
    let source_path = source.path.to_str().unwrap();

    let plan = ferry(&["plan", "--source", source_path, "--geometry", "postgis"]);
    plan.assert_ok();
    for needle in [
        "\"pt\" geometry(Point,4326)",
        "\"line\" geometry(LineString,3857)",
        "\"poly\" geometry(PolygonZ,4326)",
        "\"mpt\" geometry(MultiPointM,99999)",
        "\"shape\" geometry,",
        "column pt: POINT is a geometry: PostGIS geometry(Point,4326) (GeoPackage metadata: \
         POINT, srs_id 4326 (EPSG:4326), SRID 4326)",
        "column line: LINESTRING is a geometry: PostGIS geometry(LineString,3857) (GeoPackage \
         metadata: LINESTRING, srs_id 100 (EPSG:3857), SRID 3857)",
        "Z or M optional",
        "column mpt: spatial reference system 99999 (\"Site grid\", organization NONE 99999) is \
         not an EPSG one",
    ] {
        assert!(plan.stdout.contains(needle), "{needle}\n{}", plan.stdout);
    }

    copy(&source.path, &db, &["--geometry", "postgis"]).assert_ok();
    assert_eq!(
        types(&db, "features"),
        [
            "fid bigint",
            "pt geometry(Point,4326)",
            "line geometry(LineString,3857)",
            "poly geometry(PolygonZ,4326)",
            "mpt geometry(MultiPointM,99999)",
            "shape geometry",
            "name text",
        ]
    );
    assert_geometries(&db, "features", "fid", GEOPACKAGE_EXPECTED);
    // The metadata tables are copied as they are, as any other table.
    assert_eq!(
        types(&db, "gpkg_geometry_columns")[2],
        "geometry_type_name text"
    );

    let verify = |extra: &[&str]| {
        command_json(
            "verify",
            &source.path,
            &db,
            &[&["--geometry", "postgis"], extra].concat(),
        )
    };
    let run = verify(&["--full"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(verify(&["--schema-only"]).code, 0);
    assert_eq!(verify(&[]).code, 0);

    // One coordinate moved, and one SRID changed: both are differences.
    db.client()
        .batch_execute(
            "UPDATE features SET pt = 'SRID=4326;POINT(1 2.000001)' WHERE fid = 1;
             UPDATE features SET shape = ST_SetSRID(shape, 3857) WHERE fid = 3;",
        )
        .unwrap();
    let run = verify(&["--full"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    let features = crate::util::table(&report, "features");
    assert_eq!(features["changed"], 2, "{report}");
    let differences = features["differences"].to_string();
    assert!(differences.contains("\"pt\""), "{differences}");
    assert!(differences.contains("\"shape\""), "{differences}");
}

#[test]
fn issue_15_without_postgis_in_the_target_the_copy_stops_before_any_ddl() {
    let db = TestDb::new();
    let source = geopackage();
    let run = copy(&source.path, &db, &["--geometry", "postgis"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(
            "the plan has PostGIS geometry columns (features.pt and 4 more; --geometry postgis)"
        ) && run.stderr.contains("CREATE EXTENSION postgis;")
            && run
                .stderr
                .contains("ferry does not create extensions itself"),
        "{}",
        run.stderr
    );
    let created: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND c.relkind = 'r'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(created, 0);
    let extension: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM pg_extension WHERE extname = 'postgis'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(extension, 0, "ferry must not create the extension");
}

/// A SpatiaLite blob: start, byte order, SRID, MBR, `0x7C`, class, body,
/// `0xFE`.
fn spatialite(little: bool, srid: i32, class: u32, body: &[u8]) -> Vec<u8> {
    [
        vec![0x00, u8::from(little)],
        u32s(little, srid as u32),
        f64s(little, &[0.0, 0.0, 0.0, 0.0]),
        vec![0x7C],
        u32s(little, class),
        body.to_vec(),
        vec![0xFE],
    ]
    .concat()
}

/// A SpatiaLite 4 file: its own spatial_ref_sys and geometry_columns
/// (which PostGIS has its own of), a line layer with plain, Z and
/// compressed blobs, and a point layer in the TinyPoint format.
fn spatialite_db() -> TempSqlite {
    let source = TempSqlite::new(
        "CREATE TABLE spatial_ref_sys (srid INTEGER NOT NULL PRIMARY KEY,
             auth_name TEXT NOT NULL, auth_srid INTEGER NOT NULL, ref_sys_name TEXT NOT NULL,
             proj4text TEXT NOT NULL, srtext TEXT NOT NULL);
         INSERT INTO spatial_ref_sys VALUES (4326, 'epsg', 4326, 'WGS 84', '', ''),
             (2154, 'epsg', 2154, 'RGF93 / Lambert-93', '', '');
         CREATE TABLE geometry_columns (f_table_name TEXT NOT NULL, f_geometry_column TEXT NOT NULL,
             geometry_type INTEGER NOT NULL, coord_dimension INTEGER NOT NULL,
             srid INTEGER NOT NULL, spatial_index_enabled INTEGER NOT NULL,
             CONSTRAINT pk_geom_cols PRIMARY KEY (f_table_name, f_geometry_column),
             CONSTRAINT fk_gc_srs FOREIGN KEY (srid) REFERENCES spatial_ref_sys (srid));
         INSERT INTO geometry_columns VALUES ('roads', 'geom', 2, 2, 2154, 0),
             ('wells', 'geom', 1001, 3, 4326, 0);
         CREATE TABLE roads (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, geom LINESTRING);
         CREATE TABLE wells (id INTEGER PRIMARY KEY, geom POINT);",
    );
    let (le, be) = (true, false);
    let conn = rusqlite::Connection::open(&source.path).unwrap();
    let roads = [
        spatialite(le, 2154, 2, &points(le, 2, &[0.0, 0.0, 100.5, 200.25])),
        spatialite(be, 2154, 2, &points(be, 3, &[1.0, 1.0, 2.0, 2.0, 3.0, 1.0])),
        // Compressed: first and last points whole, the middle one as
        // float deltas from the first (exact here: 0.5 and 1.25).
        spatialite(
            le,
            2154,
            1_000_002,
            &[
                u32s(le, 3),
                f64s(le, &[10.0, 20.0]),
                f32s(le, &[0.5, 1.25]),
                f64s(le, &[12.0, 24.0]),
            ]
            .concat(),
        ),
    ];
    for (i, geom) in roads.iter().enumerate() {
        conn.execute(
            "INSERT INTO roads VALUES (?1, ?2, ?3)",
            rusqlite::params![i as i64 + 1, format!("road {}", i + 1), geom],
        )
        .unwrap();
    }
    // TinyPoint: start, 0x81 (little-endian) or 0x80, SRID, dimensions
    // (2 = XYZ), coordinates, end.
    let tiny = |little: bool, xyz: [f64; 3]| {
        [
            vec![0x00, if little { 0x81 } else { 0x80 }],
            u32s(little, 4326),
            vec![2],
            f64s(little, &xyz),
            vec![0xFE],
        ]
        .concat()
    };
    let wells = [
        tiny(le, [1.5, 2.5, -30.0]),
        tiny(be, [3.0, 4.0, -12.5]),
        spatialite(le, 4326, 1001, &f64s(le, &[5.0, 6.0, 7.0])),
    ];
    for (i, geom) in wells.iter().enumerate() {
        conn.execute(
            "INSERT INTO wells VALUES (?1, ?2)",
            rusqlite::params![i as i64 + 1, geom],
        )
        .unwrap();
    }
    source
}

#[test]
fn issue_15_spatialite_layers_become_postgis_geometry() {
    let Some(db) = postgis_db() else { return };
    let source = spatialite_db();
    let run = copy(&source.path, &db, &["--geometry", "postgis"]);
    run.assert_ok();
    let skipped = run.json()["skipped"].to_string();
    for name in ["spatial_ref_sys", "geometry_columns"] {
        assert!(
            skipped.contains(&format!("\"name\":\"{name}\""))
                && skipped.contains("PostGIS keeps its own"),
            "{name}: {skipped}"
        );
    }
    assert_eq!(
        types(&db, "roads"),
        ["id bigint", "name text", "geom geometry(LineString,2154)"]
    );
    assert_eq!(
        types(&db, "wells"),
        ["id bigint", "geom geometry(PointZ,4326)"]
    );
    assert_geometries(
        &db,
        "roads",
        "id",
        &[
            (1, "geom", Some("SRID=2154;LINESTRING(0 0,100.5 200.25)")),
            (2, "geom", Some("SRID=2154;LINESTRING(1 1,2 2,3 1)")),
            (
                3,
                "geom",
                Some("SRID=2154;LINESTRING(10 20,10.5 21.25,12 24)"),
            ),
        ],
    );
    assert_geometries(
        &db,
        "wells",
        "id",
        &[
            (1, "geom", Some("SRID=4326;POINT Z (1.5 2.5 -30)")),
            (2, "geom", Some("SRID=4326;POINT Z (3 4 -12.5)")),
            (3, "geom", Some("SRID=4326;POINT Z (5 6 7)")),
        ],
    );
    verified(&source.path, &db, &["--geometry", "postgis"]);
}

/// A blob PostGIS would refuse names its row and column, and the copy
/// stops before loading it.
#[test]
fn issue_15_a_bad_geometry_blob_is_named_like_any_bad_value() {
    let Some(db) = postgis_db() else { return };
    let source = geopackage();
    rusqlite::Connection::open(&source.path)
        .unwrap()
        .execute(
            "UPDATE features SET line = X'4750000100000000010200000001000000000000000000F03F000000000000F03F' WHERE fid = 3",
            [],
        )
        .unwrap();
    let run = copy(&source.path, &db, &["--geometry", "postgis"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("features, fid=3, column line")
            && run
                .stderr
                .contains("has a line string of 1 point(s); PostGIS requires at least 2"),
        "{}",
        run.stderr
    );
    // Quarantined instead, the other rows load and the row is counted.
    let db = postgis_db().unwrap();
    let run = copy(
        &source.path,
        &db,
        &["--geometry", "postgis", "--on-error", "quarantine"],
    );
    run.assert_ok();
    assert_eq!(crate::util::table(&run.json(), "features")["rejected"], 1);
}

/// `ferry sync` follows changed geometries (updated and inserted rows go
/// through its own statements, not only COPY).
#[test]
fn issue_15_sync_keeps_postgis_geometry_up_to_date() {
    let Some(db) = postgis_db() else { return };
    let source = geopackage();
    let sync = |extra: &[&str]| {
        command_json(
            "sync",
            &source.path,
            &db,
            &[&["--geometry", "postgis"], extra].concat(),
        )
    };
    sync(&[]).assert_ok();
    let le = true;
    let moved = gpkg(le, 4326, &[], false, &wkb(le, 1, &f64s(le, &[7.0, 8.0])));
    let conn = rusqlite::Connection::open(&source.path).unwrap();
    conn.execute("UPDATE features SET pt = ?1 WHERE fid = 1", [&moved])
        .unwrap();
    conn.execute(
        "INSERT INTO features (fid, pt, name) VALUES (4, ?1, 'new')",
        [&moved],
    )
    .unwrap();
    drop(conn);
    sync(&[]).assert_ok();
    assert_geometries(
        &db,
        "features",
        "fid",
        &[
            (1, "pt", Some("SRID=4326;POINT(7 8)")),
            (4, "pt", Some("SRID=4326;POINT(7 8)")),
            (4, "line", None),
        ],
    );
    assert_eq!(sync(&["--check"]).code, 0);
    verified(&source.path, &db, &["--geometry", "postgis"]);
}
