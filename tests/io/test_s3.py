"""S3 settings resolved the AWS way, from the environment and the shared files (no server
needed: nothing here makes a request)."""

from __future__ import annotations

from pathlib import Path

import pytest

from healthanalytics.io.s3 import S3Credentials, S3Settings, S3SetupError, resolve_s3_settings


@pytest.fixture
def aws(tmp_path, monkeypatch) -> Path:
    """A clean AWS environment: no variable set, shared files in `tmp_path` (empty)."""
    for name in (
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
        "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


def test_environment_variables(aws, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")  # AWS_REGION wins
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://global.example.com")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://minio.example.com:9000/")  # S3's own wins
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "7")
    assert resolve_s3_settings() == S3Settings(
        region="eu-west-3",
        endpoint="http://minio.example.com:9000",
        path_style=True,  # an endpoint: addressed by path
        max_attempts=7,
        credentials=S3Credentials("AKIAEXAMPLE", "secret", "token"),
    )


def test_nothing_configured_means_aws_unsigned(aws):
    # no credentials anywhere: unsigned requests (public buckets), AWS's default region
    assert resolve_s3_settings() == S3Settings("us-east-1", None, False, 5, None)


def test_a_profile_of_the_shared_files(aws, monkeypatch):
    (aws / "config").write_text(
        "[profile lake]\nregion = ca-central-1\nendpoint_url = https://store.example.com\n"
        "max_attempts = 3\ns3 =\n  addressing_style = virtual\n"
    )
    (aws / "credentials").write_text(
        "[lake]\naws_access_key_id = AKIALAKE\naws_secret_access_key = lake-secret\n"
    )
    monkeypatch.setenv("AWS_PROFILE", "lake")
    assert resolve_s3_settings() == S3Settings(
        region="ca-central-1",
        endpoint="https://store.example.com",
        path_style=False,  # the profile asks for virtual-host addressing
        max_attempts=3,
        credentials=S3Credentials("AKIALAKE", "lake-secret"),
    )


def test_configured_endpoints_can_be_ignored(aws, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert resolve_s3_settings().endpoint is None


def test_an_unknown_profile_is_an_error(aws, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "nosuch")
    with pytest.raises(S3SetupError, match=r"The config profile \(nosuch\) could not be found"):
        resolve_s3_settings()


def test_secrets_stay_out_of_repr_and_the_description():
    settings = S3Settings("us-east-1", None, False, 5, S3Credentials("AKIAX", "s3cr3t", "t0ken"))
    shown = repr(settings) + settings.describe()
    assert "s3cr3t" not in shown and "t0ken" not in shown
    assert settings.describe() == (
        "S3 at AWS (region us-east-1), virtual-host addressing, requests signed, up to 5 "
        "attempts per request"
    )
