"""Self-test: act as the SP. 1) SP-initiated HTTP-Redirect AuthnRequest -> auto-post form -> check
InResponseTo/RelayState; 2) feed each fixture kind to pysaml2's own SP code (Saml2Client) and print accept/reject."""
import base64, datetime, html, os, re, sys, urllib.parse, urllib.request, zlib
from saml2 import BINDING_HTTP_POST
from saml2.client import Saml2Client
from saml2.config import SPConfig

idp = os.environ["IDP"]
SP = os.environ.get("SAML_SP_ENTITY_ID", "http://127.0.0.1:8080/saml/metadata")
ACS = os.environ.get("SAML_SP_ACS", "http://127.0.0.1:8080/api/auth/sso/saml/callback")
rid = "_req" + os.urandom(8).hex()
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
req = (f'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
       f'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{rid}" Version="2.0" IssueInstant="{now}" '
       f'Destination="{idp}/sso/redirect" ProtocolBinding="{BINDING_HTTP_POST}" AssertionConsumerServiceURL="{ACS}">'
       f'<saml:Issuer>{SP}</saml:Issuer>'
       f'<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true"/>'
       f'</samlp:AuthnRequest>')
c = zlib.compressobj(9, zlib.DEFLATED, -15)  # HTTP-Redirect binding: raw DEFLATE + base64 + urlencode
q = urllib.parse.urlencode({"SAMLRequest": base64.b64encode(c.compress(req.encode()) + c.flush()).decode(),
                            "RelayState": "rs-42"})
page = urllib.request.urlopen(f"{idp}/sso/redirect?{q}").read().decode()
action = html.unescape(re.search(r'action="([^"]+)"', page).group(1))
b64 = re.search(r'name="SAMLResponse" value="([^"]+)"', page).group(1)
relay = re.search(r'name="RelayState" value="([^"]+)"', page).group(1)
xml = base64.b64decode(b64).decode()
irt_ok = f'InResponseTo="{rid}"' in xml
print(f"SP-initiated: form posts to {action}, RelayState={relay}, InResponseTo ok={irt_ok}")
with open(os.path.join(os.environ["SAML_DIR"], "flow-response.xml"), "w") as f:
    f.write(xml)

md = os.path.join(os.environ["SAML_DIR"], "idp-metadata.xml")
with open(md, "w") as f:
    f.write(urllib.request.urlopen(f"{idp}/metadata").read().decode())
cfg = SPConfig()
cfg.load({"entityid": SP, "xmlsec_binary": "/usr/bin/xmlsec1", "allow_unknown_attributes": True,
          "service": {"sp": {"endpoints": {"assertion_consumer_service": [(ACS, BINDING_HTTP_POST)]},
                             "want_response_signed": False, "want_assertions_signed": True}},
          "metadata": {"local": [md]}})
sp = Saml2Client(cfg)
r = sp.parse_authn_request_response(b64, BINDING_HTTP_POST, outstanding={rid: "/"})
print(f"{'sp-initiated flow':22} ACCEPTED by pysaml2 SP: {r.name_id.text} {r.get_identity()}")
for kind in sys.argv[1:]:
    b64 = urllib.request.urlopen(f"{idp}/response?kind={kind}&in_response_to=_req1").read().decode()
    try:
        r = sp.parse_authn_request_response(b64, BINDING_HTTP_POST, outstanding={"_req1": "/"})
        print(f"{kind:22} ACCEPTED name_id={r.name_id.text}")
    except Exception as e:
        print(f"{kind:22} rejected: {type(e).__name__}: {str(e)[:80]}")
