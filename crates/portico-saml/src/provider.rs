//! The `IdentityProvider` of a SAML connection.

use std::sync::Arc;

use chrono::Utc;
use openssl::pkey::{PKey, Private};
use portico_core::idp::{
    CheckReport, CompleteContext, ExternalIdentity, IdentityProvider, IdpError, LoginContext, LoginInput, LoginStart,
    PendingLogin, Protocol,
};

use crate::config::{IdpSource, SamlConfig};
use crate::credentials::load_private_key;
use crate::metadata::{days_to_nearest_expiry, explicit_idp, parse_idp_metadata, sp_metadata_xml, IdpMetadata};
use crate::request::{authn_request_xml, new_request_id, redirect_url, MAX_RELAY_STATE};
use crate::response::{self, Expected, Validator};
use crate::runtime::SamlRuntime;
use crate::{attributes, CERT_EXPIRY_WARNING_DAYS};

/// A SAML connection's provider. Built per request from the connection row; the metadata cache
/// lives in the shared [`SamlRuntime`].
#[derive(Debug)]
pub struct SamlProvider {
    cfg: SamlConfig,
    runtime: SamlRuntime,
    static_idp: Option<Arc<IdpMetadata>>,
    /// The SP key, opened once: signs AuthnRequests, decrypts encrypted assertions.
    sp_key: Option<PKey<Private>>,
}

impl SamlProvider {
    /// Checks the configuration (SP entity ID and ACS, a readable SP key, and, for explicit
    /// settings and pasted metadata, at least one usable IdP signing certificate).
    pub fn new(cfg: SamlConfig, runtime: SamlRuntime) -> Result<Self, IdpError> {
        if cfg.sp_entity_id.trim().is_empty() {
            return Err(IdpError::Config("spEntityId is empty".into()));
        }
        if url::Url::parse(&cfg.acs_url).is_err() {
            return Err(IdpError::Config("spAcsUrl is not a URL".into()));
        }
        if cfg.allow_idp_initiated && cfg.idp_initiated_acs_url.is_none() {
            return Err(IdpError::Config("IdP-initiated login needs its ACS URL".into()));
        }
        let sp_key = cfg.sp_key_pem.as_ref().map(load_private_key).transpose()?;
        let static_idp = match &cfg.idp {
            IdpSource::Explicit {
                entity_id,
                sso_url,
                certificates,
            } => Some(Arc::new(explicit_idp(entity_id, sso_url, certificates)?)),
            IdpSource::MetadataXml { xml, entity_id } => Some(Arc::new(
                parse_idp_metadata(xml, entity_id.as_deref())
                    .map_err(|e| IdpError::Config(format!("metadataXml: {e}")))?,
            )),
            IdpSource::MetadataUrl { .. } => None,
        };
        Ok(Self {
            cfg,
            runtime,
            static_idp,
            sp_key,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SamlConfig {
        &self.cfg
    }

    /// The IdP: explicit, pasted, or fetched (cached) metadata.
    pub async fn idp(&self) -> Result<Arc<IdpMetadata>, IdpError> {
        if let Some(m) = &self.static_idp {
            return Ok(m.clone());
        }
        match &self.cfg.idp {
            IdpSource::MetadataUrl { url, entity_id } => self.runtime.metadata(url, entity_id.as_deref()).await,
            _ => Err(IdpError::Config("IdP metadata missing".into())),
        }
    }

    /// The SP metadata XML of this connection.
    pub fn sp_metadata_xml(&self) -> String {
        let idp_acs = self
            .cfg
            .idp_initiated_acs_url
            .as_deref()
            .filter(|_| self.cfg.allow_idp_initiated);
        sp_metadata_xml(
            &self.cfg.sp_entity_id,
            &self.cfg.acs_url,
            idp_acs,
            self.cfg.sp_cert_pem.as_deref(),
        )
    }

    /// Validates a base64 `SAMLResponse` against `idp` (synchronous; the login path and the
    /// benchmarks use it).
    pub fn validate_response(
        &self,
        idp: &IdpMetadata,
        encoded: &str,
        expected: &Expected<'_>,
    ) -> Result<ExternalIdentity, IdpError> {
        let v = Validator {
            sp_entity_id: &self.cfg.sp_entity_id,
            idp,
            allow_sha1: self.cfg.allow_sha1,
            signatures: self.cfg.signatures,
            sp_key: self.sp_key.as_ref(),
        };
        let a = response::validate(&v, encoded, expected)?;
        Ok(attributes::identity(
            &a,
            &self.cfg.attribute_mapping,
            self.cfg.group_attribute.as_deref(),
        ))
    }
}

#[async_trait::async_trait]
impl IdentityProvider for SamlProvider {
    fn protocol(&self) -> Protocol {
        Protocol::Saml
    }

    async fn begin_login(&self, ctx: &LoginContext) -> Result<LoginStart, IdpError> {
        if ctx.state.is_empty() || ctx.state.len() > MAX_RELAY_STATE {
            return Err(IdpError::Config("RelayState must be 1-80 bytes".into()));
        }
        let idp = self.idp().await?;
        let sso = idp
            .sso_redirect_url
            .as_deref()
            .ok_or_else(|| IdpError::Metadata("the IdP has no HTTP-Redirect SSO endpoint".into()))?;
        let id = new_request_id();
        let xml = authn_request_xml(
            &id,
            &self.cfg.sp_entity_id,
            &ctx.redirect_uri,
            sso,
            ctx.now,
            ctx.force_authn,
        )?;
        let url = redirect_url(sso, &xml, &ctx.state, self.sp_key.as_ref())?;
        Ok(LoginStart::Redirect {
            url,
            pending: PendingLogin {
                request_id: Some(id),
                redirect_uri: ctx.redirect_uri.clone(),
                ..PendingLogin::default()
            },
        })
    }

    async fn complete_login(&self, ctx: &CompleteContext, input: LoginInput) -> Result<ExternalIdentity, IdpError> {
        let LoginInput::SamlResponse { saml_response } = input else {
            return Err(IdpError::Unsupported(
                "a SAML connection completes with a SAMLResponse".into(),
            ));
        };
        let (acs, request_id) = match &ctx.pending {
            Some(p) => {
                let id = p
                    .request_id
                    .as_deref()
                    .ok_or_else(|| IdpError::Config("the login transaction has no SAML request ID".into()))?;
                (p.redirect_uri.as_str(), Some(id))
            }
            None if self.cfg.allow_idp_initiated => (
                self.cfg
                    .idp_initiated_acs_url
                    .as_deref()
                    .ok_or_else(|| IdpError::Config("no IdP-initiated ACS".into()))?,
                None,
            ),
            None => {
                return Err(IdpError::InvalidAssertion(
                    "unsolicited: IdP-initiated login is off for this connection".into(),
                ))
            }
        };
        let idp = self.idp().await?;
        self.validate_response(
            &idp,
            &saml_response,
            &Expected {
                acs,
                request_id,
                now: ctx.now,
            },
        )
    }

    async fn check(&self) -> CheckReport {
        let mut r = CheckReport::default();
        let idp = match self.idp().await {
            Ok(m) => {
                let source = match &self.cfg.idp {
                    IdpSource::MetadataUrl { .. } => "metadata fetched and parsed",
                    IdpSource::MetadataXml { .. } => "metadata parsed",
                    IdpSource::Explicit { .. } => "explicit settings",
                };
                r.push(
                    "metadata",
                    true,
                    format!(
                        "{source}: entity ID {}, {} signing certificate(s)",
                        m.entity_id,
                        m.signing_certs.len()
                    ),
                );
                m
            }
            Err(e) => {
                r.push("metadata", false, e.to_string());
                return r;
            }
        };
        r.fact("idpEntityId", idp.entity_id.as_str());
        if let Some(u) = &idp.sso_redirect_url {
            r.fact("idpSsoUrl", u.as_str());
        }
        match &idp.sso_redirect_url {
            Some(u) => r.push("sso_url", true, format!("HTTP-Redirect SSO endpoint {u}")),
            None => {
                r.push("sso_url", false, "the IdP has no HTTP-Redirect SSO endpoint");
                return r;
            }
        }
        let now = Utc::now();
        let valid = idp.signing_certs.iter().filter(|c| c.not_after > now).count();
        match days_to_nearest_expiry(&idp.signing_certs, now) {
            _ if valid == 0 => r.push("certificates", false, "every IdP signing certificate has expired"),
            Some(days) if days < CERT_EXPIRY_WARNING_DAYS => r.push(
                "certificates",
                true,
                format!(
                    "warning: the nearest IdP certificate expires in {days} day(s); {valid} of {} valid",
                    idp.signing_certs.len()
                ),
            ),
            Some(days) => r.push(
                "certificates",
                true,
                format!("{valid} valid certificate(s); nearest expiry in {days} days"),
            ),
            None => r.push("certificates", false, "no IdP signing certificate"),
        }
        match &self.sp_key {
            Some(_) => r.push(
                "sp_key",
                true,
                "SP key available (signs AuthnRequests, decrypts assertions)",
            ),
            None => r.push(
                "sp_key",
                true,
                "no SP key: AuthnRequests are sent unsigned, encrypted assertions refused",
            ),
        }
        r
    }
}
