#!/usr/bin/env bash
# verify.sh CERT FILE.xml : check the Response signature and the first Assertion signature with xmlsec1
cert=$1; f=$2
ids=(--id-attr:ID urn:oasis:names:tc:SAML:2.0:protocol:Response --id-attr:ID urn:oasis:names:tc:SAML:2.0:assertion:Assertion)
chk() {
  out=$(xmlsec1 --verify --enabled-key-data raw-x509-cert --pubkey-cert-pem "$cert" "${ids[@]}" --node-xpath "$1" "$f" 2>&1)
  if [ $? -eq 0 ]; then echo OK
  elif grep -q "does not return a single node" <<<"$out"; then echo "absent"
  else echo "FAIL($(grep -oE 'error=[0-9]+:[^:]*' <<<"$out" | tail -1))"; fi
}
r1=$(chk "/*[local-name()='Response']/*[local-name()='Signature']")
r2=$(chk "(//*[local-name()='Assertion']/*[local-name()='Signature'])[1]")
printf '%-22s response-sig: %-30s assertion-sig: %s\n' "$(basename "$f" .xml)" "$r1" "$r2"
