import pytest

from edrnet_tf import EDRNetConfig, max_layers, min_segments

pytestmark = pytest.mark.core


def test_max_layers_of_the_paper():
    assert [max_layers(k) for k in (2, 3, 4, 5)] == [9, 4, 3, 2]
    assert EDRNetConfig().max_layers == 4 and EDRNetConfig().min_segments == 9
    assert min_segments(3, 4) == 9 and min_segments(2, 9) == 10


def test_defaults_are_the_papers():
    config = EDRNetConfig()
    assert (config.kernel_size, config.num_layers, config.width) == (3, 4, 768)
    assert config.branches == ("A", "V", "AV") and config.num_classes == 29 and config.background == 28


@pytest.mark.parametrize("changes,field,value,allowed", [
    (dict(num_layers=5), "num_layers", "5", r"\[1, 4\]"),
    (dict(kernel_size=2, num_layers=10), "num_layers", "10", r"\[1, 9\]"),
    (dict(kernel_size=1), "kernel_size", "1", ">= 2"),
    (dict(width=0), "width", "0", ">= 1"),
    (dict(branches=()), "branches", r"\(\)", "'A' or 'V'"),
    (dict(branches=("AV",)), "branches", r"\('AV',\)", "'A' or 'V'"),
    (dict(branches=("A", "X")), "branches", r"\('A', 'X'\)", "distinct names"),
    (dict(dropout=1.5), "dropout", "1.5", r"\[0, 1\)"),
    (dict(background=29), "background", "29", r"\[0, 28\]"),
])
def test_invalid_config_raises_value_error_naming_field_value_and_range(changes, field, value, allowed):
    with pytest.raises(ValueError, match=rf"EDRNetConfig\.{field}={value}.*expected.*{allowed}"):
        EDRNetConfig(**changes)


def test_dict_round_trip_and_unknown_field():
    config = EDRNetConfig(width=32, branches=["V", "AV"])
    assert EDRNetConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="no field.*'depth'"):
        EDRNetConfig.from_dict({"depth": 3})
