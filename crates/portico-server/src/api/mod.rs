//! Route assembly. Every route is registered through [`Api`], which also records it for the
//! OpenAPI document, so the document covers every route by construction.

pub mod cookies;
pub mod cors;
mod doc;
pub mod oauth2;
pub mod ops;
pub mod org;
pub mod scim;
pub mod sdk;
pub mod signin_edge;

use axum::handler::Handler;
use axum::routing::{self, MethodRouter};
use axum::Router;

use crate::state::AppState;

pub use doc::{Answer, Body, Framing, OpDoc, Shape};

/// A router under construction plus the operations it serves.
pub struct Api {
    router: Router<AppState>,
    ops: Vec<OpDoc>,
    tag: &'static str,
    auth: bool,
}

impl Default for Api {
    fn default() -> Self {
        Self {
            router: Router::new(),
            ops: Vec::new(),
            tag: "ops",
            auth: false,
        }
    }
}

macro_rules! verb {
    ($name:ident) => {
        /// Registers a handler for this method.
        pub fn $name<H, T>(self, path: &'static str, summary: &'static str, h: H) -> Self
        where
            H: Handler<T, AppState>,
            T: 'static,
        {
            self.add(stringify!($name), path, summary, routing::$name(h))
        }
    };
}

impl Api {
    /// Sets the tag and whether following routes require a credential.
    pub fn section(mut self, tag: &'static str, auth: bool) -> Self {
        self.tag = tag;
        self.auth = auth;
        self
    }

    fn add(
        mut self,
        method: &'static str,
        path: &'static str,
        summary: &'static str,
        mr: MethodRouter<AppState>,
    ) -> Self {
        self.router = self.router.route(path, mr);
        self.ops.push(OpDoc {
            method,
            path,
            summary,
            tag: self.tag,
            auth: self.auth,
            body: Body::Undeclared,
            query: Vec::new(),
            answers: Vec::new(),
        });
        self
    }

    verb!(get);
    verb!(post);
    verb!(put);
    verb!(patch);
    verb!(delete);

    /// The router and the documented operations.
    pub fn finish(self) -> (Router<AppState>, Vec<OpDoc>) {
        (self.router, self.ops)
    }
}

/// Every route of both families.
pub fn all() -> (Router<AppState>, Vec<OpDoc>) {
    let api = Api::default();
    let api = ops::routes(api);
    let api = org::routes(api);
    let api = sdk::routes(api);
    let api = scim::routes(api);
    let api = oauth2::routes(api);
    api.finish()
}
