//! One PostgreSQL cluster per test run (from `PORTICO_TEST_DATABASE_URL`, set by `scripts/test`,
//! or else an embedded cluster started once per process), one migrated template per process, and
//! a fresh database per test cloned from it.

use std::sync::OnceLock;

use portico_store::embedded::EmbeddedPostgres;
use sqlx::{Connection, PgConnection};
use tokio::sync::OnceCell;

struct Cluster {
    admin_url: String,
    template: String,
}

static CLUSTER: OnceCell<Cluster> = OnceCell::const_new();
static EMBEDDED: OnceLock<std::sync::Mutex<Option<EmbeddedPostgres>>> = OnceLock::new();

fn with_db(url: &str, db: &str) -> String {
    match url.rfind('/') {
        Some(i) => format!("{}/{db}", &url[..i]),
        None => format!("{url}/{db}"),
    }
}

async fn cluster() -> &'static Cluster {
    CLUSTER
        .get_or_init(|| async {
            let admin_url = match std::env::var("PORTICO_TEST_DATABASE_URL") {
                Ok(u) if !u.is_empty() => u,
                _ => {
                    let dir = std::env::temp_dir().join(format!("portico-test-pg-{}", std::process::id()));
                    let pg = EmbeddedPostgres::start(&dir)
                        .await
                        .expect("start embedded PostgreSQL for tests");
                    let url = pg.database_url("postgres");
                    *EMBEDDED
                        .get_or_init(|| std::sync::Mutex::new(None))
                        .lock()
                        .expect("lock") = Some(pg);
                    url
                }
            };
            let template = format!("tpl_{}", ulid::Ulid::new().to_string().to_lowercase());
            let mut admin = PgConnection::connect(&admin_url).await.expect("connect admin");
            sqlx::query(&format!("CREATE DATABASE {template}"))
                .execute(&mut admin)
                .await
                .expect("create template");
            let pool = portico_store::connect(&with_db(&admin_url, &template), 2)
                .await
                .expect("connect template");
            portico_store::migrate(&pool).await.expect("migrate template");
            pool.close().await;
            Cluster { admin_url, template }
        })
        .await
}

/// A fresh, migrated database; returns its URL.
pub async fn fresh_database() -> String {
    let c = cluster().await;
    let name = format!("t_{}", ulid::Ulid::new().to_string().to_lowercase());
    let mut admin = PgConnection::connect(&c.admin_url).await.expect("connect admin");
    // Template cloning fails while another session is connected to the template; retry briefly.
    let mut last = None;
    for _ in 0..50 {
        match sqlx::query(&format!("CREATE DATABASE {name} TEMPLATE {}", c.template))
            .execute(&mut admin)
            .await
        {
            Ok(_) => return with_db(&c.admin_url, &name),
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
    panic!("could not create a test database: {last:?}");
}
