"""Schemathesis over /openapi.json: every documented operation, a few generated requests each;
the answers must match the document (status codes, bodies, content types) and never be 500.
Before, a full run found 108 mismatches (undeclared 400/404/409/501/503, error bodies)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error, positive_data_acceptance

from tests.test_api_harness import LiveServer, StubEngine, placeholder_checkpoint, start_live_server

EXAMPLES = 10  # per operation: about half a minute on 2 cores


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("openapi")
    server = start_live_server(data, "--nowebui", "--no-hashing", ckpt=placeholder_checkpoint(data))
    StubEngine(server.runtime).install()
    yield server
    server.stop()


def _check(operation: schemathesis.APIOperation) -> str | None:
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        # 501 (a feature this server lacks) and 503 (busy / no checkpoint) are documented
        # answers, not faults; any other 5xx is. Value rules the schema does not spell out
        # (sizes in multiples of 8, known sampler and setting names, init images present) are
        # refused with a documented 422 naming the field, so "schema-valid request rejected"
        # is not counted.
        response = case.call_and_validate(timeout=30, excluded_checks=[not_a_server_error,
                                                                       positive_data_acceptance])
        assert response.status_code in (200, 201, 202, 204, 501, 503) or 400 <= response.status_code < 500, (
            f"{response.status_code}: {response.text[:300]}")

    try:
        run()
    except (Exception, BaseExceptionGroup) as e:  # noqa: BLE001 - every operation is tried; all failures listed
        return f"{operation.label}: {str(e)[:600]}"
    return None


@pytest.mark.timeout(600)
def test_api_answers_match_its_document(live: LiveServer) -> None:
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40
    failures = [f for f in map(_check, operations) if f]
    assert not failures, "\n\n".join(failures)
