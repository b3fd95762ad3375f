//! TLS to the target, end to end: a throwaway cluster that serves a
//! certificate generated here and accepts only `hostssl` connections with a
//! password, and `ferry` run against it under each `sslmode`. The certificate
//! names `localhost` and `127.0.0.1`; the server also listens on 127.0.0.2,
//! an address the certificate does not name, for the host-name checks.
//!
//! Every run carries the password in its URL, and none may print it.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

use crate::cluster::{Cluster, ClusterOptions};
use crate::util::{ferry, ferry_with_env, Run, TempSqlite};

const PASSWORD: &str = "tls-s3cret";

/// A certificate authority made for one test.
fn certificate_authority(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A server certificate for `names` signed by `ca`, as PEM certificate and
/// PEM (PKCS #8) key.
fn server_certificate(ca: &CertifiedIssuer<'_, KeyPair>, names: &[&str]) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names.clone()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, &names[0]);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &**ca).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// The cluster and the CA files a client may trust.
struct TlsServer {
    cluster: Cluster,
    /// The CA that signed the server's certificate.
    ca: PathBuf,
    /// A CA that signed nothing the server holds.
    other_ca: PathBuf,
}

impl TlsServer {
    /// Starts the server, or says why it cannot and returns `None`.
    fn start() -> Option<TlsServer> {
        let ca = certificate_authority("ferry test CA");
        let other_ca = certificate_authority("ferry other test CA");
        let (cert, key) = server_certificate(&ca, &["localhost", "127.0.0.1"]);
        let hba = [
            "hostssl all postgres 127.0.0.1/32 scram-sha-256",
            "hostssl all postgres 127.0.0.2/32 scram-sha-256",
        ]
        .join("\n");
        let cluster = Cluster::start_with(ClusterOptions {
            settings: [
                ("ssl", "on"),
                ("ssl_cert_file", "server.crt"),
                ("ssl_key_file", "server.key"),
                ("password_encryption", "scram-sha-256"),
            ]
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .to_vec(),
            files: vec![
                ("server.crt".to_owned(), cert.into_bytes()),
                ("server.key".to_owned(), key.into_bytes()),
            ],
            hba: Some(hba),
            listen_addresses: "127.0.0.1,127.0.0.2".to_owned(),
        })?;
        cluster
            .admin("postgres")
            .batch_execute(&format!("ALTER ROLE postgres PASSWORD '{PASSWORD}'"))
            .expect("set the password");
        let ca_path = cluster.dir().join("ca.pem");
        let other_ca_path = cluster.dir().join("other-ca.pem");
        std::fs::write(&ca_path, ca.pem()).unwrap();
        std::fs::write(&other_ca_path, other_ca.pem()).unwrap();
        Some(TlsServer {
            cluster,
            ca: ca_path,
            other_ca: other_ca_path,
        })
    }

    /// A new, empty database on the server.
    fn database(&self, name: &str) -> String {
        self.cluster
            .admin("postgres")
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create the database");
        name.to_owned()
    }

    /// The URL of `database` at `host`, with the password and `query`.
    fn url(&self, host: &str, database: &str, query: &str) -> String {
        format!(
            "postgres://postgres:{PASSWORD}@{host}:{}/{database}?{query}",
            self.cluster.port()
        )
    }

    fn rows(&self, database: &str, table: &str) -> i64 {
        self.cluster
            .admin(database)
            .query_one(&format!("SELECT count(*) FROM public.{table}"), &[])
            .unwrap()
            .get(0)
    }
}

/// `sslmode=verify-full&sslrootcert=PATH`.
fn verify_full(root: &Path) -> String {
    format!("sslmode=verify-full&sslrootcert={}", root.display())
}

/// `sslmode=verify-ca&sslrootcert=PATH`.
fn verify_ca(root: &Path) -> String {
    format!("sslmode=verify-ca&sslrootcert={}", root.display())
}

fn source() -> TempSqlite {
    TempSqlite::new(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, score REAL, raw BLOB);
         INSERT INTO notes VALUES (1, 'plain', 1.5, X'00FF'), (2, 'ünïcødé ✓', NULL, NULL),
                                  (3, '', -0.25, X'');",
    )
}

/// `ferry COMMAND --source SOURCE --target URL --format json` plus
/// `extra`, checked not to print the password or panic.
fn run(command: &str, source: &Path, url: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        command,
        "--source",
        source.to_str().unwrap(),
        "--target",
        url,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let run = ferry(&args);
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(
            !text.contains(PASSWORD),
            "ferry {command} printed the password on {stream}:\n{text}"
        );
        assert!(
            !text.contains("panicked"),
            "ferry {command} panicked:\n{text}"
        );
    }
    run
}

/// Copies and fully verifies `source` into `url`; the rows arrived.
#[track_caller]
fn copies_and_verifies(server: &TlsServer, source: &TempSqlite, url: &str, database: &str) {
    run("copy", &source.path, url, &[]).assert_ok();
    run("verify", &source.path, url, &["--full"]).assert_ok();
    assert_eq!(server.rows(database, "notes"), 3, "{url}");
}

/// A copy that must fail to connect: exit 3, with a message holding each
/// of `says`.
#[track_caller]
fn refused(source: &TempSqlite, url: &str, says: &[&str]) {
    let run = run("copy", &source.path, url, &[]);
    assert_eq!(
        run.code, 3,
        "{url}\nstdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let message = run.stderr.to_lowercase();
    for part in says {
        assert!(
            message.contains(part),
            "{url}: the message should mention {part:?}:\n{}",
            run.stderr
        );
    }
}

#[test]
fn tls_copies_and_verifies_under_require_verify_full_and_verify_ca() {
    let Some(server) = TlsServer::start() else {
        return;
    };
    let source = source();

    let db = server.database("tls_require");
    let url = server.url("127.0.0.1", &db, "sslmode=require");
    copies_and_verifies(&server, &source, &url, &db);

    let db = server.database("tls_full_localhost");
    let url = server.url("localhost", &db, &verify_full(&server.ca));
    copies_and_verifies(&server, &source, &url, &db);

    let db = server.database("tls_full_ip");
    let url = server.url("127.0.0.1", &db, &verify_full(&server.ca));
    copies_and_verifies(&server, &source, &url, &db);

    // verify-ca checks the chain only: an address the certificate does not
    // name is accepted.
    let db = server.database("tls_ca_other_name");
    let url = server.url("127.0.0.2", &db, &verify_ca(&server.ca));
    copies_and_verifies(&server, &source, &url, &db);
}

#[test]
fn tls_refuses_an_unknown_ca_a_wrong_name_and_no_tls_with_exit_3() {
    let Some(server) = TlsServer::start() else {
        return;
    };
    let source = source();
    let db = server.database("tls_refused");

    let url = server.url("localhost", &db, &verify_full(&server.other_ca));
    refused(&source, &url, &["certificate"]);
    let url = server.url("127.0.0.1", &db, &verify_ca(&server.other_ca));
    refused(&source, &url, &["certificate"]);
    // As in libpq, require with a root certificate named checks the chain.
    let require_with_root = format!("sslmode=require&sslrootcert={}", server.other_ca.display());
    let url = server.url("127.0.0.1", &db, &require_with_root);
    refused(&source, &url, &["certificate"]);

    // The server listens on 127.0.0.2 too, but its certificate names only
    // localhost and 127.0.0.1.
    let url = server.url("127.0.0.2", &db, &verify_full(&server.ca));
    refused(&source, &url, &["certificate", "name"]);

    // Only hostssl lines in pg_hba.conf: a plain connection is turned away.
    let url = server.url("127.0.0.1", &db, "sslmode=disable");
    refused(&source, &url, &["pg_hba.conf", "no encryption"]);

    // Nothing was created by the refused runs.
    let tables: i64 = server
        .cluster
        .admin(&db)
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname IN ('public', 'ferry')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 0);
}

/// A client certificate for role `user` signed by `ca`, as PEM certificate
/// and PEM (PKCS #8) key.
fn client_certificate(ca: &CertifiedIssuer<'_, KeyPair>, user: &str) -> (String, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, user);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &**ca).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
fn issue_17_client_certificates_from_home_and_sslmode_allow() {
    use std::os::unix::fs::PermissionsExt;
    let ca = certificate_authority("ferry test CA");
    let (cert, key) = server_certificate(&ca, &["localhost", "127.0.0.1"]);
    let (client_cert, client_key) = client_certificate(&ca, "postgres");
    // Only TLS with a certificate naming the role gets in.
    let Some(cluster) = Cluster::start_with(ClusterOptions {
        settings: [
            ("ssl", "on"),
            ("ssl_cert_file", "server.crt"),
            ("ssl_key_file", "server.key"),
            ("ssl_ca_file", "ca.crt"),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .to_vec(),
        files: vec![
            ("server.crt".to_owned(), cert.into_bytes()),
            ("server.key".to_owned(), key.into_bytes()),
            ("ca.crt".to_owned(), ca.pem().into_bytes()),
        ],
        hba: Some("hostssl all postgres 127.0.0.1/32 cert".to_owned()),
        ..ClusterOptions::default()
    }) else {
        return;
    };
    // libpq's defaults: ~/.postgresql/postgresql.crt, .key and root.crt.
    let home = cluster.dir().join("home");
    let dot = home.join(".postgresql");
    std::fs::create_dir_all(&dot).unwrap();
    std::fs::write(dot.join("postgresql.crt"), client_cert).unwrap();
    let key_path = dot.join("postgresql.key");
    std::fs::write(&key_path, client_key).unwrap();
    let chmod = |mode| {
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    chmod(0o600);
    std::fs::write(dot.join("root.crt"), ca.pem()).unwrap();

    let source = source();
    let port = cluster.port().to_string();
    let home = home.display().to_string();
    let create = |name: &str| {
        cluster
            .admin("postgres")
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        name.to_owned()
    };
    let rows = |database: &str| -> i64 {
        cluster
            .admin(database)
            .query_one("SELECT count(*) FROM public.notes", &[])
            .unwrap()
            .get(0)
    };
    let copy = |target: Option<&str>, env: &[(&str, &str)]| {
        let mut args = vec!["copy", "--source", source.path.to_str().unwrap()];
        args.extend(target.iter().flat_map(|t| ["--target", t]));
        ferry_with_env(&args, &[&[("HOME", home.as_str())], env].concat())
    };

    // verify-full from the PG* variables alone, the certificate from home.
    let db = create("client_cert_verify_full");
    let env = [
        ("PGHOST", "localhost"),
        ("PGPORT", port.as_str()),
        ("PGUSER", "postgres"),
        ("PGDATABASE", db.as_str()),
        ("PGSSLMODE", "verify-full"),
    ];
    copy(None, &env).assert_ok();
    assert_eq!(rows(&db), 3);

    // allow: the plain session is turned away (hostssl only), then TLS
    // with the certificate gets in.
    let db = create("client_cert_allow");
    let target = format!("postgres://postgres@127.0.0.1:{port}/{db}?sslmode=allow");
    copy(Some(&target), &[]).assert_ok();
    assert_eq!(rows(&db), 3);

    // disable never tries TLS.
    let target = format!("postgres://postgres@127.0.0.1:{port}/{db}?sslmode=disable");
    let run = copy(Some(&target), &[]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("no encryption"), "{}", run.stderr);

    // A key others may read is refused, as libpq refuses it.
    chmod(0o644);
    let target = format!("postgres://postgres@localhost:{port}/{db}?sslmode=verify-full");
    let run = copy(Some(&target), &[]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("group or world access"),
        "{}",
        run.stderr
    );
}
