//! What a route says of itself for the OpenAPI document ([`crate::openapi`]): its request body,
//! query parameters and success answers, declared at its registration right after the verb:
//! `api.post(path, summary, handler).body::<Body>().data::<View>(201)`. Schemas come from the
//! handlers' own types (`utoipa::ToSchema`, `utoipa::IntoParams`) or, for answers assembled as
//! JSON values, from [`crate::openapi::shapes`]; the integration tests validate every answer
//! they receive against the document, so a hand-written shape cannot drift unnoticed.

use serde_json::{json, Value};

use super::Api;

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
    /// The request body: undeclared, declared absent ([`Api::no_body`]), or a body whose
    /// schema comes from the handler's body type ([`Api::body`], [`Api::form`]).
    pub body: Body,
    /// Query parameters (OpenAPI parameter objects), from [`Api::query`].
    pub query: Vec<Value>,
    /// Success answers; empty means undeclared (the OpenAPI test fails).
    pub answers: Vec<Answer>,
}

/// What a route says of its request body.
#[derive(Clone, Debug)]
pub enum Body {
    /// Not declared (a write route in this state fails the OpenAPI test).
    Undeclared,
    /// The route reads no body.
    None,
    /// A JSON body (`application/scim+json` on SCIM routes, which also take `application/json`).
    Json(Shape),
    /// An `application/x-www-form-urlencoded` body (OAuth 2.0 endpoints, SAML POST binding).
    Form(Shape),
}

/// A JSON Schema with the named component schemas it refers to.
#[derive(Clone, Debug)]
pub struct Shape {
    /// The schema (usually a `$ref` to a component).
    pub schema: Value,
    /// Named component schemas it uses.
    pub components: Vec<(String, Value)>,
}

impl Shape {
    /// The schema of a Rust type (a `$ref` to its component, which is included).
    pub fn of<T: utoipa::ToSchema>() -> Self {
        let mut components = Vec::new();
        T::schemas(&mut components);
        let name = T::name().into_owned();
        let own = serde_json::to_value(<T as utoipa::PartialSchema>::schema()).unwrap_or_default();
        let mut components: Vec<(String, Value)> = components
            .into_iter()
            .map(|(n, s)| (n, serde_json::to_value(s).unwrap_or_default()))
            .collect();
        components.push((name.clone(), own));
        Self {
            schema: json!({ "$ref": format!("#/components/schemas/{name}") }),
            components,
        }
    }

    /// A named component written by hand (for answers assembled as JSON values).
    pub fn named(name: &str, schema: Value) -> Self {
        Self {
            schema: json!({ "$ref": format!("#/components/schemas/{name}") }),
            components: vec![(name.to_owned(), schema)],
        }
    }

    /// An array of this shape.
    pub fn array(self) -> Self {
        Self {
            schema: json!({ "type": "array", "items": self.schema }),
            components: self.components,
        }
    }
}

/// How a successful answer is framed.
#[derive(Clone, Debug)]
pub enum Framing {
    /// The Organization API envelope with this `data`.
    Envelope(Shape),
    /// The envelope with a list of these as `data` and `pagination`.
    Page(Shape),
    /// A bare JSON value (SDK, SCIM, OAuth 2.0, operator routes), in `media`.
    Bare(&'static str, Shape),
    /// Another media type, not described further (HTML pages, XML metadata, metrics).
    Media(&'static str),
    /// A redirect (`Location`).
    Redirect,
    /// No body.
    Empty,
}

/// One documented success answer.
#[derive(Clone, Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Its body.
    pub framing: Framing,
}

impl Api {
    fn last(&mut self) -> Option<&mut OpDoc> {
        self.ops.last_mut()
    }

    fn answer(mut self, status: u16, framing: Framing) -> Self {
        // Answers are closed: a key served but not documented fails the contract hook.
        let framing = match framing {
            Framing::Envelope(s) => Framing::Envelope(crate::openapi::close(s)),
            Framing::Page(s) => Framing::Page(crate::openapi::close(s)),
            Framing::Bare(media, s) => Framing::Bare(media, crate::openapi::close(s)),
            other => other,
        };
        if let Some(op) = self.last() {
            op.answers.push(Answer { status, framing });
        }
        self
    }

    /// Documents the JSON request body of the route registered just before, from the type its
    /// handler deserializes (`ValidJson<T>`): `.post(path, summary, handler).body::<T>()`.
    /// Every POST, PUT and PATCH route needs one (the OpenAPI test fails otherwise).
    pub fn body<T: utoipa::ToSchema>(self) -> Self {
        self.body_shape(Shape::of::<T>())
    }

    /// Documents a JSON request body by a hand-written shape (bodies read as JSON values).
    pub fn body_shape(mut self, shape: Shape) -> Self {
        if let Some(op) = self.last() {
            op.body = Body::Json(shape);
        }
        self
    }

    /// Documents an `application/x-www-form-urlencoded` request body from its type.
    pub fn form<T: utoipa::ToSchema>(mut self) -> Self {
        if let Some(op) = self.last() {
            op.body = Body::Form(Shape::of::<T>());
        }
        self
    }

    /// Documents an `application/x-www-form-urlencoded` body by a hand-written shape (bodies a
    /// handler parses itself, such as the OAuth 2.0 endpoints' forms).
    pub fn form_shape(mut self, shape: Shape) -> Self {
        if let Some(op) = self.last() {
            op.body = Body::Form(shape);
        }
        self
    }

    /// Declares that the route registered just before reads no request body.
    pub fn no_body(mut self) -> Self {
        if let Some(op) = self.last() {
            op.body = Body::None;
        }
        self
    }

    /// Documents the query parameters the handler reads (`ValidQuery<Q>`).
    pub fn query<Q: utoipa::IntoParams>(mut self) -> Self {
        let params = Q::into_params(|| Some(utoipa::openapi::path::ParameterIn::Query));
        if let Some(op) = self.last() {
            op.query
                .extend(params.iter().filter_map(|p| serde_json::to_value(p).ok()));
        }
        self
    }

    /// Documents optional string query parameters by name, for handlers that read the query as a
    /// map (callbacks whose parameters the identity provider chooses): `(name, description)`.
    pub fn query_names(mut self, names: &[(&str, &str)]) -> Self {
        if let Some(op) = self.last() {
            op.query.extend(names.iter().map(|(name, description)| {
                json!({ "name": name, "in": "query", "required": false, "description": description,
                        "schema": { "type": "string" } })
            }));
        }
        self
    }

    /// An enveloped answer whose `data` is a `T`.
    pub fn data<T: utoipa::ToSchema>(self, status: u16) -> Self {
        self.answer(status, Framing::Envelope(Shape::of::<T>()))
    }

    /// An enveloped answer whose `data` has a hand-written shape.
    pub fn data_shape(self, status: u16, shape: Shape) -> Self {
        self.answer(status, Framing::Envelope(shape))
    }

    /// An enveloped page of `T` (with `pagination`).
    pub fn page<T: utoipa::ToSchema>(self) -> Self {
        self.answer(200, Framing::Page(Shape::of::<T>()))
    }

    /// An enveloped page of a hand-written shape.
    pub fn page_shape(self, shape: Shape) -> Self {
        self.answer(200, Framing::Page(shape))
    }

    /// A bare JSON answer (`application/json`) of type `T`.
    pub fn json<T: utoipa::ToSchema>(self, status: u16) -> Self {
        self.answer(status, Framing::Bare("application/json", Shape::of::<T>()))
    }

    /// A bare JSON answer of a hand-written shape in `media`.
    pub fn json_shape(self, status: u16, media: &'static str, shape: Shape) -> Self {
        self.answer(status, Framing::Bare(media, shape))
    }

    /// An answer in another media type (HTML page, XML, text).
    pub fn media(self, status: u16, media: &'static str) -> Self {
        self.answer(status, Framing::Media(media))
    }

    /// A redirect answer (`Location`).
    pub fn redirect(self, status: u16) -> Self {
        self.answer(status, Framing::Redirect)
    }

    /// An answer without a body (`204 No Content`).
    pub fn empty(self, status: u16) -> Self {
        self.answer(status, Framing::Empty)
    }
}
