"""Where an endpoint meets its model: request fields from the signature, the columns fed in
the model's order, PII kept from models, and every mismatch refused naming the setting."""

from __future__ import annotations

from typing import Any

import pytest

from modelward.errors import ConfigError, RequestInvalid
from modelward.serving import EndpointSpec
from modelward.serving.binding import UncheckedRows, model_columns, pii_fields, request_fields
from modelward.serving.feeds import ModelInput
from modelward.serving.models import LoadedModel

SIGNED = "churn@production"


def model(*inputs: tuple[str, str | None]) -> LoadedModel:
    named = tuple(ModelInput(name, kind) for name, kind in inputs)
    return LoadedModel("churn", "4", "mem", "sklearn", lambda x: x, inputs=named)


def endpoint(**kw: Any) -> EndpointSpec:
    return EndpointSpec(name="churn", model=SIGNED, **{"request": "from_signature", **kw})


def refusal(call: Any) -> ConfigError:
    with pytest.raises(ConfigError) as refused:
        call()
    assert refused.value.message.startswith("endpoint 'churn': ")
    return refused.value


def test_from_signature_takes_every_input_the_features_do_not_provide() -> None:
    # a feature's input first: the inputs after it are still read
    signed = model(("spend_30d", "double"), ("customer_id", "long"), ("tenure", "double"))
    spec = endpoint(entity_keys=["customer_id"], features=["stats"])
    assert request_fields(spec, signed, ["spend_30d"]) == {"customer_id": "int", "tenure": "float"}


def test_fields_written_in_the_definition_are_taken_as_written() -> None:
    spec = endpoint(request={"tenure": "float"})
    assert request_fields(spec, None, []) == {"tenure": "float"}


@pytest.mark.parametrize(
    ("loaded", "message"),
    [
        (None, "has no MLflow signature naming its inputs; log it with a signature or write"),
        (model(("tenure", None)), "model churn@4 has no MLflow signature"),  # names only
        (
            model(("tenure", "double"), ("blob", "binary"), ("raw", None), ("x", "double")),
            "gives blob (binary), raw (no type), which no request field type (float, int, "
            "bool, string) carries",
        ),
        (model(("spend_30d", "double")), "features provide every input of churn@4"),
    ],
)
def test_a_signature_that_cannot_give_the_request_fields_is_refused(
    loaded: LoadedModel | None, message: str
) -> None:
    spec = endpoint(entity_keys=[], features=[])
    error = refusal(lambda: request_fields(spec, loaded, ["spend_30d"]))
    assert message in error.message and error.details["field"] == "request"


def test_keys_must_be_among_the_fields_the_signature_gives() -> None:
    signed = model(("tenure", "double"), ("plan", "string"))
    spec = endpoint(entity_keys=["customer_id", "region"])  # checked at load
    error = refusal(lambda: request_fields(spec, signed, []))
    assert error.details["field"] == "entity_keys"
    assert "customer_id, region not among the request fields taken from the signature " in (
        error.message
    )
    assert "(tenure, plan); write the request fields instead" in error.message


def test_keys_and_pii_must_be_among_the_fields_the_signature_gives() -> None:
    signed = model(("tenure", "double"))
    spec = endpoint(pii_fields=["email"])  # checked against the signature's fields, at load
    error = refusal(lambda: request_fields(spec, signed, []))
    assert error.details["field"] == "pii_fields"
    assert "email not among the request fields taken from the signature of churn@4 (tenure)" in (
        error.message
    )


def test_a_data_contracts_pii_joins_the_endpoints_own_once() -> None:
    spec = endpoint(
        request={"email": "string", "phone": "string", "x": "float"}, pii_fields=["email"]
    )
    request = {"email": "string", "phone": "string", "x": "float"}
    assert pii_fields(spec, request, ["phone", "email", "not_a_field"]) == ["email", "phone"]


def test_a_model_naming_its_inputs_is_fed_exactly_those_in_its_order() -> None:
    spec = endpoint(request={"a": "float", "b": "float", "note": "string"})
    signed = model(("b", "double"), ("spend", "double"), ("a", "double"))
    assert model_columns(
        spec, {"a": "float", "b": "float", "note": "string"}, ["spend"], signed
    ) == [
        "b",
        "spend",
        "a",
    ]


def test_a_model_reading_a_column_nobody_provides_is_refused() -> None:
    spec = endpoint(request={"a": "float"})
    unread = model(("a", None), ("z", None), ("y", None))
    error = refusal(lambda: model_columns(spec, {"a": "float"}, [], unread))
    assert error.details["field"] == "request"
    assert "model churn@4 reads z, y, which is neither a request field nor an online feature" in (
        error.message
    )


def test_model_inputs_that_disagree_with_the_model_are_refused() -> None:
    request = {"a": "float", "b": "float", "c": "float"}
    spec = endpoint(request=request, model_inputs=["a", "c"])
    error = refusal(lambda: model_columns(spec, request, [], model(("a", None), ("b", None))))
    assert error.details["field"] == "model_inputs"
    assert "a, c differ from the inputs model churn@4 names (a, b); leave model_inputs out" in (
        error.message
    )
    # the same set in another order is no disagreement: the model's order is used
    same = endpoint(request={"a": "float", "b": "float"}, model_inputs=["b", "a"])
    assert model_columns(
        same, {"a": "float", "b": "float"}, [], model(("a", None), ("b", None))
    ) == [
        "a",
        "b",
    ]


def test_pii_reaches_a_model_only_when_its_signature_names_it() -> None:
    request = {"email": "string", "phone": "string", "a": "float"}
    spec = endpoint(
        request=request, pii_fields=["email", "phone"], model_inputs=["a", "email", "phone"]
    )
    error = refusal(lambda: model_columns(spec, request, []))
    assert error.details["field"] == "model_inputs"
    assert "email, phone is PII (pii_fields, or its data contract) and reaches a model only " in (
        error.message
    )
    # a contract's PII counts too (pii given), and a signature naming it is obeyed
    contract = endpoint(request=request, model_inputs=["a", "email"])
    refusal(lambda: model_columns(contract, request, [], pii=["email"]))
    signed = model(("email", "string"), ("a", "double"))
    signed_spec = endpoint(request=request, pii_fields=["email"], model_inputs=["a", "email"])
    assert model_columns(signed_spec, request, [], signed) == ["email", "a"]


def test_model_inputs_must_be_provided_by_the_request_or_features() -> None:
    spec = endpoint(request={"a": "float"}, model_inputs=["a", "ghost", "spook"])
    error = refusal(lambda: model_columns(spec, {"a": "float"}, []))
    assert "ghost, spook is neither a request field nor an online feature" in error.message
    assert error.details["field"] == "model_inputs"


def test_model_inputs_are_fed_in_their_order_to_a_model_naming_none() -> None:
    request = {"a": "float", "b": "float", "customer_id": "int"}
    spec = endpoint(request=request, entity_keys=["customer_id"], model_inputs=["spend", "b"])
    assert model_columns(spec, request, ["spend"]) == ["spend", "b"]


def test_by_default_keys_and_pii_are_left_out_and_features_follow_the_fields() -> None:
    request = {"customer_id": "int", "email": "string", "tenure": "float", "plan": "string"}
    spec = endpoint(
        request=request, entity_keys=["customer_id"], pii_fields=["email"], features=["stats"]
    )
    assert model_columns(spec, request, ["spend_30d", "tenure"]) == ["tenure", "plan", "spend_30d"]


def test_an_unloaded_signature_endpoint_checks_only_the_envelope() -> None:
    check = UncheckedRows("churn", max_rows=2)
    assert check.validate({"inputs": {"anything": 1}}) == ([{"anything": 1}], False)
    assert check.validate({"inputs": [{"a": 1}, {"b": 2}]}) == ([{"a": 1}, {"b": 2}], True)
    assert check.validate({"inputs": [{"a": 1}]}) == ([{"a": 1}], True)  # a list of one
    for bad in ({"inputs": [{"a": 1}] * 3}, {"inputs": []}, {"rows": []}, {"inputs": [1]}):
        with pytest.raises(RequestInvalid, match="request to endpoint 'churn' is invalid"):
            check.validate(bad)
