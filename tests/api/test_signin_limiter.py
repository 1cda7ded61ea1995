"""The TA sign-in failure limits as a unit: per name and address, per name anywhere, per address."""
from __future__ import annotations

from types import SimpleNamespace

from api.auth import SignInLimiter


def request_from(host: str) -> SimpleNamespace:
    return SimpleNamespace(client=SimpleNamespace(host=host))


def test_wrong_passwords_from_one_address_do_not_lock_the_ta_out_elsewhere() -> None:
    limiter = SignInLimiter("memory://", per_name=3, per_address=30)
    student, ta = request_from("10.0.0.9"), request_from("10.0.0.1")
    for _ in range(3):
        limiter.failed(student, "Tara")
    assert not limiter.allowed(student, "tara")  # that address is done with this name
    assert limiter.allowed(student, "bob")
    assert limiter.allowed(ta, "tara")  # the TA, elsewhere, still signs in


def test_a_guesser_on_many_addresses_is_capped_per_name() -> None:
    limiter = SignInLimiter("memory://", per_name=3, per_address=30)
    for i in range(10):
        for _ in range(3):
            limiter.failed(request_from(f"10.0.1.{i}"), "tara")
    assert not limiter.allowed(request_from("10.0.2.1"), "tara")


def test_one_address_is_capped_over_all_names() -> None:
    limiter = SignInLimiter("memory://", per_name=3, per_address=5)
    here = request_from("10.0.0.9")
    for name in ("a", "b", "c", "d", "e"):
        limiter.failed(here, name)
    assert not limiter.allowed(here, "f")
