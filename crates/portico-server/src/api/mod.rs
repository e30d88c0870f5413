//! Route assembly. Every route is registered through [`Api`], which also records it for the
//! OpenAPI document, so the document covers every route by construction.

pub mod cookies;
pub mod cors;
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

/// One documented operation.
#[derive(Clone, Debug)]
pub struct OpDoc {
    /// HTTP method (lower case).
    pub method: &'static str,
    /// Path template (`/api/user/organizations/{orgId}`).
    pub path: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Tag (API family / area).
    pub tag: &'static str,
    /// Whether a credential is required.
    pub auth: bool,
    /// The request body: undeclared, declared absent ([`Api::no_body`]), or a JSON body whose
    /// schema comes from the handler's body type ([`Api::body`]).
    pub body: Body,
}

/// What a route says of its request body.
#[derive(Clone, Debug)]
pub enum Body {
    /// Not declared (a write route in this state fails the OpenAPI test).
    Undeclared,
    /// The route reads no body.
    None,
    /// A JSON body.
    Json(BodyDoc),
}

/// A request body's OpenAPI schema, generated from its Rust type.
#[derive(Clone, Debug)]
pub struct BodyDoc {
    /// The schema (a `$ref` or inline).
    pub schema: serde_json::Value,
    /// Named component schemas it uses.
    pub components: Vec<(String, serde_json::Value)>,
}

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
        });
        self
    }

    /// Documents the JSON request body of the route registered just before, from the type its
    /// handler deserializes (`ValidJson<T>`): `.post(path, summary, handler).body::<T>()`.
    /// Every POST, PUT and PATCH route needs one (the OpenAPI test fails otherwise).
    pub fn body<T: utoipa::ToSchema>(mut self) -> Self {
        let mut components = Vec::new();
        T::schemas(&mut components);
        let name = T::name().into_owned();
        let schema = serde_json::to_value(<T as utoipa::PartialSchema>::schema()).unwrap_or_default();
        let mut components: Vec<(String, serde_json::Value)> = components
            .into_iter()
            .map(|(n, s)| (n, serde_json::to_value(s).unwrap_or_default()))
            .collect();
        components.push((name.clone(), schema));
        if let Some(op) = self.ops.last_mut() {
            op.body = Body::Json(BodyDoc {
                schema: serde_json::json!({ "$ref": format!("#/components/schemas/{name}") }),
                components,
            });
        }
        self
    }

    /// Declares that the route registered just before reads no request body.
    pub fn no_body(mut self) -> Self {
        if let Some(op) = self.ops.last_mut() {
            op.body = Body::None;
        }
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
