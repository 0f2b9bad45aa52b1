import falcon
import falcon.testing
import pytest
from prometheus_client import CollectorRegistry

from cascommon import health, problem
from cascommon.httpmetrics import RequestMetrics


class Boom:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise RuntimeError("secret internals")


class Teapot:
    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        raise falcon.HTTPBadRequest(title="Bad name", description=f"no {name}")


@pytest.fixture
def client() -> falcon.testing.TestClient:
    registry = CollectorRegistry()
    app = falcon.App(middleware=[RequestMetrics(registry, "test")])
    problem.install(app)
    health.add_routes(app, registry, ready=lambda: None)
    app.add_route("/boom", Boom())
    app.add_route("/teapot/{name}", Teapot())
    return falcon.testing.TestClient(app)


def test_http_errors_are_problem_json(client: falcon.testing.TestClient) -> None:
    r = client.simulate_get("/teapot/earl")
    assert r.status_code == 400
    assert r.headers["content-type"] == problem.PROBLEM_JSON
    assert r.json == {
        "type": "about:blank",
        "title": "Bad name",
        "status": 400,
        "detail": "no earl",
    }


def test_unknown_route_and_wrong_method(client: falcon.testing.TestClient) -> None:
    assert client.simulate_get("/nope").json["status"] == 404
    r = client.simulate_delete("/healthz")
    assert r.status_code == 405
    assert r.headers["content-type"] == problem.PROBLEM_JSON


def test_unexpected_errors_hide_internals(client: falcon.testing.TestClient) -> None:
    r = client.simulate_get("/boom")
    assert r.status_code == 500
    assert r.headers["content-type"] == problem.PROBLEM_JSON
    assert "secret" not in r.text and "Traceback" not in r.text


def test_metrics_use_route_templates_not_paths(client: falcon.testing.TestClient) -> None:
    client.simulate_get("/teapot/earl")
    client.simulate_get("/teapot/grey")
    client.simulate_get("/healthz")
    text = client.simulate_get("/metrics").text
    assert 'test_http_requests_total{method="GET",route="/teapot/{name}",status="4xx"} 2.0' in text
    assert 'route="/healthz",status="2xx"' in text
    assert "earl" not in text


def test_readiness_reports_reason() -> None:
    app = falcon.App()
    problem.install(app)
    health.add_routes(app, CollectorRegistry(), ready=lambda: "storage not writable")
    r = falcon.testing.TestClient(app).simulate_get("/readyz")
    assert r.status_code == 503
    assert r.json["detail"] == "storage not writable"
