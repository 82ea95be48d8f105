"""What a user reads when S3 cannot be reached or rejects the AWS credentials: one line naming
the endpoint or the settings to check (never a secret), and the exit code the README gives.

The credentials are checked by moto's server with its authentication on (it checks keys and
signatures against its IAM once `INITIAL_NO_AUTH_ACTION_COUNT` requests have gone unchecked:
the few that create the IAM user, its key and its policy)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from healthanalytics.errors import ExitCode
from healthanalytics.io.s3 import S3CredentialsError, S3Files, resolve_s3_settings
from tests.conftest import RUN_DATE, SAMPLE, error_line, run_case, run_cli
from tests.s3_server import REGION, Bucket, fake_aws_environment, loopback_s3_process

# the unchecked requests: create_user, create_access_key, put_user_policy
_SETUP_REQUESTS = 3
WRONG_SECRET = "not/the-Secret+of-this-user-0000000000000"


@pytest.fixture(scope="module")
def auth_s3(tmp_path_factory) -> Iterator[tuple[str, str, str, Bucket]]:
    """moto's server with authentication on, an IAM user allowed everything on S3 and a
    bucket of it holding the sample fact; yields the endpoint, the user's key id and secret,
    and the bucket."""
    pytest.importorskip("moto.server", reason="the S3 tests need moto[server] (the dev extra)")
    import boto3

    folder = tmp_path_factory.mktemp("auth-s3")
    env = {"INITIAL_NO_AUTH_ACTION_COUNT": str(_SETUP_REQUESTS)}
    with loopback_s3_process(folder / "moto.log", env) as (endpoint, _):
        iam = boto3.client("iam", endpoint_url=endpoint, region_name=REGION,
                           aws_access_key_id="setup", aws_secret_access_key="setup")  # fmt: skip
        iam.create_user(UserName="pipeline")
        key = iam.create_access_key(UserName="pipeline")["AccessKey"]
        allow = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
        policy = {"Version": "2012-10-17", "Statement": [allow]}
        iam.put_user_policy(UserName="pipeline", PolicyName="s3", PolicyDocument=json.dumps(policy))
        client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION,
                              aws_access_key_id=key["AccessKeyId"],
                              aws_secret_access_key=key["SecretAccessKey"])  # fmt: skip
        client.create_bucket(Bucket="lake")
        bucket = Bucket("lake", client)
        bucket.put("in/fact.csv", SAMPLE)
        yield endpoint, key["AccessKeyId"], key["SecretAccessKey"], bucket


def aws_env(endpoint: str, home: Path, key_id: str, secret: str) -> dict[str, str]:
    env = fake_aws_environment(endpoint, home)
    env.update(AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret, AWS_MAX_ATTEMPTS="1")
    return {name: value for name, value in env.items() if value is not None}


def use(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in fake_aws_environment("", Path()).items():
        if value is None or name not in env:
            monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


CHECK = "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN)"


def test_the_right_credentials_deliver(auth_s3, tmp_path, monkeypatch):
    # the server checks credentials: the tests below fail for the credentials alone
    endpoint, key_id, secret, bucket = auth_s3
    use(monkeypatch, aws_env(endpoint, tmp_path, key_id, secret))
    done = run_case(bucket.uri("in/fact.csv"), output=bucket.uri("ok"),
                    db=str(tmp_path / "w.duckdb"), analysis=False)  # fmt: skip
    assert done.error is None, done.error


@pytest.mark.parametrize(
    ("which", "code"),
    [("unknown key id", "InvalidAccessKeyId"), ("wrong secret", "SignatureDoesNotMatch")],
)
def test_rejected_credentials_are_named_with_s3s_error_code(
    auth_s3, tmp_path, monkeypatch, which, code
):
    # a listing (GET) carries S3's error code
    endpoint, key_id, _, bucket = auth_s3
    given = "AKIANOSUCHKEY0000000" if which == "unknown key id" else key_id
    use(monkeypatch, aws_env(endpoint, tmp_path, given, WRONG_SECRET))
    with pytest.raises(S3CredentialsError) as refused:
        S3Files(resolve_s3_settings()).list_files(bucket.uri("in"))
    assert str(refused.value) == (
        f"{bucket.uri('in')}: S3 rejected the AWS credentials ({code}); {CHECK}"
    )


def test_rejected_credentials_on_the_fact_are_one_line(auth_s3, tmp_path, monkeypatch):
    # the fact is first looked at with a HEAD request, whose 403 carries no error code
    endpoint, key_id, _, bucket = auth_s3
    use(monkeypatch, aws_env(endpoint, tmp_path, key_id, WRONG_SECRET))
    done = run_case(bucket.uri("in/fact.csv"), output=tmp_path / "out",
                    db=str(tmp_path / "w.duckdb"), analysis=False)  # fmt: skip
    assert done.error == (
        f"{bucket.uri('in/fact.csv')}: access denied (HTTP 403): the AWS credentials were "
        f"refused or lack permission; {CHECK}"
    )
    assert done.code == ExitCode.FAILED
    assert WRONG_SECRET not in " ".join(done.log)


def test_rejected_credentials_on_the_output_say_so_through_the_command(auth_s3, tmp_path):
    # the bucket is checked with a HEAD request, whose 403 carries no error code
    endpoint, _, _, bucket = auth_s3
    env = aws_env(endpoint, tmp_path, "AKIANOSUCHKEY0000000", WRONG_SECRET)
    done = run_cli("--fact", str(SAMPLE), "--output", bucket.uri("out"),
                   "--db", str(tmp_path / "w.duckdb"), "--run-date", RUN_DATE.isoformat(),
                   "--no-analysis", cwd=tmp_path, env=env)  # fmt: skip
    assert done.returncode == ExitCode.FAILED, done.stderr
    assert error_line(done) == (
        "error: s3://lake: access denied (HTTP 403): the AWS credentials were refused or lack "
        f"permission; {CHECK}"
    )
    assert WRONG_SECRET not in done.stdout + done.stderr


def test_an_unreachable_endpoint_for_the_output_is_unavailable(tmp_path):
    env = aws_env("http://127.0.0.1:1", tmp_path, "AKIAHEALTHANALYTICS0", WRONG_SECRET)
    done = run_cli("--fact", str(SAMPLE), "--output", "s3://lake/out",
                   "--db", str(tmp_path / "w.duckdb"), "--run-date", RUN_DATE.isoformat(),
                   "--no-analysis", cwd=tmp_path, env=env)  # fmt: skip
    assert done.returncode == ExitCode.UNAVAILABLE, done.stderr
    assert error_line(done) == (
        "error: s3://lake: the S3 request failed 1 times (Could not connect to the endpoint URL: "
        '"http://127.0.0.1:1/lake"): the store is unreachable or throttling; check the endpoint '
        "and the network, or try again later"
    )
