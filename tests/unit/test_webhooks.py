"""Completion webhooks: SSRF refusals, Standard Webhooks signatures (verified with the reference
library), the retry schedule, and delivery to a real HTTPS receiver on loopback."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator

import pytest
import standardwebhooks

from svmflow.webhooks import delivery, schedule, signing
from svmflow.webhooks.urls import UnsafeUrlError, UrlPolicy, check_url, system_resolver
from tests.https_receiver import Receiver, https_receiver

STRICT = UrlPolicy()
LOOPBACK_OK = UrlPolicy(allow_loopback=True)

# Names a resolver under the attacker's control could hand out, and one public name.
FAKE_DNS = {
    "rebind.example.com": ["127.0.0.1"],
    "private.example.com": ["10.1.2.3"],
    "mixed.example.com": ["93.184.216.34", "192.168.1.1"],
    "v6loop.example.com": ["::1"],
    "metadata-alias.example.com": ["169.254.169.254"],
    "hooks.example.com": ["93.184.216.34"],
    "hooks.test": ["127.0.0.1"],
}


def fake_resolver(host: str, port: int) -> list[str]:
    if host == "localhost":
        return system_resolver(host, port)  # the machine's own answer: loopback
    if host not in FAKE_DNS:
        raise UnsafeUrlError(f"callback host {host!r} does not resolve")
    return FAKE_DNS[host]


REFUSED = [
    "http://hooks.example.com/done",  # not https
    "ftp://hooks.example.com/done",
    "https://user:pw@hooks.example.com/done",  # credentials
    "https:///nohost",
    "https://127.0.0.1/done",  # loopback
    "https://127.255.255.254/done",
    "https://localhost/done",  # a name resolving to loopback
    "https://rebind.example.com/done",
    "https://10.0.0.1/done",  # RFC 1918
    "https://172.16.5.4/done",
    "https://192.168.0.10/done",
    "https://private.example.com/done",
    "https://mixed.example.com/done",  # one bad address is enough
    "https://169.254.169.254/computeMetadata/v1/",  # the metadata service
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://metadata-alias.example.com/",
    "https://100.64.0.1/done",  # carrier-grade NAT
    "https://0.0.0.0/done",
    "https://224.0.0.1/done",  # multicast
    "https://[::1]/done",  # IPv6 loopback
    "https://v6loop.example.com/done",
    "https://[::ffff:127.0.0.1]/done",  # IPv4-mapped
    "https://[::ffff:7f00:1]/done",
    "https://[64:ff9b::7f00:1]/done",  # NAT64 of 127.0.0.1
    "https://[2002:7f00:1::]/done",  # 6to4 of 127.0.0.1
    "https://[fd00:ec2::254]/done",  # unique local (AWS metadata over IPv6)
    "https://[fe80::1]/done",  # link-local
    "https://[::]/done",
    "https://2130706433/done",  # 127.0.0.1 as a decimal number
    "https://0177.0.0.1/done",  # octal
    "https://0x7f.0x0.0x0.0x1/done",  # hex
    "https://0x7f000001/done",
    "https://127.1/done",  # short form
    "https://017700000001/done",
    "https://hooks.example.com/done#frag",
    "https://hooks.example.com:99999/done",  # bad port
    "https://hooks.example.com/a b",  # whitespace
    "https://unknown.invalid/done",  # does not resolve
]


@pytest.mark.parametrize("url", REFUSED)
def test_unsafe_callback_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrlError):
        check_url(url, STRICT, fake_resolver)


def test_at_least_twenty_ssrf_cases() -> None:
    assert len(REFUSED) >= 20


@pytest.mark.parametrize(
    "url",
    ["https://hooks.example.com/done", "https://93.184.216.34:8443/x?y=1", "https://[2606:4700::1111]/"],
)
def test_public_https_callbacks_pass_with_the_addresses_to_use(url: str) -> None:
    target = check_url(url, STRICT, fake_resolver)
    assert target.addresses
    assert target.url == url


def test_loopback_only_when_the_settings_allow_it_and_private_still_refused() -> None:
    assert check_url("https://localhost:8443/x", LOOPBACK_OK, fake_resolver).addresses
    assert check_url("https://[::ffff:127.0.0.1]/x", LOOPBACK_OK, fake_resolver).addresses == ("127.0.0.1",)
    with pytest.raises(UnsafeUrlError, match="private"):
        check_url("https://10.0.0.1/x", LOOPBACK_OK, fake_resolver)
    with pytest.raises(UnsafeUrlError, match="link-local"):
        check_url(
            "https://169.254.169.254/", UrlPolicy(allow_loopback=True, allow_private=True), fake_resolver
        )


# -- signatures ------------------------------------------------------------------------------


def test_signatures_verify_with_the_reference_library() -> None:
    secret = signing.new_secret()
    body = b'{"type":"batch.done","data":{"batch_id":"b1"}}'
    now = int(time.time())
    headers = signing.headers([secret], "msg_1", now, body)
    assert headers["webhook-signature"].startswith("v1,")
    payload = standardwebhooks.Webhook(secret).verify(body.decode(), headers)
    assert payload == json.loads(body)


def test_during_a_rotation_either_secret_verifies_and_a_stranger_does_not() -> None:
    new, old, stranger = signing.new_secret(), signing.new_secret(), signing.new_secret()
    body = b'{"n":1}'
    headers = signing.headers(signing.parse_secrets(f"{new}, {old}"), "msg_2", int(time.time()), body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (new, old):
        standardwebhooks.Webhook(secret).verify(body.decode(), headers)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(stranger).verify(body.decode(), headers)
    tampered = {**headers, "webhook-id": "msg_3"}
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(new).verify(body.decode(), tampered)


@pytest.mark.parametrize("value", ["", "whsec_", "whsec_c2hvcnQ=", "whsec_!!!notbase64!!!"])
def test_bad_secrets_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        signing.parse_secrets(value)


# -- schedule --------------------------------------------------------------------------------


def test_the_schedule_is_the_specs_with_jitter() -> None:
    rng = random.Random(1)
    assert schedule.delay_before(1, rng=rng) == 0.0
    for attempt, nominal in enumerate(schedule.SPEC_DELAYS_SECONDS, start=1):
        draws = [schedule.delay_before(attempt, rng=rng) for _ in range(200)]
        assert min(draws) >= nominal * 0.8
        assert max(draws) <= nominal * 1.2
        if nominal:
            assert len(set(draws)) > 100  # jittered, not a fixed delay
    assert schedule.delay_before(3, scale=0.001, rng=rng) <= 0.36


def test_what_follows_each_outcome() -> None:
    assert schedule.after("delivered", 1).step == "delivered"
    assert schedule.after("gone", 2).step == "endpoint-disabled"
    assert schedule.after("failed", 1).step == "retry"
    assert schedule.after("refused", 3).step == "retry"
    assert schedule.after("failed", len(schedule.SPEC_DELAYS_SECONDS)).step == "dead-lettered"


# -- delivery to a real HTTPS receiver -------------------------------------------------------


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with https_receiver() as found:
        yield found


def attempt_to(receiver: Receiver, url: str, secret: str, body: bytes, **kwargs: object) -> delivery.Attempt:
    headers = signing.headers([secret], "msg_x", int(time.time()), body)
    options = {
        "policy": LOOPBACK_OK,
        "resolver": fake_resolver,
        "context": receiver.client_context(),
    } | kwargs
    return delivery.post(url, body, headers, **options)  # type: ignore[arg-type]


def test_delivered_and_verified_by_the_receiver(receiver: Receiver) -> None:
    secret = signing.new_secret()
    body = b'{"type":"batch.done","data":{"batch_id":"b-ok"}}'
    result = attempt_to(receiver, receiver.url("/ok"), secret, body)
    assert (result.outcome, result.status, result.address) == ("delivered", 204, "127.0.0.1")
    (received,) = receiver.on("/ok")
    assert received.body == body
    assert standardwebhooks.Webhook(secret).verify(body.decode(), received.headers)["data"] == {
        "batch_id": "b-ok"
    }


def test_the_connection_goes_to_the_checked_address_with_the_names_certificate(receiver: Receiver) -> None:
    # hooks.test exists only in the fake resolver: the client never asks the system for it.
    result = attempt_to(receiver, receiver.url("/pinned", host="hooks.test"), signing.new_secret(), b"{}")
    assert result.outcome == "delivered"
    assert receiver.on("/pinned")[0].headers["host"] == f"hooks.test:{receiver.port}"


def test_an_untrusted_certificate_is_a_failed_attempt(receiver: Receiver) -> None:
    import ssl

    result = attempt_to(
        receiver,
        receiver.url("/untrusted"),
        signing.new_secret(),
        b"{}",
        context=ssl.create_default_context(),
    )
    assert result.outcome == "failed"
    assert "CERTIFICATE" in (result.error or "").upper()
    assert receiver.on("/untrusted") == []


def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    receiver.answer("/moved", 302)
    receiver.redirect_to = receiver.url("/redirect-target")
    result = attempt_to(receiver, receiver.url("/moved"), signing.new_secret(), b"{}")
    assert (result.outcome, result.status) == ("failed", 302)
    assert "redirect" in (result.error or "")
    assert receiver.on("/redirect-target") == []


def test_410_disables_the_endpoint(receiver: Receiver) -> None:
    receiver.answer("/gone", 410)
    result = attempt_to(receiver, receiver.url("/gone"), signing.new_secret(), b"{}")
    assert result.outcome == "gone"
    assert schedule.after(result.outcome, 1).step == "endpoint-disabled"


def test_delivery_rechecks_the_address_and_refuses_loopback_unless_allowed(receiver: Receiver) -> None:
    """DNS rebinding: a name that passed at registration resolves to loopback at delivery."""
    result = attempt_to(
        receiver, receiver.url("/rebound", host="hooks.test"), signing.new_secret(), b"{}", policy=STRICT
    )
    assert result.outcome == "refused"
    assert "loopback" in (result.error or "")
    assert receiver.on("/rebound") == []


def test_retries_after_500s_until_delivered(receiver: Receiver) -> None:
    receiver.answer("/flaky", 500, 503, 200)
    secret = signing.new_secret()
    body = b'{"type":"batch.done"}'
    outcomes: list[delivery.Attempt] = []
    slept: list[float] = []

    def attempt(number: int) -> delivery.Outcome:
        outcomes.append(attempt_to(receiver, receiver.url("/flaky"), secret, body))
        return outcomes[-1].outcome

    step, attempts = schedule.run(attempt, scale=0.001, sleep=slept.append, rng=random.Random(3))
    assert (step, attempts) == ("delivered", 3)
    assert [a.status for a in outcomes] == [500, 503, 200]
    assert len(receiver.on("/flaky")) == 3
    assert 0.004 <= slept[0] <= 0.006  # 5 s, compressed, with jitter
    assert 0.24 <= slept[1] <= 0.36  # 5 min, compressed
    for received in receiver.on("/flaky"):
        standardwebhooks.Webhook(secret).verify(body.decode(), received.headers)


def test_dead_lettered_after_the_last_attempt(receiver: Receiver) -> None:
    receiver.answer("/down", 500)

    def attempt(number: int) -> delivery.Outcome:
        return attempt_to(receiver, receiver.url("/down"), signing.new_secret(), b"{}").outcome

    step, attempts = schedule.run(attempt, scale=0.0, sleep=lambda _: None)
    assert (step, attempts) == ("dead-lettered", len(schedule.SPEC_DELAYS_SECONDS))
    assert len(receiver.on("/down")) == len(schedule.SPEC_DELAYS_SECONDS)
