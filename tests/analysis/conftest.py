"""Transform tests here run on the embedded engine, as tests/transforms' do."""

from tests.transforms.conftest import con  # noqa: F401 - the fixture, shared
