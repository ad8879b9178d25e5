"""An Amazon MSK IAM token from AWS's own Python signer
(aws-msk-iam-sasl-signer-python), under fixed credentials and a frozen
clock, for the byte-for-byte comparison in tests/msk_iam.rs.

Usage: msk_iam_token.py REGION ACCESS_KEY_ID SECRET_ACCESS_KEY SESSION_TOKEN EPOCH_SECONDS
(SESSION_TOKEN "-" for none). Prints JSON: token, expiry_ms, user_agent.
Exits 3 when the signer package is not installed.
"""
import datetime
import json
import sys

try:
    import botocore.auth
    from botocore.credentials import CredentialProvider, Credentials
    from aws_msk_iam_sasl_signer import MSKAuthTokenProvider
except ImportError as error:
    print(f"aws-msk-iam-sasl-signer-python is not installed: {error}", file=sys.stderr)
    sys.exit(3)

region, access_key, secret_key, session_token, epoch = sys.argv[1:6]
frozen = datetime.datetime.fromtimestamp(int(epoch), tz=datetime.timezone.utc)

# botocore's SigV4 signers read the clock through get_current_datetime()
# (botocore >= 1.34); older ones called datetime.datetime.utcnow().
if hasattr(botocore.auth, "get_current_datetime"):
    botocore.auth.get_current_datetime = lambda *args, **kwargs: frozen
else:
    class FrozenDatetime(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return frozen.replace(tzinfo=None)

    botocore.auth.datetime.datetime = FrozenDatetime


class Fixed(CredentialProvider):
    METHOD = "fixed"

    def load(self):
        return Credentials(access_key, secret_key, None if session_token == "-" else session_token)


token, expiry_ms = MSKAuthTokenProvider.generate_auth_token_from_credentials_provider(region, Fixed())
print(json.dumps({
    "token": token,
    "expiry_ms": expiry_ms,
    "user_agent": MSKAuthTokenProvider.__get_user_agent__(),
}))
