"""Server-side sign-ins: random ids, bounded in time and number, the token never in the table's keys."""

from __future__ import annotations

from scaivault_console.sign_ins import SignInForms, SignIns


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_sign_in_is_found_by_its_cookie_only():
    sign_ins = SignIns(idle_timeout=60, lifetime=3600)
    cookie, sign_in = sign_ins.start("svt.secret-token", "sa:x")
    assert sign_ins.get(cookie) is sign_in
    assert sign_ins.get(cookie[:-1] + ("A" if cookie[-1] != "A" else "B")) is None
    assert sign_ins.get(None) is None and sign_ins.get("x" * 1000) is None
    assert "svt.secret-token" not in repr(sign_in) and sign_in.csrf not in repr(sign_in)
    assert cookie not in sign_ins._by_hash  # keyed by the id's hash, not the id


def test_each_sign_in_gets_a_fresh_id_and_csrf_token():
    sign_ins = SignIns(idle_timeout=60, lifetime=3600)
    first, a = sign_ins.start("svt.t", "sa:x")
    second, b = sign_ins.start("svt.t", "sa:x")
    assert first != second and a.csrf != b.csrf


def test_idle_sign_ins_end_and_use_keeps_them_alive():
    clock = Clock()
    sign_ins = SignIns(idle_timeout=60, lifetime=3600, clock=clock)
    cookie, _ = sign_ins.start("svt.t", "sa:x")
    for _ in range(5):
        clock.now += 50
        assert sign_ins.get(cookie) is not None
    clock.now += 61
    assert sign_ins.get(cookie) is None
    assert len(sign_ins) == 0


def test_a_sign_in_ends_at_its_lifetime_however_busy():
    clock = Clock()
    sign_ins = SignIns(idle_timeout=60, lifetime=200, clock=clock)
    cookie, _ = sign_ins.start("svt.t", "sa:x")
    for _ in range(4):
        clock.now += 50
        assert sign_ins.get(cookie) is not None
    clock.now += 1
    assert sign_ins.get(cookie) is None


def test_the_oldest_sign_ins_go_first_past_the_limit():
    sign_ins = SignIns(idle_timeout=60, lifetime=3600, limit=3)
    cookies = [sign_ins.start("svt.t", f"sa:x{i}")[0] for i in range(4)]
    assert sign_ins.get(cookies[0]) is None
    assert all(sign_ins.get(c) is not None for c in cookies[1:])


def test_one_identity_cannot_crowd_out_the_others():
    sign_ins = SignIns(idle_timeout=60, lifetime=3600, limit=10, per_identity=2)
    others = [sign_ins.start("svt.t", f"sa:other{i}")[0] for i in range(3)]
    mine = [sign_ins.start("svt.t", "sa:x")[0] for _ in range(20)]
    assert all(sign_ins.get(c) is not None for c in others)
    assert [sign_ins.get(c) is not None for c in mine[-3:]] == [False, True, True]


def test_sign_out_ends_it():
    sign_ins = SignIns(idle_timeout=60, lifetime=3600)
    cookie, _ = sign_ins.start("svt.t", "sa:x")
    sign_ins.end(cookie)
    assert sign_ins.get(cookie) is None


def test_flashes_are_shown_once_and_bounded():
    _, sign_in = SignIns(idle_timeout=60, lifetime=3600).start("svt.t", "sa:x")
    for i in range(8):
        sign_in.flash("ok", f"message {i}")
    assert [f.text for f in sign_in.take_flashes()] == [f"message {i}" for i in range(3, 8)]
    assert sign_in.take_flashes() == []


def test_sign_in_form_tokens_are_bound_to_their_cookie_and_this_process():
    forms, other = SignInForms(), SignInForms()
    cookie = forms.new_cookie()
    token = forms.token_for(cookie)
    assert forms.check(cookie, token)
    assert not forms.check(forms.new_cookie(), token)
    assert not other.check(cookie, token)
    assert not forms.check(None, token) and not forms.check(cookie, None)
