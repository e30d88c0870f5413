#!/usr/bin/env python3
"""SAML 2.0 IdP for SP integration tests, built on pysaml2's saml2.server.Server (signing via xmlsec1).

usage:
  idp.py serve                      HTTP IdP on SAML_HOST:SAML_PORT
  idp.py metadata                   print IdP metadata XML
  idp.py response [KIND] [--in-response-to ID] [--user alice] [--sp ENTITY_ID --acs URL] [--xml]
                                    print a base64 SAMLResponse (or the XML with --xml)
KINDS: valid, expired, not_yet_valid, wrong_audience, wrong_destination, wrong_issuer,
       wrong_in_response_to, unsigned, assertion_signed_only, response_signed_only,
       untrusted_key, tampered, sha1 (rsa-sha1/sha1 instead of rsa-sha256/sha256), xsw_prepend, xsw_wrap
env: SAML_DIR (dir with idp.key/idp.crt/attacker.key/attacker.crt; default: this file's dir),
     SAML_HOST (127.0.0.1), SAML_PORT (9500), SAML_IDP_ENTITY_ID (http://HOST:PORT/metadata),
     SAML_SP_ENTITY_ID (http://127.0.0.1:8080/saml/metadata),
     SAML_SP_ACS (http://127.0.0.1:8080/api/auth/sso/saml/callback),
     SAML_SP_METADATA_FILE (optional real SP metadata; otherwise a minimal one is generated),
     SAML_USER (alice: user auto-logged-in by /sso/*), SAML_XMLSEC (/usr/bin/xmlsec1), SAML_PID_FILE,
     SAML_WATCH_PID (serve exits once that process is gone)
HTTP: GET /metadata, GET /sso/redirect?SAMLRequest=..&RelayState=..[&user=bob][&kind=K], POST /sso/post,
      GET /sso/idp-initiated?user=..&kind=..[&sp=..&acs=..],
      GET /response?kind=K&in_response_to=ID&user=..[&sp=..&acs=..][&encrypt_cert=..&encryption=..] (base64 text), /healthz
SPs: the configured one, plus any SP with an http(s) loopback ACS, registered on first sight (sps.json).
"""
import base64
import contextlib
import copy
import datetime as _dt
import html
import json
import os
import sys
import threading
import zlib
import time as _time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lxml import etree
import saml2.time_util
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import AUTHN_PASSWORD_PROTECTED, NAME_FORMAT_BASIC, NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.xmldsig import DIGEST_SHA1, DIGEST_SHA256, SIG_RSA_SHA1, SIG_RSA_SHA256
from saml2.server import Server

D = os.environ.get("SAML_DIR") or os.path.dirname(os.path.abspath(__file__))
HOST = os.environ.get("SAML_HOST", "127.0.0.1")
PORT = int(os.environ.get("SAML_PORT", "9500"))
BASE = f"http://{HOST}:{PORT}"
IDP_ENTITY_ID = os.environ.get("SAML_IDP_ENTITY_ID", f"{BASE}/metadata")
SP_ENTITY_ID = os.environ.get("SAML_SP_ENTITY_ID", "http://127.0.0.1:8080/saml/metadata")
SP_ACS = os.environ.get("SAML_SP_ACS", "http://127.0.0.1:8080/api/auth/sso/saml/callback")
XMLSEC = os.environ.get("SAML_XMLSEC", "/usr/bin/xmlsec1")
DEFAULT_USER = os.environ.get("SAML_USER", "alice")

USERS = {
    "alice": {"email": ["alice@example.com"], "name": ["Alice Example"], "groups": ["admins", "users"]},
    "bob": {"email": ["bob@example.com"], "name": ["Bob Example"], "groups": ["users"]},
}
NS = {"samlp": "urn:oasis:names:tc:SAML:2.0:protocol", "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
      "ds": "http://www.w3.org/2000/09/xmldsig#"}


_SP_LOCK = threading.Lock()
SPS_FILE = os.path.join(D, "sps.json")  # {entityID: [ACS, ...]} of SPs registered on the fly


def _registered():
    try:
        with open(SPS_FILE) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def _write_atomic(path, text):
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _entity_xml(entity_id, acs_list):
    acs = []
    for i, a in enumerate(acs_list):
        default = ' isDefault="true"' if i == 0 else ""
        acs.append(f'    <md:AssertionConsumerService Binding="{BINDING_HTTP_POST}" Location="{html.escape(a)}" '
                   f'index="{i}"{default}/>')
    acs = "\n".join(acs)
    return f"""<md:EntityDescriptor entityID="{html.escape(entity_id)}">
  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true"
      protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:NameIDFormat>{NAMEID_FORMAT_EMAILADDRESS}</md:NameIDFormat>
{acs}
  </md:SPSSODescriptor>
</md:EntityDescriptor>"""


def sp_metadata_files():
    """Metadata files of every known SP: SAML_SP_METADATA_FILE (or the configured SP_ENTITY_ID/SP_ACS) plus
    the loopback SPs registered so far, all but the real file in one generated EntitiesDescriptor."""
    sps = {}
    files = []
    if os.environ.get("SAML_SP_METADATA_FILE"):
        files.append(os.environ["SAML_SP_METADATA_FILE"])
    else:
        sps[SP_ENTITY_ID] = [SP_ACS]
    for entity, acs_list in _registered().items():
        sps.setdefault(entity, [])
        sps[entity] += [a for a in acs_list if a not in sps[entity]]
    if sps:
        path = os.path.join(D, "sp-metadata.xml")
        body = "\n".join(_entity_xml(e, a) for e, a in sorted(sps.items()))
        text = ('<?xml version="1.0"?>\n<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">\n'
                f"{body}\n</md:EntitiesDescriptor>\n")
        with _SP_LOCK:
            try:
                with open(path) as f:
                    same = f.read() == text
            except FileNotFoundError:
                same = False
            if not same:
                _write_atomic(path, text)
        files.append(path)
    return files


def _loopback(url):
    try:
        u = urllib.parse.urlsplit(url)
        return u.scheme in ("http", "https") and u.hostname in ("127.0.0.1", "localhost", "::1")
    except ValueError:
        return False


def register_sp(entity_id, acs):
    """Let pysaml2 know SP `entity_id` with ACS `acs`: the configured SP as it is, any other SP only with an
    http(s) loopback ACS (tests running their own Portico on a random port)."""
    if not entity_id or not acs or (entity_id == SP_ENTITY_ID and acs == SP_ACS):
        return
    if not _loopback(acs):
        raise ValueError(f"unknown SP {entity_id!r} with a non-loopback ACS {acs!r}")
    with _SP_LOCK:
        sps = _registered()
        if acs in sps.get(entity_id, []):
            return
        sps.setdefault(entity_id, []).append(acs)
        _write_atomic(SPS_FILE, json.dumps(sps, indent=1))


def authn_request_sp(req_b64, binding):
    """(Issuer, AssertionConsumerServiceURL) of an AuthnRequest, read without checking anything."""
    raw = base64.b64decode(req_b64)
    if binding == BINDING_HTTP_REDIRECT:
        raw = zlib.decompress(raw, -15)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(raw, parser)
    issuer = root.find("saml:Issuer", NS)
    return (issuer.text.strip() if issuer is not None and issuer.text else None,
            root.get("AssertionConsumerServiceURL"))


def attribute_map_dir():
    """Plain attribute names (Name="email"/"name"/"groups", NameFormat basic) instead of OIDs/URIs."""
    path = os.path.join(D, "attrmaps")
    os.makedirs(path, exist_ok=True)
    names = ["email", "name", "groups"]
    with open(os.path.join(path, "plain_basic_attrs.py"), "w") as f:
        f.write(f"MAP = {{'identifier': {NAME_FORMAT_BASIC!r}, 'fro': {dict(zip(names, names))!r}, "
                f"'to': {dict(zip(names, names))!r}}}\n")
    return path


def make_server(key="idp", issuer=None, sha1=False):
    conf = {
        "entityid": issuer or IDP_ENTITY_ID,
        "service": {"idp": {
            "name": "pysaml2 test IdP",
            "endpoints": {"single_sign_on_service": [(f"{BASE}/sso/redirect", BINDING_HTTP_REDIRECT),
                                                     (f"{BASE}/sso/post", BINDING_HTTP_POST)]},
            "policy": {"default": {"lifetime": {"minutes": 15}, "attribute_restrictions": None,
                                   "name_form": NAME_FORMAT_BASIC}},
            "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
            "want_authn_requests_signed": False,
        }},
        "key_file": os.path.join(D, f"{key}.key"),
        "cert_file": os.path.join(D, f"{key}.crt"),
        "metadata": {"local": sp_metadata_files()},
        "xmlsec_binary": XMLSEC,
        "attribute_map_dir": attribute_map_dir(),
        "delete_tmpfiles": True,
    }
    cfg = IdPConfig()
    cfg.load(conf)
    srv = Server(config=cfg)
    # pysaml2 pitfall: top-level "signing_algorithm"/"digest_algorithm" are ignored in the idp context
    # (Entity reads config.getattr(..., "idp")) and the default is rsa-sha1/sha1; set them on the entity.
    srv.signing_algorithm = SIG_RSA_SHA1 if sha1 else SIG_RSA_SHA256
    srv.digest_algorithm = DIGEST_SHA1 if sha1 else DIGEST_SHA256
    return srv


@contextlib.contextmanager
def clock_shift(seconds):
    """Make pysaml2 believe 'now' is now+seconds (all its timestamps come from saml2.time_util)."""
    if not seconds:
        yield
        return

    class T:
        def __getattr__(self, n):
            return getattr(_time, n)

        def gmtime(self, t=None):
            return _time.gmtime(_time.time() + seconds if t is None else t)

    class DT(_dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return _dt.datetime.now(tz) + _dt.timedelta(seconds=seconds)

    old = (saml2.time_util.time, saml2.time_util.datetime)
    saml2.time_util.time, saml2.time_util.datetime = T(), DT
    try:
        yield
    finally:
        saml2.time_util.time, saml2.time_util.datetime = old


_LOCK = threading.Lock()  # clock_shift patches module globals: one response at a time

ENCRYPTIONS = {  # content encryption of encrypted assertions (pysaml2's own default is 3DES): URI, xmlsec1 key
    "aes128-cbc": ("http://www.w3.org/2001/04/xmlenc#aes128-cbc", "aes-128"),
    "aes256-cbc": ("http://www.w3.org/2001/04/xmlenc#aes256-cbc", "aes-256"),
    "tripledes-cbc": ("http://www.w3.org/2001/04/xmlenc#tripledes-cbc", "des-192"),
}


@contextlib.contextmanager
def content_encryption(name):
    """pysaml2 encrypts assertions with a fixed algorithm: choose it for one response."""
    import functools
    import saml2.entity
    import saml2.sigver
    if name not in ENCRYPTIONS:
        raise ValueError(f"unknown encryption {name} (one of {', '.join(ENCRYPTIONS)})")
    uri, session_key = ENCRYPTIONS[name]
    old_part, old_encrypt = saml2.entity.pre_encryption_part, saml2.sigver.SecurityContext.encrypt_assertion
    saml2.entity.pre_encryption_part = functools.partial(saml2.sigver.pre_encryption_part, msg_enc=uri)

    def encrypt_assertion(self, statement, enc_key, template, key_type="des-192", node_xpath=None):
        return old_encrypt(self, statement, enc_key, template, session_key, node_xpath)
    saml2.sigver.SecurityContext.encrypt_assertion = encrypt_assertion
    try:
        yield
    finally:
        saml2.entity.pre_encryption_part = old_part
        saml2.sigver.SecurityContext.encrypt_assertion = old_encrypt


def build_response(kind="valid", in_response_to=None, user=DEFAULT_USER, sp_entity_id=None, acs=None,
                   encrypt_cert=None, encryption="aes256-cbc"):
    """Return the SAMLResponse XML (str) for one fixture kind; with encrypt_cert (the SP's certificate, PEM or
    base64 DER) the assertion is encrypted to it (RSA-OAEP key transport) and the response signed afterwards."""
    with _LOCK:
        return _build_response(kind, in_response_to, user, sp_entity_id, acs, encrypt_cert, encryption)


def _build_response(kind, in_response_to, user, sp_entity_id, acs, encrypt_cert=None, encryption="aes256-cbc"):
    sp_entity_id = sp_entity_id or SP_ENTITY_ID
    acs = acs or SP_ACS
    identity = USERS[user]
    sign_response, sign_assertion = True, True
    shift, key, issuer, destination, audience = 0, "idp", None, acs, sp_entity_id
    if kind == "expired":
        shift = -2 * 3600  # issued 2h ago, NotOnOrAfter = 1h45m ago
    elif kind == "not_yet_valid":
        shift = 2 * 3600
    elif kind == "wrong_audience":
        audience = "http://evil.example.com/sp"
    elif kind == "wrong_destination":
        destination = "http://evil.example.com/acs"
    elif kind == "wrong_issuer":
        issuer = "http://evil.example.com/idp"
    elif kind == "wrong_in_response_to":
        in_response_to = "_not-a-request-the-sp-sent"
    elif kind == "unsigned":
        sign_response = sign_assertion = False
    elif kind in ("assertion_signed_only", "xsw_prepend", "xsw_wrap"):
        sign_response = False
    elif kind == "response_signed_only":
        sign_assertion = False
    elif kind == "untrusted_key":
        key = "attacker"
    elif kind not in ("valid", "tampered", "sha1"):
        raise SystemExit(f"unknown kind {kind}")

    srv = make_server(key, issuer, sha1=(kind == "sha1"))
    if audience != sp_entity_id:  # patch the AudienceRestriction before it is signed
        orig = srv.setup_assertion

        def setup_assertion(*a, **kw):
            assertion = orig(*a, **kw)
            assertion.conditions.audience_restriction[0].audience[0].text = audience
            return assertion
        srv.setup_assertion = setup_assertion
    enc = {"encrypt_assertion": True, "encrypt_cert_assertion": encrypt_cert} if encrypt_cert else {}
    with clock_shift(shift), content_encryption(encryption):
        resp = srv.create_authn_response(
            identity, in_response_to, destination, sp_entity_id,
            name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=identity["email"][0]),
            authn={"class_ref": AUTHN_PASSWORD_PROTECTED, "authn_auth": srv.config.entityid},
            sign_response=sign_response, sign_assertion=sign_assertion, **enc)
    xml = str(resp)
    if kind == "tampered":  # change the NameID after signing -> digest mismatch
        xml = xml.replace(identity["email"][0], "mallory@example.com", 1)
    elif kind.startswith("xsw"):
        xml = wrap_signature(xml, kind)
    return xml


def wrap_signature(xml, kind):
    """XML signature wrapping: the original signed assertion stays valid, an unsigned evil copy is added."""
    root = etree.fromstring(xml.encode())
    orig = root.find("saml:Assertion", NS)
    evil = copy.deepcopy(orig)
    evil.set("ID", "_evil" + orig.get("ID").lstrip("_id"))
    sig = evil.find("ds:Signature", NS)
    evil.remove(sig)
    evil.find("saml:Subject/saml:NameID", NS).text = "admin@example.com"
    for v in evil.iterfind(".//saml:Attribute/saml:AttributeValue", NS):
        if v.text == "alice@example.com":
            v.text = "admin@example.com"
    if kind == "xsw_prepend":  # XSW3: evil assertion before the signed one
        orig.addprevious(evil)
    else:  # XSW4: evil assertion replaces the signed one, which is hidden inside it
        orig.addprevious(evil)
        root.remove(orig)
        evil.append(orig)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode()


def metadata():
    return create_metadata_string(None, config=make_server().config, sign=False).decode()


def post_form(xml, relay_state, acs):
    b64 = base64.b64encode(xml.encode()).decode()
    rs = f'<input type="hidden" name="RelayState" value="{html.escape(relay_state)}"/>' if relay_state else ""
    return f"""<!doctype html><html><body onload="document.forms[0].submit()">
<form method="post" action="{html.escape(acs)}">
<input type="hidden" name="SAMLResponse" value="{b64}"/>{rs}
<noscript><button type="submit">Continue</button></noscript></form></body></html>"""


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.log_date_time_string(), fmt % args))

    def reply(self, status, body, ctype="text/html; charset=utf-8"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def sso(self, params, binding):
        req_b64 = params.get("SAMLRequest")
        relay = params.get("RelayState", "")
        user = params.get("user", DEFAULT_USER)
        kind = params.get("kind", "valid")
        if not req_b64:
            return self.reply(400, "missing SAMLRequest")
        try:
            register_sp(*authn_request_sp(req_b64, binding))
            srv = make_server()
            req = srv.parse_authn_request(req_b64, binding)
            args = srv.response_args(req.message)
        except Exception as exc:  # unknown SP, bad ACS, bad signature, ...
            return self.reply(400, f"bad AuthnRequest: {html.escape(repr(exc))}")
        xml = build_response(kind, args["in_response_to"], user, args["sp_entity_id"], args["destination"])
        return self.reply(200, post_form(xml, relay, args["destination"]))

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        if url.path in ("/metadata", "/idp/metadata"):
            return self.reply(200, metadata(), "application/samlmetadata+xml")
        if url.path == "/healthz":
            return self.reply(200, "ok", "text/plain")
        if url.path == "/sso/redirect":
            return self.sso(q, BINDING_HTTP_REDIRECT)
        if url.path in ("/sso/idp-initiated", "/response"):
            sp, acs = q.get("sp") or SP_ENTITY_ID, q.get("acs") or SP_ACS
            user = q.get("user", DEFAULT_USER)
            if user not in USERS:
                return self.reply(400, f"unknown user {html.escape(user)}", "text/plain")
            try:
                register_sp(sp, acs)
                if url.path == "/sso/idp-initiated":  # unsolicited response, no InResponseTo
                    xml = build_response(q.get("kind", "valid"), None, user, sp, acs)
                else:  # fixture: base64 SAMLResponse as text
                    xml = build_response(q.get("kind", "valid"), q.get("in_response_to"), user, sp, acs,
                                         q.get("encrypt_cert"), q.get("encryption", "aes256-cbc"))
            except (ValueError, SystemExit) as exc:
                return self.reply(400, html.escape(str(exc)), "text/plain")
            if url.path == "/sso/idp-initiated":
                return self.reply(200, post_form(xml, q.get("RelayState", ""), acs))
            return self.reply(200, base64.b64encode(xml.encode()).decode(), "text/plain")
        return self.reply(404, "not found", "text/plain")

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if url.path == "/sso/post":
            return self.sso(dict(urllib.parse.parse_qsl(body)), BINDING_HTTP_POST)
        return self.reply(404, "not found", "text/plain")


def exit_when_gone(pid):
    """Stop serving once the test harness that started us is gone (even after its kill -9)."""
    while True:
        _time.sleep(1)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass


def main(argv):
    cmd = argv[1] if len(argv) > 1 else "serve"
    if cmd == "serve":
        httpd = ThreadingHTTPServer((HOST, PORT), Handler)
        if os.environ.get("SAML_PID_FILE"):
            with open(os.environ["SAML_PID_FILE"], "w") as f:
                f.write(str(os.getpid()))
        watch = int(os.environ.get("SAML_WATCH_PID") or 0)
        if watch:
            threading.Thread(target=exit_when_gone, args=(watch,), daemon=True).start()
        print(f"pysaml2 IdP listening on {BASE} entityID={IDP_ENTITY_ID}", flush=True)
        httpd.serve_forever()
    elif cmd == "metadata":
        print(metadata())
    elif cmd == "response":
        args = argv[2:]
        kind, irt, user, as_xml, sp, acs = "valid", None, DEFAULT_USER, False, None, None
        while args:
            a = args.pop(0)
            if a == "--in-response-to":
                irt = args.pop(0)
            elif a == "--user":
                user = args.pop(0)
            elif a == "--sp":
                sp = args.pop(0)
            elif a == "--acs":
                acs = args.pop(0)
            elif a == "--xml":
                as_xml = True
            else:
                kind = a
        register_sp(sp or SP_ENTITY_ID, acs or SP_ACS)
        xml = build_response(kind, irt, user, sp, acs)
        print(xml if as_xml else base64.b64encode(xml.encode()).decode())
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
