//! The one error type of ferry-writer.
//!
//! Server errors keep the SQLSTATE and the server's own table, column and
//! constraint as typed fields, so the engine can map them to exit codes and
//! reports without matching on text.

use std::fmt::Write as _;

use ferry_copy_codec::CodecError;
use tokio_postgres::error::SqlState;

/// Everything that can go wrong while talking to the target database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The connection string could not be parsed.
    #[error("cannot parse the target {target}: {reason}; write it as a libpq URL (postgres://user@host:5432/db) or as key=value pairs")]
    InvalidTarget {
        /// The target, password redacted.
        target: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The connection settings, resolved as libpq resolves them from the
    /// target, a service file and the `PG*` environment variables, cannot
    /// be used (a service not found, a value out of range, an option
    /// ferry cannot honour).
    #[error("cannot use the connection settings of {target}: {reason}")]
    Settings {
        /// The target, password redacted.
        target: String,
        /// What is wrong, where the value came from and what to do.
        reason: String,
    },
    /// TLS could not be set up (certificate files, settings).
    #[error(
        "cannot set up TLS for {target}: {reason}; check sslmode, sslrootcert, sslcert and sslkey"
    )]
    Tls {
        /// The target, password redacted.
        target: String,
        /// What is wrong.
        reason: String,
    },
    /// Connecting or authenticating failed.
    #[error("cannot connect to {target}: {source}; check that the server is running and that host, port, user, password, database and sslmode are right")]
    Connect {
        /// The target, password redacted.
        target: String,
        /// The client's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The server did not finish the connection handshake in time (it
    /// accepted TCP and then said nothing, or TLS or authentication hung).
    #[error("cannot connect to {target}: no answer within {}; check that the address is a Postgres server and that it is not overloaded, or raise connect_timeout in the target", ferry_model::plural(*.seconds, "second", "seconds"))]
    ConnectTimeout {
        /// The target, password redacted.
        target: String,
        /// The time allowed.
        seconds: f64,
    },
    /// The connection broke while working on a table.
    #[error("{table}: lost the connection to the target while trying to {action}: {source}; check the server and the network, then run ferry again (finished chunks are kept)")]
    ConnectionLost {
        /// The ferry table being written (`schema.table`).
        table: String,
        /// What ferry was doing.
        action: String,
        /// The client's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The server refused a statement; boxed because it carries every
    /// field the server sent.
    #[error(transparent)]
    Server(Box<ServerError>),
    /// A client-side failure that is neither a server error nor a broken
    /// connection (a protocol or conversion problem).
    #[error("{table}: cannot {action}: {source}; this is likely a ferry bug, please report it")]
    Client {
        /// The ferry table being written (`schema.table`).
        table: String,
        /// What ferry was doing.
        action: String,
        /// The client's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A chunk's COPY was used after it ended: a bug in the caller.
    #[error("{table}: cannot {action}: the chunk's COPY has already ended; this is a ferry bug, please report it")]
    CopyEnded {
        /// The ferry table being written (`schema.table`).
        table: String,
        /// What was attempted.
        action: &'static str,
    },
    /// COPY wrote a different number of rows than were sent; the chunk was
    /// rolled back.
    #[error("{table}: sent {} but COPY wrote {written}; the chunk was rolled back, run ferry again and report this if it repeats", ferry_model::plural(*.sent, "row", "rows"))]
    RowCountMismatch {
        /// The ferry table being written (`schema.table`).
        table: String,
        /// Rows encoded and sent.
        sent: u64,
        /// Rows the server reports.
        written: u64,
    },
    /// A value has no binary form ([`CodecError::Encode`]): the caller
    /// knows the row and column and turns this into a reject.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A value read from the target is not what its type's binary format
    /// allows (or not valid UTF-8 for text); the codec's error says why.
    #[error("{table}, column {column}: the target sent a value ferry cannot read")]
    Decode {
        /// The table read (`schema.table`).
        table: String,
        /// The column read.
        column: String,
        /// What is wrong with the bytes ([`CodecError::Decode`]).
        #[source]
        source: CodecError,
    },
    /// A target column has a type ferry cannot read back.
    #[error("{table}, column {column}: ferry cannot read values of type {type_name}; change the column to the type in the plan (see ferry plan) or leave the table out of verification")]
    UnsupportedType {
        /// The table read (`schema.table`).
        table: String,
        /// The column.
        column: String,
        /// The type the server reports.
        type_name: String,
    },
    /// A row filter does not fit the table it is applied to.
    #[error("{table}: cannot filter rows: {reason}; this is a ferry bug, please report it")]
    InvalidFilter {
        /// The table read (`schema.table`).
        table: String,
        /// What does not fit.
        reason: String,
    },
    /// An object ferry would write to (or read) in the target is not
    /// provably its own: ferry refuses to touch it (issue 14).
    #[error("{object}: ferry does not trust it: {reason}; ferry runs no statement on it. If it was not made by ferry, find out who made it; to keep it, make the role ferry connects as its owner (ALTER … OWNER TO) and remove what ferry did not create; otherwise drop it and run ferry again")]
    Untrusted {
        /// The object (`schema ferry`, `table ferry.copies`).
        object: String,
        /// What makes it untrusted.
        reason: String,
    },
    /// An existing target table's columns differ from the plan, so binary
    /// COPY would store wrong values in it.
    #[error("{table}: the existing table does not match the plan, so no row was written: {}; change the table to match `ferry plan`, set the column's type in ferry.toml to the table's, or rerun with --if-exists drop to recreate it", .differences.join("; "))]
    TableMismatch {
        /// The table (`schema.table`).
        table: String,
        /// One sentence per differing column.
        differences: Vec<String>,
    },
    /// The ledger holds a chunk of a table this run does not plan.
    #[error("the ledger of this copy holds chunks of {table}, which this run does not copy; rerun with the options the copy started with (--tables, --exclude, --config), or start over with --if-exists truncate")]
    UnplannedChunk {
        /// Target table named by the ledger.
        table: String,
    },
}

/// A statement the server refused, with what the server said about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[error("{}", server_message(self))]
pub struct ServerError {
    /// The ferry table being written (`schema.table`).
    pub table: String,
    /// What ferry was doing (`create the table`, `finish COPY`, a step's
    /// description…).
    pub action: String,
    /// SQLSTATE code (`23505`).
    pub code: String,
    /// The server's primary message.
    pub message: String,
    /// The server's detail, if any.
    pub detail: Option<String>,
    /// The server's hint, if any.
    pub hint: Option<String>,
    /// The table the server names, if any.
    pub server_table: Option<String>,
    /// The column the server names, if any.
    pub server_column: Option<String>,
    /// The constraint the server names, if any.
    pub server_constraint: Option<String>,
    /// Where the server was (its CONTEXT: `COPY t, line 3, column doc`).
    pub server_where: Option<String>,
    /// The client's error.
    #[source]
    pub source: tokio_postgres::Error,
}

impl WriteError {
    /// True when the error is about reaching the server at all (exit code
    /// 3), rather than about a statement or the data.
    pub fn is_connection_error(&self) -> bool {
        match self {
            WriteError::Tls { .. }
            | WriteError::Connect { .. }
            | WriteError::ConnectTimeout { .. }
            | WriteError::ConnectionLost { .. } => true,
            // Class 08 is "connection exception"; 57P01..57P03 are shutdowns
            // and "cannot connect now".
            WriteError::Server(server) => {
                let code = server.code.as_str();
                code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
            }
            _ => false,
        }
    }

    /// True when trying again may succeed with nothing changed: the server
    /// could not be reached or went away, is shutting down or restarting,
    /// or has no connection slot free. Not a TLS or authentication failure,
    /// nor a missing database: those need the user.
    pub fn is_worth_retrying(&self) -> bool {
        let transient_code = |code: &str| {
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
        };
        match self {
            WriteError::ConnectTimeout { .. } | WriteError::ConnectionLost { .. } => true,
            WriteError::Connect { source, .. } => match source.code() {
                Some(code) => transient_code(code.code()),
                None => true,
            },
            WriteError::Server(server) => transient_code(&server.code),
            _ => false,
        }
    }

    /// True when the user must change something in the target or the
    /// plan before running again (exit code 2): an object ferry does not
    /// trust, a table that does not match the plan.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            WriteError::Untrusted { .. } | WriteError::TableMismatch { .. }
        )
    }

    /// True when the server refused what one row holds (a data exception,
    /// a constraint, a program limit such as JSON nested too deep: SQLSTATE
    /// classes 22, 23 and 54), as opposed to the statement or the
    /// connection failing: sending the rows again one by one finds it.
    pub fn is_row_refusal(&self) -> bool {
        self.sqlstate()
            .is_some_and(|code| ["22", "23", "54"].iter().any(|c| code.starts_with(c)))
    }

    /// The SQLSTATE of a server error.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            WriteError::Server(server) => Some(&server.code),
            _ => None,
        }
    }

    /// Wraps a client error raised while doing `action` on `table`.
    pub(crate) fn from_pg(table: &str, action: &str, source: tokio_postgres::Error) -> WriteError {
        if let Some(db) = source.as_db_error() {
            return WriteError::Server(Box::new(ServerError {
                table: table.to_owned(),
                action: action.to_owned(),
                code: db.code().code().to_owned(),
                message: db.message().to_owned(),
                detail: db.detail().map(str::to_owned),
                hint: db.hint().map(str::to_owned),
                server_table: db.table().map(str::to_owned),
                server_column: db.column().map(str::to_owned),
                server_constraint: db.constraint().map(str::to_owned),
                server_where: db.where_().map(str::to_owned),
                source,
            }));
        }
        if source.is_closed() || has_io_source(&source) {
            return WriteError::ConnectionLost {
                table: table.to_owned(),
                action: action.to_owned(),
                source,
            };
        }
        WriteError::Client {
            table: table.to_owned(),
            action: action.to_owned(),
            source,
        }
    }
}

fn has_io_source(err: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// `public.orders: add primary key failed: could not create unique index
/// "orders_pkey" (SQLSTATE 23505, constraint orders_pkey); Key (id)=(7) is
/// duplicated.; <advice>`
fn server_message(err: &ServerError) -> String {
    let ServerError {
        table,
        action,
        code,
        message,
        detail,
        hint,
        server_column,
        server_constraint,
        ..
    } = err;
    let mut out = format!("{table}: {action} failed: {message} (SQLSTATE {code}");
    if let Some(column) = server_column {
        let _ = write!(out, ", column {column}");
    }
    if let Some(constraint) = server_constraint {
        let _ = write!(out, ", constraint {constraint}");
    }
    out.push(')');
    if let Some(detail) = detail {
        let _ = write!(out, "; {detail}");
    }
    if let Some(hint) = hint {
        let _ = write!(out, "; hint: {hint}");
    }
    let _ = write!(out, "; {}", advice(code));
    out
}

/// What to do next, by SQLSTATE class.
/// <https://www.postgresql.org/docs/15/errcodes-appendix.html>
fn advice(code: &str) -> &'static str {
    let state = SqlState::from_code(code);
    if state == SqlState::DUPLICATE_TABLE || state == SqlState::DUPLICATE_OBJECT {
        return "the object already exists in the target: drop it, or choose how ferry treats existing tables";
    }
    if state == SqlState::DEPENDENT_OBJECTS_STILL_EXIST {
        return "other objects depend on this table: drop them or their foreign keys first";
    }
    if state == SqlState::INSUFFICIENT_PRIVILEGE {
        return "grant the target user the needed privileges on the schema, or connect as its owner";
    }
    if state == SqlState::UNDEFINED_TABLE || state == SqlState::INVALID_SCHEMA_NAME {
        return "the table or schema does not exist in the target; check the target schema and whether the table was created";
    }
    match code.get(..2) {
        Some("23") => "the data violates the constraint: fix the rows in SQLite, or copy with --on-error quarantine to set them aside",
        Some("22") => "a value does not fit its target type: map the column to another type in ferry.toml or fix the value",
        Some("42") => "the generated SQL was refused: check names and types in ferry.toml, and report it if the plan looks right",
        Some("53") => "the server ran out of a resource: free disk or memory, or lower the chunk size and parallelism",
        Some("08") | Some("57") => "the connection was interrupted: check the server, then run ferry again",
        Some("40") => "the transaction was aborted by a conflict: run ferry again",
        _ => "check the server log for details",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_follows_sqlstate_class() {
        assert!(advice("23505").contains("violates"));
        assert!(advice("22003").contains("type"));
        assert!(advice("42P07").contains("already exists"));
        assert!(advice("XX000").contains("server log"));
    }

    #[test]
    fn mismatch_message_says_what_happened() {
        let err = WriteError::RowCountMismatch {
            table: "public.t".into(),
            sent: 3,
            written: 2,
        };
        assert_eq!(
            err.to_string(),
            "public.t: sent 3 rows but COPY wrote 2; the chunk was rolled back, run ferry again and report this if it repeats"
        );
        assert!(!err.is_connection_error());
    }

    #[test]
    fn decode_error_names_the_column_then_the_codec_reason() {
        let source =
            ferry_copy_codec::decode_value(ferry_model::PgType::Text, Some(b"a\xffb")).unwrap_err();
        let err = WriteError::Decode {
            table: "public.t".into(),
            column: "note".into(),
            source,
        };
        let chain: Vec<String> =
            std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
                .map(ToString::to_string)
                .collect();
        assert_eq!(
            chain[0],
            "public.t, column note: the target sent a value ferry cannot read"
        );
        assert!(chain[1].starts_with("cannot decode x'61ff62' (3 bytes) as text: not valid UTF-8;"));
        assert_eq!(chain.len(), 2);
    }
}
