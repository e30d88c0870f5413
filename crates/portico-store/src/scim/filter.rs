//! A parsed SCIM filter (RFC 7644 §3.4.2.2, parsed by the `scim_v2` crate) compiled to a SQL
//! condition over `scim_users r` or `scim_groups r`. Every value and every attribute name read
//! from the filter is a bind parameter (`$n`); the SQL text holds only fixed fragments chosen
//! by this module, so no filter can inject SQL.
//!
//! Attributes with a column (`id`, `userName`, `externalId`, `active`, `displayName`,
//! `meta.created`, `meta.lastModified`) compare on it, so `userName eq` uses its index. Group
//! membership (`members` of a group, `groups` of a user) compares on the membership table. Every
//! other attribute is read from the stored resource: `attr[.sub]` tests each element of `attr`
//! (one element when it is not an array; a complex element without a sub-attribute compares its
//! `value`), and a value path `attr[filter]` runs `filter` over each element.
//! String comparison is case-insensitive except for `id`, `externalId` and member ids
//! (RFC 7643 `caseExact`).

use chrono::{DateTime, Utc};
use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, Filter, ValFilter};

/// A bind parameter of a compiled filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Bind {
    /// Text (also numbers, cast in SQL, and attribute names).
    Text(String),
    /// A boolean.
    Bool(bool),
    /// A timestamp.
    Time(DateTime<Utc>),
}

/// Why a filter cannot be compiled (SCIM `invalidFilter`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

/// Which resource a filter selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `scim_users r`.
    User,
    /// `scim_groups r`.
    Group,
}

/// A compiled condition and its binds, numbered from the `first` placeholder given to [`compile`].
#[derive(Clone, Debug)]
pub struct SqlFilter {
    /// The SQL condition.
    pub sql: String,
    /// Values for `$first..`.
    pub binds: Vec<Bind>,
}

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:user";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:group";

struct Compiler {
    first: usize,
    binds: Vec<Bind>,
    aliases: usize,
}

enum Col {
    /// Case-insensitive text: the column and its lower-cased form (a column or an expression).
    Ci(&'static str, &'static str),
    /// Case-exact text.
    Exact(String),
    Bool(&'static str),
    Time(&'static str),
}

/// What a comparison reads.
enum Leaf {
    Col(Col),
    /// A jsonb expression.
    Json(String),
}

/// Compiles `f` for `kind`; placeholders start at `$first`.
pub fn compile(f: &Filter, kind: Kind, first: usize) -> Result<SqlFilter, FilterError> {
    let mut c = Compiler {
        first,
        binds: Vec::new(),
        aliases: 0,
    };
    let sql = c.filter(f, kind)?;
    Ok(SqlFilter { sql, binds: c.binds })
}

fn bad(m: impl Into<String>) -> FilterError {
    FilterError(m.into())
}

impl Compiler {
    fn bind(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.first + self.binds.len() - 1)
    }

    fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("e{}", self.aliases)
    }

    fn filter(&mut self, f: &Filter, kind: Kind) -> Result<String, FilterError> {
        Ok(match f {
            Filter::Attr(e) => self.attr_exp(e, kind)?,
            Filter::ValuePath(vp) => {
                let name = canonical(&vp.attr.name);
                if vp.attr.sub_attr.is_some() {
                    return Err(bad("a value path's attribute cannot have a sub-attribute"));
                }
                if let Some(rel) = membership(kind, &name, vp.attr.uri.as_deref()) {
                    let a = self.alias();
                    let inner = self.val_filter(&vp.filter, &Elem::Member(&a, rel))?;
                    rel.exists(&a, &inner)
                } else {
                    let a = self.alias();
                    let elems = self.elements(&vp.attr, kind)?;
                    let inner = self.val_filter(&vp.filter, &Elem::Json(&a))?;
                    format!("EXISTS (SELECT 1 FROM jsonb_array_elements({elems}) AS {a}(v) WHERE {inner})")
                }
            }
            Filter::Not(inner) => format!("NOT coalesce(({}), false)", self.filter(inner, kind)?),
            Filter::And(items) => self.join(items.as_slice(), " AND ", |c, f| c.filter(f, kind))?,
            Filter::Or(items) => self.join(items.as_slice(), " OR ", |c, f| c.filter(f, kind))?,
        })
    }

    fn join<T>(
        &mut self,
        items: &[T],
        op: &str,
        mut each: impl FnMut(&mut Self, &T) -> Result<String, FilterError>,
    ) -> Result<String, FilterError> {
        let parts = items
            .iter()
            .map(|i| each(self, i).map(|s| format!("({s})")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(parts.join(op))
    }

    fn val_filter(&mut self, f: &ValFilter, elem: &Elem<'_>) -> Result<String, FilterError> {
        Ok(match f {
            ValFilter::Attr(e) => {
                let (path, op, value) = split(e);
                let leaf = elem.leaf(self, path)?;
                self.compare(leaf, op, value)?
            }
            ValFilter::Not(inner) => format!("NOT coalesce(({}), false)", self.val_filter(inner, elem)?),
            ValFilter::And(items) => self.join(items.as_slice(), " AND ", |c, f| c.val_filter(f, elem))?,
            ValFilter::Or(items) => self.join(items.as_slice(), " OR ", |c, f| c.val_filter(f, elem))?,
        })
    }

    fn attr_exp(&mut self, e: &AttrExp, kind: Kind) -> Result<String, FilterError> {
        let (path, op, value) = split(e);
        let name = canonical(&path.name);
        if let Some(col) = column(kind, &name, path.sub_attr.as_deref(), path.uri.as_deref()) {
            return self.compare(Leaf::Col(col), op, value);
        }
        if let Some(rel) = membership(kind, &name, path.uri.as_deref()) {
            let a = self.alias();
            let sub = AttrPath {
                uri: None,
                name: path.sub_attr.clone().unwrap_or_else(|| "value".into()),
                sub_attr: None,
            };
            let leaf = Elem::Member(&a, rel).leaf(self, &sub)?;
            let cond = self.compare(leaf, op, value)?;
            return Ok(rel.exists(&a, &cond));
        }
        let a = self.alias();
        let elems = self.elements(path, kind)?;
        let leaf = match &path.sub_attr {
            Some(sub) => {
                let k = self.bind(Bind::Text(canonical(sub)));
                format!("({a}.v -> {k})")
            }
            None => format!("(CASE WHEN jsonb_typeof({a}.v) = 'object' THEN {a}.v -> 'value' ELSE {a}.v END)"),
        };
        let cond = self.compare(Leaf::Json(leaf), op, value)?;
        Ok(format!(
            "EXISTS (SELECT 1 FROM jsonb_array_elements({elems}) AS {a}(v) WHERE {cond})"
        ))
    }

    /// The elements of attribute `path.name` of the resource: the array, or a one-element array.
    fn elements(&mut self, path: &AttrPath, kind: Kind) -> Result<String, FilterError> {
        let base = match path.uri.as_deref().map(str::to_ascii_lowercase) {
            None => "r.resource".to_owned(),
            Some(u) if u == USER_SCHEMA && kind == Kind::User => "r.resource".to_owned(),
            Some(u) if u == GROUP_SCHEMA && kind == Kind::Group => "r.resource".to_owned(),
            Some(_) => {
                let uri = path.uri.clone().unwrap_or_default();
                let u = self.bind(Bind::Text(uri));
                format!("(r.resource -> {u})")
            }
        };
        let k = self.bind(Bind::Text(canonical(&path.name)));
        Ok(format!(
            "CASE WHEN jsonb_typeof({base} -> {k}) = 'array' THEN {base} -> {k} ELSE jsonb_build_array({base} -> {k}) END"
        ))
    }

    fn compare(
        &mut self,
        leaf: Leaf,
        op: Option<&CompareOp>,
        value: Option<&CompValue>,
    ) -> Result<String, FilterError> {
        let (Some(op), Some(value)) = (op, value) else {
            return Ok(match leaf {
                Leaf::Col(Col::Ci(c, _)) => format!("coalesce({c}, '') <> ''"),
                Leaf::Col(Col::Exact(c)) => format!("coalesce({c}, '') <> ''"),
                Leaf::Col(Col::Bool(c) | Col::Time(c)) => format!("{c} IS NOT NULL"),
                Leaf::Json(j) => format!(
                    "({j} IS NOT NULL AND {j} NOT IN ('null'::jsonb, '\"\"'::jsonb, '[]'::jsonb, '{{}}'::jsonb))"
                ),
            });
        };
        if let CompareOp::Ne = op {
            let eq = self.compare(leaf, Some(&CompareOp::Eq), Some(value))?;
            return Ok(format!("NOT coalesce(({eq}), false)"));
        }
        if let CompValue::Null = value {
            if !matches!(op, CompareOp::Eq) {
                return Err(bad("null can only be compared with eq or ne"));
            }
            return Ok(match leaf {
                Leaf::Col(Col::Exact(c)) => format!("{c} IS NULL"),
                Leaf::Col(Col::Ci(c, _) | Col::Bool(c) | Col::Time(c)) => format!("{c} IS NULL"),
                Leaf::Json(j) => format!("({j} IS NULL OR jsonb_typeof({j}) = 'null')"),
            });
        }
        match (leaf, value) {
            (Leaf::Col(Col::Ci(_, lower)), CompValue::Str(s)) => {
                let p = self.bind(Bind::Text(s.to_lowercase()));
                Ok(text_op(lower, op, &p))
            }
            (Leaf::Col(Col::Exact(c)), CompValue::Str(s)) => {
                let p = self.bind(Bind::Text(s.clone()));
                Ok(text_op(&c, op, &p))
            }
            (Leaf::Col(Col::Bool(c)), CompValue::True | CompValue::False) => {
                if !matches!(op, CompareOp::Eq) {
                    return Err(bad("booleans can only be compared with eq or ne"));
                }
                let p = self.bind(Bind::Bool(matches!(value, CompValue::True)));
                Ok(format!("{c} = {p}"))
            }
            (Leaf::Col(Col::Time(c)), CompValue::Str(s)) => {
                let t = DateTime::parse_from_rfc3339(s)
                    .map_err(|_| bad(format!("{s:?} is not an RFC 3339 date-time")))?
                    .with_timezone(&Utc);
                let p = self.bind(Bind::Time(t));
                let sql_op =
                    ordering(op).ok_or_else(|| bad("date-times are compared with eq, ne, gt, ge, lt or le"))?;
                Ok(format!("{c} {sql_op} {p}"))
            }
            (Leaf::Json(j), CompValue::Str(s)) => {
                let p = self.bind(Bind::Text(s.to_lowercase()));
                Ok(text_op(&format!("lower({j} #>> '{{}}')"), op, &p))
            }
            (Leaf::Json(j), CompValue::True | CompValue::False) => {
                if !matches!(op, CompareOp::Eq) {
                    return Err(bad("booleans can only be compared with eq or ne"));
                }
                let p = self.bind(Bind::Bool(matches!(value, CompValue::True)));
                Ok(format!("{j} = to_jsonb({p}::boolean)"))
            }
            (Leaf::Json(j), CompValue::Number(n)) => {
                let sql_op = ordering(op).ok_or_else(|| bad("numbers are compared with eq, ne, gt, ge, lt or le"))?;
                let p = self.bind(Bind::Text(n.to_string()));
                Ok(format!(
                    "(jsonb_typeof({j}) = 'number' AND ({j})::numeric {sql_op} {p}::numeric)"
                ))
            }
            _ => Err(bad("the value's type does not match the attribute")),
        }
    }
}

fn split(e: &AttrExp) -> (&AttrPath, Option<&CompareOp>, Option<&CompValue>) {
    match e {
        AttrExp::Present(p) => (p, None, None),
        AttrExp::Comparison(p, op, v) => (p, Some(op), Some(v)),
    }
}

fn ordering(op: &CompareOp) -> Option<&'static str> {
    Some(match op {
        CompareOp::Eq => "=",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        _ => return None,
    })
}

/// A text comparison of `x` with the placeholder `p` (already lower-cased where `x` is).
fn text_op(x: &str, op: &CompareOp, p: &str) -> String {
    match op {
        CompareOp::Eq => format!("{x} = {p}"),
        CompareOp::Co => format!("strpos({x}, {p}) > 0"),
        CompareOp::Sw => format!("starts_with({x}, {p})"),
        CompareOp::Ew => format!("right({x}, char_length({p})) = {p}"),
        CompareOp::Gt => format!("{x} > {p}"),
        CompareOp::Ge => format!("{x} >= {p}"),
        CompareOp::Lt => format!("{x} < {p}"),
        CompareOp::Le => format!("{x} <= {p}"),
        CompareOp::Ne => format!("{x} <> {p}"),
    }
}

/// The canonical spelling of a known attribute name (attribute names are case-insensitive).
pub fn canonical(name: &str) -> String {
    const KNOWN: &[&str] = &[
        "id",
        "externalId",
        "userName",
        "name",
        "formatted",
        "familyName",
        "givenName",
        "middleName",
        "honorificPrefix",
        "honorificSuffix",
        "displayName",
        "nickName",
        "profileUrl",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "active",
        "password",
        "emails",
        "phoneNumbers",
        "ims",
        "photos",
        "addresses",
        "streetAddress",
        "locality",
        "region",
        "postalCode",
        "country",
        "groups",
        "entitlements",
        "roles",
        "x509Certificates",
        "value",
        "display",
        "type",
        "primary",
        "members",
        "meta",
        "created",
        "lastModified",
        "resourceType",
        "location",
        "version",
        "employeeNumber",
        "costCenter",
        "organization",
        "division",
        "department",
        "manager",
        "$ref",
    ];
    KNOWN
        .iter()
        .find(|k| k.eq_ignore_ascii_case(name))
        .map(|k| (*k).to_owned())
        .unwrap_or_else(|| name.to_owned())
}

fn core_uri(kind: Kind, uri: Option<&str>) -> bool {
    match uri.map(str::to_ascii_lowercase) {
        None => true,
        Some(u) => (kind == Kind::User && u == USER_SCHEMA) || (kind == Kind::Group && u == GROUP_SCHEMA),
    }
}

fn column(kind: Kind, name: &str, sub: Option<&str>, uri: Option<&str>) -> Option<Col> {
    if !core_uri(kind, uri) {
        return None;
    }
    let sub = sub.map(canonical);
    Some(match (kind, name, sub.as_deref()) {
        (_, "id", None) => Col::Exact("r.id".into()),
        (_, "externalId", None) => Col::Exact("r.external_id".into()),
        (Kind::User, "userName", None) => Col::Ci("r.user_name", "r.user_name_lower"),
        (Kind::User, "active", None) => Col::Bool("r.active"),
        (Kind::User, "displayName", None) => Col::Ci("r.display_name", "lower(r.display_name)"),
        (Kind::Group, "displayName", None) => Col::Ci("r.display_name", "r.display_name_lower"),
        (_, "meta", Some("created")) => Col::Time("r.created_at"),
        (_, "meta", Some("lastModified")) => Col::Time("r.updated_at"),
        _ => return None,
    })
}

/// Group membership seen from a group (`members`) or from a user (`groups`).
#[derive(Clone, Copy)]
struct Rel {
    /// The membership column that names this resource.
    own: &'static str,
    /// The membership column that names the other side (the element's `value`).
    other: &'static str,
    /// The element's `type`.
    other_type: &'static str,
}

impl Rel {
    fn exists(&self, alias: &str, cond: &str) -> String {
        format!(
            "EXISTS (SELECT 1 FROM scim_group_members {alias} WHERE {alias}.{} = r.id AND ({cond}))",
            self.own
        )
    }
}

fn membership(kind: Kind, name: &str, uri: Option<&str>) -> Option<Rel> {
    if !core_uri(kind, uri) {
        return None;
    }
    match (kind, name) {
        (Kind::Group, "members") => Some(Rel {
            own: "group_id",
            other: "user_id",
            other_type: "User",
        }),
        (Kind::User, "groups") => Some(Rel {
            own: "user_id",
            other: "group_id",
            other_type: "Group",
        }),
        _ => None,
    }
}

/// The element a value-path filter runs over.
enum Elem<'a> {
    Json(&'a str),
    Member(&'a str, Rel),
}

impl Elem<'_> {
    fn leaf(&self, c: &mut Compiler, path: &AttrPath) -> Result<Leaf, FilterError> {
        let name = canonical(&path.name);
        match self {
            Elem::Json(a) => {
                let k = c.bind(Bind::Text(name));
                let mut j = format!("({a}.v -> {k})");
                if let Some(sub) = &path.sub_attr {
                    let s = c.bind(Bind::Text(canonical(sub)));
                    j = format!("({j} -> {s})");
                }
                Ok(Leaf::Json(j))
            }
            Elem::Member(a, rel) => match (name.as_str(), &path.sub_attr) {
                ("value", None) => Ok(Leaf::Col(Col::Exact(format!("{a}.{}", rel.other)))),
                ("type", None) => {
                    let t = c.bind(Bind::Text(rel.other_type.to_owned()));
                    Ok(Leaf::Json(format!("to_jsonb({t}::text)")))
                }
                _ => Err(bad(format!("{name} cannot be filtered on here; use value"))),
            },
        }
    }
}
