//! MongoDB: a real MongoDB-wire server (tests/run.sh installs and starts SecantusDB on
//! 127.0.0.1:27017; `DB_MIGRATE_TEST_MONGO_URL` points elsewhere). Each test uses its own
//! database and drops it. An unreachable server fails the test: it never passes or skips.

use std::sync::atomic::{AtomicU32, Ordering};

use mongodb::bson::{Document, doc};

use crate::common::{Project, run_concurrently};

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn server() -> String {
    std::env::var("DB_MIGRATE_TEST_MONGO_URL").unwrap_or_else(|_| "mongodb://127.0.0.1:27017".into())
}

/// A throw-away database on the real server, inspected through the real driver.
pub struct TestDb {
    pub name: String,
    pub rt: tokio::runtime::Runtime,
    pub client: mongodb::Client,
}

impl TestDb {
    pub fn new() -> Self {
        let name = format!("dbm_test_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let client = rt.block_on(async {
            let mut o = mongodb::options::ClientOptions::parse(server()).await.unwrap();
            o.server_selection_timeout = Some(std::time::Duration::from_secs(5));
            let c = mongodb::Client::with_options(o).unwrap();
            c.database("admin").run_command(doc! {"ping": 1}).await.unwrap_or_else(|e| {
                panic!("the MongoDB-wire server at {} is unreachable: {e} — tests/run.sh starts it", server())
            });
            c
        });
        TestDb { name, rt, client }
    }

    pub fn url(&self) -> String {
        format!("{}/{}", server(), self.name)
    }

    pub fn coll(&self, name: &str) -> mongodb::Collection<Document> {
        self.client.database(&self.name).collection(name)
    }

    pub fn docs(&self, coll: &str) -> Vec<Document> {
        use futures_util::TryStreamExt;
        self.rt.block_on(async { self.coll(coll).find(doc! {}).sort(doc! {"_id": 1}).await.unwrap().try_collect().await.unwrap() })
    }

    pub fn count(&self, coll: &str) -> u64 {
        self.rt.block_on(async { self.coll(coll).count_documents(doc! {}).await }).unwrap()
    }

    pub fn collections(&self) -> Vec<String> {
        let mut names = self.rt.block_on(async { self.client.database(&self.name).list_collection_names().await }).unwrap();
        names.sort();
        names
    }

    /// (version, status) of each history record.
    fn history(&self) -> Vec<(i64, String)> {
        self.docs("db_migrate_history").iter().map(|d| (d.get_i64("_id").unwrap(), d.get_str("status").unwrap().to_string())).collect()
    }

    pub fn index_names(&self, coll: &str) -> Vec<String> {
        let mut n = self.rt.block_on(async { self.coll(coll).list_index_names().await }).unwrap();
        n.sort();
        n
    }

    fn insert(&self, coll: &str, d: Document) {
        self.rt.block_on(async { self.coll(coll).insert_one(d).await }).unwrap();
    }

    /// Collections other than db-migrate's history and its (released, empty) lock.
    pub fn user_collections(&self) -> Vec<String> {
        self.collections().into_iter().filter(|c| !c.starts_with("db_migrate_history")).collect()
    }

    /// Everything a restore must give back: every collection (db-migrate's too) with its
    /// options (validator, capped size, a view's pipeline), its index specifications and its
    /// documents, in a stable order.
    pub fn full_dump(&self) -> String {
        let collections: Vec<(String, String, Option<Vec<String>>)> = self.rt.block_on(async {
            use futures_util::TryStreamExt;
            let db = self.client.database(&self.name);
            let listed = db.run_command(doc! {"listCollections": 1}).await.unwrap();
            let mut specs: Vec<Document> = listed.get_document("cursor").unwrap().get_array("firstBatch").unwrap()
                .iter()
                .map(|c| c.as_document().unwrap().clone())
                .collect();
            specs.sort_by_key(|c| c.get_str("name").unwrap().to_string());
            let mut out = Vec::new();
            for spec in specs {
                let name = spec.get_str("name").unwrap().to_string();
                let header = format!("{name} {:?} options {:?}", spec.get_str("type").unwrap_or("collection"), spec.get_document("options").ok());
                if spec.get_document("options").is_ok_and(|o| o.contains_key("viewOn")) {
                    out.push((name, header, None));
                    continue;
                }
                let mut indexes: Vec<String> = self.coll(&name).list_indexes().await.unwrap().try_collect::<Vec<_>>().await.unwrap()
                    .into_iter()
                    .map(|i| format!("{:?} {:?}", i.keys, i.options.map(|o| (o.name, o.unique))))
                    .collect();
                indexes.sort();
                out.push((name, header, Some(indexes)));
            }
            out
        });
        let mut out = String::new();
        for (name, header, indexes) in collections {
            out.push_str(&header);
            out.push('\n');
            if let Some(indexes) = indexes {
                out.push_str(&format!("  indexes {indexes:?}\n"));
                for d in self.docs(&name) {
                    out.push_str(&format!("  {d:?}\n"));
                }
            }
        }
        out
    }

    /// Every collection with every document, and the history: a before/after dump.
    pub fn snapshot(&self) -> String {
        let mut s: String = self.user_collections().iter().map(|c| format!("{c}: {:?}\n", self.docs(c))).collect();
        s.push_str(&format!("history: {:?}\n", self.docs("db_migrate_history")));
        s
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = self.rt.block_on(async { self.client.database(&self.name).drop().await });
    }
}

fn run(p: &Project, db: &TestDb, args: &[&str]) -> (i32, String, String) {
    let url = db.url();
    let mut all = vec!["--database-url", url.as_str()];
    all.extend_from_slice(args);
    p.run(&all)
}

fn ok(p: &Project, db: &TestDb, args: &[&str]) -> String {
    let (code, out, err) = run(p, db, args);
    assert_eq!(code, 0, "db-migrate {args:?} failed\n{out}\n{err}");
    out
}

fn fails(p: &Project, db: &TestDb, args: &[&str]) -> String {
    let (code, out, err) = run(p, db, args);
    assert_eq!(code, 2, "db-migrate {args:?} should fail with 2\n{out}\n{err}");
    err
}

const USERS: &str = r#"{
  "description": "users with a unique email",
  "up": [
    { "create": "users" },
    { "createIndexes": "users", "indexes": [{ "key": { "email": 1 }, "name": "email_1", "unique": true }] },
    { "insert": "users", "documents": [{ "_id": 1, "email": "a@example.com", "since": { "$date": "2024-01-31T12:00:00Z" } }] }
  ],
  "down": [
    { "drop": "users" }
  ]
}
"#;

#[test]
fn command_files_apply_revert_and_show_status() {
    let db = TestDb::new();
    let p = Project::new();
    p.write("migrations/1_users.mongo.json", USERS);
    p.write(
        "migrations/2_plans.mongo.json",
        r#"{"up": [{"update": "users", "updates": [{"q": {}, "u": {"$set": {"plan": "free"}}, "multi": true}]}],
            "down": [{"update": "users", "updates": [{"q": {}, "u": {"$unset": {"plan": ""}}, "multi": true}]}]}"#,
    );
    let out = ok(&p, &db, &["status", "--json"]);
    assert!(out.contains("\"pending\""), "{out}");
    assert!(db.collections().is_empty(), "status creates nothing: {:?}", db.collections());


    let out = ok(&p, &db, &["up"]);
    assert!(out.contains("applied  1_users") && out.contains("applied  2_plans"), "{out}");
    assert_eq!(db.history(), vec![(1, "applied".into()), (2, "applied".into())]);
    let users = db.docs("users");
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].get_str("plan").unwrap(), "free");
    assert!(users[0].get_datetime("since").is_ok(), "Extended JSON dates become BSON dates: {users:?}");
    assert_eq!(db.index_names("users"), vec!["_id_", "email_1"]);

    let out = ok(&p, &db, &["status"]);
    assert!(out.contains("commands") && out.contains("2 applied"), "{out}");

    ok(&p, &db, &["down"]);
    assert_eq!(db.history(), vec![(1, "applied".into())]);
    assert!(db.docs("users")[0].get_str("plan").is_err());
    ok(&p, &db, &["down", "--all"]);
    assert!(db.history().is_empty());
    assert!(!db.collections().contains(&"users".to_string()));
}

#[test]
fn the_unique_index_holds_and_a_failing_command_leaves_a_dirty_record() {
    let db = TestDb::new();
    let p = Project::new();
    p.write("migrations/1_users.mongo.json", USERS);
    ok(&p, &db, &["up"]);
    p.write(
        "migrations/2_more.mongo.json",
        "{\n  \"up\": [\n    {\"insert\": \"users\", \"documents\": [{\"_id\": 2, \"email\": \"b@example.com\"}]},\n    {\"insert\": \"users\", \"documents\": [{\"_id\": 3, \"email\": \"a@example.com\"}]}\n  ],\n  \"down\": []\n}\n",
    );
    let err = fails(&p, &db, &["up"]);
    assert!(err.contains("2_more.mongo.json:4"), "names the file and the command's line: {err}");
    assert!(err.contains("command 2 of 2 (`insert`)"), "{err}");
    assert!(err.contains("11000") && err.contains("dirty"), "{err}");
    assert!(err.contains("repair --mark-applied 2"), "{err}");
    assert_eq!(db.history(), vec![(1, "applied".into()), (2, "dirty".into())]);
    assert_eq!(db.count("users"), 2, "the first insert ran, the duplicate did not");

    // Dirty blocks further runs until a human decides.
    let err = fails(&p, &db, &["up"]);
    assert!(err.contains("dirty"), "{err}");
    ok(&p, &db, &["repair", "--mark-reverted", "2", "--yes"]);
    assert_eq!(db.history(), vec![(1, "applied".into())]);

    // A failure at the first command changed nothing: no dirty record is left.
    p.write("migrations/2_more.mongo.json", r#"{"up": [{"insert": "users", "documents": [{"_id": 1, "email": "z@example.com"}]}], "down": []}"#);
    let before = db.snapshot();
    let err = fails(&p, &db, &["up"]);
    assert!(err.contains("command 1 of 1"), "{err}");
    assert_eq!(db.snapshot(), before, "nothing changed, not even the history");
}

#[test]
fn bad_command_files_are_refused_before_anything_runs() {
    let db = TestDb::new();
    let p = Project::new();
    p.write("migrations/1_users.mongo.json", USERS);
    p.write("migrations/2_bad.mongo.json", "{\n  \"up\": [\n    {\"create\": \"a\"},\n    \"drop a\"\n  ]\n}\n");
    let err = fails(&p, &db, &["up"]);
    assert!(err.contains("2_bad.mongo.json:4") && err.contains("not an object"), "{err}");
    assert!(db.collections().is_empty(), "nothing ran, nothing was created: {:?}", db.collections());
}

#[test]
fn migrations_of_the_wrong_kind_are_refused_with_nothing_run() {
    let db = TestDb::new();
    let p = Project::new();
    p.write("migrations/1_users.mongo.json", USERS);
    p.migration(2, "sql", "CREATE TABLE t (id INTEGER);", None);
    let err = fails(&p, &db, &["up"]);
    assert!(err.contains("2_sql.sql is a SQL migration, but the database is MongoDB"), "{err}");
    assert!(db.user_collections().is_empty() && db.history().is_empty(), "{:?}", db.collections());

    // And the other way round, on SQLite.
    let p = Project::new();
    p.write("migrations/1_users.mongo.json", USERS);
    let err = p.fails(&["up"]);
    assert!(err.contains("MongoDB command-file migration, but the database is SQLite"), "{err}");

    // A SQL component against MongoDB, a MongoDB component against SQLite.
    let p = Project::new();
    p.component("probe", 1, "sql_probe");
    let err = fails(&p, &db, &["up"]);
    assert!(err.contains("imports the `sql` interface") && err.contains("MongoDB"), "{err}");
    assert!(db.user_collections().is_empty() && db.history().is_empty(), "{:?}", db.collections());
    let p = Project::new();
    p.component("mongo_probe", 1, "mongo_probe");
    let err = p.fails(&["up"]);
    assert!(err.contains("imports the `documents` interface") && err.contains("SQLite"), "{err}");
    assert_eq!(p.history(), vec![]);
}

#[test]
fn a_component_migrates_documents_with_cursor_and_index() {
    let db = TestDb::new();
    let p = Project::new();
    p.component("mongo_probe", 1, "people");
    let (code, out, err) = run(&p, &db, &["up", "-v", "--arg", "people=1200"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("index email_1; walked 1200; tagged 172"), "{err}");
    assert!(err.contains("progress 1200/1200"), "{err}");
    assert_eq!(db.count("people"), 1200);
    assert_eq!(db.index_names("people"), vec!["_id_", "email_1"]);
    assert_eq!(db.history(), vec![(1, "applied".into())]);
    let out = ok(&p, &db, &["status"]);
    assert!(out.contains("component") && out.contains("applied"), "{out}");
    ok(&p, &db, &["down"]);
    assert!(!db.collections().contains(&"people".to_string()));
    assert!(db.history().is_empty());

    // The unique index surfaces to the guest as a unique violation it can recognise.
    let err = fails(&p, &db, &["up", "--arg", "mode=dup"]);
    assert!(err.contains("saw a unique violation") && err.contains("11000"), "{err}");
}

#[test]
fn a_failing_component_is_rolled_back_in_a_transaction_or_left_dirty_outside_one() {
    let db = TestDb::new();
    // Data-only, transactional: the server supports transactions, so nothing is kept.
    let p = Project::new();
    p.component("mongo_tx", 1, "ledger");
    let err = fails(&p, &db, &["up", "--arg", "mode=fail"]);
    assert!(err.contains("failed after inserting three entries") && err.contains("nothing of this migration was kept"), "{err}");
    assert_eq!(db.count("ledger"), 0, "the transaction took the inserts back");
    assert!(db.history().is_empty());
    ok(&p, &db, &["up"]);
    assert_eq!(db.count("ledger"), 3);
    ok(&p, &db, &["down"]);
    assert_eq!(db.count("ledger"), 0);

    // Outside a transaction: what it did stays, and the record says so.
    let db = TestDb::new();
    let p = Project::new();
    p.component("mongo_probe", 1, "people");
    let err = fails(&p, &db, &["up", "--arg", "mode=fail"]);
    assert!(err.contains("dirty"), "{err}");
    assert_eq!(db.history(), vec![(1, "dirty".into())]);
    assert_eq!(db.count("people"), 3);
}

#[test]
fn grants_apply_by_collection() {
    let db = TestDb::new();
    let p = Project::new();
    p.component("mongo_probe", 1, "people");
    p.write("db-migrate.toml", "[components.people]\nallow = [\"read\", \"write\", \"ddl\"]\ntables = [\"people\"]\n");
    for (mode, expect) in [
        ("denied", "the collection `secrets` is not among this component's granted collections (people)"),
        ("history", "db-migrate's own history"),
        ("command", "the command `dropDatabase` is not one db-migrate can check"),
    ] {
        let before = db.snapshot();
        let err = fails(&p, &db, &["up", "--arg", &format!("mode={mode}")]);
        assert!(err.contains(expect), "{mode}: {err}");
        assert!(err.contains("denied"), "{mode}: {err}");
        assert_eq!(db.snapshot(), before, "{mode}: nothing written");
        let audit = std::fs::read_to_string(p.path().join(".db-migrate/audit.log")).unwrap();
        assert!(audit.contains(expect), "{mode}: audited: {audit}");
    }
    // Without `ddl`, even the granted collection cannot get an index.
    p.write("db-migrate.toml", "[components.people]\nallow = [\"read\", \"write\"]\ntables = [\"people\"]\n");
    let err = fails(&p, &db, &["up"]);
    assert!(err.contains("`ddl` on `people`, which this component is not granted"), "{err}");
    assert!(db.history().is_empty());
}

#[test]
fn four_runners_apply_each_migration_once() {
    let db = TestDb::new();
    let p = Project::new();
    for v in 1..=20 {
        p.write(
            &format!("migrations/{v}_m{v}.mongo.json"),
            format!(r#"{{"up": [{{"insert": "runs", "documents": [{{"v": {v}}}]}}], "down": [{{"delete": "runs", "deletes": [{{"q": {{"v": {v}}}, "limit": 0}}]}}]}}"#),
        );
    }
    let url = db.url();
    let applied = run_concurrently(&p, 4, &["--database-url", &url, "up"]);
    assert_eq!(applied, 20, "each migration applied by exactly one runner");
    assert_eq!(db.count("runs"), 20, "no migration ran twice");
    assert_eq!(db.history().len(), 20);
    assert!(db.history().iter().all(|(_, s)| s == "applied"));
    assert_eq!(db.count("db_migrate_history_lock"), 0, "the lock is released");
}

#[test]
fn a_held_lock_times_out_naming_its_holder_and_a_stale_one_expires() {
    let db = TestDb::new();
    let p = Project::new();
    p.write("migrations/1_users.mongo.json", USERS);
    let now = mongodb::bson::DateTime::now().timestamp_millis();
    db.insert(
        "db_migrate_history_lock",
        doc! {"_id": "migrate", "owner": "db-migrate on elsewhere, pid 42", "acquired_at": mongodb::bson::DateTime::from_millis(now), "expires_at": mongodb::bson::DateTime::from_millis(now + 600_000)},
    );
    let err = fails(&p, &db, &["up", "--lock-timeout", "1"]);
    assert!(err.contains("holds the migration lock") && err.contains("pid 42"), "{err}");
    assert!(db.history().is_empty());

    // A runner that died leaves its lock until it expires; then the next run takes over.
    let expired = doc! {"$set": {"expires_at": mongodb::bson::DateTime::from_millis(now - 1)}};
    db.rt.block_on(async { db.coll("db_migrate_history_lock").update_one(doc! {"_id": "migrate"}, expired).await }).unwrap();
    ok(&p, &db, &["up", "--lock-timeout", "1"]);
    assert_eq!(db.history(), vec![(1, "applied".into())]);
}

#[test]
fn create_writes_a_command_file_and_urls_keep_their_secrets() {
    let p = Project::new();
    p.write("db-migrate.toml", "database_url = \"mongodb://127.0.0.1:27017/app\"\n");
    let out = p.ok(&["create", "--name", "add_users"]);
    assert!(out.contains(".mongo.json"), "{out}");
    let file = std::fs::read_dir(p.path().join("migrations")).unwrap().next().unwrap().unwrap().path();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("\"up\"") && text.contains("\"down\""), "{text}");

    let (code, out, err) = p.run(&["--database-url", "mongodb://admin:hunter2@127.0.0.1:1/app", "status"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("cannot connect to MongoDB") && err.contains("admin:***@"), "{err}");
    assert!(!err.contains("hunter2") && !out.contains("hunter2"), "{err}");

    let err = p.fails(&["--database-url", "mongodb://127.0.0.1:27017", "status"]);
    assert!(err.contains("names no database"), "{err}");
}

#[test]
fn repair_reset_and_drop_on_mongodb() {
    let db = TestDb::new();
    let p = Project::new();
    p.write("migrations/1_users.mongo.json", USERS);
    ok(&p, &db, &["up"]);
    db.insert("users", doc! { "_id": 2, "email": "hand@example.com" });
    db.insert("scratch", doc! { "x": 1 });

    // An edited command file, accepted on purpose.
    p.write("migrations/1_users.mongo.json", USERS.replace("users with a unique email", "users, unique email"));
    assert!(fails(&p, &db, &["up"]).contains("repair --accept-checksum 1"));
    ok(&p, &db, &["repair", "--accept-checksum", "1", "--yes"]);
    ok(&p, &db, &["validate"]);

    // Reset: every collection goes, the migration runs again.
    let v: serde_json::Value = serde_json::from_str(&ok(&p, &db, &["--json", "reset", "--yes"])).unwrap();
    let dropped: Vec<&str> = v["dropped"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
    assert!(dropped.contains(&"collection scratch") && dropped.contains(&"collection users"), "{dropped:?}");
    assert_eq!(db.user_collections(), vec!["users"]);
    assert_eq!(db.count("users"), 1, "only the migration's document");
    assert_eq!(db.history(), vec![(1, "applied".to_string())]);

    // Drop: the database is gone.
    let v: serde_json::Value = serde_json::from_str(&ok(&p, &db, &["--json", "drop", "--yes"])).unwrap();
    assert_eq!(v["dropped"], true);
    assert!(db.collections().is_empty());
}

#[test]
fn red_team_documents_grants_are_allowlists() {
    // Red-team round three. Each payload must be refused by the host (`denied`, audited), with
    // nothing written: a collection named like the granted one in another case, aggregation
    // stages outside the known list (`$listCatalog` shows every collection's definition, and
    // needed no grant at all on `aggregate: 1`), `collMod` pointing a granted view at an
    // ungranted collection, command fields beyond the known ones, and db-migrate's seed
    // history from an unrestricted migration.
    let db = TestDb::new();
    db.insert("secrets", doc! {"v": "s3cret"});
    let p = Project::new();
    p.component("mongo_probe", 1, "people");
    p.write("db-migrate.toml", "[components.people]\nallow = [\"read\", \"write\", \"ddl\"]\ntables = [\"people\"]\n");
    let payloads: &[(&str, &str)] = &[
        ("mode=run", r#"cmd={"aggregate": 1, "pipeline": [{"$listCatalog": {}}], "cursor": {}}"#),
        ("mode=run", r#"cmd={"aggregate": "people", "pipeline": [{"$madeUpStage": {"from": "secrets"}}], "cursor": {}}"#),
        ("mode=run", r#"cmd={"collMod": "people", "viewOn": "secrets", "pipeline": []}"#),
        // MongoDB names are case-sensitive: a grant of `people` was compared in lower case,
        // so it reached the collection `People` too.
        ("mode=insert-into", "coll=People"),
        // `*` stood for "the database" in the host's check: a collection of that name passed
        // any collection allowlist.
        ("mode=insert-into", "coll=*"),
        // Command fields are an allowlist too: `write` is not the right to skip the validator
        // a migration put on the collection, nor to run in a session of the guest's choosing.
        ("mode=run", r#"cmd={"insert": "people", "documents": [{"x": 1}], "bypassDocumentValidation": true}"#),
        ("mode=run", r#"cmd={"insert": "people", "documents": [{"x": 1}], "lsid": {"id": {"$binary": {"base64": "AAAAAAAAAAAAAAAAAAAAAA==", "subType": "04"}}}, "txnNumber": 1, "autocommit": false, "startTransaction": true}"#),
    ];
    for (mode, arg) in payloads {
        let before = db.snapshot();
        let err = fails(&p, &db, &["up", "--arg", mode, "--arg", arg]);
        assert!(err.contains("denied"), "{arg}: {err}");
        assert_eq!(db.snapshot(), before, "{arg}: nothing written");
    }
    // Unrestricted: every collection of the database, never db-migrate's seed history.
    p.write("db-migrate.toml", "");
    let before = db.snapshot();
    let err = fails(&p, &db, &["up", "--arg", "mode=insert-into", "--arg", "coll=db_migrate_seeds"]);
    assert!(err.contains("denied") && err.contains("db-migrate's own"), "{err}");
    assert_eq!(db.snapshot(), before);
    // The positive control: the granted collection, spelled as granted.
    p.write("db-migrate.toml", "[components.people]\nallow = [\"read\", \"write\", \"ddl\"]\ntables = [\"people\"]\n");
    ok(&p, &db, &["up", "--arg", "mode=insert-into", "--arg", "coll=people"]);
    assert_eq!(db.count("people"), 1);
}
