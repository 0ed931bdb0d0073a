"""The suite's one test, parametrised per framework and case by the pytest plugin
(``pytest --pyargs snn_interop_conformance --snn-framework FW``)."""


def test_case(conformance_run):
    conformance_run.check()
