"""Identity refusals."""

from gopherpayd.kit.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized


class InvalidCredentials(Unauthorized):
    code, title = "invalid_credentials", "Invalid credentials"


class InvalidToken(Unauthorized):
    code, title = "invalid_token", "Invalid token"


class TokenExpired(Unauthorized):
    code, title = "token_expired", "Token expired"


class SessionRevoked(Unauthorized):
    code, title = "session_revoked", "Session revoked"


class InvalidRefreshToken(Unauthorized):
    code, title = "invalid_refresh_token", "Invalid refresh token"


class RefreshTokenReused(Unauthorized):
    code, title = "refresh_token_reused", "Refresh token reused"


class AccountFrozen(Forbidden):
    code, title = "account_frozen", "Account frozen"


class AdminRequired(Forbidden):
    code, title = "forbidden", "Forbidden"


class EmailTaken(Conflict):
    code, title = "email_taken", "Email taken"


class MixedScriptEmail(BadRequest):
    code, title = "mixed_script_email", "Look-alike email address"


class LookAlikeEmail(Conflict):
    code, title = "look_alike_email", "Look-alike email address"


class InvalidEmail(BadRequest):
    code, title = "invalid_email", "Invalid email address"


class PasswordTooShort(BadRequest):
    code, title = "password_too_short", "Password too short"


class PasswordTooLong(BadRequest):
    code, title = "password_too_long", "Password too long"


class UserNotFound(NotFound):
    code, title = "user_not_found", "User not found"


class SessionNotFound(NotFound):
    code, title = "session_not_found", "Session not found"


class EmailNotVerified(Forbidden):
    code, title = "email_not_verified", "Email not verified"


class InvalidVerificationCode(BadRequest):
    code, title = "invalid_verification_code", "Invalid verification code"


class VerificationCodeExpired(BadRequest):
    code, title = "verification_code_expired", "Verification code expired"


class AlreadyVerified(Conflict):
    code, title = "already_verified", "Already verified"
