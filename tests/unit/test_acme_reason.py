"""What a refused certificate says: certbot's words that matter, not a Python repr."""

from __future__ import annotations

from deployd.proxy.acme import _reason

UNREACHABLE = """Saving debug log to /var/log/letsencrypt/letsencrypt.log
An unexpected error occurred:
requests.exceptions.ConnectionError: HTTPSConnectionPool(host='acme-v02.api.letsencrypt.org', \
port=443): Max retries exceeded with url: /directory (Caused by NewConnectionError('<urllib3.\
connection.HTTPSConnection object at 0x7f25ed9e5b50>: Failed to establish a new connection: \
[Errno -3] Temporary failure in name resolution'))
Ask for help or search for solutions at https://community.letsencrypt.org."""

REFUSED = """Saving debug log to /var/log/letsencrypt/letsencrypt.log
Certbot failed to authenticate some domains (authenticator: webroot).
  Domain: www.example.test
  Type:   dns
  Detail: no valid A records found for www.example.test
Ask for help or search for solutions at https://community.letsencrypt.org."""


def test_an_acme_server_out_of_reach_is_said_in_words() -> None:
    said = _reason(UNREACHABLE)
    assert said == (
        "cannot reach the ACME server acme-v02.api.letsencrypt.org: "
        "Temporary failure in name resolution"
    )


def test_a_refusal_keeps_its_type_and_detail() -> None:
    assert _reason(REFUSED) == "Type:   dns Detail: no valid A records found for www.example.test"
