//! `faker`: a db-migrate seed pack writing realistic users, posts and comments.
//!
//! Everything comes from `context.random-seed`: the same seed and arguments write byte-identical
//! data. Rows go in through a bulk insert per table, which the host runs as one streaming COPY
//! on PostgreSQL (the server takes a batch while the next is made) and as prepared or multi-row
//! inserts elsewhere. See README.md for the arguments and the tables it expects.
use db_migrate_sdk::{BulkInsert, Dialect, Result, Seed, Value, context, dialect, log};

mod words;

/// A small, fast, deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // Never zero, and two nearby seeds start far apart.
        Rng((seed ^ 0x9E37_79B9_7F4A_7C15).wrapping_mul(0xBF58_476D_1CE4_E5B9) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() >> 32) * n) >> 32
    }
    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

fn arg_u64(key: &str, default: u64) -> Result<u64> {
    match context::arg(key) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| format!("argument `{key}` must be a whole number, not `{v}`").into()),
    }
}

fn arg_str(key: &str, default: &str) -> String {
    context::arg(key).unwrap_or_else(|| default.to_string())
}

/// `YYYY-MM-DD HH:MM:SS` for seconds since 1970 (UTC): a literal every database reads as a
/// timestamp.
fn timestamp(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Seconds since 1970 of `YYYY-MM-DD`.
fn parse_date(s: &str) -> Result<i64> {
    let bad = || format!("argument `since` must be a date like 2024-01-01, not `{s}`");
    let mut parts = s.trim().splitn(3, '-').map(|p| p.parse::<i64>());
    let (Some(Ok(y)), Some(Ok(m)), Some(Ok(d))) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad().into());
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad().into());
    }
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Ok((era * 146_097 + doe - 719_468) * 86_400)
}

/// `INSERT INTO table (cols) VALUES (?, …)` in the connection's placeholder style.
fn insert(table: &str, columns: &[&str]) -> String {
    let pg = dialect() == Dialect::Postgres;
    let marks: Vec<String> = (1..=columns.len()).map(|i| if pg { format!("${i}") } else { "?".to_string() }).collect();
    format!("INSERT INTO {table} ({}) VALUES ({})", columns.join(", "), marks.join(", "))
}

/// Writes rows in batches through one bulk insert, reporting progress over all rows of the run.
struct Writer {
    bulk: BulkInsert,
    batch: Vec<Vec<Value>>,
    size: usize,
    done: u64,
    total: u64,
}

impl Writer {
    fn new(statement: String, size: usize, done: u64, total: u64) -> Result<Self> {
        Ok(Writer { bulk: BulkInsert::open(&statement)?, batch: Vec::with_capacity(size), size, done, total })
    }
    fn push(&mut self, row: Vec<Value>) -> Result<()> {
        self.batch.push(row);
        if self.batch.len() == self.size {
            self.flush()?;
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let rows = std::mem::replace(&mut self.batch, Vec::with_capacity(self.size));
        self.done += rows.len() as u64;
        self.bulk.write(rows)?;
        log::progress(self.done, Some(self.total));
        Ok(())
    }
    /// Writes what is left and waits until the database has taken every row.
    fn finish(mut self) -> Result<u64> {
        self.flush()?;
        self.bulk.finish()?;
        Ok(self.done)
    }
}

const USER_COLUMNS: [&str; 5] = ["id", "name", "email", "created_at", "bio"];

struct Faker;

impl Seed for Faker {
    fn run() -> Result<()> {
        let users = arg_u64("users", 100)?;
        let posts_per_user = arg_u64("posts_per_user", 0)?;
        let comments_per_post = arg_u64("comments_per_post", 0)?;
        let batch = arg_u64("batch", 5_000)?.clamp(1, 100_000) as usize;
        let locale = arg_str("locale", "en");
        let words = words::locale(&locale).ok_or_else(|| format!("unknown locale `{locale}` (known: {})", words::LOCALES.join(", ")))?;
        let since = parse_date(&arg_str("since", "2024-01-01"))?;
        let user_columns_arg = arg_str("user_columns", "id,name,email,created_at");
        let user_columns: Vec<&str> = user_columns_arg.split(',').map(str::trim).filter(|c| !c.is_empty()).collect();
        if let Some(c) = user_columns.iter().find(|c| !USER_COLUMNS.contains(c)) {
            return Err(format!("`user_columns` names `{c}`, which faker cannot generate (it can: {})", USER_COLUMNS.join(", ")).into());
        }
        let users_table = arg_str("users_table", "users");
        let posts_table = arg_str("posts_table", "posts");
        let comments_table = arg_str("comments_table", "comments");

        let posts = users * posts_per_user;
        let comments = posts * comments_per_post;
        let total = users + posts + comments;
        let mut rng = Rng::new(context::random_seed());
        let year: i64 = 365 * 86_400;

        // E-mail spellings of the names, worked out once (this loop runs millions of times).
        let first_ascii: Vec<String> = words.first_names.iter().map(|n| ascii(n)).collect();
        let last_ascii: Vec<String> = words.last_names.iter().map(|n| ascii(n)).collect();
        let mut w = Writer::new(insert(&users_table, &user_columns), batch, 0, total)?;
        for id in 1..=users {
            let f = rng.below(words.first_names.len() as u64) as usize;
            let l = rng.below(words.last_names.len() as u64) as usize;
            let mut row = Vec::with_capacity(user_columns.len());
            for c in &user_columns {
                row.push(match *c {
                    "id" => Value::Int(id as i64),
                    "name" => {
                        let (first, last) = (words.first_names[f], words.last_names[l]);
                        let mut s = String::with_capacity(first.len() + last.len() + 1);
                        s.push_str(first);
                        s.push(' ');
                        s.push_str(last);
                        Value::Text(s)
                    }
                    "email" => {
                        let domain = rng.pick(words::DOMAINS);
                        let mut s = String::with_capacity(first_ascii[f].len() + last_ascii[l].len() + domain.len() + 22);
                        s.push_str(&first_ascii[f]);
                        s.push('.');
                        s.push_str(&last_ascii[l]);
                        push_u64(&mut s, id);
                        s.push('@');
                        s.push_str(domain);
                        Value::Text(s)
                    }
                    "created_at" => Value::Text(timestamp(since + rng.below(year as u64) as i64)),
                    _ => Value::Text(sentence(&mut rng, words.words, 8)),
                });
            }
            w.push(row)?;
        }
        let done = w.finish()?;

        if posts > 0 {
            let mut w = Writer::new(insert(&posts_table, &["id", "user_id", "title", "body", "created_at"]), batch, done, total)?;
            for id in 1..=posts {
                let user = (id - 1) / posts_per_user + 1;
                w.push(vec![
                    Value::Int(id as i64),
                    Value::Int(user as i64),
                    Value::Text(title(&mut rng, words.words)),
                    Value::Text(paragraph(&mut rng, words.words)),
                    Value::Text(timestamp(since + year + rng.below(year as u64) as i64)),
                ])?;
            }
            let done = w.finish()?;
            if comments > 0 {
                let mut w = Writer::new(insert(&comments_table, &["id", "post_id", "user_id", "body", "created_at"]), batch, done, total)?;
                for id in 1..=comments {
                    let post = (id - 1) / comments_per_post + 1;
                    w.push(vec![
                        Value::Int(id as i64),
                        Value::Int(post as i64),
                        Value::Int(rng.below(users) as i64 + 1),
                        Value::Text(sentence(&mut rng, words.words, 12)),
                        Value::Text(timestamp(since + 2 * year + rng.below(year as u64) as i64)),
                    ])?;
                }
                w.finish()?;
            }
        }
        log::info(format!("{users} users, {posts} posts, {comments} comments ({locale})"));
        Ok(())
    }
}

/// Appends `n` in decimal without the formatting machinery.
fn push_u64(s: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    s.push_str(std::str::from_utf8(&buf[i..]).expect("digits"));
}

/// An e-mail-safe spelling of a name.
fn ascii(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .filter_map(|c| match c {
            'ä' => Some('a'),
            'ö' => Some('o'),
            'ü' => Some('u'),
            'ß' => Some('s'),
            'é' | 'è' | 'ê' => Some('e'),
            'á' | 'à' => Some('a'),
            'í' => Some('i'),
            'ó' => Some('o'),
            'ñ' => Some('n'),
            'ç' => Some('c'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

fn sentence(rng: &mut Rng, words: &[&str], max: u64) -> String {
    let n = 3 + rng.below(max.max(1));
    let mut s = String::new();
    for i in 0..n {
        let w = rng.pick(words);
        if i == 0 {
            let mut c = w.chars();
            if let Some(f) = c.next() {
                s.extend(f.to_uppercase());
                s.push_str(c.as_str());
            }
        } else {
            s.push(' ');
            s.push_str(w);
        }
    }
    s.push('.');
    s
}

fn title(rng: &mut Rng, words: &[&str]) -> String {
    let s = sentence(rng, words, 5);
    s.trim_end_matches('.').to_string()
}

fn paragraph(rng: &mut Rng, words: &[&str]) -> String {
    let n = 2 + rng.below(4);
    (0..n).map(|_| sentence(rng, words, 12)).collect::<Vec<_>>().join(" ")
}

db_migrate_sdk::export_seed!(Faker);
