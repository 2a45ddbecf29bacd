"""WELCOME announces exactly the features moonbar implements (docs/behaviour.md "Sessions"):
no more (a client would use what is not there), no less (a client would not use what is).
Each feature's own tests prove it works; this file pins the list.

Spec: wamp-proto rfc/text/advanced/ap_features.md.
"""
import pytest

import mb_raw as raw

BROKER = {"pattern_based_subscription", "publisher_exclusion", "publisher_identification",
          "subscriber_blackwhite_listing", "event_retention", "event_history", "payload_passthru_mode",
          "session_meta_api", "subscription_meta_api", "subscription_revocation"}
DEALER = {"pattern_based_registration", "shared_registration", "progressive_call_results",
          "progressive_call_invocations", "call_canceling", "call_timeout", "caller_identification",
          "payload_passthru_mode", "session_meta_api", "registration_meta_api", "registration_revocation",
          "testament_meta_api"}


@pytest.mark.parametrize("transport", ["websocket", "rawsocket"])
def test_welcome_announces_exactly_the_implemented_features(router, transport):
    with raw.connect(router, transport) as conn:
        roles = raw.join(conn)[2]["roles"]
    assert set(roles) == {"broker", "dealer"}, roles
    assert roles["broker"] == {"features": {f: True for f in BROKER}}, roles["broker"]
    assert roles["dealer"] == {"features": {f: True for f in DEALER}}, roles["dealer"]


def test_autobahn_python_reads_the_announcement(router, clients):
    c = clients(router)
    broker, dealer = c.router_roles["broker"], c.router_roles["dealer"]
    assert broker.publisher_identification and broker.subscriber_blackwhite_listing
    assert broker.event_retention and broker.subscription_revocation
    assert dealer.progressive_call_results and dealer.call_canceling and dealer.caller_identification
    assert dealer.registration_revocation and dealer.call_timeout
