"""TOTP second factor (RFC 6238: 6 digits, 30-second steps, SHA-1, as every authenticator
app expects).

Required for every account, clinical roles and the administrator alike: the
administrator creates accounts and resets second factors, so a stolen administrator
password would otherwise open every clinical account. Only the demo seed's accounts are
exempt (User.mfa_exempt, set by board/demo_seed.py and nowhere else).

A code is accepted for the current step and one step either side (clock drift), and only
for a step later than the last one accepted for that account: a code, once used, cannot be
replayed, nor can an older one (RFC 6238 section 5.2).
"""

from __future__ import annotations

import hmac
import time

import pyotp
import segno

ISSUER = "The board"
STEP_SECONDS = 30
DRIFT_STEPS = 1


def new_secret() -> str:
    return pyotp.random_base32()  # 32 base32 characters: 160 bits, RFC 4226's advice


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_SECONDS)


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).generate_otp(step)


def accepted_step(
    secret: str, code: str, *, last_step: int | None, now: float | None = None
) -> int | None:
    """The step this code belongs to if it is valid and unused, else None."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    step = current_step(now)
    for candidate in range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1):
        if last_step is not None and candidate <= last_step:
            continue
        if hmac.compare_digest(code_at(secret, candidate), code):
            return candidate
    return None


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The otpauth URI as an inline SVG QR code (no script, no style attribute)."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, title="Second-factor QR code"))
