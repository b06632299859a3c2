//! The native floors of `bench/seeds.py`: the same rows as the faker pack's users (id, name,
//! email), written from plain Rust, in one transaction:
//! - `sqlite`: through sqlx, as a program using that driver would (500-row multi-row INSERTs);
//! - `sqlite-c`: on SQLite's C API (the library sqlx bundles and the host links), one prepared
//!   single-row INSERT bound and stepped per row, text bound in place: the fastest way SQLite
//!   takes rows one statement at a time, and the way the host runs a seed's batches;
//! - `sqlite-sql`: the same library making the rows itself inside one `INSERT … SELECT` from a
//!   recursive CTE (no client, no binding, no statement per row): what any program handing
//!   SQLite its rows adds to, so the ceiling for the SQLite target on this machine and storage;
//! - `postgres`: COPY through sqlx, one COPY for all rows;
//! - `postgres-batches`: COPY through sqlx in 5,000-row batches, each under a savepoint and
//!   waited for before the next is made, as a seed's `execute-batch` calls run.
//!
//! Prints the insert phase's seconds (connection set-up excluded).
//!
//! Usage: seed_floor sqlite|sqlite-c|sqlite-sql PATH ROWS | seed_floor postgres|postgres-batches URL ROWS
//! (the table `users (id BIGINT PRIMARY KEY, name TEXT, email TEXT)` must exist and be empty)

use sqlx::{AssertSqlSafe, Connection, Executor};

fn row(id: u64, state: &mut u64) -> (i64, String, String) {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    let first = ["Olivia", "Liam", "Emma", "Noah", "Ava", "Oliver"][(*state % 6) as usize];
    let last = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia"][((*state >> 8) % 6) as usize];
    (id as i64, format!("{first} {last}"), format!("{}.{}{id}@example.com", first.to_lowercase(), last.to_lowercase()))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, kind, target, rows] = args.as_slice() else {
        eprintln!("usage: seed_floor sqlite|sqlite-c|sqlite-sql PATH ROWS | seed_floor postgres|postgres-batches URL ROWS");
        std::process::exit(2);
    };
    let rows: u64 = rows.parse().expect("ROWS is a number");
    if kind == "sqlite-c" || kind == "sqlite-sql" {
        println!("{}", sqlite_c(target, rows, kind == "sqlite-sql"));
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let secs = rt.block_on(async {
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        match kind.as_str() {
            "sqlite" => {
                let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{target}")).await.expect("open");
                let started = std::time::Instant::now();
                c.execute("BEGIN").await.unwrap();
                let mut id = 1;
                while id <= rows {
                    let n = 500.min(rows - id + 1);
                    let mut sql = String::from("INSERT INTO users (id, name, email) VALUES ");
                    for i in 0..n {
                        sql.push_str(if i == 0 { "(?, ?, ?)" } else { ",(?, ?, ?)" });
                    }
                    let mut q = sqlx::query(AssertSqlSafe(sql));
                    for k in 0..n {
                        let (a, b, e) = row(id + k, &mut state);
                        q = q.bind(a).bind(b).bind(e);
                    }
                    q.execute(&mut c).await.unwrap();
                    id += n;
                }
                c.execute("COMMIT").await.unwrap();
                started.elapsed().as_secs_f64()
            }
            "postgres" => {
                let mut c = sqlx::PgConnection::connect(target).await.expect("connect");
                // As the host does (see `disable_nagle`), so both paths get the same socket.
                db_migrate::backend::disable_nagle();
                let started = std::time::Instant::now();
                c.execute("BEGIN").await.unwrap();
                let mut copy = c.copy_in_raw("COPY users (id, name, email) FROM STDIN").await.unwrap();
                let mut buf = Vec::with_capacity(1 << 20);
                for id in 1..=rows {
                    let (a, b, e) = row(id, &mut state);
                    buf.extend_from_slice(format!("{a}\t{b}\t{e}\n").as_bytes());
                    if buf.len() >= 1 << 20 {
                        copy.send(std::mem::take(&mut buf)).await.unwrap();
                    }
                }
                copy.send(buf).await.unwrap();
                copy.finish().await.unwrap();
                c.execute("COMMIT").await.unwrap();
                started.elapsed().as_secs_f64()
            }
            "postgres-batches" => {
                // What a seed's `execute-batch` calls amount to on PostgreSQL: 5,000 rows made,
                // then sent as one COPY under a savepoint and waited for, then the next 5,000.
                // The `postgres` floor's single COPY lets the server take rows in while the
                // client makes more; a call that returns its result cannot.
                let mut c = sqlx::PgConnection::connect(target).await.expect("connect");
                db_migrate::backend::disable_nagle();
                let started = std::time::Instant::now();
                c.execute("BEGIN").await.unwrap();
                let mut id = 1;
                while id <= rows {
                    let n = 5000.min(rows - id + 1);
                    let mut buf = Vec::with_capacity(n as usize * 48);
                    for k in 0..n {
                        let (a, b, e) = row(id + k, &mut state);
                        buf.extend_from_slice(format!("{a}\t{b}\t{e}\n").as_bytes());
                    }
                    c.execute("SAVEPOINT floor").await.unwrap();
                    let mut copy = c.copy_in_raw("COPY users (id, name, email) FROM STDIN").await.unwrap();
                    copy.send(buf).await.unwrap();
                    copy.finish().await.unwrap();
                    c.execute("RELEASE SAVEPOINT floor").await.unwrap();
                    id += n;
                }
                c.execute("COMMIT").await.unwrap();
                started.elapsed().as_secs_f64()
            }
            other => panic!("unknown database kind {other}"),
        }
    });
    println!("{secs}");
}

/// The `sqlite-c` floor: one prepared `INSERT` stepped per row on SQLite's C API; with
/// `in_sql`, the `sqlite-sql` ceiling: SQLite making the rows itself in one statement.
fn sqlite_c(path: &str, rows: u64, in_sql: bool) -> f64 {
    use libsqlite3_sys as ffi;
    use std::ffi::CString;
    let exec = |db: *mut ffi::sqlite3, sql: &str| {
        let sql = CString::new(sql).unwrap();
        // SAFETY: `db` is open; the statement text is NUL-terminated.
        let rc = unsafe { ffi::sqlite3_exec(db, sql.as_ptr(), None, std::ptr::null_mut(), std::ptr::null_mut()) };
        assert_eq!(rc, ffi::SQLITE_OK, "{sql:?}");
    };
    // As the `db-migrate` binary sets SQLite up (no allocation statistics, no global mutex
    // around every allocation), so both run the same library the same way.
    db_migrate::backend::sqlite::tune_process_allocator();
    let path = CString::new(path).unwrap();
    let mut db = std::ptr::null_mut();
    // SAFETY: plain use of SQLite's C API on one thread; every statement is finalized and the
    // connection closed before returning. Text is bound in place (SQLITE_STATIC): each row's
    // strings are kept until the next row is bound, and the last ones until the statement is
    // finalized, as SQLite requires.
    unsafe {
        assert_eq!(ffi::sqlite3_open(path.as_ptr(), &mut db), ffi::SQLITE_OK, "open");
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let started = std::time::Instant::now();
        if in_sql {
            exec(db, &format!(
                "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
                 INSERT INTO users (id, name, email) SELECT i, 'Olivia Smith', 'olivia.smith' || i || '@example.com' FROM n; COMMIT;"
            ));
            let secs = started.elapsed().as_secs_f64();
            ffi::sqlite3_close(db);
            return secs;
        }
        exec(db, "BEGIN");
        let sql = "INSERT INTO users (id, name, email) VALUES (?, ?, ?)";
        let mut stmt = std::ptr::null_mut();
        let rc = ffi::sqlite3_prepare_v3(db, sql.as_ptr().cast(), sql.len() as i32, ffi::SQLITE_PREPARE_PERSISTENT as u32, &mut stmt, std::ptr::null_mut());
        assert_eq!(rc, ffi::SQLITE_OK, "prepare");
        let mut bound = (String::new(), String::new());
        for id in 1..=rows {
            // The host runs each 5,000-row batch under a savepoint: so does this.
            if id % 5000 == 1 {
                exec(db, "SAVEPOINT floor");
            }
            let (a, b, e) = row(id, &mut state);
            ffi::sqlite3_bind_int64(stmt, 1, a);
            ffi::sqlite3_bind_text64(stmt, 2, b.as_ptr().cast(), b.len() as u64, ffi::SQLITE_STATIC(), ffi::SQLITE_UTF8 as u8);
            ffi::sqlite3_bind_text64(stmt, 3, e.as_ptr().cast(), e.len() as u64, ffi::SQLITE_STATIC(), ffi::SQLITE_UTF8 as u8);
            drop(std::mem::replace(&mut bound, (b, e)));
            assert_eq!(ffi::sqlite3_step(stmt), ffi::SQLITE_DONE, "insert");
            ffi::sqlite3_reset(stmt);
            if id % 5000 == 0 || id == rows {
                exec(db, "RELEASE floor");
            }
        }
        ffi::sqlite3_finalize(stmt);
        drop(bound);
        exec(db, "COMMIT");
        let secs = started.elapsed().as_secs_f64();
        ffi::sqlite3_close(db);
        secs
    }
}
